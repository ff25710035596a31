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
;;
;; The conversation is a tree and the buffer shows one branch of it:
;; each answer's heading names its provider and model, a message with
;; siblings says which it is ("[2/3]"), and commands answer a turn
;; again, edit one (in the draft), retry a failed one and move between
;; versions; a model's reasoning is folded above its answer.  Code
;; blocks can be copied, moved between, and applied to the region the
;; chat was asked about (`chinwag-apply-code-block', in
;; chinwag-rewrite.el).  While its text needs neither, a chat is shown
;; without bidi reordering and composition, and the long line an answer
;; writes is highlighted when it ends (see "Lean display" and "Long
;; lines" below): both make each redisplay of a streaming chat cheaper.

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

(defcustom chinwag-lean-display t
  "Whether chat buffers leave out display work their text does not need.
While a chat buffer holds no right-to-left text, it is shown without
bidirectional reordering (`bidi-display-reordering'), and while it
holds no character that Emacs composes, without automatic
composition (`auto-composition-mode'): what is shown is the same,
and redisplaying the chat as an answer streams costs about half as
much.  Each is turned
back on in that buffer as soon as such text comes into it."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-long-line-threshold 2000
  "Length from which the line an answer is writing is highlighted later.
Emacs lays out a long line from its start at each redisplay, and faces
on it make that several times slower; so while an answer streams, its
line being written is left without highlighting once it is longer than
this many characters, and is highlighted when the answer ends.  Nil
means always highlight at once."
  :type '(choice (const :tag "Always highlight at once" nil) integer)
  :group 'chinwag)

(defcustom chinwag-long-line-interval 0.03
  "Seconds between insertions into a long line an answer is writing.
Each insertion into a line longer than `chinwag-long-line-threshold'
costs a redisplay that lays the whole line out again; text arriving
meanwhile is gathered and inserted at once.  Nil inserts each piece as
it arrives."
  :type '(choice (const :tag "As it arrives" nil) number)
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

(defface chinwag-reasoning-label '((t :inherit (shadow bold)))
  "Face of the line above a model's reasoning."
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
reasoning), and REASONING the overlay of its reasoning, if any.
DEFERRED is the start of the long line of it being left unhighlighted,
t once such a line ended, nil if there was none.  USER is the index in
the conversation of the user turn it answers, when this buffer added
it, ANSWER that of the answer once it ended.  AFTER, if non-nil, is called in the buffer with the result (or
the error) once the answer ended.  PROVIDER and MODEL are those its
heading names.  PENDING is the text gathered for a long line, newest
first, FLUSH-TIMER the timer that inserts it, and FLUSHED when text
was last inserted into that line (a `float-time')."
  buffer chat-id marker start (chars 0) (deltas 0) text-start reasoning
  (state 'streaming) timer deferred user answer after provider model
  pending flush-timer (flushed 0.0))

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

(defvar-local chinwag-chat--origin nil
  "(BUFFER START END) of the region sent with the last message that had one.
START and END are markers.  `chinwag-apply-code-block' applies code there.")

(defvar-local chinwag-chat--edit-id nil
  "The id of the user turn being edited in the draft, or nil.
While it is set, sending the draft calls `chat/edit' on that turn.")

(defvar-local chinwag-chat--edit-saved nil
  "The draft as it was before an edit began; it comes back if it is abandoned.")

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
    (define-key map (kbd "C-c C-w") #'chinwag-copy-code-block)
    (define-key map (kbd "C-c C-y") #'chinwag-apply-code-block)
    (define-key map (kbd "M-n") #'chinwag-next-code-block)
    (define-key map (kbd "M-p") #'chinwag-previous-code-block)
    (define-key map (kbd "C-c C-r") #'chinwag-regenerate)
    (define-key map (kbd "C-c C-e") #'chinwag-edit)
    (define-key map (kbd "C-c C-q") #'chinwag-abandon-edit)
    (define-key map (kbd "C-c C-v") #'chinwag-retry)
    (define-key map (kbd "C-c [") #'chinwag-previous-sibling)
    (define-key map (kbd "C-c ]") #'chinwag-next-sibling)
    (define-key map (kbd "C-c C-z") #'chinwag-toggle-reasoning)
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

Code blocks: \\[chinwag-copy-code-block] copies the one at point (or the
last one of the answers) to the kill ring, \\[chinwag-next-code-block] and
\\[chinwag-previous-code-block] move between them, and \\[chinwag-apply-code-block] proposes
one as the new text of the region sent as context with the last message
that had one, as a diff to accept or reject.

A conversation is a tree: each \"## Assistant\" heading names the model
that answered, and a message with siblings shows which it is, as
\"[2/3]\".  \\[chinwag-regenerate] answers the turn at point again (with
a prefix argument, by another model), \\[chinwag-edit] edits the user turn
at point in the draft (sent as a new branch; \\[chinwag-abandon-edit] abandons
it), \\[chinwag-retry] retries a failed turn, and \\[chinwag-previous-sibling] and
\\[chinwag-next-sibling] show the other versions of the message at point.
A model's reasoning is folded: \\[chinwag-toggle-reasoning], or TAB or a click
on it, shows it.

\\{chinwag-chat-mode-map}"
  (setq-local word-wrap t)
  (setq-local chinwag-chat--input (copy-marker (point-max)))
  (chinwag-chat--make-guard)
  (add-hook 'window-buffer-change-functions #'chinwag-chat--on-return nil t)
  (add-hook 'window-selection-change-functions #'chinwag-chat--on-return nil t)
  (unless (chinwag-chat--markdown-p)
    (setq-local font-lock-defaults '(chinwag-chat--font-lock-keywords t))
    (add-hook 'after-change-functions #'chinwag-chat--forget-fences nil t))
  (chinwag-chat--lean-display)
  (add-to-invisibility-spec 'chinwag-reasoning)
  (setq-local chinwag-chat--fontify-function font-lock-fontify-region-function)
  (setq-local font-lock-fontify-region-function #'chinwag-chat--fontify-region)
  (add-hook 'kill-buffer-hook #'chinwag-chat--on-kill nil t))

;;;; Long lines while an answer streams

(defvar-local chinwag-chat--fontify-function nil
  "The `font-lock-fontify-region-function' of the mode a chat derives from.")

(defun chinwag-chat--long-line ()
  "Return (BEG . END) of the line the streaming answer writes, if it is long.
Long is longer than `chinwag-long-line-threshold'; nil when no answer
streams in this buffer."
  (let* ((stream chinwag-chat--stream)
         (marker (and stream chinwag-long-line-threshold
                      (eq (chinwag-chat--stream-state stream) 'streaming)
                      (chinwag-chat--stream-marker stream))))
    (when (and marker (marker-buffer marker))
      (save-excursion
        (goto-char marker)
        (let ((bol (line-beginning-position)))
          (when (> (- marker bol) chinwag-long-line-threshold)
            (cons bol (marker-position marker))))))))

(defun chinwag-chat--fontify-region (beg end &optional loudly)
  "Fontify from BEG to END (LOUDLY or not) as the chat's mode does.
The long line a streaming answer is writing is left without faces (see
`chinwag-long-line-threshold'); it is fontified when the answer ends."
  (let ((fontify (or chinwag-chat--fontify-function #'font-lock-default-fontify-region))
        (line (chinwag-chat--long-line)))
    (if (not (and line (< beg (cdr line)) (> end (car line))))
        (funcall fontify beg end loudly)
      (when (< beg (car line))
        (funcall fontify beg (car line) loudly))
      ;; From the next line: the mode would extend a region that starts on
      ;; the long line to the whole line.
      (when (> end (1+ (cdr line)))
        (funcall fontify (1+ (cdr line)) end loudly))
      (setf (chinwag-chat--stream-deferred chinwag-chat--stream) (car line))
      ;; The faces put on the line while it was short go (only when there
      ;; are some: changing the properties of the whole line at each
      ;; redisplay would cost about as much as the faces).
      (when (text-property-not-all (car line) (cdr line) 'face nil)
        (with-silent-modifications
          (font-lock-unfontify-region (car line) (cdr line))))
      nil)))

(defun chinwag-chat--insert-plain (text)
  "Insert TEXT at point on a long line left unhighlighted, as fontified.
Nothing is left for `jit-lock' to do on it during redisplay.  The
change hooks do not run; what this buffer's hooks do for such an
insertion is done here (`syntax-ppss' caches, fences, lean display)."
  (let ((start (point)))
    (syntax-ppss-flush-cache start)
    (let ((inhibit-modification-hooks t))
      (insert (propertize text 'fontified t)))
    (chinwag-chat--forget-fences start (point) 0)
    (chinwag-chat--watch-text start (point) 0)))

(defun chinwag-chat--fontify-deferred (stream)
  "Have what STREAM's answer left unhighlighted fontified again, shortly.
The answer's last text is shown first, as it was streamed; the long
line is highlighted a moment later (that redisplay costs more)."
  (when (chinwag-chat--stream-deferred stream)
    (setf (chinwag-chat--stream-deferred stream) nil)
    (let* ((start (or (chinwag-chat--stream-text-start stream)
                      (chinwag-chat--stream-marker stream)))
           (buffer (marker-buffer start)))
      (when buffer
        (let ((beg (copy-marker start))
              (end (copy-marker (chinwag-chat--stream-marker stream))))
          (run-with-timer
           0.2 nil
           (lambda ()
             (when (buffer-live-p buffer)
               (with-current-buffer buffer
                 (font-lock-flush (marker-position beg) (marker-position end))))
             (set-marker beg nil)
             (set-marker end nil))))))))

;;;; Lean display

;; Emacs's display engine reorders every character it lays out for
;; bidirectional text, and looks ahead at each one for a composition,
;; even when the text has no right-to-left script and nothing to
;; compose.  In a chat window that is redisplayed tens of times a
;; second while an answer streams, that is about half of the cost of
;; each redisplay (and most of it on a long line, which is laid out
;; from its start each time).  A chat buffer therefore turns both off
;; while its text needs neither, and back on as soon as it does: what
;; is shown does not change.

(defconst chinwag-chat--rtl-re
  (concat "[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff"
          "\u200f\u202a-\u202e\u2066-\u2069"
          "\U00010800-\U00010fff\U0001e800-\U0001efff]")
  "Regexp matching a character that may need bidirectional reordering.
Right-to-left scripts (Hebrew, Arabic, Syriac, Thaana, N'Ko and their
neighbours, their presentation forms and the historic scripts of the
higher planes) and the directional marks and controls; a few
characters more than needed, none fewer.")

(defvar-local chinwag-chat--lean nil
  "What this buffer's display leaves out: a list of `bidi' and `compose'.")

(defun chinwag-chat--ascii-composes-p ()
  "Return non-nil if an ASCII character may be composed (ligatures set up)."
  (let ((char 0) (found nil))
    (while (and (not found) (< char 128))
      (setq found (aref composition-function-table char)
            char (1+ char)))
    found))

(defun chinwag-chat--lean-display ()
  "Leave out reordering and composition here while the text needs neither.
See `chinwag-lean-display'."
  (when chinwag-lean-display
    (setq chinwag-chat--lean nil)
    (when bidi-display-reordering
      (setq-local bidi-display-reordering nil)
      (push 'bidi chinwag-chat--lean))
    (when (and auto-composition-mode (not (chinwag-chat--ascii-composes-p)))
      (setq-local auto-composition-mode nil)
      (push 'compose chinwag-chat--lean))
    (when chinwag-chat--lean
      (add-hook 'after-change-functions #'chinwag-chat--watch-text nil t)
      (chinwag-chat--watch-text (point-min) (point-max) 0))))

(defun chinwag-chat--watch-text (beg end _length)
  "Turn reordering or composition back on if the text from BEG to END needs it.
An `after-change-functions' hook; the first test is one regexp search,
and pure ASCII text needs nothing more."
  (when chinwag-chat--lean
    (save-excursion
      (goto-char beg)
      (when (re-search-forward "[^\0-\177]" end t)
        (when (and (memq 'bidi chinwag-chat--lean)
                   (progn (goto-char beg) (re-search-forward chinwag-chat--rtl-re end t)))
          (kill-local-variable 'bidi-display-reordering)
          (setq chinwag-chat--lean (delq 'bidi chinwag-chat--lean)))
        (when (memq 'compose chinwag-chat--lean)
          (goto-char beg)
          (let ((found nil))
            (while (and (not found)
                        (progn (skip-chars-forward "\0-\177" end) (< (point) end)))
              (if (aref composition-function-table (char-after))
                  (setq found t)
                (forward-char)))
            (when found
              (kill-local-variable 'auto-composition-mode)
              (setq chinwag-chat--lean (delq 'compose chinwag-chat--lean)))))
        (unless chinwag-chat--lean
          (remove-hook 'after-change-functions #'chinwag-chat--watch-text t))))))

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
                  (if chinwag-chat--note (concat "   [" chinwag-chat--note "]") "")
                  (if chinwag-chat--edit-id
                      (substitute-command-keys
                       "   [editing a message: \\<chinwag-chat-mode-map>\\[chinwag-send] \
sends it as a new branch, \\[chinwag-abandon-edit] abandons it]")
                    "")))
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

;; Each heading is marked with the role of its message and, once the
;; message is part of `chinwag-chat--messages', with its index there
;; (`chinwag-index'): commands find the message at point from it.

(defun chinwag-chat--insert-heading (heading role &optional index)
  "Insert HEADING for ROLE and a blank line at point.
INDEX is the message's index in `chinwag-chat--messages', if known."
  (insert (propertize heading 'chinwag-role role 'chinwag-heading t 'chinwag-index index)
          "\n\n"))

(defun chinwag-chat--sibling-label (message)
  "Return \"[N/M]\" for MESSAGE with siblings: its position and their count.
Nil when it has none."
  (let* ((siblings (append (plist-get message :siblings) nil))
         (count (length siblings)))
    (when (> count 1)
      (format "[%d/%d]"
              (1+ (or (cl-position (plist-get message :id) siblings :test #'equal) 0))
              count))))

(defun chinwag-chat--model-label (provider model)
  "Return \"(PROVIDER/MODEL)\", or nil when MODEL is not known."
  (and model (format "(%s)" (if provider (concat provider "/" model) model))))

(defun chinwag-chat--heading-for (role &optional message)
  "Return the heading of a message of ROLE (a symbol), MESSAGE if known.
An answer's heading names its provider and model, and any message with
siblings says which of them it is."
  (string-join
   (delq nil (list (pcase role
                     ('user chinwag-chat-user-heading)
                     ('system chinwag-chat-system-heading)
                     (_ chinwag-chat-assistant-heading))
                   (and (eq role 'assistant)
                        (chinwag-chat--model-label (plist-get message :provider)
                                                   (plist-get message :model)))
                   (chinwag-chat--sibling-label message)))
   " "))

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

(defun chinwag-chat--role (role)
  "Return the symbol of ROLE, a role name of the protocol."
  (pcase role ("user" 'user) ("system" 'system) (_ 'assistant)))

(defun chinwag-chat--insert-message (role content &optional reasoning status error)
  "Insert a finished message of ROLE with CONTENT at point.
REASONING is shown folded before it; STATUS \"cancelled\" or \"error\"
adds a note, with ERROR as the error's text."
  (chinwag-chat--insert-turn (list :role role :content content :reasoning reasoning
                                   :status status :error error)
                             nil))

(defun chinwag-chat--insert-turn (message index)
  "Insert MESSAGE, a message plist, at point; INDEX is its index, or nil.
Its reasoning is shown folded before its text; a status \"cancelled\"
or \"error\" adds a note."
  (let ((role (chinwag-chat--role (plist-get message :role)))
        (reasoning (plist-get message :reasoning)))
    (chinwag-chat--separate)
    (chinwag-chat--insert-heading (chinwag-chat--heading-for role message) role index)
    (when (and (stringp reasoning) (not (string-empty-p reasoning)))
      (let ((overlay (chinwag-chat--open-reasoning)))
        (insert (propertize reasoning 'font-lock-face 'chinwag-reasoning))
        (chinwag-chat--close-reasoning overlay)))
    (insert (or (plist-get message :content) "")))
  (pcase (plist-get message :status)
    ("cancelled" (chinwag-chat--insert-status "[stopped]"))
    ("error" (chinwag-chat--insert-status
              (format "[error: %s]" (or (plist-get message :error) "unknown"))))))

(defun chinwag-chat--insert-status (note)
  "Insert NOTE about an answer at point, separated from the answer."
  (chinwag-chat--separate)
  (insert (propertize note 'font-lock-face 'chinwag-status)))

;;;; Reasoning

;; A model's reasoning is rendered above its answer, folded: a
;; "Reasoning" line, then the reasoning, invisible until opened.  Both
;; are overlays (markdown-mode's font-lock would strip `invisible' and
;; `keymap' text properties): the label's overlay holds the state, and
;; its `chinwag-body' the overlay of the reasoning itself.

(defvar chinwag-chat-reasoning-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'chinwag-toggle-reasoning)
    (define-key map (kbd "<tab>") #'chinwag-toggle-reasoning)
    (define-key map (kbd "RET") #'chinwag-toggle-reasoning)
    (define-key map [mouse-1] #'chinwag-toggle-reasoning)
    map)
  "Keymap on a model's reasoning in a chat buffer.")

(defun chinwag-chat--open-reasoning ()
  "Insert the label of a reasoning at point; return the overlay of its body.
The body is what is inserted at point afterwards, up to a call of
`chinwag-chat--close-reasoning' (or `move-overlay' while it grows)."
  (let ((label-start (point)))
    (insert (propertize "Reasoning" 'font-lock-face 'chinwag-reasoning-label))
    (let ((label (make-overlay label-start (point) nil nil nil))
          (body nil))
      (insert "\n")
      (setq body (make-overlay (point) (point) nil nil nil))
      (dolist (overlay (list label body))
        (overlay-put overlay 'chinwag-reasoning label)
        (overlay-put overlay 'keymap chinwag-chat-reasoning-map))
      ;; The body starts empty: it evaporates only once it is closed.
      (overlay-put label 'evaporate t)
      (overlay-put label 'chinwag-body body)
      (overlay-put label 'mouse-face 'highlight)
      (overlay-put label 'help-echo "mouse-1 or TAB: show or hide the reasoning")
      (chinwag-chat--show-reasoning label nil)
      body)))

(defun chinwag-chat--close-reasoning (body)
  "End the reasoning whose BODY overlay ends at point, and separate it."
  (move-overlay body (overlay-start body) (point))
  (insert "\n")
  (move-overlay body (overlay-start body) (point))
  (overlay-put body 'evaporate t)
  (insert "\n"))

(defun chinwag-chat--show-reasoning (label shown)
  "Show the reasoning of LABEL (its label overlay) if SHOWN, else fold it."
  (overlay-put (overlay-get label 'chinwag-body) 'invisible
               (and (not shown) 'chinwag-reasoning))
  (overlay-put label 'chinwag-shown shown)
  (overlay-put label 'after-string
               (propertize (if shown "  [TAB hides it]" "  [hidden: TAB shows it]")
                           'face 'shadow)))

(defun chinwag-chat--reasoning-labels ()
  "Return the label overlays of the reasonings in this buffer, in order."
  (sort (cl-remove-if-not (lambda (overlay) (overlay-get overlay 'chinwag-body))
                          (overlays-in (point-min) (point-max)))
        (lambda (a b) (< (overlay-start a) (overlay-start b)))))

(defun chinwag-chat--reasoning-at (pos)
  "Return the label overlay of the reasoning at POS, or of its message.
Failing both, the last reasoning of the chat; nil if there is none."
  (or (cl-some (lambda (overlay) (overlay-get overlay 'chinwag-reasoning))
               (overlays-at pos))
      (let ((span (chinwag-chat--span-at pos)))
        (and span
             (cl-find-if (lambda (label)
                           (<= (plist-get span :heading) (overlay-start label)
                               (plist-get span :end)))
                         (chinwag-chat--reasoning-labels))))
      (car (last (chinwag-chat--reasoning-labels)))))

;;;###autoload
(defun chinwag-toggle-reasoning (&optional event)
  "Show or hide a model's reasoning: the one at point, or of the answer at point.
Elsewhere, the last one of the chat.  Reasoning is hidden at first;
TAB or a click on it (EVENT) shows it too."
  (interactive (list last-nonmenu-event))
  (let ((pos (if (mouse-event-p event) (posn-point (event-start event)) (point))))
    (with-current-buffer (if (mouse-event-p event)
                             (window-buffer (posn-window (event-start event)))
                           (chinwag-chat-code-buffer))
      (let ((label (chinwag-chat--reasoning-at pos)))
        (unless label
          (user-error "No reasoning in this chat"))
        (chinwag-chat--show-reasoning label (not (overlay-get label 'chinwag-shown)))
        (overlay-get label 'chinwag-shown)))))

;;;; Rendering

(defun chinwag-chat--render (messages &optional open)
  "Replace the transcript with MESSAGES (plists) and the next user heading.
With OPEN, leave out the next user heading: the transcript ends with
the last message, and an answer is opened after it.  The draft is kept,
and so are the start and point of each window showing the buffer, as
near as the new transcript allows."
  (let* ((windows (get-buffer-window-list nil nil t))
         (starts (mapcar (lambda (window) (cons window (window-start window))) windows))
         (old (marker-position chinwag-chat--input))
         (index -1))
    (chinwag-chat--editing
      (delete-region (point-min) (point))
      (when chinwag-chat--system
        (chinwag-chat--insert-message "system" chinwag-chat--system))
      (dolist (message messages)
        (setq index (1+ index))
        (unless (equal (plist-get message :role) "system")
          (chinwag-chat--insert-turn message index)))
      (unless open
        (chinwag-chat--insert-user-heading)))
    (let* ((new (marker-position chinwag-chat--input))
           (delta (- new old)))
      (dolist (entry starts)
        (when (window-live-p (car entry))
          (set-window-start (car entry)
                            (if (>= (cdr entry) old)
                                (+ (cdr entry) delta)
                              (min (cdr entry) new))
                            t)))))
  (setq chinwag-chat--messages messages)
  (run-hooks 'chinwag-chat-render-hook))

;;;; Streaming

(defun chinwag-chat--on-delta (params)
  "Insert the `chat/delta' notification PARAMS into its chat buffer."
  (let ((stream (gethash (plist-get params :chatId) chinwag-chat--streams)))
    (if stream
        (when (eq (chinwag-chat--stream-state stream) 'streaming)
          (chinwag-chat--take-delta stream (plist-get params :delta)
                                    (equal (plist-get params :kind) "reasoning")))
      (run-hook-with-args-until-success 'chinwag-chat-unclaimed-delta-functions
                                        params))))

(setf (alist-get 'chat/delta chinwag-rpc-notification-functions)
      #'chinwag-chat--on-delta)

(defun chinwag-chat--take-delta (stream delta reasoning)
  "Insert DELTA into STREAM's answer (REASONING if it is), now or a bit later.
On a long line left unhighlighted (see `chinwag-long-line-threshold'),
text is inserted at most every `chinwag-long-line-interval' seconds,
what arrives in between gathered: each insertion there costs a
redisplay of the whole line."
  (setf (chinwag-chat--stream-deltas stream) (1+ (chinwag-chat--stream-deltas stream)))
  (let ((wait (and chinwag-long-line-interval
                   (not reasoning)
                   (integerp (chinwag-chat--stream-deferred stream))
                   (not (string-search "\n" delta))
                   (- (+ (chinwag-chat--stream-flushed stream) chinwag-long-line-interval)
                      (float-time)))))
    (if (and wait (> wait 0))
        (progn
          (push delta (chinwag-chat--stream-pending stream))
          (unless (chinwag-chat--stream-flush-timer stream)
            (setf (chinwag-chat--stream-flush-timer stream)
                  (run-with-timer wait nil #'chinwag-chat--flush stream))))
      (chinwag-chat--flush stream)
      (when wait
        (setf (chinwag-chat--stream-flushed stream) (float-time)))
      (chinwag-chat--insert-delta stream delta reasoning))))

(defun chinwag-chat--flush (stream)
  "Insert the text STREAM gathered for its long line, if any."
  (when (chinwag-chat--stream-flush-timer stream)
    (cancel-timer (chinwag-chat--stream-flush-timer stream))
    (setf (chinwag-chat--stream-flush-timer stream) nil))
  (let ((pending (chinwag-chat--stream-pending stream)))
    (when pending
      (setf (chinwag-chat--stream-pending stream) nil
            (chinwag-chat--stream-flushed stream) (float-time))
      (chinwag-chat--insert-delta stream (apply #'concat (nreverse pending)) nil))))

(defun chinwag-chat--open-answer (&optional provider model)
  "Insert an empty answer and the next user heading above the draft.
Its heading names PROVIDER and MODEL, when MODEL is known.  Return a
marker at the end of the answer, where deltas go: the draft stays
below, and the user may go on writing while the answer comes."
  (let (marker)
    (chinwag-chat--editing
      (chinwag-chat--separate)
      (chinwag-chat--insert-heading
       (chinwag-chat--heading-for 'assistant (list :provider provider :model model))
       'assistant (length chinwag-chat--messages))
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
              (unless (chinwag-chat--stream-text-start stream)
                (let ((body (or (chinwag-chat--stream-reasoning stream)
                                (setf (chinwag-chat--stream-reasoning stream)
                                      (chinwag-chat--open-reasoning)))))
                  (insert (propertize delta 'font-lock-face 'chinwag-reasoning))
                  (move-overlay body (overlay-start body) (point)))))
             (t
              (unless (chinwag-chat--stream-text-start stream)
                (when (chinwag-chat--stream-reasoning stream)
                  (chinwag-chat--close-reasoning (chinwag-chat--stream-reasoning stream)))
                (setf (chinwag-chat--stream-text-start stream) (copy-marker (point))))
              (cond
               ((not (integerp (chinwag-chat--stream-deferred stream)))
                (insert delta))
               ((string-search "\n" delta)
                ;; The long line ends: the next one is highlighted as usual.
                (setf (chinwag-chat--stream-deferred stream) t)
                (insert delta))
               (t (chinwag-chat--insert-plain delta))))))
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
                (+ (chinwag-chat--stream-chars stream) (length delta))))))))

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

(defun chinwag-chat--close-answer (stream note &optional status error ids)
  "End the display of STREAM's answer, with NOTE if non-nil.
The answer is recorded in the buffer's conversation with STATUS (default
\"complete\") and ERROR.  IDS, a `chat/send' result or the data of its
error, gives the ids of the answer and of the user turn it answers, and
the provider and model that answered.  Whatever the user is writing
stays as it is."
  (chinwag-chat--flush stream)
  (let ((buffer (chinwag-chat--stream-buffer stream)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (let ((marker (chinwag-chat--stream-marker stream)))
          (when (marker-buffer marker)
            (setf (chinwag-chat--stream-answer stream) (length chinwag-chat--messages))
            (setq chinwag-chat--messages
                  (append chinwag-chat--messages
                          (list (chinwag-rpc-compact
                                 :role "assistant"
                                 :content (chinwag-chat--answer-text stream)
                                 :reasoning (chinwag-chat--reasoning-text stream)
                                 :status (or status "complete")
                                 :error error
                                 :provider (chinwag-chat--stream-provider stream)
                                 :model (chinwag-chat--stream-model stream)))))
            (chinwag-chat--record-ids stream ids)
            ;; Stopped while it reasoned: the reasoning ends where it stopped.
            (let ((body (chinwag-chat--stream-reasoning stream)))
              (when (and body (overlay-buffer body)
                         (not (chinwag-chat--stream-text-start stream)))
                (overlay-put body 'evaporate t)))
            (chinwag-chat--fontify-deferred stream)
            (chinwag-chat--editing
              ;; The heading of the draft is written again after the note.
              (delete-region marker (point))
              (goto-char marker)
              (when note (chinwag-chat--insert-status note))
              (chinwag-chat--insert-user-heading))
            (set-marker marker nil)
            (when (chinwag-chat--stream-text-start stream)
              (set-marker (chinwag-chat--stream-text-start stream) nil))))))))

(defun chinwag-chat--with (message &rest plist)
  "Return MESSAGE with the keys and values of PLIST (nil values left out)."
  (let ((result (copy-sequence message)))
    (cl-loop for (key value) on plist by #'cddr
             when value do (setq result (plist-put result key value)))
    result))

(defun chinwag-chat--record-ids (stream ids)
  "Give the messages of STREAM's turn the ids in IDS, if they have none.
IDS is a `chat/send' result, or the data of its error: `messageId' and
`userMessageId', and `provider' and `model' of the answer.  A new
message's only sibling known is itself until the chat is shown again."
  (let ((user (chinwag-chat--stream-user stream))
        (answer (chinwag-chat--stream-answer stream))
        (id (plist-get ids :messageId))
        (user-id (plist-get ids :userMessageId)))
    (when (and user user-id (nth user chinwag-chat--messages)
               (not (plist-get (nth user chinwag-chat--messages) :id)))
      (setf (nth user chinwag-chat--messages)
            (chinwag-chat--with (nth user chinwag-chat--messages)
                                :id user-id :parentId (chinwag-chat--last-id user)
                                :siblings (vector user-id))))
    (when (and answer id (nth answer chinwag-chat--messages)
               (not (plist-get (nth answer chinwag-chat--messages) :id)))
      (setf (nth answer chinwag-chat--messages)
            (chinwag-chat--with (nth answer chinwag-chat--messages)
                                :id id :parentId user-id :siblings (vector id)
                                :provider (plist-get ids :provider)
                                :model (plist-get ids :model))))))

(defun chinwag-chat--last-id (&optional before)
  "Return the id of the last message with an id in this buffer's branch.
With BEFORE, an index, of the last one before it."
  (cl-loop for message in (reverse (if before
                                       (seq-take chinwag-chat--messages before)
                                     chinwag-chat--messages))
           thereis (plist-get message :id)))

(defun chinwag-chat--reasoning-text (stream)
  "Return the reasoning of STREAM's answer so far, or nil."
  (let ((body (chinwag-chat--stream-reasoning stream)))
    (when (and body (overlay-buffer body))
      (with-current-buffer (overlay-buffer body)
        (string-trim-right
         (buffer-substring-no-properties (overlay-start body) (overlay-end body)))))))

(defun chinwag-chat--repair-answer (stream content)
  "Make STREAM's answer text equal CONTENT, the whole answer as saved.
Deltas are not lost in normal operation; this covers a handler error."
  (chinwag-chat--flush stream)
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
    (when (and (buffer-live-p buffer) (eq state 'stopped))
      (with-current-buffer buffer
        (chinwag-chat--record-ids stream result)))
    (when (and (buffer-live-p buffer) (eq state 'streaming))
      (with-current-buffer buffer
        (chinwag-chat--repair-answer stream (plist-get result :content))
        (chinwag-chat--close-answer stream nil nil nil result)
        (setq chinwag-chat--synced nil)
        (let ((stats (chinwag-chat--stats result)))
          (chinwag-chat--set-mode-line (format "[%s]" stats))
          (unless (get-buffer-window buffer t)
            (message "chinwag: answer ready in %s (%s)" (buffer-name) stats)))
        (when (chinwag-chat--stream-after stream)
          (funcall (chinwag-chat--stream-after stream) result))
        (run-hook-with-args 'chinwag-chat-answer-functions result)))))

(defun chinwag-chat--on-error (stream error)
  "Finish STREAM after ERROR, an error plist."
  (let ((buffer (chinwag-chat--stream-buffer stream))
        (state (chinwag-chat--stream-state stream))
        (cancelled (eql (plist-get error :code) -32800)))
    (chinwag-chat--end-stream stream)
    (setf (chinwag-chat--stream-state stream) 'done)
    (when (and (buffer-live-p buffer) (eq state 'stopped))
      (with-current-buffer buffer
        (let ((data (plist-get error :data)))
          (when (listp data)
            (chinwag-chat--record-ids stream data)))
        (when (chinwag-chat--stream-after stream)
          (funcall (chinwag-chat--stream-after stream) error))))
    (when (and (buffer-live-p buffer) (eq state 'streaming))
      (with-current-buffer buffer
        (let ((text (chinwag-rpc-error-message error)))
          (chinwag-chat--close-answer
           stream (if cancelled "[stopped]" (format "[error: %s]" text))
           (if cancelled "cancelled" "error") (and (not cancelled) text)
           (let ((data (plist-get error :data)))
             (and (listp data) data)))
          (setq chinwag-chat--synced nil)
          (chinwag-chat--set-mode-line (if cancelled "[stopped]" "[error]"))
          (unless cancelled
            (message "chinwag: %s" text))
          (when (chinwag-chat--stream-after stream)
            (funcall (chinwag-chat--stream-after stream) error))
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

(cl-defun chinwag-chat--start-turn (method params &key user provider model after)
  "Open an answer above the draft and ask the backend for it.
METHOD is `chat/send', `chat/regenerate' or `chat/edit', with PARAMS.
USER is the index of the user turn in the conversation when this
buffer added it (its id is filled in from the result); PROVIDER and
MODEL are named in the answer's heading; AFTER, if non-nil, is called
in the buffer with the result or the error once the answer ended.
Return the stream."
  (let ((stream (chinwag-chat--make-stream
                 :buffer (current-buffer)
                 :chat-id chinwag-chat--id
                 :marker (chinwag-chat--open-answer provider model)
                 :start (float-time)
                 :user user :after after :provider provider :model model)))
    (setq chinwag-chat--stream stream
          chinwag-chat--last-buffer (current-buffer)
          chinwag-chat--synced nil
          chinwag-chat--generation (1+ chinwag-chat--generation))
    (puthash chinwag-chat--id stream chinwag-chat--streams)
    (setf (chinwag-chat--stream-timer stream)
          (run-with-timer chinwag-mode-line-interval chinwag-mode-line-interval
                          #'chinwag-chat--show-progress stream))
    (chinwag-chat--set-mode-line "[answering]")
    (condition-case err
        (chinwag-async-request
         method params
         :timeout nil
         :abandoned (lambda () (not (eq (chinwag-chat--stream-state stream) 'streaming)))
         :on-success (lambda (result) (chinwag-chat--on-answer stream result))
         :on-error (lambda (error) (chinwag-chat--on-error stream error)))
      (error
       (chinwag-chat--on-error stream (list :code -1 :message (error-message-string err)))))
    stream))

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
below that, ready for the next message while the answer streams.
The message follows the last one the buffer shows (`parentId').  While
a turn is being edited (`chinwag-edit'), it replaces that turn instead,
as a new branch (`chat/edit'), and the draft from before the edit comes
back."
  (chinwag-chat--prepare)
  (unless chinwag-chat--title
    (setq chinwag-chat--title (chinwag-chat--title-from content))
    (chinwag-chat--rename-buffer))
  (let* ((text (if context
                   (concat (string-trim-right content) "\n\n"
                           (mapconcat #'chinwag-chat-format-region context "\n\n"))
                 content))
         (edit-id chinwag-chat--edit-id)
         (edited (and edit-id (cl-position edit-id chinwag-chat--messages
                                           :key (lambda (m) (plist-get m :id))
                                           :test #'equal)))
         (saved chinwag-chat--edit-saved)
         (params nil)
         (in-draft (>= (point) chinwag-chat--input))
         (windows (seq-filter (lambda (window)
                                (>= (window-point window) chinwag-chat--input))
                              (get-buffer-window-list nil nil t))))
    (when (and edit-id (not edited))
      (chinwag-chat--end-edit)
      (when (and saved (not (string-empty-p saved)))
        (kill-new saved))
      (user-error "The message being edited is no longer shown, so the edit is abandoned%s"
                  (if (and saved (not (string-empty-p saved)))
                      " (the draft from before it is in the kill ring)"
                    "")))
    (let ((shown chinwag-chat--messages))
      (when edited
        ;; The branch as it will be: up to the edited turn, which this replaces.
        (chinwag-chat--render (seq-take chinwag-chat--messages edited)))
      ;; `chinwag-chat-send-functions' may refuse: nothing changes then.
      (condition-case err
          (setq params (chinwag-chat--send-params content context))
        (error
         (when edited
           (chinwag-chat--render shown))
         (signal (car err) (cdr err)))))
    (when edited
      (chinwag-chat--end-edit))
    ;; What was typed is sent: it leaves the draft, and its undo records go.
    (let ((inhibit-read-only t)
          (buffer-undo-list t))
      (save-restriction
        (widen)
        (delete-region chinwag-chat--input (point-max))))
    (unless (eq buffer-undo-list t)
      (setq buffer-undo-list nil))
    (chinwag-chat--editing (insert text))
    (let* ((user (length chinwag-chat--messages))
           (parent (chinwag-chat--last-id))
           (stream nil))
      (chinwag-chat--mark-heading user)
      (setq chinwag-chat--messages
            (append chinwag-chat--messages (list (list :role "user" :content text))))
      (setq stream
            (chinwag-chat--start-turn
             (if edited 'chat/edit 'chat/send)
             (if edited
                 ;; `chat/edit' takes a message as `chat/send' does, but no preset.
                 (append (list :messageId edit-id)
                         (cl-loop for (key value) on params by #'cddr
                                  unless (eq key :preset) nconc (list key value)))
               (append (and parent (list :parentId parent)) params))
             :user user
             :provider (chinwag-chat--effective-provider t)
             :model (chinwag-chat--effective-model t)
             :after (and edited #'chinwag-chat--reload)))
      (when (and edited saved (not (string-empty-p saved)))
        (save-excursion
          (goto-char (point-max))
          (insert saved)))
      (when in-draft (goto-char (point-max)))
      (dolist (window windows)
        (set-window-point window (point-max)))
      stream)))

(defun chinwag-chat--mark-heading (index)
  "Mark the heading of the draft as that of message INDEX, now being sent."
  (save-excursion
    (save-restriction
      (widen)
      (let* ((inhibit-read-only t)
             (end (progn (goto-char chinwag-chat--input)
                         (skip-chars-backward "\n")
                         (point)))
             (start (and (> end (point-min))
                         (get-text-property (1- end) 'chinwag-heading)
                         (or (previous-single-property-change end 'chinwag-heading)
                             (point-min)))))
        (when start
          (with-silent-modifications
            (put-text-property start end 'chinwag-index index)))))))

(defun chinwag-chat--input-text ()
  "Return the text the user wrote in the input area."
  (save-restriction
    (widen)
    (buffer-substring-no-properties chinwag-chat--input (point-max))))

(defun chinwag-chat-send-message (buffer content &optional context default origin)
  "Send CONTENT with CONTEXT from the chat BUFFER, as if typed there.
CONTENT goes after what the user has written in BUFFER's input area,
if anything; with DEFAULT non-nil, CONTENT is only used when nothing is
written there.  CONTEXT is a list of region plists (:path :language
:startLine :endLine :text).  ORIGIN, (SOURCE-BUFFER START END), is where
the context came from: once the message is sent, the chat remembers it
for `chinwag-apply-code-block'."
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
    (prog1 (chinwag-chat--submit content context)
      (when origin
        (chinwag-chat--remember-origin origin)))))

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

;;;; Branches

;; A conversation is a tree.  The buffer shows one branch, from the top
;; to the chat's current leaf; commands below act on the message at
;; point (or the last one), and once the backend has written a new
;; branch, the buffer shows the chat again as saved (`history/get'), so
;; that the sibling counts are right.  The draft is never touched by
;; that, and undo still sees the draft only.

(defun chinwag-chat--message-at (pos)
  "Return the index of the message POS is in, or nil (draft, no message)."
  (plist-get (chinwag-chat--span-at pos) :index))

(defun chinwag-chat--user-turn (index)
  "Return the index of the user turn of message INDEX (itself if a user turn)."
  (let ((i index))
    (while (and i (>= i 0)
                (not (equal (plist-get (nth i chinwag-chat--messages) :role) "user")))
      (setq i (1- i)))
    (and i (>= i 0) i)))

(defun chinwag-chat--last-user-turn ()
  "Return the index of the last user turn shown, or nil."
  (chinwag-chat--user-turn (1- (length chinwag-chat--messages))))

(defun chinwag-chat--require-id (index what)
  "Return the id of message INDEX, or signal that WHAT needs a saved message."
  (or (plist-get (nth index chinwag-chat--messages) :id)
      (user-error "This message was not saved, so it cannot be %s; send it again" what)))

(defun chinwag-chat--idle-chat ()
  "Return this chat buffer, making sure it has a chat and no answer coming."
  (let ((buffer (chinwag-chat-code-buffer)))
    (with-current-buffer buffer
      (chinwag-chat--wait-for-previous)
      (when chinwag-chat--stream
        (user-error "An answer is still coming; %s stops it"
                    (substitute-command-keys "\\<chinwag-chat-mode-map>\\[chinwag-stop]")))
      (unless chinwag-chat--id
        (user-error "This chat has no message yet")))
    buffer))

(defun chinwag-chat--reload (&rest _)
  "Show this buffer's chat again as saved, without waiting for it.
The draft, and the windows' start and point, are kept."
  (let ((buffer (current-buffer))
        (id chinwag-chat--id)
        (generation chinwag-chat--generation))
    (when id
      (chinwag-rpc-async
       'history/get (list :chatId id)
       :on-success (lambda (chat)
                     (when (buffer-live-p buffer)
                       (with-current-buffer buffer
                         (when (and (equal chinwag-chat--id id)
                                    (= chinwag-chat--generation generation)
                                    (not chinwag-chat--stream))
                           (chinwag-chat--show-saved chat t)))))
       :on-error (lambda (error)
                   (chinwag-rpc-log "reload of %s failed: %s" (buffer-name buffer)
                                    (plist-get error :message)))))))

(defun chinwag-chat--regenerate (index &optional provider model)
  "Answer again the user turn INDEX, by PROVIDER and MODEL if non-nil.
The branch is shown up to that turn, the new answer streams below it,
and the chat is shown again as saved once it ended."
  (let ((id (chinwag-chat--require-id index "answered again")))
    (chinwag-chat--render (seq-take chinwag-chat--messages (1+ index)) t)
    (chinwag-chat--start-turn
     'chat/regenerate
     (chinwag-rpc-compact :chatId chinwag-chat--id :messageId id
                          :provider provider :model model)
     :provider (or provider (chinwag-chat--effective-provider t))
     :model (or model
                (and provider (chinwag-chat--default-model provider t))
                (and (not provider) (chinwag-chat--effective-model t)))
     :after #'chinwag-chat--reload)))

;;;###autoload
(defun chinwag-regenerate (&optional choose)
  "Answer again the turn at point, or the last turn of the chat.
On a user turn or on one of its answers, that turn is answered again;
the new answer is a sibling of the others, which all stay (see them with
\\<chinwag-chat-mode-map>\\[chinwag-previous-sibling] and \\[chinwag-next-sibling]).  With a prefix argument CHOOSE, choose the
provider and model of the new answer first (the chat keeps its own)."
  (interactive "P")
  (with-current-buffer (chinwag-chat--idle-chat)
    (let* ((at (chinwag-chat--message-at (point)))
           (index (if at (chinwag-chat--user-turn at) (chinwag-chat--last-user-turn)))
           (provider (and choose (chinwag-chat--read-provider)))
           (model (and choose (chinwag-chat--read-model provider))))
      (unless index
        (user-error "No turn to answer again"))
      (chinwag-chat--regenerate index provider model))))

(defun chinwag-chat--failed-p (index)
  "Return non-nil if the user turn INDEX has no answer, or a failed one."
  (let ((next (nth (1+ index) chinwag-chat--messages)))
    (or (null next)
        (equal (plist-get next :role) "user")
        (equal (plist-get next :status) "error"))))

;;;###autoload
(defun chinwag-regenerate-by-another-model ()
  "Answer again the turn at point (or the last one) by a model chosen first.
That is `chinwag-regenerate' with a prefix argument."
  (interactive)
  (chinwag-regenerate t))

;;;###autoload
(defun chinwag-retry ()
  "Retry the failed turn at point, or the last failed turn of the chat.
A turn failed when its answer is an error, or never came; retrying it
answers it again (`chat/regenerate')."
  (interactive)
  (with-current-buffer (chinwag-chat--idle-chat)
    (let* ((at (chinwag-chat--message-at (point)))
           (index (if at
                      (chinwag-chat--user-turn at)
                    (cl-loop for i downfrom (1- (length chinwag-chat--messages)) to 0
                             when (and (equal (plist-get (nth i chinwag-chat--messages) :role)
                                              "user")
                                       (chinwag-chat--failed-p i))
                             return i))))
      (unless (and index (chinwag-chat--failed-p index))
        (user-error (if at "This turn did not fail" "No failed turn to retry")))
      (chinwag-chat--regenerate index))))

(defun chinwag-chat--end-edit ()
  "Forget the edit in progress (the draft is left as it is)."
  (setq chinwag-chat--edit-id nil
        chinwag-chat--edit-saved nil)
  (chinwag-chat--update-header))

(defun chinwag-chat--set-draft (text)
  "Replace the draft with TEXT, as the user's own change, and go to its end."
  (save-restriction
    (widen)
    (delete-region chinwag-chat--input (point-max))
    (goto-char (point-max))
    (insert text)))

;;;###autoload
(defun chinwag-edit ()
  "Edit the user turn at point, or the last one, in the draft.
Its text replaces the draft (the draft comes back afterwards); sending
it with \\<chinwag-chat-mode-map>\\[chinwag-send] makes a new branch from the turn's parent
\(`chat/edit'): the original turn and its answers stay, as siblings.
\\[chinwag-abandon-edit] abandons the edit."
  (interactive)
  (with-current-buffer (chinwag-chat--idle-chat)
    (let* ((at (chinwag-chat--message-at (point)))
           (index (if at (chinwag-chat--user-turn at) (chinwag-chat--last-user-turn))))
      (unless index
        (user-error "No message of yours to edit"))
      (let ((id (chinwag-chat--require-id index "edited")))
        (unless chinwag-chat--edit-id
          (setq chinwag-chat--edit-saved (chinwag-chat--input-text)))
        (setq chinwag-chat--edit-id id)
        (chinwag-chat--set-draft (plist-get (nth index chinwag-chat--messages) :content))
        (chinwag-chat--update-header)
        (message "%s" (substitute-command-keys
                       "chinwag: editing; \\<chinwag-chat-mode-map>\\[chinwag-send] \
sends it as a new branch, \\[chinwag-abandon-edit] abandons it"))
        id))))

;;;###autoload
(defun chinwag-abandon-edit ()
  "Abandon the edit in progress: the draft from before it comes back."
  (interactive)
  (with-current-buffer (chinwag-chat-code-buffer)
    (unless chinwag-chat--edit-id
      (user-error "No edit in progress"))
    (chinwag-chat--set-draft (or chinwag-chat--edit-saved ""))
    (chinwag-chat--end-edit)
    (message "chinwag: edit abandoned")))

(defun chinwag-chat--switch (step)
  "Show the sibling STEP places from the message at point (or the last one)."
  (with-current-buffer (chinwag-chat--idle-chat)
    (let* ((at (chinwag-chat--message-at (point)))
           (index (or at (1- (length chinwag-chat--messages))))
           (message (and (>= index 0) (nth index chinwag-chat--messages)))
           (siblings (append (plist-get message :siblings) nil))
           (position (cl-position (plist-get message :id) siblings :test #'equal))
           (target (and position (nth (+ position step) siblings))))
      (cond
       ((null message) (user-error "No message here"))
       ((< (length siblings) 2)
        (user-error "This message has no other version"))
       ((or (null target) (< (+ position step) 0))
        (user-error "This is the %s version (%s)" (if (> step 0) "last" "first")
                    (chinwag-chat--sibling-label message))))
      (chinwag-chat--show-saved
       (chinwag-request 'chat/switch (list :chatId chinwag-chat--id :messageId target))
       t)
      (let ((shown (cl-position target chinwag-chat--messages
                                :key (lambda (m) (plist-get m :id)) :test #'equal)))
        (when (and at shown)
          (let ((span (cl-find shown (chinwag-chat--message-spans)
                               :key (lambda (span) (plist-get span :index)))))
            (when span (goto-char (plist-get span :heading)))))
        (when shown
          (let ((message (nth shown chinwag-chat--messages)))
            (message "chinwag: %s %s" (if (equal (plist-get message :role) "user")
                                          "message" "answer")
                     (string-join (delq nil (list (chinwag-chat--sibling-label message)
                                                  (chinwag-chat--model-label
                                                   (plist-get message :provider)
                                                   (plist-get message :model))))
                                  " "))))
        target))))

;;;###autoload
(defun chinwag-next-sibling ()
  "Show the next version of the message at point (or of the last message).
Versions are the answers to the same turn (regenerated), or the edits of
a turn; the branch below the version shown is the one last continued."
  (interactive)
  (chinwag-chat--switch 1))

;;;###autoload
(defun chinwag-previous-sibling ()
  "Show the previous version of the message at point (or of the last message).
See `chinwag-next-sibling'."
  (interactive)
  (chinwag-chat--switch -1))

;;;; Code blocks

(defun chinwag-chat--remember-origin (origin)
  "Remember ORIGIN, (BUFFER START END): where code blocks are applied."
  (pcase-let ((`(,buffer ,start ,end) origin))
    (when chinwag-chat--origin
      (set-marker (nth 1 chinwag-chat--origin) nil)
      (set-marker (nth 2 chinwag-chat--origin) nil))
    (setq chinwag-chat--origin
          (list buffer
                (set-marker (make-marker) start buffer)
                ;; Text that replaces the region (an applied block) stays in it.
                (let ((marker (set-marker (make-marker) end buffer)))
                  (set-marker-insertion-type marker t)
                  marker)))))

(defun chinwag-chat--message-spans ()
  "Return the messages of the transcript as plists, in order.
Each has :role, :index (in `chinwag-chat--messages', nil if not known),
:heading (where its heading starts), :start (after the heading line)
and :end (at the next heading, or at the draft).  Headings are the
rendered ones (a \"## You\" in a message's text is not one); the last
is the heading of the draft."
  (save-excursion
    (save-restriction
      (widen)
      (let ((limit (marker-position chinwag-chat--input))
            (pos (point-min))
            (spans nil))
        (while (and pos (< pos limit))
          (let ((start (if (get-text-property pos 'chinwag-heading)
                           pos
                         (next-single-property-change pos 'chinwag-heading nil limit))))
            (if (>= start limit)
                (setq pos nil)
              (let* ((body (progn (goto-char start) (min limit (1+ (line-end-position)))))
                     (next (next-single-property-change
                            (next-single-property-change start 'chinwag-heading nil limit)
                            'chinwag-heading nil limit)))
                (push (list :role (get-text-property start 'chinwag-role)
                            :index (get-text-property start 'chinwag-index)
                            :heading start :start body :end next)
                      spans)
                (setq pos next)))))
        (nreverse spans)))))

(defun chinwag-chat--span-at (pos)
  "Return the span (see `chinwag-chat--message-spans') POS is in, or nil.
In the draft, or above the first heading, there is none."
  (cl-find-if (lambda (span) (and (<= (plist-get span :heading) pos)
                                  (< pos (plist-get span :end))))
              (chinwag-chat--message-spans)))

(defun chinwag-chat--blocks-in (role start end)
  "Return the fenced code blocks of a ROLE message from START to END.
Each is a plist: :role, :start and :end (the fences included), :code-start
and :code-end (the code), :language.  A block not closed by END (an
answer still streaming) ends there."
  (save-excursion
    (goto-char start)
    (let ((blocks nil))
      (while (re-search-forward chinwag-chat--fence-re end t)
        (let* ((fence (match-string-no-properties 1))
               (open (match-beginning 0))
               (language (string-trim (buffer-substring-no-properties
                                       (match-end 1) (match-end 0))))
               (code-start (min end (1+ (match-end 0))))
               (close nil))
          (goto-char code-start)
          (while (and (not close) (re-search-forward chinwag-chat--fence-re end t))
            (when (chinwag-chat--closes-p
                   fence (match-string-no-properties 1)
                   (buffer-substring-no-properties (match-end 1) (match-end 0)))
              (setq close (match-beginning 0))))
          (push (list :role role :start open
                      :end (if close (save-excursion (goto-char close) (line-end-position)) end)
                      :code-start code-start
                      :code-end (max code-start (or close end))
                      :language (and (not (string-empty-p language))
                                     (car (split-string language))))
                blocks)
          (unless close (goto-char end))))
      (nreverse blocks))))

(defun chinwag-chat-code-blocks ()
  "Return the fenced code blocks of this chat's transcript, in order.
See `chinwag-chat--blocks-in' for their form."
  (cl-loop for span in (chinwag-chat--message-spans)
           nconc (chinwag-chat--blocks-in (plist-get span :role) (plist-get span :start)
                                          (plist-get span :end))))

(defun chinwag-chat--block-at (pos blocks)
  "Return the block of BLOCKS that POS is in (its fences included), or nil."
  (cl-find-if (lambda (block) (<= (plist-get block :start) pos (plist-get block :end)))
              blocks))

(defun chinwag-chat-code-block ()
  "Return the code block at point in the current chat, or the last answer's.
That is the block point is in, or else the last block of the answers.
The chat is the current buffer if it is a chat, else the current chat.
Signal a `user-error' if there is none."
  (with-current-buffer (chinwag-chat-code-buffer)
    (let ((blocks (chinwag-chat-code-blocks)))
      (or (chinwag-chat--block-at (point) blocks)
          (car (last (cl-remove-if-not (lambda (block)
                                         (eq (plist-get block :role) 'assistant))
                                       blocks)))
          (user-error "No code block in the answers of this chat")))))

(defun chinwag-chat-code-buffer ()
  "Return the chat buffer code block commands act on.
That is the current buffer if it is a chat, else the current chat."
  (if (derived-mode-p 'chinwag-chat-mode)
      (current-buffer)
    (or (and (buffer-live-p chinwag-chat--last-buffer) chinwag-chat--last-buffer)
        (user-error "No chat buffer; M-x chinwag opens one"))))

(defun chinwag-chat-code-block-text (block)
  "Return the code of BLOCK (a plist of `chinwag-chat-code-blocks')."
  (with-current-buffer (chinwag-chat-code-buffer)
    (save-restriction
      (widen)
      (buffer-substring-no-properties (plist-get block :code-start)
                                      (plist-get block :code-end)))))

(defun chinwag-chat--describe-block (block)
  "Return a short description of BLOCK, for messages."
  (let ((lines (with-current-buffer (chinwag-chat-code-buffer)
                 (count-lines (plist-get block :code-start) (plist-get block :code-end)))))
    (format "%s%d line%s" (if (plist-get block :language)
                              (concat (plist-get block :language) ", ")
                            "")
            lines (if (= lines 1) "" "s"))))

;;;###autoload
(defun chinwag-copy-code-block ()
  "Copy the code block at point to the kill ring, without its fences.
When point is not in a code block, copy the last one of the answers.
In a chat buffer this is \\<chinwag-chat-mode-map>\\[chinwag-copy-code-block]; elsewhere it
copies from the current chat."
  (interactive)
  (let* ((block (chinwag-chat-code-block))
         (text (chinwag-chat-code-block-text block)))
    (kill-new text)
    (with-current-buffer (chinwag-chat-code-buffer)
      (when (and (get-buffer-window (current-buffer)) (not noninteractive))
        (pulse-momentary-highlight-region (plist-get block :code-start)
                                          (plist-get block :code-end))))
    (message "chinwag: code block copied (%s)" (chinwag-chat--describe-block block))
    text))

(defun chinwag-chat--goto-block (forward)
  "Move point to the code of the next block, or the previous when not FORWARD."
  (unless (derived-mode-p 'chinwag-chat-mode)
    (user-error "Not in a chat buffer"))
  (let* ((blocks (chinwag-chat-code-blocks))
         (pos (point))
         (target (if forward
                     (cl-find-if (lambda (block) (> (plist-get block :start) pos)) blocks)
                   (cl-find-if (lambda (block) (< (plist-get block :code-start) pos))
                               blocks :from-end t))))
    (unless blocks
      (user-error "No code block in this chat"))
    (unless target
      (user-error (if forward "No code block after point" "No code block before point")))
    (goto-char (plist-get target :code-start))
    (message "chinwag: code block %d of %d (%s)"
             (1+ (cl-position target blocks)) (length blocks)
             (chinwag-chat--describe-block target))
    target))

;;;###autoload
(defun chinwag-next-code-block ()
  "Move point to the start of the next code block of the chat."
  (interactive)
  (chinwag-chat--goto-block t))

;;;###autoload
(defun chinwag-previous-code-block ()
  "Move point to the start of the previous code block of the chat.
Inside a block, that is the start of this block."
  (interactive)
  (chinwag-chat--goto-block nil))

(declare-function chinwag-apply-code-block "chinwag-rewrite" ())

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
                                        (and (not (equal role "system"))
                                             (or (plist-get m :id) role))))
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
      (unless force
        (chinwag-rpc-log "%s shown again: the chat changed elsewhere" (buffer-name)))
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

(defun chinwag-chat--read-model (provider)
  "Read a model of PROVIDER with completion over its model list.
When the list cannot be had, a typed name is taken."
  (let* ((models (condition-case err
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
    model))

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
           (model (chinwag-chat--read-model provider)))
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
