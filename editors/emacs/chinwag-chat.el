;;; chinwag-chat.el --- Chat buffers for chinwag  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; A chat buffer is in `chinwag-chat-mode', derived from `markdown-mode'
;; when it is installed and from `text-mode' otherwise (with its own
;; highlighting of headings and code fences).  It is a view of the
;; conversation the backend keeps: the transcript is rendered from it
;; and guarded by an overlay (read-only whatever font-lock does to text
;; properties); the user writes the draft below the last "## You" and
;; sends it with `chinwag-send' (C-c RET).
;;
;; The answer streams in above a new, empty draft, so the next message
;; can be written while it comes.  Each `chat/delta' notification is
;; inserted at a marker and nothing else is done per delta: no header
;; or mode line rebuild (a timer refreshes the progress twice a second),
;; no refontification beyond what `jit-lock' does for the new text, no
;; undo records, no string copies.  Undo and redo see the draft only.
;; `chinwag-stop' (C-c C-k) stops the answer at once.  When the user
;; comes back to a chat, and before sending, the buffer is rendered
;; again if another editor changed the chat.
;;
;; The header line shows the chat's provider and model; the mode line
;; shows the progress of an answer, then its token usage and speed.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'chinwag-rpc)
(require 'chinwag-vault)

(defcustom chinwag-provider nil
  "Provider for new chats, such as \"groq\"; nil means the backend's default."
  :type '(choice (const :tag "The backend's default" nil) string)
  :group 'chinwag)

(defcustom chinwag-model nil
  "Model for new chats; nil means the provider's default model."
  :type '(choice (const :tag "The provider's default" nil) string)
  :group 'chinwag)

(defcustom chinwag-system-prompt nil
  "System prompt for new chats, or nil for none."
  :type '(choice (const :tag "None" nil) string)
  :group 'chinwag)

(defcustom chinwag-display-action
  '((display-buffer-reuse-window display-buffer-pop-up-window))
  "The `display-buffer' action used to show a chat buffer."
  :type 'sexp
  :group 'chinwag)

(defcustom chinwag-use-markdown-mode t
  "Whether chat buffers derive from `markdown-mode' when it is installed.
When nil, or when `markdown-mode' is not installed, they derive from
`text-mode' and highlight headings and code fences themselves."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-follow-answer t
"Whether point at the end of a streaming answer follows the answer.
When non-nil, a window whose point is where the answer grows keeps
showing the newest text, as a terminal does; point anywhere else is
never moved.  When nil, point stays where it is until the answer ends."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-mode-line-interval 0.5
  "Seconds between updates of the mode line while an answer streams."
  :type 'number
  :group 'chinwag)

(defface chinwag-heading '((t :inherit font-lock-keyword-face :weight bold))
  "Face of the headings in a chat buffer."
  :group 'chinwag)

(defface chinwag-code '((t :inherit font-lock-constant-face))
  "Face of code in a chat buffer."
  :group 'chinwag)

(defface chinwag-fence '((t :inherit shadow))
  "Face of the fence lines around code blocks in a chat buffer."
  :group 'chinwag)

(defface chinwag-reasoning '((t :inherit shadow :slant italic))
  "Face of a model's reasoning in a chat buffer."
  :group 'chinwag)

(defface chinwag-status '((t :inherit warning))
  "Face of the notes on stopped or failed answers."
  :group 'chinwag)

(defconst chinwag-chat-user-heading "## You"
  "The heading above the user's messages.")

(defconst chinwag-chat-assistant-heading "## Assistant"
  "The heading above the model's answers.")

(defconst chinwag-chat-system-heading "## System"
  "The heading above the system prompt.")

;;;; State

(cl-defstruct (chinwag-chat--stream (:constructor chinwag-chat--make-stream)
                                    (:copier nil))
  "An answer being received into a chat buffer.
STATE is `streaming', then `stopped' once the user stopped it (the
request has not answered yet), then `done'.  MARKER is the end of the
answer, TEXT-START a marker at the start of its text (after any
reasoning)."
  buffer chat-id marker start (chars 0) (deltas 0) text-start reasoning
  (state 'streaming) timer)

(defvar chinwag-chat--streams (make-hash-table :test #'equal)
  "Answers being received, by chat id.")

(defvar chinwag-chat--buffers (make-hash-table :test #'equal)
  "Chat buffers, by chat id.")

(defvar chinwag-chat--last-buffer nil
  "The chat buffer used last.")

(defvar chinwag-chat--providers nil
  "The backend's `providers/list' result, fetched once per backend.")

(defvar chinwag-chat-unclaimed-delta-functions nil
  "Functions called with the params of a delta for a chat without a buffer.
Each is called in turn until one returns non-nil.")

(defvar chinwag-chat-answer-functions nil
  "Functions called in a chat buffer when an answer ends.
Each gets the outcome: the `chat/send' result plist, or the symbol
`stopped', or the error plist.")

(defvar chinwag-chat-send-functions nil
  "Functions that shape a message about to be sent from a chat buffer.
Each is called in the chat buffer with the `chat/send' params (a plist
with :chatId, :content and :context) before the transcript changes,
and returns the params to send.  One may signal an error to keep the
message from being sent: the draft then stays as it is.")

(defvar chinwag-chat-render-hook nil
  "Hook run in a chat buffer after its transcript was rendered again.")

(defvar chinwag-chat-show-functions nil
  "Functions called in a chat buffer showing a saved chat.
Each gets the chat, as `history/get' returns it, when a saved chat is
opened or shown again.")

(defvar-local chinwag-chat--id nil
  "The id of this buffer's chat, or nil until its first message.")

(defvar-local chinwag-chat--provider nil
  "The provider of this buffer's chat; nil means the default.")

(defvar-local chinwag-chat--model nil
  "The model of this buffer's chat; nil means the provider's default.")

(defvar-local chinwag-chat--system nil
  "The system prompt of this buffer's chat.")

(defvar-local chinwag-chat--title nil
  "The title of this buffer's chat.")

(defvar-local chinwag-chat--input nil
  "Marker at the start of the text the user is writing.")

(defvar-local chinwag-chat--stream nil
  "The answer this buffer is receiving, or nil.")

(defvar-local chinwag-chat--messages nil
  "The conversation this buffer shows: a list of message plists.
The transcript is rendered from it; it follows what the backend keeps.")

(defvar-local chinwag-chat--synced nil
  "(UPDATED-AT . MESSAGE-COUNT) of the saved chat when this buffer showed it.
Nil when not known (a change made from this buffer since).")

(defvar-local chinwag-chat--generation 0
  "A count of the messages sent from this buffer.
A refresh asked for before a message was sent is out of date after it.")

(defvar-local chinwag-chat--note nil
  "A note for the header line, such as \"deleted from history\".")

;;;; Highlighting without markdown-mode

(defconst chinwag-chat--fence-re "^[ \t]*\\(`\\{3,\\}\\|~\\{3,\\}\\).*$"
  "Regexp matching a code fence line; group 1 is the fence.")

(defun chinwag-chat--closes-p (fence line-fence rest)
  "Return non-nil if a line with LINE-FENCE and then REST closes FENCE."
  (and (eq (aref fence 0) (aref line-fence 0))
       (>= (length line-fence) (length fence))
       (string-blank-p rest)))

(defvar-local chinwag-chat--fence-cache nil
  "(BOL . FENCE): the code block open at line start BOL (FENCE, or nil).
It lets a growing answer be scanned from the last line fontified rather
than from its heading on every redisplay; a change before BOL drops it.")

(defun chinwag-chat--forget-fences (beg _end _length)
  "Drop the fence cache if the change at BEG is before the cached line."
  (when (and chinwag-chat--fence-cache (< beg (car chinwag-chat--fence-cache)))
    (setq chinwag-chat--fence-cache nil)))

(defun chinwag-chat--scan-fences (open limit)
  "Follow fence lines from point to LIMIT, OPEN being the fence open at point.
Return the fence open at LIMIT, or nil."
  (while (re-search-forward chinwag-chat--fence-re limit t)
    (let ((fence (match-string-no-properties 1))
          (rest (buffer-substring-no-properties (match-end 1) (match-end 0))))
      (cond
       ((not open) (setq open fence))
       ((chinwag-chat--closes-p open fence rest) (setq open nil)))))
  open)

(defun chinwag-chat--open-fence-at (pos)
  "Return the fence of the code block POS is inside, or nil.
Only the message POS is in is scanned: from its heading, or from the
cached line if that is between the heading and POS."
  (save-excursion
    (let* ((heading (or (previous-single-property-change pos 'chinwag-heading)
                        (point-min)))
           (cache chinwag-chat--fence-cache)
           (cached (and cache (<= heading (car cache) pos)))
           (bol (progn (goto-char pos) (line-beginning-position)))
           (open (progn (goto-char (if cached (car cache) heading))
                        (chinwag-chat--scan-fences (and cached (cdr cache)) bol))))
      (setq chinwag-chat--fence-cache (cons bol open))
      (goto-char bol)
      (chinwag-chat--scan-fences open pos))))

(defun chinwag-chat--match-code (limit)
  "Find the next fenced code block before LIMIT, for font-lock.
Group 1 is the opening fence line (empty when the region starts inside
the block), group 2 the code and group 3 the closing fence line (empty
when the block is not closed before LIMIT)."
  (when (< (point) limit)
    (let* ((start (point))
           (inside (chinwag-chat--open-fence-at start))
           fence open-beg open-end body-beg)
      (if inside
          (setq fence inside open-beg start open-end start body-beg start)
        (when (re-search-forward chinwag-chat--fence-re limit t)
          (setq fence (match-string-no-properties 1)
                open-beg (match-beginning 0)
                open-end (match-end 0)
                body-beg (min (1+ open-end) limit))))
      (when fence
        (goto-char body-beg)
        (let ((close-beg limit) (close-end limit) (searching t))
          (while (and searching (re-search-forward chinwag-chat--fence-re limit t))
            (when (chinwag-chat--closes-p
                   fence (match-string-no-properties 1)
                   (buffer-substring-no-properties (match-end 1) (match-end 0)))
              (setq close-beg (match-beginning 0) close-end (match-end 0)
                    searching nil)))
          (set-match-data (list open-beg close-end open-beg open-end
                                body-beg (max body-beg close-beg)
                                close-beg close-end))
          (goto-char (max close-end (1+ start)))
          t)))))

(defconst chinwag-chat--font-lock-keywords
  '((chinwag-chat--match-code (1 'chinwag-fence nil t)
                              (2 'chinwag-code nil t)
                              (3 'chinwag-fence nil t))
    ("^#\\{1,6\\} .*$" 0 'chinwag-heading)
    ("`[^`\n]+`" 0 'chinwag-code)
    ("\\*\\*[^*\n]+\\*\\*" 0 'bold))
  "Highlighting of chat buffers when `markdown-mode' is not used.")

;;;; Mode

(declare-function markdown-mode "markdown-mode" ())

(defun chinwag-chat--markdown-p ()
  "Return non-nil if chat buffers should use `markdown-mode'."
  (and chinwag-use-markdown-mode (fboundp 'markdown-mode)))

(defun chinwag-chat-parent-mode ()
  "Run the major mode `chinwag-chat-mode' derives from.
That is `markdown-mode' when it is installed and
`chinwag-use-markdown-mode' allows it, otherwise `text-mode'."
  (if (chinwag-chat--markdown-p)
      (progn
        (put 'chinwag-chat-parent-mode 'derived-mode-parent 'markdown-mode)
        (markdown-mode))
    (put 'chinwag-chat-parent-mode 'derived-mode-parent 'text-mode)
    (text-mode)))

(put 'chinwag-chat-parent-mode 'derived-mode-parent 'text-mode)

(defvar chinwag-chat-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c RET") #'chinwag-send)
    (define-key map (kbd "C-c C-k") #'chinwag-stop)
    (define-key map (kbd "C-c C-g") #'chinwag-refresh)
    map)
  "Keymap for `chinwag-chat-mode'.")

(define-derived-mode chinwag-chat-mode chinwag-chat-parent-mode "Chinwag"
  "Major mode for chatting with a language model through chinwag.

Write below the last \"## You\" heading and send with \\[chinwag-send];
the answer streams in above a new, empty draft, where the next message
can be written meanwhile, and \\[chinwag-stop] stops it.  The transcript
above the draft is read-only: it is what the backend keeps in its
history, and undo never changes it.  \\[chinwag-refresh] shows the chat
as saved, if another editor continued it.

\\{chinwag-chat-mode-map}"
  (setq-local word-wrap t)
  (setq-local chinwag-chat--input (copy-marker (point-max)))
  (chinwag-chat--make-guard)
  (add-hook 'window-buffer-change-functions #'chinwag-chat--on-return nil t)
  (add-hook 'window-selection-change-functions #'chinwag-chat--on-return nil t)
  (unless (chinwag-chat--markdown-p)
    (setq-local font-lock-defaults '(chinwag-chat--font-lock-keywords t))
    (add-hook 'after-change-functions #'chinwag-chat--forget-fences nil t))
  (add-hook 'kill-buffer-hook #'chinwag-chat--on-kill nil t))

;;;; Providers, header line and mode line

(defun chinwag-chat--provider-list ()
  "Return the backend's providers (fetched once per backend)."
  (or chinwag-chat--providers
      (setq chinwag-chat--providers (chinwag-request 'providers/list))))

(defun chinwag-chat--forget-providers (&rest _)
  "Forget the cached provider list."
  (setq chinwag-chat--providers nil))

(add-hook 'chinwag-rpc-start-functions #'chinwag-chat--forget-providers)

(defun chinwag-chat--default-model (provider &optional cached)
  "Return the default model of PROVIDER, or nil.
With CACHED, use only what is already known: ask the backend nothing."
  (cl-loop for entry across (plist-get (if cached
                                           chinwag-chat--providers
                                         (chinwag-chat--provider-list))
                                       :providers)
           when (equal (plist-get entry :name) provider)
           return (plist-get entry :defaultModel)))

(defun chinwag-chat--effective-provider (&optional cached)
  "Return the provider of this buffer's chat (present or future).
With CACHED, use only what is already known: ask the backend nothing."
  (or chinwag-chat--provider
      (plist-get (if cached chinwag-chat--providers (chinwag-chat--provider-list))
                 :default)))

(defun chinwag-chat--effective-model (&optional cached)
  "Return the model of this buffer's chat (present or future).
With CACHED, use only what is already known: ask the backend nothing."
  (or chinwag-chat--model
      (chinwag-chat--default-model (chinwag-chat--effective-provider cached) cached)))

(defun chinwag-chat--update-header ()
  "Rebuild the header line of this chat buffer from what is known.
It asks the backend nothing, so it may run from a notification handler."
  (let ((provider (chinwag-chat--effective-provider t))
        (model (chinwag-chat--effective-model t)))
    (setq header-line-format
          (concat " "
                  (propertize (or provider "default provider") 'face 'bold)
                  " / " (or model "default model")
                  (if (chinwag-vault-locked-p) "   [vault locked]" "")
                  (if chinwag-chat--note (concat "   [" chinwag-chat--note "]") "")))
    (force-mode-line-update)))

(defun chinwag-chat--update-all-headers (&rest _)
  "Rebuild the header line of every chat buffer."
  (dolist (buffer (buffer-list))
    (when (eq (buffer-local-value 'major-mode buffer) 'chinwag-chat-mode)
      (with-current-buffer buffer (chinwag-chat--update-header)))))

(add-hook 'chinwag-vault-state-change-functions #'chinwag-chat--update-all-headers)

(defun chinwag-chat--set-mode-line (string)
  "Show STRING in this buffer's mode line, after the mode name."
  (setq mode-line-process (and string (concat " " string)))
  (force-mode-line-update))

(defun chinwag-chat--show-progress (stream)
  "Show STREAM's progress in its buffer's mode line (run from a timer)."
  (let ((buffer (chinwag-chat--stream-buffer stream)))
    (when (and (buffer-live-p buffer)
               (eq (chinwag-chat--stream-state stream) 'streaming))
      (with-current-buffer buffer
        (chinwag-chat--set-mode-line
         (format "[answering: %d chars, %.0f s]"
                 (chinwag-chat--stream-chars stream)
                 (- (float-time) (chinwag-chat--stream-start stream))))))))

(defun chinwag-chat--stats (result)
  "Describe the token usage and speed of RESULT, a `chat/send' result."
  (let* ((usage (plist-get result :usage))
         (timings (plist-get result :timings))
         (completion (plist-get usage :completionTokens))
         (prompt (plist-get usage :promptTokens))
         (speed (plist-get timings :tokensPerSecond))
         (total (plist-get timings :totalMs)))
    (string-join
     (delq nil
           (list (and completion
                      (if prompt
                          (format "%d+%d tokens" prompt completion)
                        (format "%d tokens" completion)))
                 (and (numberp speed) (format "%.1f tok/s" speed))
                 (and (numberp total) (format "%.1f s" (/ total 1000.0)))))
     ", ")))

;;;; Writing the transcript

;; The buffer is a view of the conversation: the transcript, from the
;; start of the buffer to `chinwag-chat--input', is rendered from what
;; the backend keeps; the draft, from there to the end, is the user's.
;; The transcript is guarded by an overlay whose modification hooks
;; refuse changes (unless `inhibit-read-only'), rather than by text
;; properties that font-lock (markdown-mode's in particular) may strip.
;; It is changed only with `buffer-undo-list' bound to t, so undo and
;; redo see the draft alone; the positions recorded for the draft are
;; moved along when the transcript above it grows or shrinks.

(defvar-local chinwag-chat--guard nil
  "The overlay that makes the transcript read-only.")

(defun chinwag-chat--refuse (_overlay after _beg _end &optional _length)
  "Refuse a change to the transcript (an overlay hook; AFTER is ignored)."
  (unless (or after inhibit-read-only)
    (signal 'text-read-only
            (list "The transcript is read-only; write below the last \"## You\""))))

(defun chinwag-chat--make-guard ()
  "Create the overlay that guards the transcript of this buffer."
  (let ((overlay (make-overlay (point-min) chinwag-chat--input nil nil nil)))
    (overlay-put overlay 'chinwag-guard t)
    (overlay-put overlay 'modification-hooks '(chinwag-chat--refuse))
    (overlay-put overlay 'insert-in-front-hooks '(chinwag-chat--refuse))
    (overlay-put overlay 'evaporate nil)
    (setq chinwag-chat--guard overlay)))

(defun chinwag-chat--shift-undo (from delta)
  "Move the positions at or after FROM in `buffer-undo-list' by DELTA.
The undo list records the draft only, by absolute positions; when the
transcript above it changes without undo records, this keeps them
pointing at the draft."
  (let ((tail buffer-undo-list)
        (shift (lambda (pos) (if (>= pos from) (+ pos delta) pos))))
    (while (consp tail)
      (let ((entry (car tail)))
        (cond
         ((integerp entry) (setcar tail (funcall shift entry)))
         ((not (consp entry)))
         ((and (integerp (car entry)) (integerp (cdr entry)))
          (setcar entry (funcall shift (car entry)))
          (setcdr entry (funcall shift (cdr entry))))
         ((and (stringp (car entry)) (integerp (cdr entry)))
          (let ((pos (cdr entry)))
            (setcdr entry (if (< pos 0)
                              (- (funcall shift (- pos)))
                            (funcall shift pos)))))
         ((and (null (car entry)) (consp (cdr entry)) (consp (cddr entry))
               (consp (cdddr entry)) (integerp (car (cdddr entry))))
          (let ((range (cdddr entry)))
            (setcar range (funcall shift (car range)))
            (setcdr range (funcall shift (cdr range)))))))
      (setq tail (cdr tail)))))

(defun chinwag-chat--edit (function)
  "Call FUNCTION at the end of the transcript to change it.
FUNCTION runs in the widened buffer with point at the start of the
draft, with read-only text allowed and nothing recorded for undo;
what it inserts there goes to the transcript.  The draft, the undo
records of the draft, and point and window points in the draft are
kept as they were; point elsewhere stays where it was."
  (let* ((input chinwag-chat--input)
         (old (marker-position input))
         (pt (point))
         (windows (mapcar (lambda (window) (cons window (window-point window)))
                          (get-buffer-window-list nil nil t))))
    (save-restriction
      (widen)
      (let ((inhibit-read-only t)
            (buffer-undo-list t))
        (set-marker-insertion-type input t)
        (unwind-protect
            (save-excursion
              (goto-char input)
              (funcall function))
          (set-marker-insertion-type input nil)))
      (when chinwag-chat--guard
        (move-overlay chinwag-chat--guard (point-min) input)))
    (let* ((new (marker-position input))
           (delta (- new old))
           (place (lambda (pos) (if (>= pos old) (+ pos delta) (min pos new)))))
      (unless (or (zerop delta) (eq buffer-undo-list t))
        (chinwag-chat--shift-undo old delta))
      (goto-char (funcall place pt))
      (dolist (entry windows)
        (when (window-live-p (car entry))
          (set-window-point (car entry) (funcall place (cdr entry))))))))

(defmacro chinwag-chat--editing (&rest body)
  "Run BODY at the end of the transcript, as a change no undo records.
See `chinwag-chat--edit'."
  (declare (indent 0) (debug t))
  `(chinwag-chat--edit (lambda () ,@body)))

(defun chinwag-chat--insert-heading (heading role)
  "Insert HEADING for ROLE and a blank line at point."
  (insert (propertize heading 'chinwag-role role 'chinwag-heading t)
          "\n\n"))

(defun chinwag-chat--separate ()
  "Insert newlines at point so that a blank line ends the text before it."
  (let ((newlines (cond ((bobp) 2)
                        ((not (eq (char-before) ?\n)) 2)
                        ((not (eq (char-before (1- (point))) ?\n)) 1)
                        (t 0))))
    (unless (or (bobp) (zerop newlines))
      (insert (make-string newlines ?\n)))))

(defun chinwag-chat--insert-user-heading ()
  "Insert the heading of the user's next message at point."
  (chinwag-chat--separate)
  (chinwag-chat--insert-heading chinwag-chat-user-heading 'user))

(defun chinwag-chat--insert-message (role content &optional reasoning status error)
  "Insert a finished message of ROLE with CONTENT at point.
REASONING is shown dimmed before it; STATUS \"cancelled\" or \"error\"
adds a note, with ERROR as the error's text."
  (let ((role (pcase role ("user" 'user) ("system" 'system) (_ 'assistant))))
    (chinwag-chat--separate)
    (chinwag-chat--insert-heading (pcase role
                                    ('user chinwag-chat-user-heading)
                                    ('system chinwag-chat-system-heading)
                                    (_ chinwag-chat-assistant-heading))
                                  role)
    (when (and reasoning (not (string-empty-p reasoning)))
      (insert (propertize reasoning 'font-lock-face 'chinwag-reasoning) "\n\n"))
    (insert (or content "")))
  (pcase status
    ("cancelled" (chinwag-chat--insert-status "[stopped]"))
    ("error" (chinwag-chat--insert-status (format "[error: %s]" (or error "unknown"))))))

(defun chinwag-chat--insert-status (note)
  "Insert NOTE about an answer at point, separated from the answer."
  (chinwag-chat--separate)
  (insert (propertize note 'font-lock-face 'chinwag-status)))

(defun chinwag-chat--render (messages)
  "Replace the transcript with MESSAGES (plists) and the next user heading.
The draft is kept."
  (chinwag-chat--editing
    (delete-region (point-min) (point))
    (when chinwag-chat--system
      (chinwag-chat--insert-message "system" chinwag-chat--system))
    (dolist (message messages)
      (unless (equal (plist-get message :role) "system")
        (chinwag-chat--insert-message
         (plist-get message :role) (plist-get message :content)
         (plist-get message :reasoning) (plist-get message :status)
         (plist-get message :error))))
    (chinwag-chat--insert-user-heading))
  (setq chinwag-chat--messages messages)
  (run-hooks 'chinwag-chat-render-hook))

;;;; Streaming

(defun chinwag-chat--on-delta (params)
  "Insert the `chat/delta' notification PARAMS into its chat buffer."
  (let ((stream (gethash (plist-get params :chatId) chinwag-chat--streams)))
    (if stream
        (when (eq (chinwag-chat--stream-state stream) 'streaming)
          (chinwag-chat--insert-delta stream (plist-get params :delta)
                                      (equal (plist-get params :kind) "reasoning")))
      (run-hook-with-args-until-success 'chinwag-chat-unclaimed-delta-functions
                                        params))))

(setf (alist-get 'chat/delta chinwag-rpc-notification-functions)
      #'chinwag-chat--on-delta)

(defun chinwag-chat--open-answer ()
  "Insert an empty answer and the next user heading above the draft.
Return a marker at the end of the answer, where deltas go: the draft
stays below, and the user may go on writing while the answer comes."
  (let (marker)
    (chinwag-chat--editing
      (chinwag-chat--separate)
      (chinwag-chat--insert-heading chinwag-chat-assistant-heading 'assistant)
      (setq marker (point-marker))
      (insert "\n\n")
      (chinwag-chat--insert-heading chinwag-chat-user-heading 'user))
    ;; Deltas inserted at the marker go before it from now on.
    (set-marker-insertion-type marker t)
    marker))

(defun chinwag-chat--insert-delta (stream delta reasoning)
  "Insert DELTA at the end of STREAM's answer; REASONING if it is reasoning.
The answer grows above the draft, which stays as it is.  Point, in the
buffer and in each window showing it, follows the answer if it is at
the answer's end and `chinwag-follow-answer' is non-nil; point in the
draft stays in the draft, and anywhere else it stays where it is.
Nothing is recorded for undo."
  (let ((buffer (chinwag-chat--stream-buffer stream)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (let* ((inhibit-read-only t)
               (marker (chinwag-chat--stream-marker stream))
               (at (marker-position marker))
               (pt (point))
               (followers (and chinwag-follow-answer
                               (cl-loop for window in (get-buffer-window-list buffer nil t)
                                        when (= (window-point window) at)
                                        collect window)))
               (narrowed (buffer-narrowed-p))
               (beg (and narrowed (point-min-marker)))
               (end (and narrowed (point-max-marker))))
          (when narrowed (widen))
          (let ((buffer-undo-list t))
            (goto-char at)
            (cond
             (reasoning
              (setf (chinwag-chat--stream-reasoning stream) t)
              (insert (propertize delta 'font-lock-face 'chinwag-reasoning)))
             (t
              (unless (chinwag-chat--stream-text-start stream)
                (when (chinwag-chat--stream-reasoning stream)
                  (insert "\n\n"))
                (setf (chinwag-chat--stream-text-start stream) (copy-marker (point))))
              (insert delta))))
          (let ((grown (- (point) at)))
            (when (consp buffer-undo-list)
              (chinwag-chat--shift-undo (1+ at) grown))
            (goto-char (cond ((> pt at) (+ pt grown))
                             ((and (= pt at) chinwag-follow-answer) (point))
                             (t pt))))
          (dolist (window followers)
            (set-window-point window (marker-position marker)))
          (when narrowed
            (narrow-to-region beg end)
            (set-marker beg nil)
            (set-marker end nil))
          (setf (chinwag-chat--stream-chars stream)
                (+ (chinwag-chat--stream-chars stream) (length delta)))
          (setf (chinwag-chat--stream-deltas stream)
                (1+ (chinwag-chat--stream-deltas stream))))))))

(defun chinwag-chat--end-stream (stream)
  "Stop tracking STREAM: its timer, its registration and its marker."
  (when (chinwag-chat--stream-timer stream)
    (cancel-timer (chinwag-chat--stream-timer stream))
    (setf (chinwag-chat--stream-timer stream) nil))
  (when (eq (gethash (chinwag-chat--stream-chat-id stream) chinwag-chat--streams)
            stream)
    (remhash (chinwag-chat--stream-chat-id stream) chinwag-chat--streams))
  (let ((buffer (chinwag-chat--stream-buffer stream)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (when (eq chinwag-chat--stream stream)
          (setq chinwag-chat--stream nil))))))

(defun chinwag-chat--answer-text (stream)
  "Return the text of STREAM's answer so far, reasoning left out."
  (let ((marker (chinwag-chat--stream-marker stream)))
    (if (marker-buffer marker)
        (with-current-buffer (marker-buffer marker)
          (save-restriction
            (widen)
            (buffer-substring-no-properties
             (or (chinwag-chat--stream-text-start stream) marker) marker)))
      "")))

(defun chinwag-chat--close-answer (stream note &optional status error)
  "End the display of STREAM's answer, with NOTE if non-nil.
The answer is recorded in the buffer's conversation with STATUS (default
\"complete\") and ERROR.  Whatever the user is writing stays as it is."
  (let ((buffer (chinwag-chat--stream-buffer stream)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (let ((marker (chinwag-chat--stream-marker stream)))
          (when (marker-buffer marker)
            (setq chinwag-chat--messages
                  (append chinwag-chat--messages
                          (list (chinwag-rpc-compact
                                 :role "assistant"
                                 :content (chinwag-chat--answer-text stream)
                                 :status (or status "complete")
                                 :error error))))
            (chinwag-chat--editing
              ;; The heading of the draft is written again after the note.
              (delete-region marker (point))
              (goto-char marker)
              (when note (chinwag-chat--insert-status note))
              (chinwag-chat--insert-user-heading))
            (set-marker marker nil)
            (when (chinwag-chat--stream-text-start stream)
              (set-marker (chinwag-chat--stream-text-start stream) nil))))))))

(defun chinwag-chat--repair-answer (stream content)
  "Make STREAM's answer text equal CONTENT, the whole answer as saved.
Deltas are not lost in normal operation; this covers a handler error."
  (let ((text-start (chinwag-chat--stream-text-start stream))
        (marker (chinwag-chat--stream-marker stream)))
    (when (and (stringp content) (not (string-empty-p content))
               (not (equal content (chinwag-chat--answer-text stream))))
      (chinwag-rpc-log "answer in %s repaired from the final result" (buffer-name))
      (chinwag-chat--editing
        (when text-start
          (delete-region text-start marker))
        (goto-char marker)
        (unless text-start
          (setf (chinwag-chat--stream-text-start stream) (copy-marker (point))))
        (insert content)))))

(defun chinwag-chat--on-answer (stream result)
  "Finish STREAM with RESULT, the `chat/send' result."
  (let ((buffer (chinwag-chat--stream-buffer stream))
        (state (chinwag-chat--stream-state stream)))
    (chinwag-chat--end-stream stream)
    (setf (chinwag-chat--stream-state stream) 'done)
    (when (and (buffer-live-p buffer) (eq state 'streaming))
      (with-current-buffer buffer
        (chinwag-chat--repair-answer stream (plist-get result :content))
        (chinwag-chat--close-answer stream nil)
        (setq chinwag-chat--synced nil)
        (let ((stats (chinwag-chat--stats result)))
          (chinwag-chat--set-mode-line (format "[%s]" stats))
          (unless (get-buffer-window buffer t)
            (message "chinwag: answer ready in %s (%s)" (buffer-name) stats)))
        (run-hook-with-args 'chinwag-chat-answer-functions result)))))

(defun chinwag-chat--on-error (stream error)
  "Finish STREAM after ERROR, an error plist."
  (let ((buffer (chinwag-chat--stream-buffer stream))
        (state (chinwag-chat--stream-state stream))
        (cancelled (eql (plist-get error :code) -32800)))
    (chinwag-chat--end-stream stream)
    (setf (chinwag-chat--stream-state stream) 'done)
    (when (and (buffer-live-p buffer) (eq state 'streaming))
      (with-current-buffer buffer
        (let ((text (chinwag-rpc-error-message error)))
          (chinwag-chat--close-answer
           stream (if cancelled "[stopped]" (format "[error: %s]" text))
           (if cancelled "cancelled" "error") (and (not cancelled) text))
          (setq chinwag-chat--synced nil)
          (chinwag-chat--set-mode-line (if cancelled "[stopped]" "[error]"))
          (unless cancelled
            (message "chinwag: %s" text))
          (run-hook-with-args 'chinwag-chat-answer-functions
                              (if cancelled 'stopped error)))))))

;;;; Sending

(defun chinwag-chat--ensure-chat ()
  "Create this buffer's chat in the backend if it has none yet."
  (unless chinwag-chat--id
    (let ((result (chinwag-request
                   'chat/new
                   (chinwag-rpc-compact :provider chinwag-chat--provider
                                        :model chinwag-chat--model
                                        :system chinwag-chat--system))))
      (setq chinwag-chat--id (plist-get result :chatId)
            chinwag-chat--provider (plist-get result :provider)
            chinwag-chat--model (plist-get result :model)
            chinwag-chat--note nil)
      (puthash chinwag-chat--id (current-buffer) chinwag-chat--buffers)
      (chinwag-chat--update-header))))

(defun chinwag-chat--fence-for (text)
  "Return a backtick fence longer than any run of backticks in TEXT."
  (let ((longest 0) (start 0))
    (while (string-match "`+" text start)
      (setq longest (max longest (- (match-end 0) (match-beginning 0)))
            start (match-end 0)))
    (make-string (max 3 (1+ longest)) ?`)))

(defun chinwag-chat-format-region (region)
  "Format REGION, a context plist, as the backend puts it in the message."
  (let* ((path (plist-get region :path))
         (start (plist-get region :startLine))
         (end (plist-get region :endLine))
         (text (plist-get region :text))
         (fence (chinwag-chat--fence-for text)))
    (concat (if (and path (not (string-empty-p path)))
                (format "`%s`" path)
              "Selected code")
            (cond ((and start end (> end start)) (format " lines %d-%d" start end))
                  (start (format " line %d" start))
                  (t ""))
            ":\n" fence (or (plist-get region :language) "") "\n"
            (string-remove-suffix "\n" text) "\n" fence)))

(defun chinwag-chat--wait-for-previous ()
  "Wait briefly for a stopped answer's request to finish, so a new one may start."
  (let ((deadline (+ (float-time) 3)))
    (while (and chinwag-chat--stream
                (eq (chinwag-chat--stream-state chinwag-chat--stream) 'stopped)
                (< (float-time) deadline))
      (accept-process-output nil 0.05))))

(defun chinwag-chat--title-from (content)
  "Return a short title from CONTENT, a message."
  (let ((line (car (split-string (string-trim content) "\n"))))
    (truncate-string-to-width (or line "") 40 nil nil "...")))

(defun chinwag-chat--rename-buffer ()
  "Name this buffer after its chat's title."
  (when chinwag-chat--title
    (rename-buffer (format "*chinwag: %s*" chinwag-chat--title) t)))

(defun chinwag-chat--prepare ()
  "Make sure this chat can send: no answer coming, a chat in the backend."
  (chinwag-chat--wait-for-previous)
  (when chinwag-chat--stream
    (user-error "An answer is still coming; %s stops it"
                (substitute-command-keys "\\[chinwag-stop]")))
  (chinwag-chat--ensure-chat))

(defun chinwag-chat--send-params (content context)
  "Return the `chat/send' params of CONTENT and CONTEXT from this buffer.
They go through `chinwag-chat-send-functions'."
  (let ((params (chinwag-rpc-compact :chatId chinwag-chat--id
                                     :content content
                                     :context (and context (vconcat context)))))
    (dolist (function chinwag-chat-send-functions)
      (setq params (funcall function params)))
    params))

(defun chinwag-chat--submit (content context)
  "Send CONTENT with CONTEXT (a list of region plists) from this chat buffer.
The draft is replaced by CONTENT in the transcript, followed by the
formatted CONTEXT; the answer comes below it, and a new, empty draft
below that, ready for the next message while the answer streams."
  (chinwag-chat--prepare)
  (unless chinwag-chat--title
    (setq chinwag-chat--title (chinwag-chat--title-from content))
    (chinwag-chat--rename-buffer))
  (let ((params (chinwag-chat--send-params content context))
        (text (if context
                  (concat (string-trim-right content) "\n\n"
                          (mapconcat #'chinwag-chat-format-region context "\n\n"))
                content))
        (in-draft (>= (point) chinwag-chat--input))
        (windows (seq-filter (lambda (window)
                               (>= (window-point window) chinwag-chat--input))
                             (get-buffer-window-list nil nil t))))
    ;; What was typed is sent: it leaves the draft, and its undo records go.
    (let ((inhibit-read-only t)
          (buffer-undo-list t))
      (save-restriction
        (widen)
        (delete-region chinwag-chat--input (point-max))))
    (unless (eq buffer-undo-list t)
      (setq buffer-undo-list nil))
    (chinwag-chat--editing (insert text))
    (setq chinwag-chat--messages
          (append chinwag-chat--messages (list (list :role "user" :content text)))
          chinwag-chat--synced nil
          chinwag-chat--generation (1+ chinwag-chat--generation))
    (let ((stream (chinwag-chat--make-stream
                   :buffer (current-buffer)
                   :chat-id chinwag-chat--id
                   :marker (chinwag-chat--open-answer)
                   :start (float-time))))
      (when in-draft (goto-char (point-max)))
      (dolist (window windows)
        (set-window-point window (point-max)))
      (setq chinwag-chat--stream stream
            chinwag-chat--last-buffer (current-buffer))
      (puthash chinwag-chat--id stream chinwag-chat--streams)
      (setf (chinwag-chat--stream-timer stream)
            (run-with-timer chinwag-mode-line-interval chinwag-mode-line-interval
                            #'chinwag-chat--show-progress stream))
      (chinwag-chat--set-mode-line "[answering]")
      (condition-case err
          (chinwag-async-request
           'chat/send
           params
           :timeout nil
           :abandoned (lambda () (not (eq (chinwag-chat--stream-state stream) 'streaming)))
           :on-success (lambda (result) (chinwag-chat--on-answer stream result))
           :on-error (lambda (error) (chinwag-chat--on-error stream error)))
        (error
         (chinwag-chat--on-error stream (list :code -1 :message (error-message-string err)))))
      stream)))

(defun chinwag-chat--input-text ()
  "Return the text the user wrote in the input area."
  (save-restriction
    (widen)
    (buffer-substring-no-properties chinwag-chat--input (point-max))))

(defun chinwag-chat-send-message (buffer content &optional context default)
  "Send CONTENT with CONTEXT from the chat BUFFER, as if typed there.
CONTENT goes after what the user has written in BUFFER's input area,
if anything; with DEFAULT non-nil, CONTENT is only used when nothing is
written there.  CONTEXT is a list of region plists (:path :language
:startLine :endLine :text)."
  (with-current-buffer buffer
    (chinwag-chat--prepare)
    (unless (chinwag-vault-locked-p)
      (ignore-errors (chinwag-chat-refresh)))
    (let ((typed (chinwag-chat--input-text)))
      (cond
       ((string-blank-p typed))
       (default (setq content typed))
       (t
        (setq content (concat typed
                              (cond ((string-suffix-p "\n\n" typed) "")
                                    ((string-suffix-p "\n" typed) "\n")
                                    (t "\n\n"))
                              content)))))
    (chinwag-chat--submit content context)))

(autoload 'chinwag-inline-send "chinwag-inline"
  "Send the region or the text before point; write the answer after it." t)

;;;###autoload
(defun chinwag-send ()
  "Send what was written below the last \"## You\" heading.
If the chat changed elsewhere (another editor) since this buffer showed
it, the buffer shows it again first, with the draft kept.  Outside a
chat buffer, send the region or the text before point as a prompt and
write the answer after it (see `chinwag-inline-send')."
  (interactive)
  (if (not (derived-mode-p 'chinwag-chat-mode))
      (chinwag-inline-send)
    (let ((content (chinwag-chat--input-text)))
      (when (string-blank-p content)
        (user-error "Write a message below the last heading first"))
      (unless (or chinwag-chat--stream (chinwag-vault-locked-p))
        (condition-case err
            (chinwag-chat-refresh)
          (error (chinwag-rpc-log "refresh of %s failed: %s" (buffer-name)
                                  (error-message-string err)))))
      (chinwag-chat--submit content nil))))

;;;; Two editors on one chat

(defun chinwag-chat--show-saved (chat &optional force)
  "Show CHAT, the `history/get' result of this buffer's chat, if it changed.
Its `updatedAt' and `messageCount' tell whether it changed elsewhere
since this buffer showed it; with FORCE, render it again in any case.
The draft is kept.  Return non-nil if the transcript was rendered again."
  (let* ((signature (cons (plist-get chat :updatedAt) (plist-get chat :messageCount)))
         (messages (append (plist-get chat :messages) nil))
         (roles (lambda (list)
                  (delq nil (mapcar (lambda (m)
                                      (let ((role (plist-get m :role)))
                                        (and (not (equal role "system")) role)))
                                    list)))))
    (cond
     ((and (not force) chinwag-chat--synced (equal signature chinwag-chat--synced))
      nil)
     ((and (not force) (null chinwag-chat--synced)
           (equal (funcall roles chinwag-chat--messages) (funcall roles messages)))
      ;; Only this buffer's own changes since it last looked.
      (setq chinwag-chat--synced signature)
      nil)
     (t
      (setq chinwag-chat--provider (plist-get chat :provider)
            chinwag-chat--model (plist-get chat :model)
            chinwag-chat--system (plist-get chat :system)
            chinwag-chat--synced signature)
      (chinwag-chat--render messages)
      (chinwag-chat--update-header)
      (run-hook-with-args 'chinwag-chat-show-functions chat)
      (chinwag-rpc-log "%s shown again: the chat changed elsewhere" (buffer-name))
      t))))

(defun chinwag-chat-refresh (&optional force)
  "Show this buffer's chat again if it changed elsewhere, keeping the draft.
With FORCE, render it again in any case, and unlock the vault if
needed.  Return non-nil if the transcript was rendered again.  Nothing
happens while an answer comes."
  (when (and chinwag-chat--id (not chinwag-chat--stream))
    (if force
        (chinwag-chat--show-saved
         (chinwag-request 'history/get (list :chatId chinwag-chat--id)) t)
      ;; Never a password prompt for a check the user did not ask for.
      (let ((answer (chinwag-rpc-call 'history/get (list :chatId chinwag-chat--id))))
        (if (plist-member answer :result)
            (chinwag-chat--show-saved (plist-get answer :result))
          (chinwag-chat--on-refresh-error (plist-get answer :error))
          nil)))))

(defun chinwag-chat--on-refresh-error (error)
  "Deal with ERROR, the answer of `history/get' for this buffer's chat.
A chat deleted elsewhere is forgotten: the next message starts a new one."
  (if (and (eql (plist-get error :code) 1201)
           (equal (plist-get (plist-get error :data) :what) "chat"))
      (chinwag-chat-forget chinwag-chat--id "deleted elsewhere")
    (chinwag-rpc-log "refresh of %s failed: %s" (buffer-name)
                     (plist-get error :message))))

(defun chinwag-chat--refresh-async ()
  "Ask the backend for this buffer's chat and show it again if it changed.
The request does not block: the buffer is rendered when it answers, if
no answer started streaming in the meantime."
  (let ((buffer (current-buffer))
        (id chinwag-chat--id)
        (generation chinwag-chat--generation))
    (chinwag-rpc-async
     'history/get (list :chatId id)
     :on-success (lambda (chat)
                   (when (buffer-live-p buffer)
                     (with-current-buffer buffer
                       (when (and (equal chinwag-chat--id id)
                                  (= chinwag-chat--generation generation)
                                  (not chinwag-chat--stream))
                         (chinwag-chat--show-saved chat)))))
     :on-error (lambda (error)
                 (when (buffer-live-p buffer)
                   (with-current-buffer buffer
                     (when (equal chinwag-chat--id id)
                       (chinwag-chat--on-refresh-error error))))))))

(defun chinwag-chat--on-return (window-or-frame)
  "Refresh the chat shown in WINDOW-OR-FRAME when the user comes back to it.
It runs from `window-selection-change-functions' and
`window-buffer-change-functions'; it does not wait for the backend, and
errors are logged, not raised."
  (let ((window (if (windowp window-or-frame)
                    window-or-frame
                  (frame-selected-window window-or-frame))))
    (when (and (window-live-p window)
               (eq window (selected-window)))
      (with-current-buffer (window-buffer window)
        (when (and (derived-mode-p 'chinwag-chat-mode)
                   chinwag-chat--id
                   (not chinwag-chat--stream)
                   (chinwag-rpc-live-p)
                   (not (chinwag-vault-locked-p)))
          (condition-case err
              (chinwag-chat--refresh-async)
            (error (chinwag-rpc-log "refresh of %s failed: %s" (buffer-name)
                                    (error-message-string err)))))))))

;;;###autoload
(defun chinwag-refresh ()
  "Show the current chat as saved by the backend, with the draft kept.
Another editor may have continued it; this happens by itself when the
chat's window is selected and before a message is sent."
  (interactive)
  (with-current-buffer (chinwag-chat-buffer)
    (cond
     (chinwag-chat--stream (user-error "An answer is still coming"))
     ((not chinwag-chat--id) (user-error "This chat has no message yet"))
     (t (chinwag-chat-refresh t)
        (message "chinwag: %s shown as saved" (buffer-name))))))

(defun chinwag-chat--stop-stream (stream)
  "Stop STREAM at once: drop further deltas, close the answer, cancel it."
  (setf (chinwag-chat--stream-state stream) 'stopped)
  (when (chinwag-chat--stream-timer stream)
    (cancel-timer (chinwag-chat--stream-timer stream))
    (setf (chinwag-chat--stream-timer stream) nil))
  (chinwag-rpc-notify 'chat/cancel (list :chatId (chinwag-chat--stream-chat-id stream)))
  (let ((buffer (chinwag-chat--stream-buffer stream)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (chinwag-chat--close-answer stream "[stopped]" "cancelled")
        (chinwag-chat--set-mode-line "[stopped]")))))

(defvar chinwag-stop-functions nil
  "Functions tried by `chinwag-stop' outside a chat buffer.
Each is called with no arguments until one returns non-nil (it stopped
something).")

;;;###autoload
(defun chinwag-stop ()
  "Stop the answer streaming into this chat (or the last chat used)."
  (interactive)
  (let* ((buffer (if (derived-mode-p 'chinwag-chat-mode)
                     (current-buffer)
                   chinwag-chat--last-buffer))
         (stream (and (buffer-live-p buffer)
                      (buffer-local-value 'chinwag-chat--stream buffer))))
    (cond
     ((and (not (derived-mode-p 'chinwag-chat-mode))
           (run-hook-with-args-until-success 'chinwag-stop-functions))
      t)
     ((and stream (eq (chinwag-chat--stream-state stream) 'streaming))
      (chinwag-chat--stop-stream stream)
      (message "chinwag: stopped")
      t)
     (t (message "chinwag: nothing to stop") nil))))

(defun chinwag-chat--on-kill ()
  "Cancel this buffer's answer when the buffer is killed."
  (let ((stream chinwag-chat--stream))
    (when (and stream (eq (chinwag-chat--stream-state stream) 'streaming))
      (setf (chinwag-chat--stream-state stream) 'stopped)
      (chinwag-rpc-notify 'chat/cancel (list :chatId (chinwag-chat--stream-chat-id stream)))
      (when (chinwag-chat--stream-timer stream)
        (cancel-timer (chinwag-chat--stream-timer stream)))))
  (when chinwag-chat--id
    (remhash chinwag-chat--id chinwag-chat--buffers)))

(defun chinwag-chat--on-backend-exit (_conn)
  "Forget what belonged to the backend that ended."
  (setq chinwag-chat--providers nil))

(add-hook 'chinwag-rpc-exit-functions #'chinwag-chat--on-backend-exit)

;;;; Opening chats

(defun chinwag-chat--new-buffer ()
  "Return a new, empty chat buffer."
  ;; The header line shows the default provider and model, if the backend starts.
  (condition-case err
      (chinwag-chat--provider-list)
    (error (message "%s" (error-message-string err))))
  (with-current-buffer (generate-new-buffer "*chinwag*")
    (chinwag-chat-mode)
    (setq chinwag-chat--provider chinwag-provider
          chinwag-chat--model chinwag-model
          chinwag-chat--system chinwag-system-prompt)
    (chinwag-chat--render nil)
    (goto-char (point-max))
    (chinwag-chat--update-header)
    (current-buffer)))

(defun chinwag-chat-buffer (&optional new)
  "Return the current chat buffer; make one if there is none or NEW is non-nil.
The current chat is the chat buffer selected last."
  (if (and (not new) (derived-mode-p 'chinwag-chat-mode))
      (setq chinwag-chat--last-buffer (current-buffer))
    (let ((buffer (if (and (not new) (buffer-live-p chinwag-chat--last-buffer))
                      chinwag-chat--last-buffer
                    (chinwag-chat--new-buffer))))
      (setq chinwag-chat--last-buffer buffer))))

(defun chinwag-chat-display (buffer &optional select)
  "Show the chat BUFFER with `chinwag-display-action'; SELECT its window too."
  (if select
      (pop-to-buffer buffer chinwag-display-action)
    (display-buffer buffer chinwag-display-action)))

(defun chinwag-chat-open-saved (chat-id)
  "Show the saved chat CHAT-ID in a chat buffer, ready to continue it."
  (let ((existing (gethash chat-id chinwag-chat--buffers)))
    (if (buffer-live-p existing)
        existing
      (let ((chat (chinwag-request 'history/get (list :chatId chat-id))))
        (with-current-buffer (generate-new-buffer "*chinwag*")
          (chinwag-chat-mode)
          (setq chinwag-chat--id chat-id
                chinwag-chat--provider (plist-get chat :provider)
                chinwag-chat--model (plist-get chat :model)
                chinwag-chat--system (plist-get chat :system)
                chinwag-chat--title (plist-get chat :title))
          (puthash chat-id (current-buffer) chinwag-chat--buffers)
          (setq chinwag-chat--synced (cons (plist-get chat :updatedAt)
                                           (plist-get chat :messageCount)))
          (chinwag-chat--render (append (plist-get chat :messages) nil))
          (goto-char (point-max))
          (chinwag-chat--rename-buffer)
          (chinwag-chat--update-header)
          (run-hook-with-args 'chinwag-chat-show-functions chat)
          (setq chinwag-chat--last-buffer (current-buffer)))))))

(defun chinwag-chat-forget (chat-id &optional note)
  "Detach the buffer of CHAT-ID from it, noting NOTE in its header line.
The next message in that buffer starts a new chat."
  (let ((buffer (gethash chat-id chinwag-chat--buffers)))
    (remhash chat-id chinwag-chat--buffers)
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (setq chinwag-chat--id nil
              chinwag-chat--note note)
        (chinwag-chat--update-header)))))

(defun chinwag-chat-retitle (chat-id title)
  "Record that CHAT-ID is now called TITLE, renaming its buffer."
  (let ((buffer (gethash chat-id chinwag-chat--buffers)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (setq chinwag-chat--title title)
        (chinwag-chat--rename-buffer)))))

;;;###autoload
(defun chinwag-new ()
  "Open a new chat buffer."
  (interactive)
  (chinwag-chat-display (chinwag-chat-buffer t) t))

;;;; Models

(defun chinwag-chat--read-provider ()
  "Read a provider name with completion."
  (let* ((providers (plist-get (chinwag-chat--provider-list) :providers))
         (names (mapcar (lambda (p) (plist-get p :name)) providers)))
    (completing-read (format-prompt "Provider" (chinwag-chat--effective-provider))
                     names nil t nil nil (chinwag-chat--effective-provider))))

;;;###autoload
(defun chinwag-select-model (&optional choose-provider)
  "Choose the model of the current chat from the provider's model list.
With a prefix argument CHOOSE-PROVIDER, choose the provider first."
  (interactive "P")
  (with-current-buffer (chinwag-chat-buffer)
    (let* ((provider (if choose-provider
                         (chinwag-chat--read-provider)
                       (chinwag-chat--effective-provider)))
           (models (condition-case err
                       (mapcar (lambda (m) (plist-get m :id))
                               (plist-get (chinwag-request 'models/list
                                                           (list :provider provider))
                                          :models))
                     (error
                      (message "chinwag: cannot list the models of %s (%s); type a name"
                               provider (error-message-string err))
                      nil)))
           (current (if (equal provider (chinwag-chat--effective-provider))
                        (chinwag-chat--effective-model)
                      (chinwag-chat--default-model provider)))
           (model (completing-read (format-prompt "Model of %s" current provider)
                                   models nil nil nil nil current)))
      (when (string-empty-p model)
        (user-error "No model chosen"))
      (when chinwag-chat--id
        (let ((summary (chinwag-request 'chat/configure
                                        (list :chatId chinwag-chat--id
                                              :provider provider
                                              :model model))))
          (setq provider (plist-get summary :provider)
                model (plist-get summary :model))))
      (setq chinwag-chat--provider provider
            chinwag-chat--model model)
      (chinwag-chat--update-header)
      (message "chinwag: %s / %s" provider model)
      (list provider model))))

(provide 'chinwag-chat)
;;; chinwag-chat.el ends here
