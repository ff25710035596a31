;;; chinwag.el --- Talk to language models through the chinwag backend  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; Maintainer: The chinwag authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (jsonrpc "1.0.14") (transient "0.3.7"))
;; Keywords: tools, convenience
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; chinwag is a small program that talks to language models (OpenAI,
;; Groq, OpenRouter, Anthropic, Ollama and any OpenAI-compatible
;; endpoint), keeps API keys in an encrypted vault and keeps an
;; encrypted history of every chat.  This package is its Emacs client:
;; Emacs starts the program as a child process, once, the first time a
;; command needs it, and speaks JSON-RPC to it with the built-in
;; `jsonrpc.el'.
;;
;; Install the `chinwag' program first (from a clone of the
;; repository: cargo install --locked --path .) so that it is on
;; `exec-path', or set `chinwag-program'.  Then, with `use-package':
;;
;;   (use-package chinwag
;;     :load-path "/path/to/chinwag/editors/emacs"
;;     :init (require 'chinwag-autoloads)
;;     :bind-keymap ("C-c c" . chinwag-command-map))
;;
;; or, without use-package:
;;
;;   (add-to-list 'load-path "/path/to/chinwag/editors/emacs")
;;   (require 'chinwag-autoloads)
;;   (global-set-key (kbd "C-c c") chinwag-command-map)
;;
;; With Emacs 29 or newer, `package-vc-install' fetches it from Git:
;;
;;   (package-vc-install
;;    '(chinwag :url "https://github.com/chinwag/chinwag"
;;              :lisp-dir "editors/emacs"))
;;
;; With straight.el:
;;
;;   (straight-use-package
;;    '(chinwag :type git :host github :repo "chinwag/chinwag"
;;              :files ("editors/emacs/*.el")))
;;
;; Use:
;;
;;   M-x chinwag                 open (or show) the chat; C-u for a new one
;;   C-c RET (in the chat)       send what you wrote below the last answer
;;   C-c C-k (in the chat)       stop the answer
;;   C-c C-g (in the chat)       show the chat as saved (chinwag-refresh)
;;   M-x chinwag-send-region     send the region, with file and lines
;;   M-x chinwag-ask             ask about the region or the buffer
;;   M-x chinwag-rewrite-region  rewrite the region; accept or reject
;;   C-c C-w / C-c C-y (chat)    copy / apply the code block at point
;;   M-n / M-p (in the chat)     next / previous code block
;;   C-c C-r / C-c C-e (chat)    answer again (C-u: another model) / edit
;;   C-c [ / C-c ] (in the chat) previous / next version of a message
;;   C-c C-v / C-c C-z (chat)    retry a failed turn / show the reasoning
;;   M-x chinwag-select-model    choose the model (C-u: the provider too)
;;   M-x chinwag-history         saved chats: RET R d x e s
;;   M-x chinwag-set-key         store an API key (or use auth-source)
;;   M-x chinwag-unlock / chinwag-lock / chinwag-set-password
;;   M-x chinwag-doctor          what works and what does not
;;   C-c C-a (in the chat)       attach context: b buffer, f file or
;;                               glob, d diagnostics, g git diff, u web
;;                               page, k remove, s send secrets once
;;   M-x chinwag-context-add     attach context to the next message
;;   /NAME at a message's start  apply the preset NAME (C-M-i completes)
;;   M-x chinwag-send elsewhere  send the region or the text before
;;                               point; the answer is written after it
;;   M-x chinwag-inline-open-chat  continue that exchange in a chat
;;   M-x chinwag-trust-project   trust the project's AGENTS.md
;;   M-x chinwag-menu            all of the above in a transient menu
;;
;; `chinwag-command-map' holds these commands on single keys, for
;; binding to a prefix of your choice.  M-x customize-group RET chinwag
;; lists the options.

;;; Code:

(require 'cl-lib)
(eval-when-compile (require 'lisp-mnt))
(require 'chinwag-rpc)
(require 'chinwag-vault)
(require 'chinwag-chat)
(require 'chinwag-region)
(require 'chinwag-rewrite)
(require 'chinwag-history)
(require 'chinwag-presets)
(require 'chinwag-context)
(require 'chinwag-inline)

;; The menu loads transient only when first shown.
(autoload 'chinwag-menu "chinwag-menu" "Show chinwag's commands in a transient menu." t)

;;;###autoload
(defvar chinwag-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map "c" #'chinwag)
    (define-key map "n" #'chinwag-new)
    (define-key map (kbd "RET") #'chinwag-send)
    (define-key map "k" #'chinwag-stop)
    (define-key map "g" #'chinwag-refresh)
    (define-key map "m" #'chinwag-select-model)
    (define-key map "r" #'chinwag-send-region)
    (define-key map "a" #'chinwag-ask)
    (define-key map "w" #'chinwag-rewrite-region)
    (define-key map "y" #'chinwag-copy-code-block)
    (define-key map "A" #'chinwag-apply-code-block)
    (define-key map "h" #'chinwag-history)
    (define-key map "K" #'chinwag-set-key)
    (define-key map "u" #'chinwag-unlock)
    (define-key map "l" #'chinwag-lock)
    (define-key map "d" #'chinwag-doctor)
    (define-key map "t" #'chinwag-menu)
    (define-key map "x" #'chinwag-context-add)
    (define-key map "o" #'chinwag-inline-open-chat)
    (define-key map "T" #'chinwag-trust-project)
    map)
  "Keymap of the chinwag commands, to bind to a prefix key.
For example: (global-set-key (kbd \"C-c c\") chinwag-command-map).")

;;;###autoload
(defun chinwag (&optional new)
  "Open the current chat buffer, or a new one with prefix argument NEW."
  (interactive "P")
  (let ((buffer (chinwag-chat-buffer new)))
    (chinwag-chat-display buffer t)
    buffer))

;;;###autoload
(defun chinwag-restart ()
  "Stop the chinwag backend and start a new one."
  (interactive)
  (chinwag-rpc-shutdown)
  (chinwag-rpc-connection)
  (message "chinwag: backend restarted"))

;;;; Doctor

(defvar package-alist)
(declare-function package-desc-version "package" (desc))
(declare-function package-version-join "package" (vlist))
(declare-function lm-header "lisp-mnt" (header))

(defun chinwag--library-version (library)
  "Return the version of the Lisp LIBRARY from its header, or nil."
  (require 'package)
  (require 'lisp-mnt)
  (let ((installed (cadr (assq (intern library) package-alist)))
        (file (locate-library (concat library ".el"))))
    (cond
     (installed (package-version-join (package-desc-version installed)))
     (file
      (let ((inhibit-message t)
            (message-log-max nil))
        (ignore-errors
          (lm-with-file file
            (or (lm-header "package-version") (lm-header "version")))))))))

(defun chinwag--doctor-line (label value)
  "Insert a line with LABEL and VALUE."
  (insert (format "%-18s %s\n" (if (string-empty-p label) "" (concat label ":"))
                  value)))

(defun chinwag--doctor-insert ()
  "Insert the doctor's report at point."
  (insert "chinwag doctor\n\n")
  (chinwag--doctor-line "Emacs" emacs-version)
  (chinwag--doctor-line "Package" (format "chinwag.el %s" chinwag-version))
  (chinwag--doctor-line "Libraries"
                        (format "jsonrpc %s, transient %s, markdown-mode %s"
                                (or (chinwag--library-version "jsonrpc") "?")
                                (or (chinwag--library-version "transient") "?")
                                (if (fboundp 'markdown-mode)
                                    (if chinwag-use-markdown-mode
                                        "installed (used)"
                                      "installed (not used)")
                                  "not installed (text-mode is used)")))
  (let ((program (executable-find chinwag-program)))
    (chinwag--doctor-line "Backend program"
                          (or program (format "%s: NOT FOUND on exec-path"
                                              chinwag-program)))
    (when program
      (let* ((init (condition-case err (chinwag-rpc-init-result)
                     (error (chinwag--doctor-line "Backend"
                                                  (format "does not start: %s"
                                                          (error-message-string err)))
                            nil)))
             (server (plist-get init :serverInfo))
             (config (plist-get init :config))
             (vault (plist-get init :vault)))
        (when init
          (chinwag--doctor-line
           "Backend" (format "%s %s, protocol %s, pid %s"
                             (plist-get server :name) (plist-get server :version)
                             (plist-get init :protocolVersion)
                             (process-id (chinwag-connection-process
                                          (chinwag-rpc-connection)))))
          (chinwag--doctor-line
           "Config file" (format "%s (%s)%s" (plist-get config :file)
                                 (if (eq (plist-get config :found) t) "found" "not found")
                                 (if (plist-get config :error)
                                     (format "\n%19sERROR: %s" "" (plist-get config :error))
                                   "")))
          (chinwag--doctor-line "Storage" (or (plist-get init :storageError) "ok"))
          (let ((status (or (ignore-errors (chinwag-rpc-request 'vault/status)) vault)))
            (chinwag--doctor-line
             "Vault" (if status
                         (format "%s, protection %s%s, auto-lock %s"
                                 (plist-get status :state)
                                 (plist-get status :protection)
                                 (if (eq (plist-get status :keyFile) t) " + key file" "")
                                 (if (plist-get status :autoLockMinutes)
                                     (format "after %s min"
                                             (plist-get status :autoLockMinutes))
                                   "never"))
                       "unavailable"))
            (when (plist-get status :warning)
              (chinwag--doctor-line "" (plist-get status :warning))))
          (insert "\nProviders:\n")
          (let ((providers (ignore-errors (chinwag-rpc-request 'providers/list))))
            (cl-loop for p across (plist-get providers :providers)
                     do (insert (format "  %-12s %-18s %-40s %s, model %s, key: %s\n"
                                        (plist-get p :name) (plist-get p :kind)
                                        (plist-get p :baseUrl)
                                        (if (eq (plist-get p :local) t) "local" "remote")
                                        (plist-get p :defaultModel)
                                        ;; The backend's own words, as in
                                        ;; `chinwag doctor' and Neovim's health.
                                        (or (plist-get p :keyState)
                                            (plist-get p :keySource)
                                            (if (eq (plist-get p :local) t)
                                                "none needed"
                                              "MISSING")))))
            (when providers
              (insert (format "  default: %s\n" (plist-get providers :default)))))
          (insert "\nKeys:\n")
          (let ((keys (ignore-errors (chinwag-rpc-request 'vault/listKeys))))
            (if (not keys)
                (insert "  (the vault is locked or unavailable)\n")
              (when (zerop (length (plist-get keys :keys)))
                (insert "  none\n"))
              (cl-loop for key across (plist-get keys :keys)
                       do (insert (format "  %-12s %-20s %s\n"
                                          (plist-get key :provider)
                                          (plist-get key :masked)
                                          (if (plist-get key :env)
                                              (format "from $%s" (plist-get key :env))
                                            (plist-get key :source))))))))))))

;;;###autoload
(defun chinwag-doctor ()
  "Show what works and what does not: Emacs, backend, vault, providers, keys."
  (interactive)
  (let ((buffer (get-buffer-create "*chinwag-doctor*")))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (chinwag--doctor-insert)
        (goto-char (point-min)))
      (special-mode))
    (pop-to-buffer buffer)
    buffer))

(provide 'chinwag)
;;; chinwag.el ends here
