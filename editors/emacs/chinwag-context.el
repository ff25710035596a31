;;; chinwag-context.el --- Buffers, files, diagnostics, diffs and pages for chinwag chats  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Context goes with the next message of a chat: a whole buffer, a file
;; or a glob of the project, a buffer's diagnostics (Flymake's, and
;; Flycheck's when it is loaded), the git diff (staged or not) or a web
;; page.  The backend reads files and runs git itself, inside the
;; project root the message names (`project-current', or else the
;; buffer's `default-directory'), and turns each item into a labelled
;; block after the message, the same for every editor.
;;
;; In a chat buffer, C-c C-a is the prefix of these commands:
;;
;;   C-c C-a b   attach a buffer (from elsewhere: M-x chinwag-context-add-buffer)
;;   C-c C-a f   attach a file, or a glob such as src/**/*.rs
;;   C-c C-a d   attach a buffer's diagnostics
;;   C-c C-a g   attach the git diff (C-u: the staged diff)
;;   C-c C-a u   attach a web page
;;   C-c C-a k   remove an item (or click its [x])
;;   C-c C-a c   remove them all
;;   C-c C-a s   send secrets as they are with the next message, once
;;   C-c C-a t   trust the project's instructions (.chinwag.md, AGENTS.md)
;;
;; The items wait above the draft, each with its size and an estimate
;; of its tokens from `chat/previewContext', and the secrets the guard
;; will hold back.  They go with the next message, then the list is
;; empty again; the message's heading then says what went with it, as
;; it does for every message of a chat opened from the history.
;;
;; Before a message goes, chinwag asks about what needs the user's
;; say-so: a file that often holds secrets or that git ignores (sent
;; this once if confirmed), secrets the guard found (held back unless
;; the user wants them sent, this once), and project instructions not
;; trusted yet (shown, and trusted with `project/trust' if the user
;; agrees).

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'text-property-search)
(require 'chinwag-rpc)
(require 'chinwag-vault)
(require 'chinwag-chat)

(declare-function chinwag-language "chinwag-region" (&optional mode file))
(declare-function project-root "project" (project))
(declare-function flymake-diagnostics "flymake" (&optional beg end))
(declare-function flymake-diagnostic-beg "flymake" (diag))
(declare-function flymake-diagnostic-end "flymake" (diag))
(declare-function flymake-diagnostic-type "flymake" (diag))
(declare-function flymake-diagnostic-text "flymake" (diag))
(declare-function flymake-diagnostic-backend "flymake" (diag))
(declare-function flycheck-error-line "flycheck" (err))
(declare-function flycheck-error-end-line "flycheck" (err))
(declare-function flycheck-error-level "flycheck" (err))
(declare-function flycheck-error-message "flycheck" (err))
(declare-function flycheck-error-checker "flycheck" (err))
(defvar flycheck-current-errors)
(defvar flycheck-mode)
(defvar flymake-mode)

;; Chat buffers offer the context commands as soon as they exist.
;;;###autoload (with-eval-after-load 'chinwag-chat (require 'chinwag-context))

(defcustom chinwag-context-send-root t
  "Whether every message names its project root, for project instructions.
The root is that of the context sent with the message, or of the buffer
the region came from, or of the chat buffer.  The backend adds the
project's instructions (`.chinwag.md' or `AGENTS.md') to the system
prompt once the user trusted them.  Context that needs a root (files,
the git diff) names it in any case."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-context-offer-secrets t
  "Whether to ask, before a message with secrets goes, to send them as they are.
The secret guard replaces what looks like an API key, a token, a
private key or a password with [redacted: kind].  When non-nil, a
message whose text or context holds some asks whether to send them
unchanged, this once (the default answer keeps them back)."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-context-ask-trust t
  "Whether to show untrusted project instructions and ask to trust them.
A project root with a `.chinwag.md' or `AGENTS.md' file asks once per
content of that file (a changed file asks again); a file the user
declined is not asked about again in this session."
  :type 'boolean
  :group 'chinwag)

(defcustom chinwag-context-max-diagnostic-lines 10
  "Lines of code sent with each diagnostic at most."
  :type 'integer
  :group 'chinwag)

(defface chinwag-context '((t :inherit shadow))
  "Face of the context listed above the draft, and of the lines saying what was sent."
  :group 'chinwag)

(defface chinwag-context-title '((t :inherit (bold shadow)))
  "Face of the title of the context listed above the draft."
  :group 'chinwag)

(defface chinwag-context-warning '((t :inherit warning))
  "Face of the notes about secrets and refused files in the context."
  :group 'chinwag)

(cl-defstruct (chinwag-context--item (:constructor chinwag-context--make-item)
                                     (:copier nil))
  "A context item waiting for the next message of a chat.
WIRE is the item as `chat/send' takes it, ROOT the project root it
belongs to, LABEL what the user sees.  SOURCE, a buffer, gives WIRE
again when the message goes (a buffer's text or diagnostics are sent
as they are then).  PREVIEW is its manifest from `chat/previewContext',
ERROR the error plist of that preview."
  kind label root wire source preview error)

(defvar-local chinwag-context--items nil
  "The context items waiting for the next message of this chat.")

(defvar-local chinwag-context--root nil
  "The project root of this chat's last message, or nil.")

(defvar-local chinwag-context--allow-secrets nil
  "Non-nil when the next message of this chat sends secrets as they are.")

(defvar chinwag-context-source-root nil
  "The project root of the buffer a message comes from, while it is sent.
The region commands bind it.")

(defvar chinwag-context--declined nil
  "Fingerprints of project instructions the user chose not to trust.")

(defconst chinwag-context--rooted-kinds '("file" "gitDiff")
  "The kinds of items that name files of their project root.")

;;;; Roots and labels

(defun chinwag-context-root (&optional buffer)
  "Return the project root of BUFFER (default: the current buffer).
It is the root of `project-current', or else `default-directory': an
absolute file name, without a trailing slash."
  (with-current-buffer (or buffer (current-buffer))
    (require 'project)
    (let* ((project (ignore-errors (project-current nil)))
           (dir (if project (project-root project) default-directory)))
      (directory-file-name (expand-file-name dir)))))

(defun chinwag-context--path (buffer root)
  "Return the name of BUFFER's file relative to ROOT, or BUFFER's name."
  (let ((file (buffer-file-name buffer)))
    (if (and file (file-in-directory-p file root))
        (file-relative-name file root)
      (if file (file-name-nondirectory file) (buffer-name buffer)))))

(defun chinwag-context--language (buffer)
  "Return the language of BUFFER for the fences around its code."
  (require 'chinwag-region)
  (with-current-buffer buffer (chinwag-language)))

(defun chinwag-context--size (bytes)
  "Return BYTES as a short human-readable size."
  (if (< bytes 1024)
      (format "%d B" bytes)
    (file-size-human-readable bytes nil " " "B")))

;;;; Building items

(defun chinwag-context--buffer-wire (buffer root)
  "Return the wire item of the whole BUFFER, under project ROOT."
  (with-current-buffer buffer
    (save-restriction
      (widen)
      (chinwag-rpc-compact :kind "buffer"
                           :path (chinwag-context--path buffer root)
                           :language (chinwag-context--language buffer)
                           :text (buffer-substring-no-properties (point-min) (point-max))))))

(defun chinwag-context--lines (beg-line end-line)
  "Return the text of lines BEG-LINE to END-LINE of this buffer."
  (save-excursion
    (goto-char (point-min))
    (forward-line (1- beg-line))
    (let ((start (point)))
      (forward-line (min (- end-line beg-line)
                         (1- chinwag-context-max-diagnostic-lines)))
      (buffer-substring-no-properties start (line-end-position)))))

(defun chinwag-context--line-at (pos &optional end)
  "Return the line number of POS; with END non-nil, POS ends a span.
A span that ends at the start of a line ends on the line before."
  (save-excursion
    (goto-char pos)
    (line-number-at-pos (if (and end (bolp) (> pos (point-min))) (1- pos) pos))))

(defun chinwag-context--flymake-severity (type)
  "Return the severity name of the Flymake diagnostic TYPE."
  (let ((category (or (and (symbolp type) (get type 'flymake-category)) type)))
    (pcase category
      ('flymake-error "error")
      ('flymake-warning "warning")
      ('flymake-note "note")
      ((pred keywordp) (substring (symbol-name category) 1))
      ((pred symbolp) (symbol-name category))
      (_ "note"))))

(defun chinwag-context--flymake-source (backend)
  "Return a short name of the Flymake BACKEND, or nil."
  (when (and backend (symbolp backend))
    (replace-regexp-in-string "-flymake\\(?:-backend\\)?\\'" "" (symbol-name backend))))

(defun chinwag-context--diagnostic (line end-line severity message source)
  "Return a diagnostic of the wire, with its code.
LINE and END-LINE are its lines; SEVERITY, MESSAGE and SOURCE strings."
  (chinwag-rpc-compact :line line
                       :endLine (and end-line (> end-line line) end-line)
                       :severity severity
                       :message message
                       :source source
                       :text (chinwag-context--lines line (max line (or end-line line)))))

(defun chinwag-context-diagnostics (&optional buffer)
  "Return the diagnostics of BUFFER (default: current) for the wire.
They come from Flymake, and from Flycheck when it is loaded and on, in
the order of their lines."
  (with-current-buffer (or buffer (current-buffer))
    (save-restriction
      (widen)
      (let ((items nil))
        (when (and (fboundp 'flymake-diagnostics) (bound-and-true-p flymake-mode))
          (dolist (diag (flymake-diagnostics))
            (push (chinwag-context--diagnostic
                   (chinwag-context--line-at (flymake-diagnostic-beg diag))
                   (chinwag-context--line-at (flymake-diagnostic-end diag) t)
                   (chinwag-context--flymake-severity (flymake-diagnostic-type diag))
                   (flymake-diagnostic-text diag)
                   (chinwag-context--flymake-source (flymake-diagnostic-backend diag)))
                  items)))
        (when (and (featurep 'flycheck) (bound-and-true-p flycheck-mode)
                   (boundp 'flycheck-current-errors))
          (dolist (err flycheck-current-errors)
            (let ((line (flycheck-error-line err)))
              (when (integerp line)
                (push (chinwag-context--diagnostic
                       line
                       (and (fboundp 'flycheck-error-end-line)
                            (flycheck-error-end-line err))
                       (format "%s" (flycheck-error-level err))
                       (flycheck-error-message err)
                       (and (flycheck-error-checker err)
                            (format "%s" (flycheck-error-checker err))))
                      items)))))
        (sort (nreverse items)
              (lambda (a b) (< (plist-get a :line) (plist-get b :line))))))))

(defun chinwag-context--diagnostics-wire (buffer root)
  "Return the wire item of BUFFER's diagnostics, under project ROOT."
  (chinwag-rpc-compact :kind "diagnostics"
                       :path (chinwag-context--path buffer root)
                       :language (chinwag-context--language buffer)
                       :items (vconcat (chinwag-context-diagnostics buffer))))

(defun chinwag-context--fresh-wire (item)
  "Return ITEM's wire form as it is now: its buffer's text or diagnostics."
  (let ((source (chinwag-context--item-source item))
        (root (chinwag-context--item-root item)))
    (cond
     ((not (buffer-live-p source)) (chinwag-context--item-wire item))
     ((equal (chinwag-context--item-kind item) "buffer")
      (chinwag-context--buffer-wire source root))
     ((equal (chinwag-context--item-kind item) "diagnostics")
      (chinwag-context--diagnostics-wire source root))
     (t (chinwag-context--item-wire item)))))

;;;; The items of a chat

(defun chinwag-context--chat ()
  "Return the chat buffer to add context to: this one, or the current chat."
  (if (derived-mode-p 'chinwag-chat-mode)
      (current-buffer)
    (chinwag-chat-buffer)))

(defun chinwag-context--rooted-root ()
  "Return the root of the waiting items that name files, or nil."
  (cl-loop for item in chinwag-context--items
           when (member (chinwag-context--item-kind item) chinwag-context--rooted-kinds)
           return (chinwag-context--item-root item)))

(defun chinwag-context--add (item)
  "Add ITEM to the context of the next message of the current chat.
Return the chat buffer."
  (let ((chat (chinwag-context--chat)))
    (with-current-buffer chat
      (let ((rooted (chinwag-context--rooted-root)))
        (when (and rooted
                   (member (chinwag-context--item-kind item) chinwag-context--rooted-kinds)
                   (not (equal rooted (chinwag-context--item-root item))))
          (user-error "The context already holds files of %s; send or clear them \
before adding files of %s" rooted (chinwag-context--item-root item))))
      (setq chinwag-context--items (append chinwag-context--items (list item)))
      (chinwag-context--show)
      (chinwag-context--preview item)
      (message "chinwag: %s goes with the next message of %s (%d item%s; %s)"
               (chinwag-context--item-label item) (buffer-name chat)
               (length chinwag-context--items)
               (if (cdr chinwag-context--items) "s" "")
               (substitute-command-keys
                "\\<chinwag-chat-mode-map>\\[chinwag-context-remove] removes one")))
    chat))

(defun chinwag-context--preview (item)
  "Ask the backend how large ITEM is and what it would hold back; show it."
  (let ((chat (current-buffer))
        (wire (chinwag-context--item-wire item)))
    (condition-case err
        (chinwag-rpc-async
         'chat/previewContext
         (chinwag-rpc-compact
          :content ""
          :root (and (member (plist-get wire :kind) chinwag-context--rooted-kinds)
                     (chinwag-context--item-root item))
          :context (vector wire))
         :on-success (lambda (result)
                       (setf (chinwag-context--item-preview item) (plist-get result :manifest)
                             (chinwag-context--item-error item) nil)
                       (chinwag-context--show-in chat))
         :on-error (lambda (error)
                     (setf (chinwag-context--item-error item) error)
                     (chinwag-context--show-in chat)))
      (error
       (setf (chinwag-context--item-error item)
             (list :code -1 :message (error-message-string err)))))))

(defun chinwag-context-items (&optional chat)
  "Return the context items waiting for the next message of CHAT.
CHAT defaults to the current chat buffer.  Each is a plist with :kind,
:label, :root, :item (as `chat/send' takes it), :manifest (from the
preview, once it answered) and :error."
  (with-current-buffer (or chat (chinwag-context--chat))
    (mapcar (lambda (item)
              (list :kind (chinwag-context--item-kind item)
                    :label (chinwag-context--item-label item)
                    :root (chinwag-context--item-root item)
                    :item (chinwag-context--item-wire item)
                    :manifest (chinwag-context--item-preview item)
                    :error (chinwag-context--item-error item)))
            chinwag-context--items)))

;;;; Showing the items above the draft

(defun chinwag-context--stats (manifest)
  "Return (BYTES TOKENS REDACTIONS REFUSED) summed over MANIFEST's items."
  (let ((bytes 0) (tokens 0) (redactions nil))
    (seq-doseq (entry (plist-get manifest :items))
      (cl-incf bytes (or (plist-get entry :bytes) 0))
      (cl-incf tokens (or (plist-get entry :tokens) 0))
      (setq redactions (append redactions (plist-get entry :redactions) nil)))
    (list bytes tokens redactions (append (plist-get manifest :refused) nil))))

(defun chinwag-context--redaction-kinds (redactions)
  "Return the kinds of REDACTIONS as one string."
  (string-join (delete-dups (mapcar (lambda (r) (plist-get r :kind)) redactions)) ", "))

(defun chinwag-context--refused-text (refused)
  "Describe REFUSED, the manifest's files left out."
  (mapconcat (lambda (r) (format "%s (%s)" (plist-get r :path) (plist-get r :reason)))
             refused ", "))

(defun chinwag-context--item-status (item)
  "Describe ITEM's size, tokens and redactions, or why it cannot go."
  (let ((preview (chinwag-context--item-preview item))
        (error (chinwag-context--item-error item)))
    (cond
     (error
      (let ((data (plist-get error :data)))
        (propertize
         (if (equal (plist-get data :action) "confirmFile")
             (format "%s: asked about when sent" (plist-get data :reason))
           (format "cannot go: %s" (chinwag-rpc-error-message error)))
         'face 'chinwag-context-warning)))
     ((not preview) "measuring...")
     (t
      (pcase-let ((`(,bytes ,tokens ,redactions ,refused)
                   (chinwag-context--stats preview)))
        (concat (format "%s, ~%d tokens" (chinwag-context--size bytes) tokens)
                (let ((files (length (plist-get preview :items))))
                  (if (> files 1) (format ", %d files" files) ""))
                (if redactions
                    (propertize (format ", %d secret%s held back (%s)"
                                        (length redactions)
                                        (if (cdr redactions) "s" "")
                                        (chinwag-context--redaction-kinds redactions))
                                'face 'chinwag-context-warning)
                  "")
                (if refused
                    (propertize (format ", left out: %s"
                                        (chinwag-context--refused-text refused))
                                'face 'chinwag-context-warning)
                  "")))))))

(defun chinwag-context--remove-button (chat item)
  "Return a clickable [x] to remove ITEM from CHAT's context."
  (let ((map (make-sparse-keymap))
        (remove (lambda ()
                  (interactive)
                  (chinwag-context--remove chat item))))
    (define-key map [mouse-1] remove)
    (define-key map [mouse-2] remove)
    (define-key map (kbd "RET") remove)
    (propertize "[x]" 'keymap map 'mouse-face 'highlight 'follow-link t
                'help-echo "Remove from the context of the next message"
                'face 'chinwag-context)))

(defun chinwag-context-listing (&optional chat)
  "Return the text listing the context waiting in CHAT, or nil if none.
It is shown above the draft of CHAT (default: the current buffer)."
  (with-current-buffer (or chat (current-buffer))
    (when chinwag-context--items
      (let ((index 0)
            (tokens 0)
            (chat (current-buffer)))
        (concat
         (propertize (format "Context for the next message (%d):\n"
                             (length chinwag-context--items))
                     'face 'chinwag-context-title)
         (mapconcat
          (lambda (item)
            (cl-incf index)
            (let ((preview (chinwag-context--item-preview item)))
              (when preview (cl-incf tokens (nth 1 (chinwag-context--stats preview)))))
            (concat "  " (chinwag-context--remove-button chat item)
                    (propertize (format " %d. %s  " index (chinwag-context--item-label item))
                                'face 'chinwag-context)
                    (chinwag-context--item-status item)
                    "\n"))
          chinwag-context--items "")
         (if chinwag-context--allow-secrets
             (propertize "  Secrets go AS THEY ARE with the next message.\n"
                         'face 'chinwag-context-warning)
           "")
         (propertize
          (format "  ~%d tokens in all; %s removes one, %s sends secrets once\n\n"
                  tokens
                  (substitute-command-keys
                   "\\<chinwag-chat-mode-map>\\[chinwag-context-remove]")
                  (substitute-command-keys
                   "\\<chinwag-chat-mode-map>\\[chinwag-context-allow-secrets]"))
          'face 'chinwag-context))))))

(defun chinwag-context--show ()
  "Show this chat's waiting context above its draft (or nothing)."
  (when (and (derived-mode-p 'chinwag-chat-mode) chinwag-chat--guard
             (overlay-buffer chinwag-chat--guard))
    (overlay-put chinwag-chat--guard 'after-string (chinwag-context-listing))))

(defun chinwag-context--show-in (chat)
  "Show the waiting context of CHAT, if it is still live."
  (when (buffer-live-p chat)
    (with-current-buffer chat (chinwag-context--show))))

(defun chinwag-context--remove (chat item)
  "Remove ITEM from the context waiting in CHAT."
  (when (buffer-live-p chat)
    (with-current-buffer chat
      (setq chinwag-context--items (delq item chinwag-context--items))
      (chinwag-context--show)
      (message "chinwag: %s removed from the context"
               (chinwag-context--item-label item)))))

;;;; Commands

(defun chinwag-context--attachable-p (buffer)
  "Return non-nil if BUFFER may be attached: a live buffer other than a chat."
  (and (buffer-live-p buffer)
       (not (string-prefix-p " " (buffer-name buffer)))
       (not (provided-mode-derived-p (buffer-local-value 'major-mode buffer)
                                     'chinwag-chat-mode))))

(defun chinwag-context--read-buffer ()
  "Read a buffer to attach: the current one, or from a chat any other."
  (if (derived-mode-p 'chinwag-chat-mode)
      (get-buffer
       (read-buffer "Attach buffer: "
                    (seq-find #'chinwag-context--attachable-p (buffer-list))
                    t
                    (lambda (entry)
                      (chinwag-context--attachable-p
                       (get-buffer (if (consp entry) (car entry) entry))))))
    (current-buffer)))

;;;###autoload
(defun chinwag-context-add-buffer (buffer)
  "Send the whole BUFFER (its text when sent) with the next message.
Called from a chat buffer, read which buffer; elsewhere, the current one."
  (interactive (list (chinwag-context--read-buffer)))
  (let ((root (chinwag-context-root buffer)))
    (chinwag-context--add
     (chinwag-context--make-item
      :kind "buffer"
      :label (concat (chinwag-context--path buffer root) " (buffer)")
      :root root
      :source buffer
      :wire (chinwag-context--buffer-wire buffer root)))))

;;;###autoload
(defun chinwag-context-add-file (file)
  "Send FILE with the next message, read by the backend from the project.
FILE is a file name (relative names are relative to the project root)
or a glob such as src/**/*.rs (`*', `?', and `**' for any folders)."
  (interactive
   (let ((root (file-name-as-directory (chinwag-context-root))))
     (list (read-file-name "Attach file or glob: " root nil nil))))
  (let* ((root (chinwag-context-root))
         (full (expand-file-name file root))
         (relative (file-relative-name full root)))
    (when (or (string-prefix-p "../" relative) (equal relative ".."))
      (user-error "%s is outside the project root %s" file root))
    (when (and (file-directory-p full) (not (string-match-p "[*?]" relative)))
      (user-error "%s is a folder; name a file, or a glob such as %s"
                  relative (concat (file-name-as-directory relative) "**/*")))
    (chinwag-context--add
     (chinwag-context--make-item
      :kind "file" :label relative :root root
      :wire (list :kind "file" :path relative)))))

;;;###autoload
(defun chinwag-context-add-diagnostics (buffer)
  "Send the diagnostics of BUFFER (Flymake, Flycheck) with the next message.
Each goes with its lines of code; they are read again when it goes."
  (interactive (list (chinwag-context--read-buffer)))
  (let ((root (chinwag-context-root buffer))
        (count (length (chinwag-context-diagnostics buffer))))
    (when (zerop count)
      (user-error "%s has no diagnostics (Flymake or Flycheck)" (buffer-name buffer)))
    (chinwag-context--add
     (chinwag-context--make-item
      :kind "diagnostics"
      :label (format "diagnostics of %s (%d)" (chinwag-context--path buffer root) count)
      :root root
      :source buffer
      :wire (chinwag-context--diagnostics-wire buffer root)))))

;;;###autoload
(defun chinwag-context-add-git-diff (&optional staged)
  "Send the project's git diff with the next message; with STAGED, the staged one.
Interactively, STAGED is the prefix argument.  The backend runs git in
the project root."
  (interactive "P")
  (let ((root (chinwag-context-root)))
    (chinwag-context--add
     (chinwag-context--make-item
      :kind "gitDiff"
      :label (if staged "git diff --cached" "git diff")
      :root root
      :wire (list :kind "gitDiff" :staged (if staged t :json-false))))))

;;;###autoload
(defun chinwag-context-add-url (url)
  "Send the web page at URL, as text, with the next message.
The backend fetches it (https, or http on this machine)."
  (interactive
   (let ((at-point (thing-at-point 'url t)))
     (list (read-string (format-prompt "Attach web page" at-point) nil nil at-point))))
  (unless (string-match-p "\\`https?://" url)
    (user-error "Not a web address: %s" url))
  (chinwag-context--add
   (chinwag-context--make-item :kind "url" :label url :root (chinwag-context-root)
                               :wire (list :kind "url" :url url))))

;;;###autoload
(defun chinwag-context-add ()
  "Attach something to the next message: ask what."
  (interactive)
  (pcase (car (read-multiple-choice
               "Attach"
               '((?b "buffer" "the current buffer")
                 (?f "file" "a file or a glob of the project")
                 (?d "diagnostics" "the current buffer's diagnostics")
                 (?g "git diff" "the project's git diff")
                 (?s "staged diff" "the project's staged git diff")
                 (?u "url" "a web page"))))
    (?b (call-interactively #'chinwag-context-add-buffer))
    (?f (call-interactively #'chinwag-context-add-file))
    (?d (call-interactively #'chinwag-context-add-diagnostics))
    (?g (chinwag-context-add-git-diff))
    (?s (chinwag-context-add-git-diff t))
    (?u (call-interactively #'chinwag-context-add-url))))

;;;###autoload
(defun chinwag-context-remove (&optional n)
  "Remove an item from the context of the next message of the current chat.
With a numeric prefix argument N, the Nth item; otherwise read which."
  (interactive "P")
  (with-current-buffer (chinwag-context--chat)
    (unless chinwag-context--items
      (user-error "No context waits for the next message"))
    (let* ((index 0)
           (choices (mapcar (lambda (item)
                              (cons (format "%d. %s" (cl-incf index)
                                            (chinwag-context--item-label item))
                                    item))
                            chinwag-context--items))
           (item (if (integerp n)
                     (or (nth (1- n) chinwag-context--items)
                         (user-error "There is no item %d" n))
                   (cdr (assoc (completing-read "Remove from the context: " choices
                                                nil t nil nil (caar choices))
                               choices)))))
      (chinwag-context--remove (current-buffer) item))))

;;;###autoload
(defun chinwag-context-clear ()
  "Remove every item from the context of the next message of the current chat."
  (interactive)
  (with-current-buffer (chinwag-context--chat)
    (setq chinwag-context--items nil
          chinwag-context--allow-secrets nil)
    (chinwag-context--show)
    (message "chinwag: no context for the next message")))

;;;###autoload
(defun chinwag-context-allow-secrets (&optional off)
  "Send the secrets of the next message of the current chat as they are.
The guard then holds nothing back, for that message only.  Called again
\(or with OFF non-nil), the guard holds them back again."
  (interactive (list (buffer-local-value 'chinwag-context--allow-secrets
                                         (chinwag-context--chat))))
  (with-current-buffer (chinwag-context--chat)
    (setq chinwag-context--allow-secrets (not off))
    (chinwag-context--show)
    (message (if off
                 "chinwag: secrets are held back again"
               "chinwag: the next message sends its secrets as they are"))))

;;;; Project instructions

(defun chinwag-context--show-instructions (root entry)
  "Show the instructions file of ENTRY, a manifest entry, found in ROOT.
Return the buffer showing it."
  (let ((buffer (get-buffer-create "*chinwag project instructions*"))
        (file (expand-file-name (plist-get entry :path) root)))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (format "%s of %s:\n\n" (plist-get entry :path) root))
        (condition-case err
            (insert-file-contents file)
          (file-error (insert (format "(cannot be read: %s)" (error-message-string err)))))
        (goto-char (point-min)))
      (special-mode))
    (display-buffer buffer '((display-buffer-reuse-window display-buffer-pop-up-window)))
    buffer))

(defun chinwag-context--ask-trust (root entry)
  "Show the untrusted instructions of ENTRY in ROOT; trust them if the user agrees.
Return non-nil if they are trusted now."
  (let* ((buffer (chinwag-context--show-instructions root entry))
         (yes (unwind-protect
                  (y-or-n-p (format "Trust %s of %s, so that it joins the system prompt? "
                                    (plist-get entry :path) root))
                (let ((window (get-buffer-window buffer t)))
                  (when (and window (not (one-window-p t window)))
                    (quit-window t window))))))
    (if (not yes)
        (progn
          (push (plist-get entry :fingerprint) chinwag-context--declined)
          (message "chinwag: %s is not sent; %s trusts it later"
                   (plist-get entry :path)
                   (substitute-command-keys "\\[chinwag-trust-project]"))
          nil)
      (chinwag-request 'project/trust (list :root root
                                            :fingerprint (plist-get entry :fingerprint)))
      (message "chinwag: %s trusted; it joins the system prompt" (plist-get entry :path))
      t)))

(defun chinwag-context--check-instructions (manifest root)
  "Ask to trust the instructions of ROOT, if untrusted in MANIFEST.
Return non-nil if the user trusted them now."
  (let ((entry (plist-get manifest :instructions)))
    (when (and entry chinwag-context-ask-trust
               (not (eq (plist-get entry :included) t))
               (not (member (plist-get entry :fingerprint) chinwag-context--declined)))
      (chinwag-context--ask-trust root entry))))

;;;###autoload
(defun chinwag-trust-project (&optional root)
  "Show the project instructions of ROOT and trust them if you agree.
ROOT defaults to the current buffer's project root.  Trusted
instructions (`.chinwag.md', or else `AGENTS.md') join the system prompt
of the messages that name that root, until the file changes."
  (interactive)
  (let* ((root (or root (chinwag-context-root)))
         (preview (chinwag-request 'chat/previewContext (list :content "" :root root)))
         (entry (plist-get (plist-get preview :manifest) :instructions)))
    (cond
     ((not entry) (message "chinwag: %s has no .chinwag.md or AGENTS.md" root) nil)
     ((eq (plist-get entry :included) t)
      (message "chinwag: %s of %s is trusted already" (plist-get entry :path) root) t)
     (t (chinwag-context--ask-trust root entry)))))

;;;; Sending

(defun chinwag-context--offer-secrets (redactions)
  "Ask whether to send REDACTIONS, what the guard found, as they are."
  (and chinwag-context-offer-secrets redactions
       (y-or-n-p (format "The guard holds back %d secret%s (%s) as [redacted]; \
send %s as %s, this once? "
                         (length redactions) (if (cdr redactions) "s" "")
                         (chinwag-context--redaction-kinds redactions)
                         (if (cdr redactions) "them" "it")
                         (if (cdr redactions) "they are" "it is")))))

(defun chinwag-context--reason (reason)
  "Describe REASON, why the backend asks before sending a file."
  (pcase reason
    ("sensitive" "often holds secrets")
    ("gitIgnored" "is ignored by git")
    (_ (format "needs confirming (%s)" reason))))

(defun chinwag-context-check (content root &optional files allow-secrets extra-redactions)
  "Check a message before sending it; return (ALLOW-FILES ALLOW-SECRETS MANIFEST).
CONTENT is the message, ROOT its project root, FILES its `file' items.
The backend previews them: a file that needs the user's say-so is asked
about (a no keeps the message from going), project instructions not
trusted yet are shown and asked about, and the secrets the guard holds
back (those of the preview and EXTRA-REDACTIONS) are offered to be sent
as they are, unless ALLOW-SECRETS already says so.  MANIFEST is the
preview's (nil when the vault kept it from being made: while it is
locked, a message without files is not checked)."
  (let ((allow-files nil)
        (manifest nil)
        (unlocked nil)
        (done nil))
    (when (chinwag-vault-locked-p)
      (if files
          ;; The files are checked once the vault is open.
          (progn (chinwag-unlock) (setq unlocked t))
        ;; The message asks for the password when it goes (once for every
        ;; message waiting); the next one is checked.
        (setq done t)))
    (while (not done)
      (let* ((answer (chinwag-rpc-call
                      'chat/previewContext
                      (chinwag-rpc-compact :content (or content "")
                                           :root root
                                           :context (and files (vconcat files))
                                           :allowFiles (and allow-files (vconcat allow-files))
                                           :allowSecrets (and allow-secrets t))))
             (error (plist-get answer :error))
             (code (plist-get error :code))
             (data (plist-get error :data))
             (path (plist-get data :path)))
        (cond
         ((not error)
          (setq manifest (plist-get (plist-get answer :result) :manifest)
                done t))
         ((and (eql code 1404) (equal (plist-get data :action) "confirmFile")
               (stringp path) (not (member path allow-files)))
          (if (y-or-n-p (format "%s %s; send it with this message, this once? "
                                path (chinwag-context--reason (plist-get data :reason))))
              (push path allow-files)
            (user-error "Not sent: %s stays on this machine (%s removes it)" path
                        (substitute-command-keys
                         "\\<chinwag-chat-mode-map>\\[chinwag-context-remove]"))))
         ((and (eql code chinwag-vault-locked) files (not unlocked))
          ;; The files are checked once the vault is open.
          (setq unlocked t)
          (chinwag-unlock))
         ((eql code chinwag-vault-locked)
          ;; The message itself asks for the password; nothing to check here.
          (setq done t))
         (t (user-error "Not sent: %s" (chinwag-rpc-error-message error))))))
    (when manifest
      (when (chinwag-context--check-instructions manifest root)
        ;; Trusted now: they go with this message.
        (setq manifest (plist-put (copy-sequence manifest) :instructions
                                  (plist-put (copy-sequence (plist-get manifest :instructions))
                                             :included t))))
      (unless allow-secrets
        (let ((found (append (plist-get (plist-get manifest :message) :redactions)
                             (nth 2 (chinwag-context--stats manifest))
                             extra-redactions)))
          (setq allow-secrets (chinwag-context--offer-secrets found)))))
    (list (nreverse allow-files) allow-secrets manifest)))

(defun chinwag-context--send-root ()
  "Return the project root the next message of this chat names, or nil."
  (let ((rooted (chinwag-context--rooted-root)))
    (or rooted
        (and chinwag-context--items (chinwag-context--item-root (car chinwag-context--items)))
        (and chinwag-context-send-root
             (or chinwag-context-source-root
                 chinwag-context--root
                 (chinwag-context-root))))))

(defun chinwag-context--sent-manifest (items checked allow-secrets)
  "Return a manifest of ITEMS, the waiting items just sent.
CHECKED is the manifest of the check before sending (the message and
the files), or nil; ALLOW-SECRETS says whether secrets went as they
were.  The other items are told from their previews."
  (let ((entries nil) (refused nil) (files-done nil))
    (dolist (item items)
      (let ((preview (chinwag-context--item-preview item))
            (file (equal (chinwag-context--item-kind item) "file")))
        (cond
         ((and file checked)
          (unless files-done
            (setq files-done t
                  entries (append entries (plist-get checked :items) nil)
                  refused (append refused (plist-get checked :refused) nil))))
         (preview
          (setq entries (append entries (plist-get preview :items) nil)
                refused (append refused (plist-get preview :refused) nil)))
         (t
          (setq entries (append entries
                                (list (list :kind (chinwag-context--item-kind item)
                                            :label (chinwag-context--item-label item)))))))))
    (list :items (vconcat entries) :refused (vconcat refused)
          :message (plist-get checked :message)
          :instructions (plist-get checked :instructions)
          :allowSecrets allow-secrets
          :totalTokens (+ (or (plist-get (plist-get checked :message) :tokens) 0)
                          (cl-loop for entry in entries
                                   sum (or (plist-get entry :tokens) 0))))))

(defun chinwag-context--before-send (params)
  "Add the waiting context, root and permissions to PARAMS, `chat/send' params.
Runs in the chat buffer before the message goes (see
`chinwag-chat-send-functions'); the waiting items are then cleared and
the heading of the message says what went with it."
  (dolist (item chinwag-context--items)
    (let ((error (chinwag-context--item-error item)))
      (when (and error (not (equal (plist-get (plist-get error :data) :action)
                                   "confirmFile")))
        (user-error "Not sent: %s cannot go (%s); %s removes it"
                    (chinwag-context--item-label item)
                    (chinwag-rpc-error-message error)
                    (substitute-command-keys
                     "\\<chinwag-chat-mode-map>\\[chinwag-context-remove]")))))
  (let* ((items chinwag-context--items)
         (root (chinwag-context--send-root))
         (wires (mapcar #'chinwag-context--fresh-wire items))
         (files (seq-filter (lambda (w) (equal (plist-get w :kind) "file")) wires))
         (extra (cl-loop for item in items
                         for preview = (chinwag-context--item-preview item)
                         unless (equal (chinwag-context--item-kind item) "file")
                         append (nth 2 (chinwag-context--stats preview))))
         (allowed (if root
                      (chinwag-context-check (plist-get params :content) root files
                                             chinwag-context--allow-secrets extra)
                    (list nil chinwag-context--allow-secrets nil)))
         (context (append (plist-get params :context) wires))
         (out nil))
    ;; The params, without the keys given again here.
    (while params
      (unless (memq (car params) '(:context :root :allowFiles :allowSecrets))
        (setq out (append out (list (car params) (cadr params)))))
      (setq params (cddr params)))
    (chinwag-context--mark-heading
     (chinwag-context--describe-manifest
      (chinwag-context--sent-manifest items (nth 2 allowed) (nth 1 allowed))))
    (setq chinwag-context--items nil
          chinwag-context--allow-secrets nil)
    (when root (setq chinwag-context--root root))
    (chinwag-context--show)
    (append out
            (chinwag-rpc-compact :context (and context (vconcat context))
                                 :root root
                                 :allowFiles (and (car allowed) (vconcat (car allowed)))
                                 :allowSecrets (and (nth 1 allowed) t)))))

;;;; What went with each message

(defun chinwag-context--describe-manifest (manifest)
  "Return one line saying what went with a message, from its MANIFEST.
Nil when nothing went but the message."
  (let* ((items (append (plist-get manifest :items) nil))
         (refused (append (plist-get manifest :refused) nil))
         (redactions (and (not (eq (plist-get manifest :allowSecrets) t))
                          (append (plist-get (plist-get manifest :message) :redactions)
                                  (nth 2 (chinwag-context--stats manifest)))))
         (instructions (plist-get manifest :instructions))
         (shown (seq-take items 6))
         (parts
          (delq nil
                (list
                 (and items
                      (concat (mapconcat
                               (lambda (entry)
                                 (if (plist-get entry :bytes)
                                     (format "%s (%s)" (plist-get entry :label)
                                             (chinwag-context--size (plist-get entry :bytes)))
                                   (plist-get entry :label)))
                               shown ", ")
                              (if (> (length items) 6)
                                  (format " and %d more" (- (length items) 6))
                                "")
                              (if (and (numberp (plist-get manifest :totalTokens))
                                       (> (plist-get manifest :totalTokens) 0))
                                  (format ", ~%d tokens" (plist-get manifest :totalTokens))
                                "")))
                 (and redactions
                      (format "%d secret%s held back" (length redactions)
                              (if (cdr redactions) "s" "")))
                 (and (eq (plist-get manifest :allowSecrets) t)
                      "secrets sent as they were")
                 (and refused (concat "left out: " (chinwag-context--refused-text refused)))
                 (and instructions
                      (format "%s %s" (plist-get instructions :path)
                              (if (eq (plist-get instructions :included) t)
                                  "included"
                                  "not trusted, not sent")))))))
    (and parts (concat "Sent with: " (string-join parts "; ")))))

(defun chinwag-context--mark (beg end line)
  "Show LINE under the heading from BEG to END, in the transcript."
  (let ((overlay (make-overlay beg end nil t nil)))
    (overlay-put overlay 'chinwag-context-line t)
    (overlay-put overlay 'evaporate t)
    (overlay-put overlay 'after-string
                 (concat "\n" (propertize line 'face 'chinwag-context)))
    overlay))

(defun chinwag-context--mark-heading (line)
  "Show LINE under the heading of the draft, the message about to be sent."
  (when line
    (save-excursion
      (save-restriction
        (widen)
        (goto-char chinwag-chat--input)
        (let ((match (text-property-search-backward 'chinwag-role 'user t)))
          (when match
            (chinwag-context--mark (prop-match-beginning match)
                                   (prop-match-end match) line)))))))

(defun chinwag-context--on-render ()
  "Say under each user heading what went with that message, from its manifest."
  (save-excursion
    (save-restriction
      (widen)
      (remove-overlays (point-min) (point-max) 'chinwag-context-line t)
      (goto-char (point-min))
      (let ((messages (seq-filter (lambda (m) (equal (plist-get m :role) "user"))
                                  chinwag-chat--messages))
            (match nil))
        (while (and messages
                    (setq match (text-property-search-forward 'chinwag-role 'user t)))
          (let* ((manifest (plist-get (pop messages) :context))
                 (line (and manifest (chinwag-context--describe-manifest manifest))))
            (when line
              (chinwag-context--mark (prop-match-beginning match)
                                     (prop-match-end match) line)))))))
  (chinwag-context--show))

(defun chinwag-context-sent-lines (&optional chat)
  "Return the lines saying what went with the messages of CHAT, in order.
CHAT defaults to the current buffer."
  (with-current-buffer (or chat (current-buffer))
    (let ((overlays (seq-filter (lambda (o) (overlay-get o 'chinwag-context-line))
                                (save-restriction
                                  (widen)
                                  (overlays-in (point-min) (point-max))))))
      (mapcar (lambda (o) (substring-no-properties (overlay-get o 'after-string) 1))
              (sort overlays (lambda (a b) (< (overlay-start a) (overlay-start b))))))))

;;;; Keys

(defvar chinwag-context-map
  (let ((map (make-sparse-keymap)))
    (define-key map "b" #'chinwag-context-add-buffer)
    (define-key map "f" #'chinwag-context-add-file)
    (define-key map "d" #'chinwag-context-add-diagnostics)
    (define-key map "g" #'chinwag-context-add-git-diff)
    (define-key map "u" #'chinwag-context-add-url)
    (define-key map "k" #'chinwag-context-remove)
    (define-key map "c" #'chinwag-context-clear)
    (define-key map "s" #'chinwag-context-allow-secrets)
    (define-key map "t" #'chinwag-trust-project)
    map)
  "Keymap of the context commands, a prefix key in `chinwag-chat-mode-map'.")

(define-key chinwag-chat-mode-map (kbd "C-c C-a") chinwag-context-map)

(add-hook 'chinwag-chat-send-functions #'chinwag-context--before-send 50)
(add-hook 'chinwag-chat-render-hook #'chinwag-context--on-render)

(provide 'chinwag-context)
;;; chinwag-context.el ends here
