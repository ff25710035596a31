;;; chinwag-presets.el --- Presets and slash commands for chinwag  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; A preset is a named way of asking, kept by the backend: a provider,
;; a model, a system prompt, a temperature and an instruction for the
;; code sent with it.  chinwag ships `explain', `review', `fix',
;; `tests', `docs' and `commit'; the config file adds others.
;;
;; A message that starts with /NAME applies the preset NAME: the rest of
;; the message follows its instruction (the instruction alone when there
;; is no rest), and the chat remembers the preset, shown in its mode
;; line.  In a chat buffer, `completion-at-point' (C-M-i, or TAB with
;; `tab-always-indent' set to `complete') completes the names after the
;; slash.  The region commands take a preset too: C-u C-u M-x
;; chinwag-send-region and C-u M-x chinwag-rewrite-region choose one,
;; and their prompts accept /NAME, TAB completing it.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'chinwag-rpc)
(require 'chinwag-vault)
(require 'chinwag-chat)

;; Chat buffers know presets as soon as they exist.
;;;###autoload (with-eval-after-load 'chinwag-chat (require 'chinwag-presets))

(defvar chinwag-presets--list nil
  "The backend's presets (`presets/list'), fetched once per backend.")

(defvar-local chinwag-presets--current nil
  "The preset of this buffer's chat, or nil.")

(defvar chinwag-presets--next nil
  "A preset for the next message sent, when it starts with no /NAME.
The region commands bind it around the message they send.")

(defconst chinwag-presets--slash-re
  "\\`[ \t\n]*/\\([[:alnum:]_-]+\\)\\(?:[ \t]*\n\\|[ \t]+\\|\\'\\)"
  "Regexp matching /NAME at the start of a message; group 1 is NAME.")

(defun chinwag-presets--forget (&rest _)
  "Forget the presets of the backend that stopped or started."
  (setq chinwag-presets--list nil))

(add-hook 'chinwag-rpc-start-functions #'chinwag-presets--forget)
(add-hook 'chinwag-rpc-exit-functions #'chinwag-presets--forget)

(defun chinwag-presets ()
  "Return the backend's presets, a list of plists (:name :instruction ...)."
  (or chinwag-presets--list
      (setq chinwag-presets--list
            (append (plist-get (chinwag-request 'presets/list) :presets) nil))))

(defun chinwag-preset-names ()
  "Return the names of the backend's presets, built-ins first."
  (mapcar (lambda (preset) (plist-get preset :name)) (chinwag-presets)))

(defun chinwag-preset (name)
  "Return the preset called NAME (a plist), or nil."
  (cl-find name (chinwag-presets) :key (lambda (p) (plist-get p :name)) :test #'equal))

(defun chinwag-presets--describe (name)
  "Return a short description of the preset NAME, for completion."
  (let* ((preset (ignore-errors (chinwag-preset name)))
         (text (or (plist-get preset :instruction) (plist-get preset :system) ""))
         (line (car (split-string text "\n"))))
    (concat (propertize " " 'display '(space :align-to 16))
            (truncate-string-to-width (or line "") 60 nil nil "...")
            (if (plist-get preset :model) (format " [%s]" (plist-get preset :model)) ""))))

(defun chinwag-read-preset (&optional prompt)
  "Read the name of a preset with completion, with PROMPT."
  (let* ((names (chinwag-preset-names))
         (completion-extra-properties
          (list :annotation-function #'chinwag-presets--describe)))
    (unless names
      (user-error "The backend has no presets"))
    (completing-read (or prompt "Preset: ") names nil t)))

(defun chinwag-presets-parse (content)
  "Return (NAME . REST) for a CONTENT that opens with /NAME, else nil.
REST is what follows the name and the blanks after it."
  (when (and (stringp content) (string-match chinwag-presets--slash-re content))
    (cons (match-string 1 content) (substring content (match-end 0)))))

(defun chinwag-presets--apply (params)
  "Apply the /NAME at the start of the message of PARAMS (`chat/send' params).
The preset goes as `preset', the rest of the message as `content'.  A
name that is no preset is asked about: sent as it is, or not at all.
Without /NAME, `chinwag-presets--next' is the preset, if any."
  (let* ((parsed (chinwag-presets-parse (plist-get params :content)))
         (name (car parsed)))
    (cond
     ((and parsed (chinwag-preset name))
      (setq chinwag-presets--current name)
      (force-mode-line-update)
      (plist-put (plist-put params :preset name) :content (cdr parsed)))
     (parsed
      (if (y-or-n-p (format "No preset is called %s; send the message as it is? " name))
          params
        (user-error "Not sent: no preset is called %s (known: %s)"
                    name (string-join (chinwag-preset-names) ", "))))
     (chinwag-presets--next
      (setq chinwag-presets--current chinwag-presets--next)
      (force-mode-line-update)
      (plist-put params :preset chinwag-presets--next))
     (t params))))

(defun chinwag-presets--on-show (chat)
  "Note the preset of CHAT, a saved chat shown in this buffer."
  (setq chinwag-presets--current (plist-get chat :preset))
  (force-mode-line-update))

(defun chinwag-presets--mode-line ()
  "Return the mode line text naming this chat's preset, or nil."
  (and chinwag-presets--current
       (concat " preset:" chinwag-presets--current " ")))

;;;; Completion of /NAME

(defun chinwag-presets--message-start ()
  "Return the start of the message being written, or nil if not in one."
  (cond
   ((minibufferp) (minibuffer-prompt-end))
   ((and (derived-mode-p 'chinwag-chat-mode) chinwag-chat--input
         (>= (point) chinwag-chat--input))
    (marker-position chinwag-chat--input))))

(defun chinwag-presets-completion-at-point ()
  "Complete the name of a preset after a slash at the start of a message.
For `completion-at-point-functions' in chat buffers and prompts."
  (let ((start (chinwag-presets--message-start)))
    (when start
      (save-excursion
        (skip-chars-backward "[:alnum:]_-")
        (let ((beg (point)))
          (when (and (eq (char-before) ?/)
                     (save-excursion
                       (backward-char)
                       (skip-chars-backward " \t\n" start)
                       (= (point) start)))
            (skip-chars-forward "[:alnum:]_-")
            (list beg (point)
                  (completion-table-dynamic
                   (lambda (_) (or (ignore-errors (chinwag-preset-names)) nil)))
                  :annotation-function #'chinwag-presets--describe
                  :exit-function (lambda (_name status)
                                   (when (and (eq status 'finished)
                                              (not (looking-at-p "[ \t\n]")))
                                     (insert " ")))
                  :exclusive 'no)))))))

(defvar chinwag-presets-minibuffer-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'completion-at-point)
    map)
  "Keys of the prompts that accept /NAME: TAB completes a preset's name.")

(defun chinwag-presets-read-string (prompt &optional initial default)
  "Read a string with PROMPT where /NAME at the start names a preset.
TAB completes the names.  INITIAL is the initial input; DEFAULT is
returned for an empty answer.  The answer is read by `read-string'."
  (minibuffer-with-setup-hook
      (lambda ()
        (use-local-map (make-composed-keymap chinwag-presets-minibuffer-map
                                             (current-local-map)))
        (add-hook 'completion-at-point-functions
                  #'chinwag-presets-completion-at-point nil t))
    (read-string prompt initial nil default)))

;;;; The region commands with a preset

(declare-function chinwag-send-region "chinwag-region" (beg end &optional read-message preset))
(declare-function chinwag-rewrite-region "chinwag-rewrite" (beg end instruction &optional preset))

(defun chinwag-presets--region ()
  "Return (BEG END PRESET) for a region command, reading the preset."
  (if (use-region-p)
      (list (region-beginning) (region-end) (chinwag-read-preset))
    (user-error "Select the code first")))

;;;###autoload
(defun chinwag-send-region-with-preset (beg end preset)
  "Send the region from BEG to END to the current chat with PRESET.
The preset's instruction is the message (followed by what is written in
the chat's input area); its provider, model and system prompt become
the chat's."
  (interactive (chinwag-presets--region))
  (require 'chinwag-region)
  (chinwag-send-region beg end nil preset))

;;;###autoload
(defun chinwag-rewrite-region-with-preset (beg end preset)
  "Rewrite the region from BEG to END as PRESET asks.
The preset's instruction, provider, model and system prompt are used."
  (interactive (chinwag-presets--region))
  (require 'chinwag-rewrite)
  (chinwag-rewrite-region beg end "" preset))

(defun chinwag-presets--setup ()
  "Set up completion of preset names and the mode line in a chat buffer."
  (add-hook 'completion-at-point-functions #'chinwag-presets-completion-at-point nil t)
  (setq-local mode-line-misc-info
              (cons '(:eval (chinwag-presets--mode-line))
                    (default-value 'mode-line-misc-info))))

(add-hook 'chinwag-chat-mode-hook #'chinwag-presets--setup)
(add-hook 'chinwag-chat-send-functions #'chinwag-presets--apply -50)
(add-hook 'chinwag-chat-show-functions #'chinwag-presets--on-show)

(provide 'chinwag-presets)
;;; chinwag-presets.el ends here
