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
    ("h" "History" chinwag-history)
    ("o" "Open the chat of an answer here" chinwag-inline-open-chat)]]
  [["Turns and versions (in a chat)"
    ("z" "Answer again" chinwag-regenerate)
    ("Z" "Answer again, by another model" chinwag-regenerate-by-another-model)
    ("v" "Retry a failed turn" chinwag-retry)
    ("e" "Edit a message of yours" chinwag-edit)
    ("E" "Abandon the edit" chinwag-abandon-edit)
    ("[" "Previous version" chinwag-previous-sibling)
    ("]" "Next version" chinwag-next-sibling)
    ("t" "Show or hide reasoning" chinwag-toggle-reasoning)]]
  [["Context for the next message"
    ("x b" "Attach a buffer" chinwag-context-add-buffer)
    ("x f" "Attach a file or glob" chinwag-context-add-file)
    ("x d" "Attach diagnostics" chinwag-context-add-diagnostics)
    ("x g" "Attach the git diff (C-u: staged)" chinwag-context-add-git-diff)
    ("x u" "Attach a web page" chinwag-context-add-url)
    ("x k" "Remove an item" chinwag-context-remove)
    ("x c" "Remove every item" chinwag-context-clear)
    ("x s" "Send secrets once" chinwag-context-allow-secrets)]
   ["Presets and projects"
    ("p r" "Send the region with a preset" chinwag-send-region-with-preset)
    ("p w" "Rewrite the region with a preset" chinwag-rewrite-region-with-preset)
    ("T" "Trust the project's instructions" chinwag-trust-project)]]
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
