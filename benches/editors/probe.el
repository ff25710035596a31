;;; probe.el --- Responsiveness probe for `emacs -nw' -*- lexical-binding: t; -*-

;;; Commentary:

;; Started by `cargo bench --bench editors' under tmux.  A one-shot 1 ms timer is re-armed
;; every time it fires; how late it fires is the command loop's lag.  In "stream" mode the
;; probe opens a chat and sends a prompt at CHINWAG_BENCH_SEND_AT seconds; in "longline" mode
;; it sends the prompt for which the bench's provider answers one long line; in "tree" mode it
;; first imports `$HOME/tree.json' (a chat of 200 turns with 20 branches) and streams into it;
;; in "idle" mode it opens the same chat and sends nothing.  CHINWAG_BENCH_EVAL, if set, is a form evaluated
;; once the package is loaded (for side experiments).  Samples go to CHINWAG_BENCH_OUT as lines:
;;   mark <wall µs>                        when the prompt was (or, idle, would have been) sent
;;   lag <wall µs> <lag µs>                one per timer firing
;;   gc <wall µs> <gc-elapsed µs> <gcs>    every 25th firing
;;   done                                  the file is complete

;;; Code:

(add-to-list 'load-path (getenv "CHINWAG_BENCH_PLUGIN"))
(require 'chinwag)
(setq chinwag-program (getenv "CHINWAG_BENCH_BIN")
      chinwag-display-action '(display-buffer-same-window)
      inhibit-startup-screen t)
(let ((form (getenv "CHINWAG_BENCH_EVAL")))
  (when (and form (not (string-empty-p form)))
    (eval (car (read-from-string form)) t)))

(defconst probe-capacity 20000)
(defvar probe-at (make-vector probe-capacity 0.0))
(defvar probe-lag (make-vector probe-capacity 0.0))
(defvar probe-gc nil)
(defvar probe-count 0)
(defvar probe-expected 0.0)
(defvar probe-mark 0.0)
(defvar probe-timer (timer-create)
  "One timer, re-armed each time: the probe makes as little garbage as it can.")

(defun probe-arm ()
  "Arm the timer to fire 1 ms from now."
  (setq probe-expected (+ (float-time) 0.001))
  (timer-set-time probe-timer probe-expected)
  (timer-activate probe-timer))

(defun probe-tick ()
  "Record how late this firing is and arm the next one."
  (let ((now (float-time)))
    (when (< probe-count probe-capacity)
      (aset probe-at probe-count now)
      (aset probe-lag probe-count (- now probe-expected))
      (when (zerop (% probe-count 25))
        (push (list now gc-elapsed gcs-done) probe-gc))
      (setq probe-count (1+ probe-count))))
  (probe-arm))

(timer-set-function probe-timer #'probe-tick)

(defun probe-us (seconds)
  "SECONDS as whole microseconds."
  (round (* seconds 1e6)))

(defun probe-finish ()
  "Write the samples and leave."
  (cancel-timer probe-timer)
  (with-temp-file (getenv "CHINWAG_BENCH_OUT")
    (insert (format "mark %d\n" (probe-us probe-mark)))
    (dotimes (i probe-count)
      (insert (format "lag %d %d\n" (probe-us (aref probe-at i))
                      (probe-us (max 0.0 (aref probe-lag i))))))
    (dolist (gc (reverse probe-gc))
      (insert (format "gc %d %d %d\n" (probe-us (nth 0 gc)) (probe-us (nth 1 gc)) (nth 2 gc))))
    (insert "done\n"))
  (kill-emacs 0))

(defconst probe-tree-chat "b7ee00000000000000000000000c4a71"
  "The id of the chat in the harness's `tree.json' (tree mode).")

(defun probe-open-tree ()
  "Import the harness's chat of 200 turns with 20 branches, show it, return its buffer."
  (let ((imported (chinwag-request
                   'history/import
                   (list :path (expand-file-name "tree.json" (getenv "HOME"))))))
    (unless (equal (plist-get imported :imported) 1)
      (error "The tree chat was not imported"))
    (let ((buffer (chinwag-chat-open-saved probe-tree-chat)))
      (switch-to-buffer buffer)
      buffer)))

(defun probe-start ()
  "Open a chat, start sampling, schedule the prompt and the end."
  (let ((buffer (if (equal (getenv "CHINWAG_BENCH_MODE") "tree")
                    (probe-open-tree)
                  (chinwag))))
    (delete-other-windows)
    (probe-arm)
    (run-at-time (string-to-number (getenv "CHINWAG_BENCH_SEND_AT")) nil
                 (lambda ()
                   (setq probe-mark (float-time))
                   (pcase (getenv "CHINWAG_BENCH_MODE")
                     ((or "stream" "tree")
                      (chinwag-chat-send-message buffer "Tell me a long story."))
                     ("longline"
                      (chinwag-chat-send-message buffer "Write one long line.")))))
    (run-at-time (string-to-number (getenv "CHINWAG_BENCH_SECONDS")) nil #'probe-finish)))

(add-hook 'emacs-startup-hook #'probe-start)

;;; probe.el ends here
