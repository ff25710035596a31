;;; chinwag-history.el --- Browse, search and manage saved chinwag chats  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; `chinwag-history' lists the saved chats, newest first, in a
;; `tabulated-list-mode' buffer:
;;
;;   RET  open the chat (a new message continues it where it stopped)
;;   R    rename it
;;   d    flag it for deletion, u removes the flag
;;   x    delete the flagged chats (or the one at point), after asking
;;   e    export it to a Markdown file (with a prefix argument, JSON)
;;   s    search titles and contents (an empty search lists all again)
;;   g    refresh

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'tabulated-list)
(require 'parse-time)
(require 'chinwag-chat)

(defcustom chinwag-history-limit 500
  "How many chats `chinwag-history' lists at most (the backend allows 500)."
  :type 'integer
  :group 'chinwag)

(defvar-local chinwag-history--query nil
  "The search this history buffer shows, or nil for all chats.")

(defvar-local chinwag-history--titles nil
  "Alist of (CHAT-ID . TITLE) for the chats listed.")

(defvar chinwag-history-mode-map
  (let ((map (make-sparse-keymap)))
    (set-keymap-parent map tabulated-list-mode-map)
    (define-key map (kbd "RET") #'chinwag-history-open)
    (define-key map "R" #'chinwag-history-rename)
    (define-key map "d" #'chinwag-history-flag)
    (define-key map "u" #'chinwag-history-unflag)
    (define-key map "x" #'chinwag-history-delete)
    (define-key map "e" #'chinwag-history-export)
    (define-key map "s" #'chinwag-history-search)
    map)
  "Keymap for `chinwag-history-mode'.")

(define-derived-mode chinwag-history-mode tabulated-list-mode "Chinwag History"
  "Major mode listing saved chinwag chats.

\\{chinwag-history-mode-map}"
  (setq tabulated-list-padding 2)
  (add-hook 'tabulated-list-revert-hook #'chinwag-history--refresh nil t))

(defun chinwag-history--time (string)
  "Format the RFC 3339 time STRING in local time, briefly."
  (condition-case nil
      (format-time-string "%Y-%m-%d %H:%M" (parse-iso8601-time-string string))
    (error (or string ""))))

(defun chinwag-history--refresh ()
  "Fetch the list (or the search results) again."
  (if chinwag-history--query
      (let ((results (plist-get (chinwag-request 'history/search
                                                 (list :query chinwag-history--query
                                                       :limit chinwag-history-limit))
                                :results))
            (seen nil))
        (setq tabulated-list-format [("Title" 36 t) ("Match" 50 nil) ("Updated" 16 t)])
        (setq chinwag-history--titles nil)
        (setq tabulated-list-entries
              (cl-loop for result across results
                       for id = (plist-get result :chatId)
                       unless (member id seen)
                       do (push id seen)
                       and do (push (cons id (plist-get result :title))
                                    chinwag-history--titles)
                       and collect
                       (list id (vector (or (plist-get result :title) "")
                                        (replace-regexp-in-string
                                         "[\n\t]+" " "
                                         (or (plist-get result :snippet) ""))
                                        (chinwag-history--time
                                         (plist-get result :updatedAt))))))
        (setq mode-line-process (format " [search: %s]" chinwag-history--query))
        (tabulated-list-init-header))
    (let ((chats (plist-get (chinwag-request 'history/list
                                             (list :limit chinwag-history-limit))
                            :chats)))
      (setq tabulated-list-format [("Title" 40 t) ("Provider" 12 t) ("Model" 26 t)
                                   ("Msgs" 5 chinwag-history--sort-count
                                    :right-align t)
                                   ("Updated" 16 t)])
      (setq chinwag-history--titles nil)
      (setq tabulated-list-entries
            (cl-loop for chat across chats
                     for id = (plist-get chat :id)
                     do (push (cons id (plist-get chat :title)) chinwag-history--titles)
                     collect (list id (vector (or (plist-get chat :title) "")
                                              (or (plist-get chat :provider) "")
                                              (or (plist-get chat :model) "")
                                              (number-to-string
                                               (or (plist-get chat :messageCount) 0))
                                              (chinwag-history--time
                                               (plist-get chat :updatedAt))))))
      (setq mode-line-process nil)
      (tabulated-list-init-header))))

(defun chinwag-history--sort-count (a b)
  "Return non-nil if entry A has fewer messages than entry B."
  (< (string-to-number (aref (cadr a) 3)) (string-to-number (aref (cadr b) 3))))

(defun chinwag-history--show ()
  "Refresh and redraw the list, keeping point on the same chat if it is there."
  (chinwag-history--refresh)
  (tabulated-list-print t))

;;;###autoload
(defun chinwag-history ()
  "List the saved chats."
  (interactive)
  (let ((buffer (get-buffer-create "*chinwag-history*")))
    (with-current-buffer buffer
      (unless (derived-mode-p 'chinwag-history-mode)
        (chinwag-history-mode))
      (chinwag-history--show))
    (pop-to-buffer buffer)
    buffer))

(defun chinwag-history--id ()
  "Return the id of the chat at point, or signal an error."
  (or (tabulated-list-get-id)
      (user-error "No chat on this line")))

(defun chinwag-history--title (id)
  "Return the title of the chat ID."
  (or (cdr (assoc id chinwag-history--titles)) ""))

(defun chinwag-history-open ()
  "Open the chat at point; a new message continues it."
  (interactive)
  (let ((buffer (chinwag-chat-open-saved (chinwag-history--id))))
    (chinwag-chat-display buffer t)
    buffer))

(defun chinwag-history-rename (title)
  "Rename the chat at point to TITLE."
  (interactive
   (let ((old (chinwag-history--title (chinwag-history--id))))
     (list (read-string (format-prompt "Rename to" old) nil nil old))))
  (let ((id (chinwag-history--id)))
    (when (string-blank-p title)
      (user-error "The title is empty"))
    (chinwag-request 'history/rename (list :chatId id :title title))
    (chinwag-chat-retitle id title)
    (chinwag-history--show)
    (message "chinwag: renamed to %s" title)))

(defun chinwag-history-flag ()
  "Flag the chat at point for deletion with \\<chinwag-history-mode-map>\\[chinwag-history-delete]."
  (interactive)
  (chinwag-history--id)
  (tabulated-list-put-tag "D" t))

(defun chinwag-history-unflag ()
  "Remove the deletion flag from the chat at point."
  (interactive)
  (chinwag-history--id)
  (tabulated-list-put-tag " " t))

(defun chinwag-history--flagged ()
  "Return the ids of the chats flagged for deletion."
  (let (ids)
    (save-excursion
      (goto-char (point-min))
      (while (not (eobp))
        (when (and (eq (char-after) ?D) (tabulated-list-get-id))
          (push (tabulated-list-get-id) ids))
        (forward-line 1)))
    (nreverse ids)))

(defun chinwag-history-delete ()
  "Delete the flagged chats, or the chat at point if none is flagged."
  (interactive)
  (let* ((ids (or (chinwag-history--flagged) (list (chinwag-history--id))))
         (count (length ids)))
    (when (yes-or-no-p (if (= count 1)
                           (format "Delete the chat \"%s\"? "
                                   (chinwag-history--title (car ids)))
                         (format "Delete %d chats? " count)))
      (dolist (id ids)
        (chinwag-request 'history/delete (list :chatId id))
        (chinwag-chat-forget id "deleted from history"))
      (chinwag-history--show)
      (message "chinwag: deleted %d chat%s" count (if (= count 1) "" "s")))))

(defun chinwag-history--file-name (title extension)
  "Return a file name in the home folder for TITLE with EXTENSION."
  (let ((base (replace-regexp-in-string "[^[:alnum:]]+" "-" (downcase title))))
    (format "~/chinwag-%s.%s"
            (string-trim (truncate-string-to-width base 40) "-+" "-+")
            extension)))

(defun chinwag-history-export (file &optional json)
  "Export the chat at point to FILE, as Markdown or, with JSON, as JSON.
The backend only writes inside the home folder."
  (interactive
   (let* ((json current-prefix-arg)
          (default (chinwag-history--file-name
                    (chinwag-history--title (chinwag-history--id))
                    (if json "json" "md"))))
     (list (read-file-name (format-prompt "Export to" default) "~/" default nil
                           (file-name-nondirectory default))
           json)))
  (let* ((id (chinwag-history--id))
         (path (expand-file-name file))
         (overwrite (and (file-exists-p path)
                         (or (y-or-n-p (format "%s exists; replace it? " path))
                             (user-error "Not exported")))))
    (let ((result (chinwag-request 'history/export
                                   (list :chatId id
                                         :format (if json "json" "markdown")
                                         :path path
                                         :overwrite (if overwrite t :json-false)))))
      (message "chinwag: exported to %s" (plist-get result :path))
      result)))

(defun chinwag-history-search (query)
  "Show the chats with QUERY in their title or content; list all if empty."
  (interactive (list (read-string "Search chats: " chinwag-history--query)))
  (setq chinwag-history--query (if (string-blank-p query) nil query))
  (chinwag-history--show)
  (goto-char (point-min))
  (when chinwag-history--query
    (let ((count (length tabulated-list-entries)))
      (message "chinwag: %d chat%s found; s with nothing lists all"
               count (if (= count 1) "" "s")))))

(provide 'chinwag-history)
;;; chinwag-history.el ends here
