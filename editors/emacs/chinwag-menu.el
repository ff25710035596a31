;;; chinwag-menu.el --- A transient menu of the chinwag commands  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; `chinwag-menu' gathers the chinwag commands in a `transient' menu
;; (transient is part of Emacs since 28.1).

;;; Code:

(require 'transient)

;;;###autoload (autoload 'chinwag-menu "chinwag-menu" nil t)
(transient-define-prefix chinwag-menu ()
  "Show the chinwag commands."
  [["Chat"
    ("c" "Open the chat" chinwag)
    ("n" "New chat" chinwag-new)
    ("RET" "Send" chinwag-send)
    ("k" "Stop the answer" chinwag-stop)
    ("g" "Show the chat as saved" chinwag-refresh)
    ("m" "Choose the model" chinwag-select-model)]
   ["Code"
    ("r" "Send the region" chinwag-send-region)
    ("a" "Ask about region or buffer" chinwag-ask)
    ("w" "Rewrite the region" chinwag-rewrite-region)]
   ["Code blocks of the chat"
    ("y" "Copy the block (at point or last)" chinwag-copy-code-block)
    ("A" "Apply it to the code asked about" chinwag-apply-code-block)
    ("b" "Next block" chinwag-next-code-block)
    ("B" "Previous block" chinwag-previous-code-block)]
   ["Saved chats"
    ("h" "History" chinwag-history)]]
  [["Turns and versions (in a chat)"
    ("z" "Answer again" chinwag-regenerate)
    ("Z" "Answer again, by another model" chinwag-regenerate-by-another-model)
    ("v" "Retry a failed turn" chinwag-retry)
    ("e" "Edit a message of yours" chinwag-edit)
    ("E" "Abandon the edit" chinwag-abandon-edit)
    ("[" "Previous version" chinwag-previous-sibling)
    ("]" "Next version" chinwag-next-sibling)
    ("T" "Show or hide reasoning" chinwag-toggle-reasoning)]]
  [["Keys and vault"
    ("K" "Store an API key" chinwag-set-key)
    ("D" "Delete an API key" chinwag-delete-key)
    ("u" "Unlock the vault" chinwag-unlock)
    ("l" "Lock the vault" chinwag-lock)
    ("P" "Set the vault password" chinwag-set-password)]
   ["Backend"
    ("d" "Doctor" chinwag-doctor)
    ("R" "Restart the backend" chinwag-restart)]])

(provide 'chinwag-menu)
;;; chinwag-menu.el ends here
