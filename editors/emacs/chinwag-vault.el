;;; chinwag-vault.el --- API keys, the vault password and auth-source  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; The backend keeps API keys encrypted in its vault.  This file gives
;; the commands to store a key (`chinwag-set-key', read with
;; `read-passwd' or taken from `auth-source'), to lock and unlock the
;; vault and to set its password.
;;
;; It also wraps requests so that a locked vault or a missing key does
;; not just fail: when the backend answers "vault locked" (1001) the
;; password is asked for once, however many requests were waiting, the
;; vault is unlocked and the requests are sent again; when it answers
;; "key missing" (1005) the key is taken from `auth-source' (when
;; `chinwag-auth-source' allows) or asked for, stored, and the request
;; is sent again.  Passwords and keys never reach a log.

;;; Code:

(require 'cl-lib)
(require 'chinwag-rpc)

(declare-function auth-source-search "auth-source" (&rest spec))

(defcustom chinwag-auth-source nil
  "Whether API keys may come from `auth-source'.
When non-nil, `chinwag-set-key' and a chat whose provider has no key
first look for an `auth-source' entry (for example in ~/.authinfo.gpg)
whose host is the provider's name, such as

  machine groq password gsk_...

and store that key in the vault; only when there is none do they ask
with `read-passwd'."
  :type 'boolean
  :group 'chinwag)

(defconst chinwag-vault-locked 1001
  "Error code: the vault is locked.")

(defconst chinwag-wrong-password 1002
  "Error code: the password does not open the vault.")

(defconst chinwag-key-missing 1005
  "Error code: no key for the provider.")

(defvar chinwag-vault-status nil
  "The last vault status the backend reported, a plist.")

(defvar chinwag-vault-state-change-functions nil
  "Functions called with the vault status plist when it changes.")

(defvar chinwag-vault--unlocks 0
  "How many times the vault was unlocked from Emacs.
A request refused as locked after an unlock that happened since it was
sent is sent again without asking.")

(defvar chinwag-vault--unlock-waiters nil
  "Requests waiting for the vault password: a list of (RETRY . FAIL).")

(defvar chinwag-vault--key-waiters nil
  "Requests waiting for a provider's key: an alist (PROVIDER . WAITERS).")

;;;; Vault state

(defun chinwag-vault--set-status (status)
  "Remember STATUS, the vault status plist, and tell whoever listens."
  (setq chinwag-vault-status status)
  (run-hook-with-args 'chinwag-vault-state-change-functions status))

(defun chinwag-vault-locked-p ()
  "Return non-nil if the vault was last reported locked."
  (equal (plist-get chinwag-vault-status :state) "locked"))

(defun chinwag-vault--on-state-changed (params)
  "Handle the `vault/stateChanged' notification with PARAMS."
  (chinwag-rpc-log "vault %s" (plist-get params :state))
  (chinwag-vault--set-status params)
  (when (equal (plist-get params :state) "locked")
    (message "chinwag: the vault locked itself; it asks for the password when needed")))

(defun chinwag-vault--on-start (init)
  "Take the vault status from the `initialize' result INIT."
  (chinwag-vault--set-status (plist-get init :vault)))

(setf (alist-get 'vault/stateChanged chinwag-rpc-notification-functions)
      #'chinwag-vault--on-state-changed)
(add-hook 'chinwag-rpc-start-functions #'chinwag-vault--on-start)

;;;; Asking for the password

(defun chinwag-vault--read-password (prompt)
  "Read a password with PROMPT, or return nil if the user quits."
  (let ((password (with-local-quit (read-passwd prompt))))
    (and (stringp password) (not (string-empty-p password)) password)))

(defun chinwag-vault--unlock-interactively ()
  "Ask for the vault password and unlock the vault, with three attempts.
Return nil on success, or the error plist to report."
  (let ((prompt "chinwag vault password: ")
        (tries 3)
        (failure nil)
        (done nil))
    (while (and (not done) (> tries 0))
      (setq tries (1- tries))
      (let ((password (chinwag-vault--read-password prompt)))
        (if (not password)
            (setq done t
                  failure (list :code chinwag-vault-locked
                                :message "the vault is locked (no password given)"))
          (let ((answer (chinwag-rpc-call 'vault/unlock (list :password password))))
            (clear-string password)
            (cond
             ((plist-member answer :result)
              (setq chinwag-vault--unlocks (1+ chinwag-vault--unlocks))
              (chinwag-vault--set-status (plist-get answer :result))
              (chinwag-rpc-log "vault unlocked")
              (setq done t failure nil))
             ((eql (plist-get (plist-get answer :error) :code) chinwag-wrong-password)
              (setq failure (plist-get answer :error)
                    prompt "Wrong password; chinwag vault password: "))
             (t (setq done t failure (plist-get answer :error))))))))
    failure))

(defun chinwag-vault--resume-unlock-waiters ()
  "Ask for the password once, then resume or fail every waiting request."
  (let ((failure (chinwag-vault--unlock-interactively))
        (waiters (reverse chinwag-vault--unlock-waiters)))
    (setq chinwag-vault--unlock-waiters nil)
    (dolist (waiter waiters)
      (if failure
          (funcall (cdr waiter) failure)
        (funcall (car waiter))))))

(defun chinwag-vault-await-unlock (retry fail)
  "Call RETRY once the vault is unlocked, or FAIL with an error plist.
The password is asked for once, from a timer, whatever the number of
requests waiting."
  (push (cons retry fail) chinwag-vault--unlock-waiters)
  (unless (cdr chinwag-vault--unlock-waiters)
    (run-at-time 0 nil #'chinwag-vault--resume-unlock-waiters)))

;;;; Keys

(defun chinwag-vault--auth-source-key (provider)
  "Return the key for PROVIDER from `auth-source', or nil."
  (when chinwag-auth-source
    ;; Loaded only when asked for: it brings EIEIO classes and caches that would
    ;; otherwise sit in every session's heap (and lengthen every GC).
    (require 'auth-source)
    (let* ((found (car (auth-source-search :host provider :max 1
                                           :require '(:secret))))
           (secret (plist-get found :secret)))
      (when (functionp secret)
        (setq secret (funcall secret)))
      ;; A copy: the caller clears it, and auth-source may cache the original.
      (and (stringp secret) (not (string-empty-p secret)) (copy-sequence secret)))))

(defun chinwag-vault--store-key (provider key)
  "Store KEY for PROVIDER in the vault; return (:result R) or (:error E)."
  (let ((answer (chinwag-rpc-call 'vault/setKey
                                  (list :provider provider :key key))))
    ;; A locked vault: ask for the password, then store the key.
    (when (eql (plist-get (plist-get answer :error) :code) chinwag-vault-locked)
      (let ((failure (chinwag-vault--unlock-interactively)))
        (setq answer (if failure
                         (list :error failure)
                       (chinwag-rpc-call 'vault/setKey
                                         (list :provider provider :key key))))))
    answer))

(defun chinwag-vault--obtain-key (provider)
  "Find or ask for PROVIDER's key and store it.
Return nil on success or the error plist to report."
  (let* ((from-auth-source (chinwag-vault--auth-source-key provider))
         (key (or from-auth-source
                  (chinwag-vault--read-password
                   (format "No API key for %s; enter it (stored in the vault): "
                           provider)))))
    (if (not key)
        (list :code chinwag-key-missing
              :message (format "no key for %s" provider))
      (let ((answer (chinwag-vault--store-key provider key)))
        (clear-string key)
        (if (plist-member answer :result)
            (progn
              (chinwag-rpc-log "stored the key for %s (%s)" provider
                               (if from-auth-source "from auth-source" "typed"))
              nil)
          (plist-get answer :error))))))

(defun chinwag-vault--resume-key-waiters (provider)
  "Obtain PROVIDER's key once, then resume or fail the requests waiting for it."
  (let ((failure (chinwag-vault--obtain-key provider))
        (waiters (reverse (alist-get provider chinwag-vault--key-waiters
                                     nil nil #'equal))))
    (setf (alist-get provider chinwag-vault--key-waiters nil t #'equal) nil)
    (dolist (waiter waiters)
      (if failure
          (funcall (cdr waiter) failure)
        (funcall (car waiter))))))

(defun chinwag-vault-await-key (provider retry fail)
  "Call RETRY once PROVIDER has a key, or FAIL with an error plist."
  (let ((waiting (alist-get provider chinwag-vault--key-waiters nil nil #'equal)))
    (setf (alist-get provider chinwag-vault--key-waiters nil nil #'equal)
          (cons (cons retry fail) waiting))
    (unless waiting
      (run-at-time 0 nil #'chinwag-vault--resume-key-waiters provider))))

;;;; Requests that recover from a locked vault or a missing key

(defun chinwag-vault--recoverable (error tried)
  "Return the recovery ERROR needs, unless TRIED already has it.
The recovery is `unlock', (key . PROVIDER) or nil."
  (let ((code (plist-get error :code)))
    (cond
     ((and (eql code chinwag-vault-locked) (not (memq 'unlock tried)))
      'unlock)
     ((and (eql code chinwag-key-missing) (not (memq 'key tried)))
      (let ((provider (plist-get (plist-get error :data) :provider)))
        (and (stringp provider) (cons 'key provider)))))))

(defun chinwag-request (method &optional params timeout)
  "Call METHOD with PARAMS and return the result, unlocking the vault if asked.
A locked vault makes this ask for the password once and retry; a
missing key is looked up or asked for, then the call is retried.
Other errors signal a `user-error'.  TIMEOUT as in `chinwag-rpc-call'."
  (let ((tried nil)
        (result nil)
        (done nil))
    (while (not done)
      (let* ((answer (chinwag-rpc-call method params timeout))
             (error (plist-get answer :error))
             (recovery (and error (chinwag-vault--recoverable error tried))))
        (cond
         ((not error) (setq result (plist-get answer :result) done t))
         ((eq recovery 'unlock)
          (push 'unlock tried)
          (let ((failure (chinwag-vault--unlock-interactively)))
            (when failure
              (user-error "%s" (chinwag-rpc-error-message failure)))))
         ((consp recovery)
          (push 'key tried)
          (let ((failure (chinwag-vault--obtain-key (cdr recovery))))
            (when failure
              (user-error "%s" (chinwag-rpc-error-message failure)))))
         (t
          (chinwag-rpc-log "%s failed: %s %s" method (plist-get error :code)
                           (plist-get error :message))
          (user-error "%s" (chinwag-rpc-error-message error))))))
    result))

(cl-defun chinwag-async-request (method params &key on-success on-error
                                        (timeout chinwag-request-timeout)
                                        abandoned)
  "Call METHOD with PARAMS without waiting; recover from a locked vault.
Like `chinwag-rpc-async' (ON-SUCCESS, ON-ERROR and TIMEOUT are the
same), but a locked vault or a missing key is dealt with as in
`chinwag-request' before ON-ERROR would be called.  ABANDONED, a
function, is asked before the request is sent again: if it returns
non-nil, ON-ERROR gets a cancellation (code -32800) instead."
  (let ((tried nil)
        (attempt nil)
        (retry nil))
    (setq retry
          (lambda ()
            (if (and abandoned (funcall abandoned))
                (when on-error
                  (funcall on-error (list :code -32800 :message "cancelled")))
              (funcall attempt))))
    (setq attempt
          (lambda ()
            (let ((unlocks chinwag-vault--unlocks))
              (chinwag-rpc-async
               method params
               :timeout timeout
               :on-success on-success
               :on-error
               (lambda (error)
                 (let ((recovery (chinwag-vault--recoverable error tried))
                       (fail (lambda (failure)
                               (when on-error (funcall on-error failure)))))
                   (cond
                    ((and (eq recovery 'unlock) (> chinwag-vault--unlocks unlocks))
                     ;; Unlocked since this was sent: no need to ask again.
                     (push 'unlock tried)
                     (funcall retry))
                    ((eq recovery 'unlock)
                     (push 'unlock tried)
                     (chinwag-vault-await-unlock retry fail))
                    ((consp recovery)
                     (push 'key tried)
                     (chinwag-vault-await-key (cdr recovery) retry fail))
                    (t (funcall fail error)))))))))
    (funcall attempt)))

;;;; Commands

(defun chinwag-vault--provider-names ()
  "Return the names of the providers the backend knows."
  (let* ((result (chinwag-request 'providers/list))
         (names (mapcar (lambda (provider) (plist-get provider :name))
                        (plist-get result :providers))))
    (if (member "gemini" names) names (append names '("gemini")))))

;;;###autoload
(defun chinwag-set-key (provider &optional ask)
  "Store an API key for PROVIDER in the chinwag vault.
The key comes from `auth-source' when `chinwag-auth-source' is non-nil
and an entry whose host is PROVIDER exists, unless ASK (the prefix
argument) is non-nil; otherwise it is read with `read-passwd'.  When
called interactively and auth-source has a key, it asks whether to store
that one or to type another.  The key is never echoed or logged."
  (interactive
   (let ((provider (completing-read "Provider: " (chinwag-vault--provider-names)
                                    nil t)))
     (list provider
           (or current-prefix-arg
               (and chinwag-auth-source
                    (let ((found (chinwag-vault--auth-source-key provider)))
                      (when found
                        (clear-string found)
                        (not (y-or-n-p
                              (format "Store the auth-source key for %s (n: type another)? "
                                      provider))))))))))
  (let* ((from-auth-source (and (not ask) (chinwag-vault--auth-source-key provider)))
         (key (or from-auth-source
                  (chinwag-vault--read-password
                   (format "API key for %s: " provider)))))
    (unless key
      (user-error "No key given"))
    (let ((answer (chinwag-vault--store-key provider key)))
      (clear-string key)
      (if (plist-member answer :result)
          (let ((result (plist-get answer :result)))
            (chinwag-rpc-log "stored the key for %s" provider)
            (message "chinwag: stored the key for %s (%s)%s" provider
                     (plist-get result :masked)
                     (if from-auth-source ", from auth-source" ""))
            result)
        (user-error "%s"
                    (chinwag-rpc-error-message (plist-get answer :error)))))))

;;;###autoload
(defun chinwag-delete-key (provider &optional no-confirm)
  "Delete the API key stored for PROVIDER, after asking for confirmation.
With NO-CONFIRM non-nil, do not ask."
  (interactive
   (list (completing-read "Delete the key of provider: "
                          (mapcar (lambda (key) (plist-get key :provider))
                                  (plist-get (chinwag-request 'vault/listKeys) :keys))
                          nil t)))
  (unless (or no-confirm
              (yes-or-no-p (format "Delete the API key stored for %s? " provider)))
    (user-error "Nothing deleted"))
  (let ((result (chinwag-request 'vault/deleteKey (list :provider provider))))
    (message (if (eq (plist-get result :deleted) t)
                 "chinwag: deleted the key for %s"
               "chinwag: there was no key for %s")
             provider)
    result))

;;;###autoload
(defun chinwag-unlock ()
  "Unlock the chinwag vault with its password."
  (interactive)
  (let ((status (chinwag-request 'vault/status)))
    (chinwag-vault--set-status status)
    (if (not (equal (plist-get status :state) "locked"))
        (message "chinwag: the vault is already unlocked")
      (let ((failure (chinwag-vault--unlock-interactively)))
        (when failure
          (user-error "%s" (chinwag-rpc-error-message failure)))
        (message "chinwag: vault unlocked")))
    chinwag-vault-status))

;;;###autoload
(defun chinwag-lock ()
  "Lock the chinwag vault, so that the backend forgets the keys in memory."
  (interactive)
  (let ((status (chinwag-request 'vault/lock)))
    (chinwag-vault--set-status status)
    (message (if (equal (plist-get status :state) "locked")
                 "chinwag: vault locked"
               "chinwag: the vault has no password, so it opens itself when used; \
set one with `chinwag-set-password'"))
    status))

;;;###autoload
(defun chinwag-set-password ()
  "Set or change the password protecting the chinwag vault."
  (interactive)
  (let* ((status (chinwag-request 'vault/status))
         (current (and (equal (plist-get status :protection) "password")
                       (or (chinwag-vault--read-password "Current vault password: ")
                           (user-error "No password given"))))
         (new (with-local-quit (read-passwd "New vault password: "))))
    (unless (and (stringp new) (>= (length new) 8))
      (when current (clear-string current))
      (when (stringp new) (clear-string new))
      (user-error "The password needs at least 8 characters"))
    (let ((again (with-local-quit (read-passwd "Confirm the new vault password: "))))
      (unless (equal again new)
        (when current (clear-string current))
        (clear-string new)
        (when (stringp again) (clear-string again))
        (user-error "The passwords differ; nothing changed"))
      (clear-string again))
    (unwind-protect
        (chinwag-vault--set-status
         (chinwag-request 'vault/setPassword
                          (chinwag-rpc-compact :current current :new new)))
      (when current (clear-string current))
      (clear-string new))
    (message "chinwag: vault password set")
    chinwag-vault-status))

(provide 'chinwag-vault)
;;; chinwag-vault.el ends here
