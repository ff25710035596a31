;;; chinwag-inline.el --- Chat with chinwag in any buffer  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Outside a chat buffer, `chinwag-send' (C-c c RET with the keys of
;; the README) sends a prompt from the buffer you are in and writes the
;; answer right after it, as it streams:
;;
;; - the prompt is the active region, or else the text from the end of
;;   the last answer written in this buffer (or from its start) to point;
;; - Markdown buffers get a "## Assistant" heading above the answer and
;;   a "## You" heading below it, where the next prompt goes; Org
;;   buffers get "* " headings; other buffers none
;;   (`chinwag-inline-headings');
;; - the whole answer is one undo step, whenever it ends;
;; - C-c C-k (or `chinwag-stop') stops it while it streams.
;;
;; A prompt written after an answer continues that conversation; any
;; other starts a new chat.  Every exchange is saved in the history like
;; any chat, and `chinwag-inline-open-chat' opens the chat of the answer
;; at point in a chat buffer, to go on with it there.  A prompt that
;; starts with /NAME applies the preset NAME.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'chinwag-rpc)
(require 'chinwag-vault)
(require 'chinwag-chat)
(require 'chinwag-presets)
(require 'chinwag-context)

(defcustom chinwag-inline-headings
  '((markdown-mode "## Assistant" "## You")
    (org-mode "* Assistant" "* You"))
  "Headings around the answers written into buffers of these major modes.
Each entry is (MODE ANSWER-HEADING PROMPT-HEADING): in a buffer whose
major mode is or derives from MODE, ANSWER-HEADING goes above an answer
and PROMPT-HEADING below it, above the next prompt.  Buffers of other
modes get the answer alone, between blank lines."
  :type '(repeat (list (symbol :tag "Major mode")
                       (string :tag "Above the answer")
                       (string :tag "Below the answer")))
  :group 'chinwag)

(cl-defstruct (chinwag-inline--job (:constructor chinwag-inline--make-job)
                                   (:copier nil))
  "An answer being written into a buffer.
START is a marker where the answer's block begins, MARKER one at the end
of the answer so far.  POINT is a marker at point when it was sent.
GROUP is the change group that makes it one undo step.  STATE is
`streaming', then `done'."
  buffer chat-id start marker point group headings (chars 0) (state 'streaming))

(defvar chinwag-inline--jobs (make-hash-table :test #'equal)
  "Answers being written into buffers, by chat id.")

(defvar-local chinwag-inline--job nil
  "The answer being written into this buffer, if any.")

(defvar-local chinwag-inline--last-chat nil
  "The id of the chat of the last answer written into this buffer.")

(defvar chinwag-inline-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-k") #'chinwag-inline-stop)
    map)
  "Keymap active while an answer is written into the buffer.")

(defun chinwag-inline--lighter ()
  "Return the mode line text of the answer being written here."
  (if chinwag-inline--job
      (format " Answering[%d chars]" (chinwag-inline--job-chars chinwag-inline--job))
    ""))

(define-minor-mode chinwag-inline-mode
  "Minor mode active while chinwag writes an answer into this buffer.
The mode line shows its progress.
\\<chinwag-inline-mode-map>\\[chinwag-inline-stop] stops it."
  :lighter (:eval (chinwag-inline--lighter))
  :keymap chinwag-inline-mode-map)

;;;; Where the prompt is

(defun chinwag-inline--prompt-start (pos)
  "Return the start of the prompt that ends at POS.
That is the end of the last answer written before POS, or the start
of the buffer."
  (cond
   ((and (> pos (point-min)) (get-text-property (1- pos) 'chinwag-inline)) pos)
   (t (or (previous-single-property-change pos 'chinwag-inline) (point-min)))))

(defun chinwag-inline--headings ()
  "Return (ANSWER-HEADING PROMPT-HEADING) for this buffer, or nil."
  (cl-loop for (mode . headings) in chinwag-inline-headings
           when (derived-mode-p mode) return headings))

(defun chinwag-inline--separate ()
  "Insert newlines at point so that a blank line ends the text before it."
  (unless (bobp)
    (insert (make-string (cond ((not (eq (char-before) ?\n)) 2)
                               ((not (eq (char-before (1- (point))) ?\n)) 1)
                               (t 0))
                         ?\n))))

;;;; Streaming

(defun chinwag-inline--claim-delta (params)
  "Write the delta PARAMS into its buffer if it is an inline answer's."
  (let ((job (gethash (plist-get params :chatId) chinwag-inline--jobs)))
    (when job
      (when (and (eq (chinwag-inline--job-state job) 'streaming)
                 (not (equal (plist-get params :kind) "reasoning")))
        (chinwag-inline--insert job (plist-get params :delta)))
      t)))

(add-hook 'chinwag-chat-unclaimed-delta-functions #'chinwag-inline--claim-delta -10)

(defun chinwag-inline--insert (job text)
  "Insert TEXT at the end of JOB's answer; point stays where it is."
  (let ((buffer (chinwag-inline--job-buffer job)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (save-excursion
          (save-restriction
            (widen)
            (goto-char (chinwag-inline--job-marker job))
            (let ((inhibit-read-only t))
              (insert text))))
        (setf (chinwag-inline--job-chars job)
              (+ (chinwag-inline--job-chars job) (length text)))
        (force-mode-line-update)))))

(defun chinwag-inline--finish (job &optional note message-id)
  "End JOB's answer, with NOTE after it if non-nil, as one undo step.
MESSAGE-ID is the id of the answer in its chat."
  (setf (chinwag-inline--job-state job) 'done)
  (remhash (chinwag-inline--job-chat-id job) chinwag-inline--jobs)
  (let ((buffer (chinwag-inline--job-buffer job)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (let* ((start (chinwag-inline--job-start job))
               (marker (chinwag-inline--job-marker job))
               (pt (chinwag-inline--job-point job))
               (followed (= (point) pt))
               (windows (cl-remove-if-not (lambda (w) (= (window-point w) pt))
                                          (get-buffer-window-list buffer nil t)))
               (prompt-heading (cadr (chinwag-inline--job-headings job)))
               (end nil))
          (save-excursion
            (save-restriction
              (widen)
              (let ((inhibit-read-only t))
                (goto-char marker)
                ;; The answer ends with one blank line, then the next prompt's place.
                (let ((blank-start (save-excursion
                                     (skip-chars-backward " \t\n" start)
                                     (point))))
                  (delete-region blank-start (point)))
                (when note
                  (chinwag-inline--separate)
                  (insert note))
                ;; A blank line after it, counting the newlines already there.
                (let* ((here (point))
                       (following (save-excursion
                                    (skip-chars-forward "\n" (min (point-max) (+ here 2)))
                                    (- (point) here)))
                       (newlines (make-string (- 2 following) ?\n)))
                  (if prompt-heading
                      (insert "\n\n" prompt-heading newlines)
                    (insert newlines)))
                (setq end (point))
                (put-text-property start end 'chinwag-inline
                                   (cons (chinwag-inline--job-chat-id job) message-id)))))
          (when followed (goto-char end))
          (dolist (window windows)
            (set-window-point window end))
          (set-marker marker nil)
          (set-marker pt nil)
          (set-marker start nil)
          (let ((group (chinwag-inline--job-group job)))
            (undo-amalgamate-change-group group)
            (accept-change-group group))
          (when (eq chinwag-inline--job job)
            (setq chinwag-inline--job nil)
            (chinwag-inline-mode -1)))))))

;;;; Sending

;;;###autoload
(defun chinwag-inline-send (&optional beg end)
  "Send the prompt from BEG to END and write the answer right after it.
Interactively, the prompt is the region when it is active, or else the
text before point back to the end of the last answer in this buffer
\(or to its start).  A prompt right after an answer continues that
chat; any other starts a new one (saved in the history: see
`chinwag-inline-open-chat').  The answer streams in after the prompt,
between headings in Markdown and Org buffers (see
`chinwag-inline-headings'), as one undo step;
\\<chinwag-inline-mode-map>\\[chinwag-inline-stop] stops it."
  (interactive)
  (when (derived-mode-p 'chinwag-chat-mode)
    (user-error "In a chat buffer, %s sends the draft"
                (substitute-command-keys "\\[chinwag-send]")))
  (when chinwag-inline--job
    (user-error "An answer is still being written here; %s stops it"
                (substitute-command-keys "\\<chinwag-inline-mode-map>\\[chinwag-inline-stop]")))
  (barf-if-buffer-read-only)
  (let* ((region (and (not beg) (use-region-p)))
         (end (or end (if region (region-end) (point))))
         (beg (or beg (if region (region-beginning) (chinwag-inline--prompt-start end))))
         (prompt (string-trim (buffer-substring-no-properties beg end)))
         (parent (and (not region) (> beg (point-min))
                      (get-text-property (1- beg) 'chinwag-inline)))
         (root (and chinwag-context-send-root (chinwag-context-root)))
         (parsed (chinwag-presets-parse prompt))
         (preset (and parsed (chinwag-preset (car parsed)) (car parsed)))
         (content (if preset (cdr parsed) prompt)))
    (when (string-empty-p prompt)
      (user-error "Nothing to send: write a prompt before point, or select one"))
    (let* ((allowed (and root (chinwag-context-check content root)))
           (chat-id (or (car parent)
                        (plist-get (chinwag-request
                                    'chat/new
                                    (chinwag-rpc-compact :provider chinwag-provider
                                                         :model chinwag-model
                                                         :system chinwag-system-prompt))
                                   :chatId)))
           (buffer (current-buffer))
           (headings (chinwag-inline--headings))
           (group (prepare-change-group))
           (job nil))
      (when region (deactivate-mark))
      (activate-change-group group)
      (let ((start (copy-marker end))
            (marker nil))
        (save-excursion
          (goto-char end)
          (chinwag-inline--separate)
          (set-marker start (point))
          (when (car headings)
            (insert (car headings) "\n\n"))
          (setq marker (copy-marker (point) t)))
        (setq job (chinwag-inline--make-job :buffer buffer :chat-id chat-id
                                            :start start :marker marker
                                            :point (copy-marker (point))
                                            :group group :headings headings)))
      (setq chinwag-inline--job job
            chinwag-inline--last-chat chat-id)
      (puthash chat-id job chinwag-inline--jobs)
      (chinwag-inline-mode 1)
      (condition-case err
          (chinwag-async-request
           'chat/send
           (chinwag-rpc-compact :chatId chat-id
                                :parentId (cdr parent)
                                :content content
                                :preset preset
                                :root root
                                :allowSecrets (and (nth 1 allowed) t))
           :timeout nil
           :abandoned (lambda () (not (eq (chinwag-inline--job-state job) 'streaming)))
           :on-success
           (lambda (result)
             (when (eq (chinwag-inline--job-state job) 'streaming)
               (chinwag-inline--finish job nil (plist-get result :messageId))
               (message "chinwag: answer written in %s (%s)" (buffer-name buffer)
                        (chinwag-chat--stats result))))
           :on-error
           (lambda (error)
             (when (eq (chinwag-inline--job-state job) 'streaming)
               (let ((cancelled (eql (plist-get error :code) -32800))
                     (text (chinwag-rpc-error-message error)))
                 (chinwag-inline--finish
                  job (if cancelled "[stopped]" (format "[error: %s]" text))
                  (plist-get (plist-get error :data) :messageId))
                 (unless cancelled (message "chinwag: %s" text))))))
        (error
         (chinwag-inline--finish job (format "[error: %s]" (error-message-string err)))
         (signal (car err) (cdr err))))
      (message "chinwag: answering in %s... (%s stops it)" (buffer-name buffer)
               (substitute-command-keys "\\<chinwag-inline-mode-map>\\[chinwag-inline-stop]"))
      job)))

(defun chinwag-inline--stop-here ()
  "Stop the answer being written into this buffer; return non-nil if there was one."
  (let ((job chinwag-inline--job))
    (when (and job (eq (chinwag-inline--job-state job) 'streaming))
      (chinwag-rpc-notify 'chat/cancel (list :chatId (chinwag-inline--job-chat-id job)))
      (chinwag-inline--finish job "[stopped]")
      (message "chinwag: stopped")
      t)))

(add-hook 'chinwag-stop-functions #'chinwag-inline--stop-here)

(defun chinwag-inline-stop ()
  "Stop the answer being written into this buffer."
  (interactive)
  (unless (chinwag-inline--stop-here)
    (message "chinwag: nothing to stop here")))

;;;###autoload
(defun chinwag-inline-open-chat ()
  "Open the chat of the answer at point (or the last one here) in a chat buffer.
It goes on from there like any chat."
  (interactive)
  (let ((id (or (car (get-text-property (point) 'chinwag-inline))
                (and (> (point) (point-min))
                     (car (get-text-property (1- (point)) 'chinwag-inline)))
                chinwag-inline--last-chat)))
    (unless id
      (user-error "No answer of chinwag in this buffer"))
    (let ((buffer (chinwag-chat-open-saved id)))
      (chinwag-chat-display buffer t)
      buffer)))

(provide 'chinwag-inline)
;;; chinwag-inline.el ends here
