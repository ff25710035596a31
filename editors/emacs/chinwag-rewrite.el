;;; chinwag-rewrite.el --- Rewrite a region with a model, then accept or reject  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors

;; Author: The chinwag authors
;; URL: https://github.com/chinwag/chinwag
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; `chinwag-rewrite-region' asks the model to rewrite the region as
;; instructed.  The backend answers with the new code only; it is shown
;; in place as a diff: the old text struck through, the new text below
;; it.  Nothing in the buffer changes until the rewrite is accepted
;; with `chinwag-rewrite-accept' (C-c C-c while it is shown);
;; `chinwag-rewrite-reject' (C-c C-k) drops it.  Accepting is one undo
;; step.  `chinwag-stop' in the buffer stops a rewrite being written.
;;
;; `chinwag-apply-code-block' (C-c C-y in a chat) shows a code block of
;; the chat the same way, against the region that was sent to the chat
;; as context (`chinwag-send-region', `chinwag-ask').

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'chinwag-chat)
(require 'chinwag-region)
(require 'chinwag-presets)

(defface chinwag-rewrite-pending '((t :inherit secondary-selection))
  "Face of a region while its rewrite is being written."
  :group 'chinwag)

(defface chinwag-rewrite-removed
  '((((class color)) :inherit diff-removed :strike-through t)
    (t :strike-through t))
  "Face of the text a proposed rewrite would replace."
  :group 'chinwag)

(defface chinwag-rewrite-added '((((class color)) :inherit diff-added)
                                 (t :underline t))
  "Face of the text a proposed rewrite would insert."
  :group 'chinwag)

(cl-defstruct (chinwag-rewrite--job (:constructor chinwag-rewrite--make-job)
                                    (:copier nil))
  "A rewrite of a region.
STATE is `waiting' (being written), `proposed' (shown, to accept or
reject), `cancelled' (stopped while being written) or `done'."
  buffer overlay original text chat-id (chars 0) (state 'waiting))

(defvar-local chinwag-rewrite--job nil
  "The rewrite of a region of this buffer, if any.")

(defvar chinwag-rewrite--waiting nil
  "Rewrite jobs being written whose chat id is not known yet, oldest first.
`chat/rewrite' names its chat only in its result; the first delta of an
unknown chat is taken to belong to the oldest of these.")

(defvar chinwag-rewrite-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'chinwag-rewrite-accept)
    (define-key map (kbd "C-c C-k") #'chinwag-rewrite-reject)
    map)
  "Keymap active while a rewrite is being written or shown.")

(defun chinwag-rewrite--lighter ()
  "Return the mode line text of this buffer's rewrite."
  (let ((job chinwag-rewrite--job))
    (cond
     ((null job) "")
     ((eq (chinwag-rewrite--job-state job) 'waiting)
      (format " Rewriting[%d chars]" (chinwag-rewrite--job-chars job)))
     (t " Rewrite?"))))

(define-minor-mode chinwag-rewrite-mode
  "Minor mode active while a rewrite is being written or shown here.
While the rewrite is written, the mode line shows its progress.
\\<chinwag-rewrite-mode-map>
\\[chinwag-rewrite-reject] stops it, or rejects it once it is shown;
\\[chinwag-rewrite-accept] accepts it."
  :lighter (:eval (chinwag-rewrite--lighter))
  :keymap chinwag-rewrite-mode-map)

(defun chinwag-rewrite--claim-delta (params)
  "Count the delta PARAMS if it belongs to a rewrite; return non-nil if so."
  (let* ((chat-id (plist-get params :chatId))
         (job (or (cl-find chat-id chinwag-rewrite--waiting
                           :key #'chinwag-rewrite--job-chat-id :test #'equal)
                  (cl-find nil chinwag-rewrite--waiting
                           :key #'chinwag-rewrite--job-chat-id))))
    (when job
      (unless (chinwag-rewrite--job-chat-id job)
        (setf (chinwag-rewrite--job-chat-id job) chat-id)
        ;; Stopped before its first delta: now it can be cancelled.
        (when (eq (chinwag-rewrite--job-state job) 'cancelled)
          (chinwag-rpc-notify 'chat/cancel (list :chatId chat-id))))
      (setf (chinwag-rewrite--job-chars job)
            (+ (chinwag-rewrite--job-chars job)
               (length (plist-get params :delta))))
      (let ((buffer (chinwag-rewrite--job-buffer job)))
        (when (buffer-live-p buffer)
          (with-current-buffer buffer (force-mode-line-update))))
      t)))

(add-hook 'chinwag-chat-unclaimed-delta-functions #'chinwag-rewrite--claim-delta)

(defun chinwag-rewrite--finish (job &optional state)
  "Forget JOB: its overlay and its minor mode; set its STATE (default `done').
A job in state `cancelled' stays registered until its request ends, so
its deltas are recognised."
  (setf (chinwag-rewrite--job-state job) (or state 'done))
  (unless (eq state 'cancelled)
    (setq chinwag-rewrite--waiting (delq job chinwag-rewrite--waiting)))
  (let ((buffer (chinwag-rewrite--job-buffer job)))
    (delete-overlay (chinwag-rewrite--job-overlay job))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (when (eq chinwag-rewrite--job job)
          (setq chinwag-rewrite--job nil)
          (chinwag-rewrite-mode -1))))))

(defun chinwag-rewrite--fit (text original)
  "Return TEXT ending in a newline exactly when ORIGINAL does."
  (let ((text (string-remove-suffix "\n" text)))
    (if (string-suffix-p "\n" original) (concat text "\n") text)))

(defun chinwag-rewrite--propose (job text)
  "Show TEXT as the proposed rewrite of JOB's region."
  (setq chinwag-rewrite--waiting (delq job chinwag-rewrite--waiting))
  (let ((buffer (chinwag-rewrite--job-buffer job))
        (overlay (chinwag-rewrite--job-overlay job)))
    (if (not (and (buffer-live-p buffer) (overlay-buffer overlay)))
        (chinwag-rewrite--finish job)
      (let* ((original (chinwag-rewrite--job-original job))
             (new (chinwag-rewrite--fit text original))
             (shown (concat (if (string-suffix-p "\n" original) "" "\n")
                            new
                            (if (string-suffix-p "\n" new) "" "\n"))))
        (setf (chinwag-rewrite--job-text job) new
              (chinwag-rewrite--job-state job) 'proposed)
        (overlay-put overlay 'face 'chinwag-rewrite-removed)
        (overlay-put overlay 'after-string
                     (propertize shown 'face 'chinwag-rewrite-added))
        (with-current-buffer buffer
          (chinwag-rewrite-mode 1))
        (message "chinwag: rewrite ready in %s: %s accepts, %s rejects"
                 (buffer-name buffer)
                 (with-current-buffer buffer
                   (substitute-command-keys "\\[chinwag-rewrite-accept]"))
                 (with-current-buffer buffer
                   (substitute-command-keys "\\[chinwag-rewrite-reject]")))))))

;;;###autoload
(defun chinwag-rewrite-region (beg end instruction &optional preset)
  "Ask for a rewrite of the region from BEG to END following INSTRUCTION.
With PRESET, the name of a preset (a prefix argument reads it), the
preset's provider, model and system prompt are used, and its
instruction when INSTRUCTION is empty.  An INSTRUCTION that starts with
/NAME names the preset too (TAB completes it at the prompt).  The
proposal is shown in place; nothing changes until it is accepted with
\\[chinwag-rewrite-accept] or dropped with \\[chinwag-rewrite-reject]."
  (interactive
   (if (use-region-p)
       (let ((preset (and current-prefix-arg
                          (chinwag-read-preset "Rewrite with preset: "))))
         (list (region-beginning) (region-end)
               (if preset
                   (read-string "Instruction (empty: the preset's own): ")
                 (chinwag-presets-read-string "Rewrite instruction: "))
               preset))
     (user-error "Select the code to rewrite first")))
  (let ((parsed (and (not preset) (chinwag-presets-parse instruction))))
    (when (and parsed (chinwag-preset (car parsed)))
      (setq preset (car parsed)
            instruction (cdr parsed))))
  (when (and (string-blank-p instruction) (not preset))
    (user-error "No instruction"))
  (when chinwag-rewrite--job
    (user-error "A rewrite is already pending here; accept or reject it first"))
  (let* ((context (chinwag-region-context beg end))
         (overlay (make-overlay beg end nil nil nil))
         (job (chinwag-rewrite--make-job :buffer (current-buffer)
                                         :overlay overlay
                                         :original (plist-get context :text))))
    (overlay-put overlay 'face 'chinwag-rewrite-pending)
    (overlay-put overlay 'chinwag-rewrite t)
    (setq chinwag-rewrite--job job)
    (setq chinwag-rewrite--waiting (append chinwag-rewrite--waiting (list job)))
    (deactivate-mark)
    (chinwag-rewrite-mode 1)
    (message "chinwag: rewriting... (%s stops it)"
             (substitute-command-keys "\\<chinwag-rewrite-mode-map>\\[chinwag-rewrite-reject]"))
    (condition-case err
        (chinwag-async-request
         'chat/rewrite
         (chinwag-rpc-compact :instruction instruction
                              :region context
                              :provider chinwag-provider
                              :model chinwag-model
                              :preset preset)
         :timeout nil
         :abandoned (lambda () (not (eq (chinwag-rewrite--job-state job) 'waiting)))
         :on-success
         (lambda (result)
           (setq chinwag-rewrite--waiting (delq job chinwag-rewrite--waiting))
           (when (eq (chinwag-rewrite--job-state job) 'waiting)
             (setf (chinwag-rewrite--job-chat-id job) (plist-get result :chatId))
             (chinwag-rewrite--propose job (plist-get result :text))))
         :on-error
         (lambda (error)
           (setq chinwag-rewrite--waiting (delq job chinwag-rewrite--waiting))
           (when (eq (chinwag-rewrite--job-state job) 'waiting)
             (chinwag-rewrite--finish job)
             (unless (eql (plist-get error :code) -32800)
               (message "chinwag: the rewrite failed: %s"
                        (chinwag-rpc-error-message error))))))
      (error
       (chinwag-rewrite--finish job)
       (signal (car err) (cdr err))))
    job))

(defun chinwag-rewrite-propose (buffer beg end text)
  "Show TEXT as the proposed new text from BEG to END in BUFFER.
It is shown as a rewrite is, to accept with \\<chinwag-rewrite-mode-map>\\[chinwag-rewrite-accept] or reject with \\[chinwag-rewrite-reject].
Return the job."
  (with-current-buffer buffer
    (when chinwag-rewrite--job
      (user-error "A rewrite is already pending in %s; accept or reject it first"
                  (buffer-name)))
    (let* ((overlay (make-overlay beg end nil nil nil))
           (job (chinwag-rewrite--make-job
                 :buffer buffer :overlay overlay
                 :original (buffer-substring-no-properties beg end))))
      (overlay-put overlay 'chinwag-rewrite t)
      (setq chinwag-rewrite--job job)
      (chinwag-rewrite--propose job text)
      job)))

;;;###autoload
(defun chinwag-apply-code-block ()
  "Propose the chat's code block at point as the new text of the code asked about.
The code asked about is the region sent as context with the chat's
last message that had one (`chinwag-send-region', `chinwag-ask').  The
block is the one at point, or else the last one of the answers.  It is
shown in that region's buffer as a rewrite is: accept it with
\\<chinwag-rewrite-mode-map>\\[chinwag-rewrite-accept], reject it with \\[chinwag-rewrite-reject].
In a chat buffer this is \\<chinwag-chat-mode-map>\\[chinwag-apply-code-block]."
  (interactive)
  (let* ((chat (chinwag-chat-code-buffer))
         (block (chinwag-chat-code-block))
         (text (chinwag-chat-code-block-text block))
         (origin (buffer-local-value 'chinwag-chat--origin chat)))
    (unless origin
      (user-error "No code was sent with the messages of this chat: send a region \
with M-x chinwag-send-region or chinwag-ask first"))
    (pcase-let ((`(,buffer ,start ,end) origin))
      (unless (buffer-live-p buffer)
        (user-error "The buffer this chat was asked about is gone"))
      (with-current-buffer buffer
        (when (equal (buffer-substring-no-properties start end)
                     (chinwag-rewrite--fit text (buffer-substring-no-properties start end)))
          (user-error "The code block is what %s already holds there" (buffer-name))))
      (chinwag-rewrite-propose buffer (marker-position start) (marker-position end) text)
      (pop-to-buffer buffer)
      (goto-char start)
      buffer)))

(defun chinwag-rewrite--current ()
  "Return the proposed rewrite of this buffer, or signal an error."
  (let ((job chinwag-rewrite--job))
    (unless (and job (eq (chinwag-rewrite--job-state job) 'proposed))
      (user-error (if (and job (eq (chinwag-rewrite--job-state job) 'waiting))
                      "The rewrite is still being written"
                    "No rewrite to accept or reject here")))
    job))

;;;###autoload
(defun chinwag-rewrite-accept ()
  "Replace the region with the proposed rewrite, as one undo step."
  (interactive)
  (let* ((job (chinwag-rewrite--current))
         (overlay (chinwag-rewrite--job-overlay job))
         (beg (overlay-start overlay))
         (end (overlay-end overlay)))
    (unless (equal (buffer-substring-no-properties beg end)
                   (chinwag-rewrite--job-original job))
      (user-error "The region changed since the rewrite was asked; \
reject it and ask again"))
    (chinwag-rewrite--finish job)
    (undo-boundary)
    (save-excursion
      (goto-char beg)
      (delete-region beg end)
      (insert (chinwag-rewrite--job-text job)))
    (undo-boundary)
    (message "chinwag: rewrite applied")
    t))

;;;###autoload
(defun chinwag-rewrite-reject ()
  "Drop the proposed rewrite, or stop the rewrite being written.
The buffer stays as it is."
  (interactive)
  (or (chinwag-rewrite--stop)
      (progn
        (chinwag-rewrite--finish (chinwag-rewrite--current))
        (message "chinwag: rewrite rejected")
        t)))

(defun chinwag-rewrite--stop ()
  "Stop the rewrite being written in this buffer; return non-nil if there was one."
  (let ((job chinwag-rewrite--job))
    (when (and job (eq (chinwag-rewrite--job-state job) 'waiting))
      (let ((chat-id (chinwag-rewrite--job-chat-id job)))
        (when chat-id
          (chinwag-rpc-notify 'chat/cancel (list :chatId chat-id)))
        ;; Without a chat id (no delta yet) it is cancelled when one comes.
        (chinwag-rewrite--finish job 'cancelled))
      (message "chinwag: rewrite stopped")
      t)))

(add-hook 'chinwag-stop-functions #'chinwag-rewrite--stop)

(provide 'chinwag-rewrite)
;;; chinwag-rewrite.el ends here
