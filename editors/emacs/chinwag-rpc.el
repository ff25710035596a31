;;; chinwag-rpc.el --- The chinwag backend process and its JSON-RPC connection  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; The `chinwag' program runs as a child process of Emacs and speaks
;; JSON-RPC 2.0 over its standard input and output, with the
;; Content-Length framing of the Language Server Protocol.  This file
;; owns that process: it starts one backend per Emacs the first time a
;; command needs it, through the built-in `jsonrpc.el', sends
;; `initialize', dispatches the backend's notifications, reports a
;; backend that died (the next command starts a fresh one) and sends
;; `shutdown' and `exit' when Emacs is killed.
;;
;; `jsonrpc.el' defaults that do not suit chinwag are changed here:
;;
;; - Its events buffer would record every message in full, API keys and
;;   passwords included.  It is switched off; the buffer named by
;;   `chinwag-events-buffer-name' logs only lifecycle events, errors and
;;   the backend's standard error, never a message's contents.
;; - Requests time out after 10 seconds by default.  Every request here
;;   gets `chinwag-request-timeout', and streaming requests none at all.
;; - Errors in notification handlers would be lost (or stop the
;;   processing of further messages); they are caught, logged and shown.
;; - Its reader makes a temporary buffer for every message received,
;;   which is most of the garbage a fast stream makes (garbage
;;   collection is what makes Emacs stutter).  A lean reader of the same
;;   frames replaces it (see `chinwag-fast-reader'); every message still
;;   goes through `jsonrpc-connection-receive'.

;;; Code:

(require 'cl-lib)
(require 'eieio)
(require 'jsonrpc)
(eval-when-compile (require 'subr-x))

(defgroup chinwag nil
  "Talk to language models through the chinwag backend."
  :group 'tools
  :prefix "chinwag-"
  :link '(url-link :tag "Homepage" "https://github.com/chinwag/chinwag"))

(defcustom chinwag-program "chinwag"
  "The chinwag backend program: a file name, or a command on variable `exec-path'."
  :type 'string
  :group 'chinwag)

(defcustom chinwag-program-args nil
  "Extra command line arguments for `chinwag-program'."
  :type '(repeat string)
  :group 'chinwag)

(defcustom chinwag-request-timeout 30
  "Seconds to wait for the answer to a request that does not stream.
Chat requests stream for as long as the answer takes and never time out."
  :type 'number
  :group 'chinwag)

(defcustom chinwag-fast-reader t
  "Whether to read the backend's messages with chinwag's own lean reader.
It reads the same frames as `jsonrpc.el' and hands each message to
`jsonrpc-connection-receive', without the temporary buffer per message
that `jsonrpc.el' makes: about a third of the garbage per streamed
delta.  Set it to nil to use `jsonrpc.el''s reader (takes effect when
the backend next starts)."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-events-buffer-size 200000
  "Characters kept in the events buffer; older lines are dropped."
  :type 'integer
  :group 'chinwag)

(defconst chinwag-version "0.1.0"
  "The version of the chinwag Emacs package.")

(defconst chinwag-protocol-version "1.0"
  "The chinwag protocol version this package speaks.")

(defconst chinwag-events-buffer-name "*chinwag events*"
  "Name of the buffer logging the backend's lifecycle, errors and standard error.
It never holds the contents of a message: no prompts, answers, keys or
passwords.")

(defclass chinwag-connection (jsonrpc-process-connection)
  ((process-object
    :initform nil
    :accessor chinwag-connection-process
    :documentation "The backend's process object.")
   (init-result
    :initform nil
    :accessor chinwag-connection-init-result
    :documentation "The result of `initialize', a plist.")
   (stopping
    :initform nil
    :accessor chinwag-connection-stopping
    :documentation "Non-nil once Emacs asked the backend to stop.")
   (expected
    :initform nil
    :accessor chinwag-connection-expected
    :documentation "Length in bytes of the frame body being read, if known."))
  :documentation "A connection to one chinwag backend process.")

(defvar chinwag-rpc--connection nil
  "The running `chinwag-connection', or nil when none was started.")

(defvar chinwag-rpc-notification-functions nil
  "Alist of (METHOD . FUNCTION) for notifications from the backend.
METHOD is a symbol such as `chat/delta'; FUNCTION is called with the
notification's params, a plist.  Errors it signals are caught and logged.")

(defvar chinwag-rpc-exit-functions nil
  "Functions called with the connection when the backend process ends.")

(defvar chinwag-rpc-start-functions nil
  "Functions called with the `initialize' result when a backend has started.")

(defvar chinwag-rpc--last-handler-error 0
  "Time the last notification handler error was shown, to avoid a flood.")

;;;; Events log

(defun chinwag-events-buffer ()
  "Return the buffer logging chinwag's lifecycle and errors."
  (or (get-buffer chinwag-events-buffer-name)
      (with-current-buffer (get-buffer-create chinwag-events-buffer-name)
        (buffer-disable-undo)
        (setq buffer-read-only t)
        (current-buffer))))

(defun chinwag-rpc-log (format-string &rest args)
  "Log FORMAT-STRING formatted with ARGS in the events buffer.
Never log the contents of a message."
  (with-current-buffer (chinwag-events-buffer)
    (let ((inhibit-read-only t))
      ;; Point stays at the end: `jsonrpc.el' inserts its lines at point.
      (goto-char (point-max))
      (insert (format-time-string "[chinwag %H:%M:%S] ")
              (apply #'format format-string args)
              "\n")
      (when (> (buffer-size) chinwag-events-buffer-size)
        (save-excursion
          (goto-char (- (point-max) chinwag-events-buffer-size))
          (delete-region (point-min) (line-beginning-position 2)))))))

;;;; Reading frames

(defvar chinwag-rpc--dispatch-buffer nil
  "A buffer, never shown, current while received messages are handled.")

(defconst chinwag-rpc--header-re
  "Content-Length: *\\([0-9]+\\)\r?\n\\(?:[^\r\n]+\r?\n\\)*\r?\n"
  "Regexp matching the header of a frame; group 1 is the body's length.")

(defun chinwag-rpc--read-json ()
  "Read the JSON value in the (narrowed) current buffer, as `jsonrpc.el' does."
  (if (fboundp 'json-parse-buffer)
      (json-parse-buffer :object-type 'plist :null-object nil
                         :false-object :json-false)
    (require 'json)
    (defvar json-object-type)
    (defvar json-array-type)
    (defvar json-false)
    (defvar json-null)
    (declare-function json-read "json" ())
    (let ((json-object-type 'plist)
          (json-array-type 'vector)
          (json-false :json-false)
          (json-null nil))
      (json-read))))

(defun chinwag-rpc--read-header (conn)
  "Read the frame header at the start of this buffer into CONN, if complete.
Return non-nil if CONN now knows the length of the body that follows."
  (goto-char (point-min))
  (if (looking-at chinwag-rpc--header-re)
      (let ((length 0))
        (dotimes (i (- (match-end 1) (match-beginning 1)))
          (setq length (+ (* length 10)
                          (- (char-after (+ (match-beginning 1) i)) ?0))))
        (delete-region (point-min) (match-end 0))
        (setf (chinwag-connection-expected conn) length))
    ;; Bytes before a header are not a frame (the protocol forbids them).
    (let ((next (save-excursion (search-forward "Content-Length:" nil t))))
      (when (and next (> (match-beginning 0) (point-min)))
        (chinwag-rpc-log "skipped %d characters that were not a frame"
                         (- (match-beginning 0) (point-min)))
        (delete-region (point-min) (match-beginning 0))
        (chinwag-rpc--read-header conn)))))

(defun chinwag-rpc--take-messages (conn)
  "Remove the complete frames at the start of this buffer; return their messages.
CONN's `expected' slot keeps the length of a body whose header was read."
  (let ((messages nil)
        (expected nil))
    (while (and (> (point-max) (point-min))
                (setq expected (or (chinwag-connection-expected conn)
                                   (chinwag-rpc--read-header conn)))
                (>= (- (position-bytes (point-max)) (position-bytes (point-min)))
                    expected))
      (let ((end (byte-to-position (+ (position-bytes (point-min)) expected))))
        (save-restriction
          (narrow-to-region (point-min) end)
          (goto-char (point-min))
          (condition-case err
              (push (chinwag-rpc--read-json) messages)
            (error (chinwag-rpc-log "invalid JSON from the backend: %s"
                                    (error-message-string err)))))
        (delete-region (point-min) end)
        (setf (chinwag-connection-expected conn) nil)))
    (nreverse messages)))

(defun chinwag-rpc--filter (process string)
  "Read STRING from PROCESS; hand each complete message to `jsonrpc.el'."
  (let ((conn (process-get process 'jsonrpc-connection))
        (buffer (process-buffer process))
        (messages nil))
    (when (and conn (buffer-live-p buffer))
      (with-current-buffer buffer
        (let ((inhibit-read-only t))
          (goto-char (point-max))
          (insert string)
          (setq messages (chinwag-rpc--take-messages conn))))
      (when messages
        (unless (buffer-live-p chinwag-rpc--dispatch-buffer)
          (setq chinwag-rpc--dispatch-buffer
                (get-buffer-create " *chinwag dispatch*")))
        (with-current-buffer chinwag-rpc--dispatch-buffer
          (dolist (message messages)
            (condition-case err
                (jsonrpc-connection-receive conn message)
              (error (chinwag-rpc-log "error handling a message: %s"
                                      (error-message-string err))))))))))

;;;; Starting and stopping

(defun chinwag-rpc--program ()
  "Return the absolute file name of the backend program, or signal an error."
  (or (executable-find chinwag-program)
      (user-error "Cannot find the program `%s'; install it with \
`cargo install --locked --path .' or set `chinwag-program'"
                  chinwag-program)))

(defun chinwag-rpc--initargs ()
  "Return the `jsonrpc.el' initargs that keep messages out of its log."
  (if (slot-exists-p 'jsonrpc-connection '-events-buffer-config)
      (list :events-buffer-config (list :size 0))
    (list :events-buffer-scrollback-size 0)))

(defun chinwag-rpc--stderr-tail (conn &optional lines)
  "Return the last LINES (default 3) non-blank lines CONN wrote to stderr."
  (let* ((buffer (ignore-errors (jsonrpc-stderr-buffer conn)))
         (process (and (buffer-live-p buffer) (get-buffer-process buffer))))
    ;; Standard error is its own pipe: give its last bytes a moment.
    (when (and process (process-live-p process))
      (accept-process-output process 0.1))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (let ((text (string-trim (buffer-substring-no-properties
                                  (point-min) (point-max)))))
          (unless (string-empty-p text)
            (let ((all (split-string text "\n" t "[ \t\r]+")))
              (string-join (last all (or lines 3)) " | "))))))))

(defun chinwag-rpc--exit-reason (conn)
  "Describe how CONN's process ended, with its last words on stderr."
  (let* ((process (chinwag-connection-process conn))
         (status (and process (process-status process)))
         (code (and process (process-exit-status process)))
         (how (pcase status
                ('signal (format "was killed by signal %s" code))
                ('exit (format "exited with code %s" code))
                (_ "stopped")))
         (stderr (chinwag-rpc--stderr-tail conn)))
    (if stderr (format "%s: %s" how stderr) how)))

(defun chinwag-rpc--on-shutdown (conn)
  "Handle the end of CONN's process."
  (when (eq conn chinwag-rpc--connection)
    (setq chinwag-rpc--connection nil))
  (let ((reason (chinwag-rpc--exit-reason conn)))
    (chinwag-rpc-log "backend %s" reason)
    ;; A backend that failed to start is reported by `chinwag-rpc--start'.
    (unless (or (chinwag-connection-stopping conn)
                (not (chinwag-connection-init-result conn)))
      (message "chinwag: the backend %s.  The next command starts it again; \
see %s" reason chinwag-events-buffer-name)))
  (dolist (function chinwag-rpc-exit-functions)
    (condition-case err
        (funcall function conn)
      (error (chinwag-rpc-log "error in exit function %s: %s"
                              function (error-message-string err))))))

(defun chinwag-rpc--dispatch (_conn method params)
  "Run the handler for notification METHOD with PARAMS, catching its errors."
  (let ((handler (alist-get method chinwag-rpc-notification-functions)))
    (when handler
      (condition-case err
          (funcall handler params)
        (error
         (chinwag-rpc-log "error handling %s: %s" method
                          (error-message-string err))
         (let ((now (float-time)))
           (when (> (- now chinwag-rpc--last-handler-error) 1)
             (setq chinwag-rpc--last-handler-error now)
             (message "chinwag: error handling %s: %s (see %s)" method
                      (error-message-string err)
                      chinwag-events-buffer-name))))))))

(defun chinwag-rpc--make-process (program)
  "Start PROGRAM as the backend and return its process."
  ;; `jsonrpc.el' expects exactly this stderr buffer name.
  (let* ((stderr (get-buffer-create "*chinwag stderr*"))
         (process (make-process
                   :name "chinwag"
                   :command (cons program chinwag-program-args)
                   :connection-type 'pipe
                   :coding 'utf-8-unix
                   :noquery t
                   :stderr stderr))
         (stderr-process (get-buffer-process stderr)))
    ;; No "Process ... finished" line in the stderr buffer (and so the log).
    (when stderr-process
      (set-process-query-on-exit-flag stderr-process nil)
      (set-process-sentinel stderr-process #'ignore))
    process))

(defun chinwag-rpc--start ()
  "Start a backend, send `initialize' and return the new connection."
  (let* ((program (chinwag-rpc--program))
         (process nil)
         (conn (apply #'make-instance 'chinwag-connection
                      :name "chinwag"
                      :process (lambda ()
                                 (setq process
                                       (chinwag-rpc--make-process program)))
                      :notification-dispatcher #'chinwag-rpc--dispatch
                      :on-shutdown #'chinwag-rpc--on-shutdown
                      (chinwag-rpc--initargs))))
    (setf (chinwag-connection-process conn) process)
    (when chinwag-fast-reader
      (set-process-filter process #'chinwag-rpc--filter))
    (setq chinwag-rpc--connection conn)
    (chinwag-rpc-log "started %s (pid %s)" program (process-id process))
    (let ((result
           (condition-case err
               (jsonrpc-request conn 'initialize
                                (list :clientInfo (list :name "chinwag.el"
                                                        :version chinwag-version)
                                      :protocolVersion chinwag-protocol-version)
                                :timeout chinwag-request-timeout)
             (error
              (let ((reason (if (process-live-p process)
                                (or (and (eq (car err) 'jsonrpc-error)
                                         (alist-get 'jsonrpc-error-message (cdr err)))
                                    (error-message-string err))
                              (chinwag-rpc--exit-reason conn))))
                (setf (chinwag-connection-stopping conn) t)
                (when (process-live-p process)
                  (delete-process process))
                (setq chinwag-rpc--connection nil)
                (chinwag-rpc-log "start failed: %s" reason)
                (user-error "The chinwag backend did not start: %s" reason))))))
      (setf (chinwag-connection-init-result conn) result)
      (chinwag-rpc-log "backend %s %s, protocol %s"
                       (plist-get (plist-get result :serverInfo) :name)
                       (plist-get (plist-get result :serverInfo) :version)
                       (plist-get result :protocolVersion))
      (chinwag-rpc--check-init result)
      (run-hook-with-args 'chinwag-rpc-start-functions result)
      conn)))

(defvar chinwag-rpc--config-file nil
  "The backend's config file, as its last `initialize' result named it.")

(defun chinwag-rpc--check-init (result)
  "Warn about problems the `initialize' RESULT reports."
  (let* ((version (plist-get result :protocolVersion))
         (config (plist-get result :config))
         (config-errors (delete-dups
                         (delq nil (append (list (plist-get config :error))
                                           (let ((errors (plist-get config :errors)))
                                             (and (or (vectorp errors) (listp errors))
                                                  (append errors nil)))))))
         (storage-error (plist-get result :storageError)))
    (setq chinwag-rpc--config-file (plist-get config :file))
    (unless (and (stringp version)
                 (equal (car (split-string version "\\."))
                        (car (split-string chinwag-protocol-version "\\."))))
      (display-warning 'chinwag
                       (format "The backend speaks protocol %s; this package \
speaks %s.  Update one of them." version chinwag-protocol-version)))
    (dolist (config-error config-errors)
      (display-warning
       'chinwag
       (format "Configuration error in %s: %s"
               (chinwag-rpc--config-file-name)
               (if (stringp config-error)
                   config-error
                 (let ((hint (chinwag-rpc-error-hint
                              (list :data (list :action "fixConfig"
                                                :line (plist-get config-error :line)
                                                :key (plist-get config-error :key))))))
                   (format "%s; to fix it: %s"
                           (or (plist-get config-error :message) config-error)
                           hint))))
       :error))
    (when storage-error
      (display-warning 'chinwag
                       (format "The backend cannot open its storage: %s"
                               storage-error)))))

(defun chinwag-rpc-connection ()
  "Return the running backend connection, starting a backend if needed."
  (if (and chinwag-rpc--connection
           (jsonrpc-running-p chinwag-rpc--connection))
      chinwag-rpc--connection
    (chinwag-rpc--start)))

(defun chinwag-rpc-live-p ()
  "Return non-nil if a backend is running."
  (and chinwag-rpc--connection
       (jsonrpc-running-p chinwag-rpc--connection)))

(defun chinwag-rpc-init-result ()
  "Return the `initialize' result of the running backend, starting one if needed."
  (chinwag-connection-init-result (chinwag-rpc-connection)))

(defun chinwag-rpc-shutdown ()
  "Stop the backend cleanly: `shutdown', then `exit', then wait for it."
  (let ((conn chinwag-rpc--connection))
    (when conn
      (setf (chinwag-connection-stopping conn) t)
      (let ((process (chinwag-connection-process conn)))
        (when (process-live-p process)
          (condition-case err
              (progn
                (jsonrpc-request conn 'shutdown nil :timeout 3)
                (jsonrpc-notify conn 'exit nil))
            (error (chinwag-rpc-log "shutdown: %s" (error-message-string err))))
          (let ((deadline (+ (float-time) 3)))
            (while (and (process-live-p process) (< (float-time) deadline))
              (accept-process-output process 0.05)))
          (when (process-live-p process)
            (delete-process process))
          ;; Let the sentinel run, so `chinwag-rpc-exit-functions' see the end.
          (accept-process-output nil 0.01)))
      (setq chinwag-rpc--connection nil))))

(add-hook 'kill-emacs-hook #'chinwag-rpc-shutdown)

;;;; Requests

(defun chinwag-rpc-compact (&rest plist)
  "Return PLIST without the keys whose value is nil."
  (let (out)
    (while plist
      (when (cadr plist)
        (setq out (cons (cadr plist) (cons (car plist) out))))
      (setq plist (cddr plist)))
    (nreverse out)))

(defun chinwag-rpc-call (method &optional params timeout)
  "Call METHOD with PARAMS and wait for the answer.
Return (:result RESULT) or (:error ERROR), where ERROR is the plist
\(:code CODE :message MESSAGE :data DATA).  TIMEOUT defaults to
`chinwag-request-timeout'."
  (condition-case err
      (list :result
            (jsonrpc-request (chinwag-rpc-connection) method params
                             :timeout (or timeout chinwag-request-timeout)))
    (jsonrpc-error
     (let ((data (cdr err)))
       (list :error
             (list :code (or (alist-get 'jsonrpc-error-code data) -1)
                   :message (or (alist-get 'jsonrpc-error-message data)
                                "the backend did not answer")
                   :data (alist-get 'jsonrpc-error-data data)))))))

(defun chinwag-rpc--config-file-name ()
  "Return the backend's config file name, abbreviated, for hints."
  (abbreviate-file-name
   (or chinwag-rpc--config-file
       (expand-file-name "chinwag/config.toml"
                         (or (getenv "XDG_CONFIG_HOME") "~/.config")))))

(defun chinwag-rpc-error-hint (error)
  "Return what the user can do about ERROR, a JSON-RPC error plist, or nil.
The backend names it in `error.data.action': a command of this package
to run, or a line of the config file to edit."
  (let* ((data (plist-get error :data))
         (data (and (listp data) data))
         (provider (plist-get data :provider))
         ;; Backends that name no action yet: the codes that imply one.
         (action (or (plist-get data :action)
                     (pcase (plist-get error :code)
                       (1001 "unlock")
                       (1005 "setKey")
                       (1401 "fixConfig")))))
    (pcase action
      ("setKey" (if (stringp provider)
                    (format "M-x chinwag-set-key RET %s" provider)
                  "M-x chinwag-set-key"))
      ("unlock" "M-x chinwag-unlock")
      ("setPassword" "M-x chinwag-set-password")
      ("fixConfig"
       (let ((line (plist-get data :line))
             (key (plist-get data :key)))
         (concat "edit " (chinwag-rpc--config-file-name)
                 (if (integerp line) (format " line %d" line) "")
                 (if (stringp key) (format " (%s)" key) ""))))
      ("startLocalServer"
       (let ((url (plist-get data :url)))
         (concat "start the local server"
                 (if (stringp provider) (format " of %s" provider) "")
                 (if (stringp url) (format " at %s" url) "")
                 ", then M-x chinwag-doctor")))
      ("restoreOrReset"
       "restore a backup of the store, or start afresh with the vault reset; M-x chinwag-doctor shows where it is")
      ((pred stringp) (format "%s (see M-x chinwag-doctor)" action)))))

(defun chinwag-rpc-error-message (error)
  "Return the message of ERROR, a JSON-RPC error plist, as a sentence.
When the error names an action for the user, the sentence ends with
what to do (see `chinwag-rpc-error-hint')."
  (let* ((code (plist-get error :code))
         (message (plist-get error :message))
         (text (if (and (eql code -1) (equal message "Server died"))
                   "the chinwag backend exited"
                 (format "%s" (or message "unknown error"))))
         (hint (chinwag-rpc-error-hint error)))
    (unless (string-empty-p text)
      (setq text (concat (upcase (substring text 0 1)) (substring text 1))))
    (if hint (format "%s; to fix it: %s" text hint) text)))

(defun chinwag-rpc-request (method &optional params timeout)
  "Call METHOD with PARAMS, wait and return the result.
On an error, signal a `user-error' with the backend's message.  TIMEOUT
defaults to `chinwag-request-timeout'."
  (let ((answer (chinwag-rpc-call method params timeout)))
    (if (plist-member answer :result)
        (plist-get answer :result)
      (let ((error (plist-get answer :error)))
        (chinwag-rpc-log "%s failed: %s %s" method (plist-get error :code)
                         (plist-get error :message))
        (user-error "%s" (chinwag-rpc-error-message error))))))

(cl-defun chinwag-rpc-async (method params &key on-success on-error
                                    (timeout chinwag-request-timeout))
  "Call METHOD with PARAMS without waiting.
ON-SUCCESS is called with the result, ON-ERROR with the error plist
\(:code :message :data).  TIMEOUT is in seconds; nil means none (for
requests that stream)."
  (let ((conn (chinwag-rpc-connection)))
    (jsonrpc-async-request
     conn method params
     :success-fn (lambda (result)
                   (when on-success (funcall on-success result)))
     :error-fn (lambda (error)
                 (unless (memql (plist-get error :code) '(-32800))
                   (chinwag-rpc-log "%s failed: %s %s" method
                                    (plist-get error :code)
                                    (plist-get error :message)))
                 (when on-error (funcall on-error error)))
     :timeout-fn (lambda ()
                   (chinwag-rpc-log "%s timed out" method)
                   (when on-error
                     (funcall on-error
                              (list :code -2
                                    :message (format "no answer to %s within %s s"
                                                     method timeout)))))
     :timeout timeout)))

(defun chinwag-rpc-notify (method params)
  "Send the notification METHOD with PARAMS, if a backend is running."
  (when (chinwag-rpc-live-p)
    (jsonrpc-notify chinwag-rpc--connection method params)))

(provide 'chinwag-rpc)
;;; chinwag-rpc.el ends here
