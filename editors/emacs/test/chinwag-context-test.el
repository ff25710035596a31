;;; chinwag-context-test.el --- ERT tests of context, presets, trust and chat anywhere  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; Tests of the Emacs part of issue 14: context items attached to the
;; next message (chinwag-context.el), presets and slash commands
;; (chinwag-presets.el), the trust prompt for project instructions, and
;; chat in any buffer (chinwag-inline.el).  Like chinwag-test.el, whose
;; helpers they use, they run in batch Emacs against the real backend
;; and the scripted provider of `tests/emacs.rs', which loads this file
;; after chinwag-test.el and checks what the provider received.
;; Tests named chinwag-test-unit-* need no backend.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'subr-x)
(unless (featurep 'chinwag-test)
  (load (expand-file-name "chinwag-test"
                          (file-name-directory (or load-file-name buffer-file-name)))
        nil t))
(require 'flymake)

;;;; Helpers

(defun chinwag-test-git (dir &rest args)
  "Run git with ARGS in DIR; fail the test unless it succeeds."
  (let ((default-directory (file-name-as-directory dir)))
    (with-temp-buffer
      (let ((status (apply #'call-process "git" nil t nil
                           "-c" "user.name=chinwag test"
                           "-c" "user.email=test@example.invalid"
                           "-c" "init.defaultBranch=main"
                           args)))
        (unless (eql status 0)
          (ert-fail (format "git %S failed: %s" args (buffer-string))))))))

(defun chinwag-test-write (file text)
  "Write TEXT to FILE, making its folder."
  (make-directory (file-name-directory file) t)
  (with-temp-file file (insert text)))

(defun chinwag-test-previewed (chat)
  "Wait until every context item of CHAT has its preview (or its error)."
  (chinwag-test-wait "the previews of the context"
                     (lambda ()
                       (cl-every (lambda (item)
                                   (or (plist-get item :manifest) (plist-get item :error)))
                                 (chinwag-context-items chat)))))

(defun chinwag-test-labels (chat)
  "Return the labels of the context waiting in CHAT."
  (mapcar (lambda (item) (plist-get item :label)) (chinwag-context-items chat)))

(defun chinwag-test-listing (chat)
  "Return the listing shown above CHAT's draft, without properties, or nil."
  (let ((shown (overlay-get (buffer-local-value 'chinwag-chat--guard chat) 'after-string)))
    (and shown (substring-no-properties shown))))

(defmacro chinwag-test-answering (answers &rest body)
  "Run BODY with `y-or-n-p' answering from ANSWERS, a list; return the prompts.
A question beyond ANSWERS fails the test."
  (declare (indent 1))
  (let ((queue (make-symbol "queue")) (prompts (make-symbol "prompts")))
    `(let ((,queue (copy-sequence ,answers)) (,prompts nil))
       (chinwag-test-with-stubs
           ((y-or-n-p (lambda (prompt)
                        (push prompt ,prompts)
                        (unless ,queue
                          (ert-fail (format "unexpected question: %s" prompt)))
                        (pop ,queue))))
         ,@body)
       (should (null ,queue))
       (nreverse ,prompts))))

(defun chinwag-test-preset-shown (name)
  "Return non-nil if the mode line of this buffer names the preset NAME.
\(`format-mode-line' gives nothing in batch Emacs: its parts are checked.)"
  (and (member '(:eval (chinwag-presets--mode-line)) mode-line-misc-info)
       (equal (chinwag-presets--mode-line) (format " preset:%s " name))))

(defun chinwag-test-flymake (buffer diagnostics)
  "Make Flymake in BUFFER report DIAGNOSTICS, ((BEG END TYPE TEXT) ...)."
  (with-current-buffer buffer
    (setq-local flymake-diagnostic-functions
                (list (lambda (report &rest _)
                        (funcall report
                                 (mapcar (lambda (d)
                                           (flymake-make-diagnostic
                                            buffer (nth 0 d) (nth 1 d) (nth 2 d) (nth 3 d)))
                                         diagnostics)))))
    (flymake-mode 1)
    (flymake-start)
    (chinwag-test-wait "the diagnostics" (lambda () (flymake-diagnostics)))))

;;;; Unit tests: no backend

(declare-function flycheck-error-line "flycheck" (err))

(ert-deftest chinwag-test-unit-context-diagnostics ()
  "Flymake's and Flycheck's diagnostics go with their lines of code."
  (with-temp-buffer
    (insert "def f():\n    return x\n\nprint(f())\n")
    (python-mode)
    (chinwag-test-flymake (current-buffer)
                          '((10 22 :error "undefined name x")
                            (25 35 :warning "call at top level")))
    (should (equal (chinwag-context-diagnostics)
                   '((:line 2 :severity "error" :message "undefined name x"
                            :text "    return x")
                     (:line 4 :severity "warning" :message "call at top level"
                            :text "print(f())"))))
    (flymake-mode -1)
    ;; Flycheck's, when it is loaded and on (a stand-in here).
    (cl-letf (((symbol-value 'features) (cons 'flycheck features)))
      (chinwag-test-with-stubs
          ((flycheck-error-line (lambda (e) (plist-get e :line)))
           (flycheck-error-end-line (lambda (e) (plist-get e :end)))
           (flycheck-error-level (lambda (e) (plist-get e :level)))
           (flycheck-error-message (lambda (e) (plist-get e :message)))
           (flycheck-error-checker (lambda (e) (plist-get e :checker))))
        (setq-local flycheck-mode t)
        (setq-local flycheck-current-errors
                    (list (list :line 1 :end 2 :level 'error :message "bad def"
                                :checker 'python-pyflakes)))
        (should (equal (chinwag-context-diagnostics)
                       '((:line 1 :endLine 2 :severity "error" :message "bad def"
                                :source "python-pyflakes"
                                :text "def f():\n    return x"))))))))

(ert-deftest chinwag-test-unit-presets-parse ()
  "A message that starts with /NAME names a preset; the rest is the message."
  (should (equal (chinwag-presets-parse "/review") '("review" . "")))
  (should (equal (chinwag-presets-parse "/review look at errors")
                 '("review" . "look at errors")))
  (should (equal (chinwag-presets-parse "  /fix\nthe loop") '("fix" . "the loop")))
  (should (equal (chinwag-presets-parse "/my-preset_2 x") '("my-preset_2" . "x")))
  (should-not (chinwag-presets-parse "/usr/bin/env is a path"))
  (should-not (chinwag-presets-parse "see /review"))
  (should-not (chinwag-presets-parse "")))

(ert-deftest chinwag-test-unit-context-manifest-line ()
  "A saved manifest is told in one line under its message's heading."
  (should (equal (chinwag-context--describe-manifest
                  '(:items [(:kind "file" :label "src/main.rs" :bytes 1234 :tokens 309
                                   :redactions [(:kind "openai-key" :line 3)])
                            (:kind "gitDiff" :label "git diff" :bytes 880 :tokens 220
                                   :redactions [])]
                           :refused [(:kind "file" :path ".env" :reason "sensitive")]
                           :message (:bytes 12 :tokens 3 :redactions [])
                           :totalBytes 2126 :totalTokens 532 :allowSecrets :json-false
                           :allowFiles []
                           :instructions (:path "AGENTS.md" :included :json-false
                                                :fingerprint "ab" :bytes 9 :tokens 3
                                                :redactions [])))
                 (concat "Sent with: src/main.rs (1.2 kB), git diff (880 B), ~532 tokens; "
                         "1 secret held back; left out: .env (sensitive); "
                         "AGENTS.md not trusted, not sent")))
  (should (equal (chinwag-context--describe-manifest
                  '(:items [] :refused [] :message (:bytes 5 :tokens 2 :redactions [])
                           :allowSecrets t :instructions (:path ".chinwag.md" :included t)))
                 "Sent with: secrets sent as they were; .chinwag.md included"))
  (should-not (chinwag-context--describe-manifest
               '(:items [] :refused [] :message (:bytes 5 :tokens 2 :redactions [])))))

(ert-deftest chinwag-test-unit-inline-prompt-start ()
  "The prompt runs from the end of the last answer written here to point."
  (with-temp-buffer
    (insert "first prompt")
    (should (= (chinwag-inline--prompt-start (point)) (point-min)))
    (let ((start (point)))
      (insert "\n\nan answer\n\n")
      (put-text-property start (point) 'chinwag-inline '("chat" . "msg"))
      (should (= (chinwag-inline--prompt-start (point)) (point)))
      (let ((after (point)))
        (insert "second prompt")
        (should (= (chinwag-inline--prompt-start (point)) after))
        (should (equal (get-text-property (1- after) 'chinwag-inline) '("chat" . "msg")))))))

(ert-deftest chinwag-test-unit-more-keys-and-menu-items ()
  "The context commands are on C-c C-a in chats, in the command map and the menu."
  (with-temp-buffer
    (chinwag-chat-mode)
    (should (eq (key-binding (kbd "C-c C-a b")) #'chinwag-context-add-buffer))
    (should (eq (key-binding (kbd "C-c C-a f")) #'chinwag-context-add-file))
    (should (eq (key-binding (kbd "C-c C-a d")) #'chinwag-context-add-diagnostics))
    (should (eq (key-binding (kbd "C-c C-a g")) #'chinwag-context-add-git-diff))
    (should (eq (key-binding (kbd "C-c C-a u")) #'chinwag-context-add-url))
    (should (eq (key-binding (kbd "C-c C-a k")) #'chinwag-context-remove))
    (should (memq #'chinwag-presets-completion-at-point completion-at-point-functions)))
  (should (eq (lookup-key chinwag-command-map "x") #'chinwag-context-add))
  (should (eq (lookup-key chinwag-command-map "o") #'chinwag-inline-open-chat))
  (require 'chinwag-menu)
  (dolist (command '(chinwag-context-add-buffer chinwag-context-add-file
                     chinwag-context-add-diagnostics chinwag-context-add-git-diff
                     chinwag-context-add-url chinwag-context-remove chinwag-context-clear
                     chinwag-context-allow-secrets chinwag-trust-project
                     chinwag-send-region-with-preset chinwag-rewrite-region-with-preset
                     chinwag-inline-open-chat))
    (should (commandp command))
    (should (transient-get-suffix 'chinwag-menu command))))

;;;; Scenario: context

(defun chinwag-test-context-project ()
  "Make the git project of the context scenario; return its root."
  (let ((root (expand-file-name "~/proj/")))
    (chinwag-test-write (expand-file-name "src/main.rs" root)
                        "fn main() {\n    println!(\"hi\");\n}\n")
    (chinwag-test-write (expand-file-name "src/lib.rs" root)
                        "pub fn add(a: i32, b: i32) -> i32 { a + b }\n")
    (chinwag-test-write (expand-file-name ".env" root)
                        "DEBUG=1\nAPI_TOKEN=tok-env-CANARY-0123456789\n")
    (chinwag-test-git root "init" "-q")
    (chinwag-test-git root "add" "src")
    (chinwag-test-git root "commit" "-q" "-m" "start")
    ;; An unstaged change, for the diff.
    (chinwag-test-write (expand-file-name "src/main.rs" root)
                        "fn main() {\n    println!(\"hello\");\n}\n")
    root))

(ert-deftest chinwag-test-context ()
  "Context is attached, listed with its size, removed, confirmed, sent and shown."
  (let* ((root (chinwag-test-context-project))
         (url (with-temp-buffer
                (insert-file-contents "~/web-url")
                (string-trim (buffer-string))))
         (chat (chinwag-test-chat t))
         (lib (find-file-noselect (expand-file-name "src/lib.rs" root))))
    (should (equal (chinwag-context-root lib) (directory-file-name root)))
    ;; From the source buffer: the buffer itself, its diagnostics, a file,
    ;; a glob, the git diff and a page.
    (chinwag-test-flymake lib '((1 10 :error "mismatched types")))
    (with-current-buffer lib
      (should (eq (chinwag-context-add-buffer lib) chat))
      (chinwag-context-add-diagnostics lib)
      (chinwag-test-with-stubs
          ((read-file-name (lambda (prompt dir &rest _)
                             (should (string-match-p "Attach file" prompt))
                             (should (equal dir root))
                             (expand-file-name "src/main.rs" root))))
        (call-interactively #'chinwag-context-add-file))
      (chinwag-context-add-file "src/*.rs")
      (chinwag-context-add-git-diff)
      (chinwag-context-add-url url)
      ;; A folder is not a file; outside the root is refused here already.
      (should-error (chinwag-context-add-file "src") :type 'user-error)
      (should-error (chinwag-context-add-file "../elsewhere.txt") :type 'user-error))
    (should (equal (chinwag-test-labels chat)
                   (list "src/lib.rs (buffer)" "diagnostics of src/lib.rs (1)"
                         "src/main.rs" "src/*.rs" "git diff" url)))
    (chinwag-test-previewed chat)
    ;; Listed above the draft, each with its size and tokens; not in the draft.
    (let ((listing (chinwag-test-listing chat)))
      (should (string-match-p "\\`Context for the next message (6):" listing))
      (should (string-match-p "1\\. src/lib\\.rs (buffer)  [0-9]+ B, ~[0-9]+ tokens" listing))
      (should (string-match-p "4\\. src/\\*\\.rs  [0-9]+ B, ~[0-9]+ tokens, 2 files" listing))
      (should (string-match-p "5\\. git diff  [0-9]+ B, ~[0-9]+ tokens" listing))
      (should (string-match-p "~[0-9]+ tokens in all" listing)))
    (should (equal (chinwag-test-draft chat) ""))
    (with-current-buffer chat
      (should (equal (buffer-string) "## You\n\n")))
    ;; Removed with the command, and with the [x] of an item.
    (chinwag-test-with-stubs ((completing-read (lambda (_prompt choices &rest _)
                                                 (should (= (length choices) 6))
                                                 "4. src/*.rs")))
      (with-current-buffer chat (call-interactively #'chinwag-context-remove)))
    (should-not (member "src/*.rs" (chinwag-test-labels chat)))
    (with-current-buffer chat
      (chinwag-context-add-url "http://127.0.0.1:9/x"))
    (let* ((shown (overlay-get (buffer-local-value 'chinwag-chat--guard chat) 'after-string))
           (at (string-match "\\[x\\] 6\\." (substring-no-properties shown)))
           (map (get-text-property at 'keymap shown)))
      (should (keymapp map))
      (funcall (lookup-key map (kbd "RET"))))
    (should-not (member "http://127.0.0.1:9/x" (chinwag-test-labels chat)))
    (should (= (length (chinwag-test-labels chat)) 5))
    ;; A file that often holds secrets waits, and says it will be asked about.
    (with-current-buffer lib (chinwag-context-add-file ".env"))
    (chinwag-test-previewed chat)
    (should (string-match-p "6\\. \\.env  sensitive: asked about when sent"
                            (chinwag-test-listing chat)))
    ;; Declined: nothing is sent, the draft and the context stay.
    (chinwag-test-type chat "Look at this")
    (let ((prompts (chinwag-test-answering '(nil)
                     (should-error (with-current-buffer chat (chinwag-send))
                                   :type 'user-error))))
      (should (string-match-p "\\.env often holds secrets; send it" (car prompts))))
    (should (equal (chinwag-test-draft chat) "Look at this"))
    (should (= (length (chinwag-test-labels chat)) 6))
    (with-current-buffer chat
      (should (equal (chinwag-test-transcript chat) "## You\n\n")))
    ;; Confirmed for this send; the secret in it is held back (offered, declined).
    (let ((prompts (chinwag-test-answering '(t nil)
                     (with-current-buffer chat (chinwag-send)))))
      (should (string-match-p "\\.env often holds secrets" (nth 0 prompts)))
      (should (string-match-p "holds back 1 secret (assignment)" (nth 1 prompts))))
    ;; Sent and cleared: the heading of the message says what went.
    (should-not (chinwag-context-items chat))
    (should-not (chinwag-test-listing chat))
    (let ((line (car (chinwag-context-sent-lines chat))))
      (should (string-match-p "\\`Sent with: src/lib\\.rs ([0-9]+ B), diagnostics: src/lib\\.rs" line))
      (should (string-match-p "git diff ([0-9]+ B)" line))
      (should (string-match-p "\\.env ([0-9]+ B), .*~[0-9]+ tokens; 1 secret held back\\'" line)))
    (chinwag-test-answer chat)
    (should (equal (chinwag-test-last-answer chat) "Seen."))
    ;; The next send asks again; this time the secrets go as they are.
    (with-current-buffer lib (chinwag-context-add-file ".env"))
    (with-current-buffer chat (chinwag-context-allow-secrets))
    (should (string-match-p "Secrets go AS THEY ARE" (chinwag-test-listing chat)))
    (chinwag-test-type chat "And now?")
    (chinwag-test-answering '(t)
      (with-current-buffer chat (chinwag-send)))
    (chinwag-test-answer chat)
    (should-not (buffer-local-value 'chinwag-context--allow-secrets chat))
    ;; Context that cannot be had says so, and keeps the message from going.
    (with-current-buffer chat
      (let ((default-directory (expand-file-name "~/")))
        (chinwag-context-add-git-diff)))
    (chinwag-test-previewed chat)
    (should (string-match-p "git diff  cannot go: " (chinwag-test-listing chat)))
    (chinwag-test-type chat "Diff?")
    (should-error (with-current-buffer chat (chinwag-send)) :type 'user-error)
    (should (equal (chinwag-test-draft chat) "Diff?"))
    (with-current-buffer chat (chinwag-context-clear))
    (should-not (chinwag-test-listing chat))
    ;; Reopened, each message says what went with it.
    (let ((id (buffer-local-value 'chinwag-chat--id chat)))
      (kill-buffer chat)
      (let* ((reopened (chinwag-chat-open-saved id))
             (lines (chinwag-context-sent-lines reopened)))
        (should (= (length lines) 2))
        (should (string-match-p "src/lib\\.rs (.*), diagnostics: src/lib\\.rs (.*), src/main\\.rs"
                                (nth 0 lines)))
        (should (string-match-p "url\\|127\\.0\\.0\\.1" (nth 0 lines)))
        (should (string-match-p "1 secret held back" (nth 0 lines)))
        (should (string-match-p "\\.env ([0-9]+ B)" (nth 1 lines)))
        (should (string-match-p "secrets sent as they were" (nth 1 lines)))))
    (chinwag-rpc-shutdown)))

;;;; Scenario: presets and slash commands

(ert-deftest chinwag-test-presets ()
  "/NAME applies a preset, with completion; region commands take one too."
  (let ((chat (chinwag-test-chat t)))
    ;; Completion of the names after a slash at the start of the draft.
    (chinwag-test-type chat "/te")
    (with-current-buffer chat
      (let ((capf (chinwag-presets-completion-at-point)))
        (should capf)
        (should (equal (sort (all-completions "te" (nth 2 capf)) #'string<)
                       '("terse" "tests")))
        (should (equal (buffer-substring-no-properties (nth 0 capf) (nth 1 capf)) "te")))
      (insert "r")
      (let ((completion-cycle-threshold nil))
        (completion-at-point))
      (should (equal (chinwag-chat--input-text) "/terse "))
      ;; Not after the start of the message.
      (goto-char (point-max))
      (insert "A long text. /re")
      (should-not (chinwag-presets-completion-at-point)))
    (should (equal (chinwag-test-draft chat) "/terse A long text. /re"))
    (with-current-buffer chat
      (let ((inhibit-read-only t))
        (delete-region (- (point-max) 4) (point-max))))
    (with-current-buffer chat (chinwag-send))
    (chinwag-test-answer chat)
    (should (equal (chinwag-test-last-answer chat) "Short."))
    (with-current-buffer chat
      (should (chinwag-test-preset-shown "terse")))
    ;; An unknown name is asked about; no means not sent.
    (chinwag-test-type chat "/nope hi")
    (let ((prompts (chinwag-test-answering '(nil)
                     (should-error (with-current-buffer chat (chinwag-send))
                                   :type 'user-error))))
      (should (string-match-p "No preset is called nope" (car prompts))))
    (should (equal (chinwag-test-draft chat) "/nope hi"))
    (with-current-buffer chat
      (let ((inhibit-read-only t))
        (delete-region chinwag-chat--input (point-max))))
    ;; Reopened, the chat shows its preset.
    (let ((id (buffer-local-value 'chinwag-chat--id chat)))
      (kill-buffer chat)
      (with-current-buffer (chinwag-chat-open-saved id)
        (should (equal chinwag-presets--current "terse"))
        (should (chinwag-test-preset-shown "terse"))))
    ;; The region with a preset (C-u C-u), into a new chat.
    (let ((source (get-buffer-create "util.py"))
          (region-chat (chinwag-test-chat t)))
      (with-current-buffer source
        (python-mode)
        (insert "def f(x):\n    return x * 2\n")
        (transient-mark-mode 1)
        (push-mark (point-min) t t)
        (goto-char (point-max))
        (let ((current-prefix-arg '(16)))
          (chinwag-test-with-stubs
              ((completing-read (lambda (prompt names &rest _)
                                  (should (string-match-p "preset" prompt))
                                  (should (member "review" names))
                                  "review")))
            (call-interactively #'chinwag-send-region))))
      (chinwag-test-answer region-chat)
      (should (equal (chinwag-test-last-answer region-chat) "Reviewed."))
      (with-current-buffer region-chat
        (should (string-match-p "\\`## You\n\n/review\n\nSelected code lines 1-2:"
                                (buffer-string)))
        (should (equal chinwag-presets--current "review")))
      ;; A rewrite with /NAME as its instruction.
      (with-current-buffer source
        (transient-mark-mode 1)
        (push-mark (point-min) t t)
        (goto-char (point-max))
        (chinwag-test-with-stubs ((read-string (lambda (&rest _) "/fix")))
          (call-interactively #'chinwag-rewrite-region))
        (chinwag-test-wait "the proposal"
                           (lambda () (eq (chinwag-rewrite--job-state chinwag-rewrite--job)
                                          'proposed)))
        (chinwag-rewrite-reject)))
    (chinwag-rpc-shutdown)))

;;;; Scenario: project instructions

(ert-deftest chinwag-test-trust ()
  "Untrusted project instructions are shown and asked about; trusted, they go."
  (let* ((root (expand-file-name "~/trusted/"))
         (agents (expand-file-name "AGENTS.md" root)))
    (make-directory (expand-file-name ".git" root) t)
    (chinwag-test-write agents "Use tabs.\n")
    (let* ((default-directory root)
           (chat (chinwag-test-chat t))
           (shown nil))
      (should (equal (buffer-local-value 'default-directory chat) root))
      ;; Declined: shown, asked, not sent; not asked again this session.
      (chinwag-test-type chat "first")
      (let ((prompts (chinwag-test-answering '(nil)
                       (advice-add 'chinwag-context--show-instructions :filter-return
                                   (lambda (buffer)
                                     (setq shown (with-current-buffer buffer (buffer-string)))
                                     buffer)
                                   '((name . chinwag-test)))
                       (unwind-protect
                           (with-current-buffer chat (chinwag-send))
                         (advice-remove 'chinwag-context--show-instructions 'chinwag-test)))))
        (should (string-match-p "Trust AGENTS\\.md of .*trusted" (car prompts))))
      (should (string-match-p "Use tabs\\." shown))
      (chinwag-test-answer chat)
      (chinwag-test-answering nil (chinwag-test-say chat "second"))
      ;; Trusted on demand: then it joins the system prompt.
      (chinwag-test-answering '(t)
        (with-current-buffer chat (chinwag-trust-project)))
      (chinwag-test-answering nil (chinwag-test-say chat "third"))
      ;; A changed file is asked about again.
      (chinwag-test-write agents "Use tabs. And spaces.\n")
      (let ((prompts (chinwag-test-answering '(t) (chinwag-test-say chat "fourth"))))
        (should (= (length prompts) 1)))
      (should (equal (chinwag-test-last-answer chat) "Four."))
      ;; Each message says whether they went, as sent and as saved.
      (let ((expected '("Sent with: AGENTS.md not trusted, not sent"
                        "Sent with: AGENTS.md not trusted, not sent"
                        "Sent with: AGENTS.md included"
                        "Sent with: AGENTS.md included")))
        (should (equal (chinwag-context-sent-lines chat) expected))
        (with-current-buffer chat (chinwag-chat-refresh t))
        (should (equal (chinwag-context-sent-lines chat) expected))))
    (chinwag-rpc-shutdown)))

;;;; Scenario: chat in any buffer

(defun chinwag-test-inline-wait (buffer)
  "Wait for the answer being written into BUFFER, with undo boundaries meanwhile.
The boundaries stand for the commands the user runs while it streams."
  (chinwag-test-wait "the answer in the buffer"
                     (lambda ()
                       (with-current-buffer buffer
                         (undo-boundary)
                         (null chinwag-inline--job)))))

(defun chinwag-test-undo-once (buffer)
  "Undo the last change group of BUFFER, as one \\[undo]."
  (with-current-buffer buffer
    (let ((last-command nil))
      (undo-boundary)
      (undo))))

(ert-deftest chinwag-test-inline ()
  "Outside a chat, chinwag-send answers in place, as one undo step."
  ;; A Markdown buffer (an Org one without markdown-mode): headings.
  (let ((doc (get-buffer-create "notes")))
    (with-current-buffer doc
      (if chinwag-test-markdown (markdown-mode) (org-mode))
      (buffer-enable-undo)
      (switch-to-buffer doc)
      (insert "What is 2+2?")
      (undo-boundary)
      (chinwag-send)
      (should chinwag-inline-mode)
      (should (eq (key-binding (kbd "C-c C-k")) #'chinwag-inline-stop))
      (chinwag-test-inline-wait doc)
      (should-not chinwag-inline-mode)
      (let ((expected (if chinwag-test-markdown
                          "What is 2+2?\n\n## Assistant\n\nFour.\n\n## You\n\n"
                        "What is 2+2?\n\n* Assistant\n\nFour.\n\n* You\n\n")))
        (should (equal (buffer-string) expected))
        (should (= (point) (point-max))))
      ;; One undo takes the whole answer away.
      (chinwag-test-undo-once doc)
      (should (equal (buffer-string) "What is 2+2?"))))
  ;; A plain buffer: the answer alone; the next prompt continues the chat.
  (let ((doc (get-buffer-create "plain.txt")))
    (with-current-buffer doc
      (text-mode)
      (buffer-enable-undo)
      (switch-to-buffer doc)
      (insert "Prompt one")
      (undo-boundary)
      (chinwag-send)
      (chinwag-test-inline-wait doc)
      (should (equal (buffer-string) "Prompt one\n\nAnswer one.\n\n"))
      (insert "Prompt two")
      (undo-boundary)
      (chinwag-send)
      (chinwag-test-inline-wait doc)
      (should (equal (buffer-string)
                     "Prompt one\n\nAnswer one.\n\nPrompt two\n\nAnswer two.\n\n"))
      ;; Stopped with C-c C-k: what came stays, noted, still one undo step.
      (insert "Count")
      (undo-boundary)
      (chinwag-send)
      (chinwag-test-wait "the first token"
                         (lambda () (string-search "tok0" (buffer-string))))
      (call-interactively (key-binding (kbd "C-c C-k")))
      (should-not chinwag-inline--job)
      (should (string-match-p "Count\n\ntok0.*\n\n\\[stopped\\]\n\n\\'" (buffer-string)))
      (chinwag-test-undo-once doc)
      (should (equal (buffer-string)
                     "Prompt one\n\nAnswer one.\n\nPrompt two\n\nAnswer two.\n\nCount"))
      ;; The region is a prompt of its own, in a new chat.
      (goto-char (point-min))
      (transient-mark-mode 1)
      (push-mark (point) t t)
      (end-of-line)
      (chinwag-send)
      (chinwag-test-inline-wait doc)
      (should (string-prefix-p "Prompt one\n\nRegion answer.\n\nAnswer one." (buffer-string)))
      ;; The first exchange is in the history, and goes on in a chat buffer.
      (goto-char (point-max))
      (search-backward "Answer two.")
      (let ((chat (chinwag-inline-open-chat)))
        (should (eq (window-buffer (selected-window)) chat))
        (should (string-match-p
                 "## You\n\nPrompt one\n\n## Assistant (mock/mock-model)\n\nAnswer one\\.\n\n## You\n\nPrompt two\n\n## Assistant (mock/mock-model)\n\nAnswer two\\."
                 (chinwag-test-transcript chat))))))
  (chinwag-rpc-shutdown))

(provide 'chinwag-context-test)
;;; chinwag-context-test.el ends here
