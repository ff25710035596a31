;;; chinwag-region.el --- Send code from any buffer to a chinwag chat  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; `chinwag-send-region' sends the active region to the current chat,
;; with the file name (relative to the project root), the language
;; (from the major mode) and the line range as context: the backend
;; turns that into a fenced block labelled with the file and lines, the
;; same for every editor.  `chinwag-ask' reads a question in the
;; minibuffer and asks it about the region, or the whole buffer when
;; no region is active.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'chinwag-chat)
(require 'chinwag-presets)
(require 'chinwag-context)

(defcustom chinwag-region-prompt "Explain this code."
  "The message `chinwag-send-region' sends with the region.
It is used when nothing is written in the chat's input area."
  :type 'string
  :group 'chinwag)

(defcustom chinwag-language-alist
  '((emacs-lisp-mode . "elisp")
    (lisp-interaction-mode . "elisp")
    (lisp-data-mode . "elisp")
    (c++-mode . "cpp")
    (c++-ts-mode . "cpp")
    (js-mode . "javascript")
    (js2-mode . "javascript")
    (js-ts-mode . "javascript")
    (rjsx-mode . "jsx")
    (rustic-mode . "rust")
    (tuareg-mode . "ocaml")
    (cperl-mode . "perl")
    (makefile-gmake-mode . "makefile")
    (makefile-bsdmake-mode . "makefile")
    (nxml-mode . "xml")
    (mhtml-mode . "html")
    (fundamental-mode . nil))
  "Languages of major modes, for the fences around code sent to a model.
A major mode not listed here, nor derived from one listed, gets its
name without \"-ts-mode\" or \"-mode\": `rust-mode' gives \"rust\",
`python-ts-mode' \"python\".  A nil language means none."
  :type '(alist :key-type symbol :value-type (choice string (const nil)))
  :group 'chinwag)

(defcustom chinwag-extension-language-alist
  '(("rs" . "rust") ("py" . "python") ("pyi" . "python") ("rb" . "ruby")
    ("js" . "javascript") ("mjs" . "javascript") ("cjs" . "javascript")
    ("ts" . "typescript") ("tsx" . "tsx") ("jsx" . "jsx") ("go" . "go")
    ("c" . "c") ("h" . "c") ("cc" . "cpp") ("cpp" . "cpp") ("cxx" . "cpp")
    ("hpp" . "cpp") ("hh" . "cpp") ("java" . "java") ("kt" . "kotlin")
    ("kts" . "kotlin") ("swift" . "swift") ("cs" . "csharp") ("fs" . "fsharp")
    ("hs" . "haskell") ("ml" . "ocaml") ("mli" . "ocaml") ("ex" . "elixir")
    ("exs" . "elixir") ("erl" . "erlang") ("clj" . "clojure") ("scala" . "scala")
    ("lua" . "lua") ("pl" . "perl") ("pm" . "perl") ("php" . "php")
    ("sh" . "sh") ("bash" . "bash") ("zsh" . "zsh") ("fish" . "fish")
    ("ps1" . "powershell") ("el" . "elisp") ("lisp" . "lisp") ("scm" . "scheme")
    ("zig" . "zig") ("nim" . "nim") ("dart" . "dart") ("r" . "r") ("jl" . "julia")
    ("sql" . "sql") ("toml" . "toml") ("yaml" . "yaml") ("yml" . "yaml")
    ("json" . "json") ("xml" . "xml") ("html" . "html") ("htm" . "html")
    ("css" . "css") ("scss" . "scss") ("md" . "markdown") ("tex" . "latex")
    ("nix" . "nix") ("tf" . "hcl") ("proto" . "protobuf") ("vue" . "vue")
    ("svelte" . "svelte") ("dockerfile" . "dockerfile") ("mk" . "makefile"))
  "Languages of file name extensions, for the fences around code.
They are used when the major mode gives no useful language: a generic
mode (`fundamental-mode', `text-mode', `prog-mode', a `conf-mode'), or
a mode mapped to nil in `chinwag-language-alist'.  An extension not
listed here is used as it is."
  :type '(alist :key-type string :value-type string)
  :group 'chinwag)

(defconst chinwag-region--generic-modes
  '(fundamental-mode text-mode prog-mode conf-mode special-mode)
  "Major modes that say nothing about the language of a file.")

(defun chinwag-region--generic-mode-p (mode)
  "Return non-nil if MODE is generic or derives only from a generic mode."
  (or (memq mode chinwag-region--generic-modes)
      (string-prefix-p "conf-" (symbol-name mode))
      (and (not (assq mode chinwag-language-alist))
           (let ((parent (get mode 'derived-mode-parent)))
             (and parent (memq parent '(conf-mode conf-unix-mode)))))))

(defun chinwag-region--extension-language (file)
  "Return the fence language of FILE from its extension, or nil."
  (let ((extension (and file (file-name-extension file))))
    (when (and extension (not (string-empty-p extension)))
      (or (cdr (assoc-string extension chinwag-extension-language-alist t))
          (downcase extension)))))

(defun chinwag-language (&optional mode file)
  "Return the language name of the major MODE (default: the current one).
When the mode gives nothing useful (see `chinwag-extension-language-alist'),
the extension of FILE gives it; FILE defaults to the current buffer's
file when MODE is not given."
  (let* ((file (or file (and (not mode) buffer-file-name)))
         (mode (or mode major-mode))
         (entry (cl-loop for m = mode then (get m 'derived-mode-parent)
                         while m
                         thereis (assq m chinwag-language-alist)))
         (from-mode
          (cond
           ((chinwag-region--generic-mode-p mode) nil)
           (entry (cdr entry))
           ((and (eq mode 'sh-mode) (boundp 'sh-shell) (symbolp sh-shell) sh-shell)
            (symbol-name sh-shell))
           (t
            (let ((name (symbol-name mode)))
              (cond ((string-suffix-p "-ts-mode" name)
                     (string-remove-suffix "-ts-mode" name))
                    ((string-suffix-p "-mode" name) (string-remove-suffix "-mode" name))
                    (t name)))))))
    (or from-mode (chinwag-region--extension-language file))))

(declare-function project-root "project" (project))

(defun chinwag-region--path ()
  "Return the current buffer's file name relative to its project, or nil."
  (when buffer-file-name
    (require 'project)
    (let* ((project (project-current nil))
           (root (and project (project-root project))))
      (if root
          (file-relative-name buffer-file-name root)
        (file-name-nondirectory buffer-file-name)))))

(defun chinwag-region-context (beg end)
  "Return the region from BEG to END as a context plist for `chat/send'.
It holds :path, :language, :startLine, :endLine and :text."
  (let* ((beg (min beg end))
         (end (max beg end))
         (last (if (and (> end beg)
                        (save-excursion (goto-char end) (bolp)))
                   (1- end)
                 end)))
    (chinwag-rpc-compact
     :path (chinwag-region--path)
     :language (chinwag-language)
     :startLine (save-restriction (widen) (line-number-at-pos beg))
     :endLine (save-restriction (widen) (line-number-at-pos last))
     :text (buffer-substring-no-properties beg end))))

(defun chinwag-region--send (content context &optional default beg end)
  "Send CONTENT with CONTEXT to the current chat and show it.
With DEFAULT, CONTENT is used only if nothing is written in the chat.
BEG and END are the region of the current buffer CONTEXT came from: the
chat remembers it for `chinwag-apply-code-block'."
  (let ((origin (and beg end (list (current-buffer) beg end)))
        (buffer (chinwag-chat-buffer))
        (chinwag-context-source-root (chinwag-context-root)))
    (chinwag-chat-send-message buffer content context default origin)
    (chinwag-chat-display buffer)
    buffer))

;;;###autoload
(defun chinwag-send-region (beg end &optional read-message preset)
  "Send the region from BEG to END to the current chat.
The message is what is written in the chat's input area, or
`chinwag-region-prompt'; with a prefix argument READ-MESSAGE, it is
read in the minibuffer, where /NAME at its start applies the preset
NAME (TAB completes it).  With PRESET, the name of a preset (C-u C-u
reads it), the preset's instruction is the message, followed by what is
written in the chat's input area.  The file name, language and lines of
the region go with it."
  (interactive
   (if (use-region-p)
       (let ((double (equal current-prefix-arg '(16))))
         (list (region-beginning) (region-end)
               (and current-prefix-arg (not double))
               (and double (chinwag-read-preset "Send the region with preset: "))))
     (user-error "Select the code to send first")))
  (let ((context (chinwag-region-context beg end))
        (content (cond
                  (preset (concat "/" preset))
                  (read-message
                   (chinwag-presets-read-string
                    (format-prompt "Message" chinwag-region-prompt)
                    nil chinwag-region-prompt))
                  (t chinwag-region-prompt)))
        (chinwag-presets--next preset))
    (deactivate-mark)
    (chinwag-region--send content (list context) (not read-message)
                          (min beg end) (max beg end))))

;;;###autoload
(defun chinwag-ask (question)
  "Ask QUESTION about the active region, or about the whole buffer.
In a chat buffer, just send QUESTION there."
  (interactive
   (list (read-string
          (cond ((derived-mode-p 'chinwag-chat-mode) "Ask: ")
                ((use-region-p) "Ask about the region: ")
                (t (format "Ask about %s: " (buffer-name)))))))
  (when (string-blank-p question)
    (user-error "No question"))
  (if (derived-mode-p 'chinwag-chat-mode)
      (chinwag-chat-send-message (current-buffer) question)
    (let* ((region (if (use-region-p)
                       (cons (region-beginning) (region-end))
                     (save-restriction
                       (widen)
                       (cons (point-min) (point-max)))))
           (context (save-restriction
                      (widen)
                      (chinwag-region-context (car region) (cdr region)))))
      (deactivate-mark)
      (chinwag-region--send question (list context) nil (car region) (cdr region)))))

(provide 'chinwag-region)
;;; chinwag-region.el ends here
