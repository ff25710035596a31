;;; chinwag-test.el --- ERT tests of the chinwag Emacs client  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; These tests run in batch Emacs against the real `chinwag' backend,
;; which talks to a scripted provider on 127.0.0.1 run by the Rust
;; test `tests/emacs.rs'.  That test writes the backend's config in a
;; private HOME, queues the provider's answers for one scenario, runs
;; the ERT test of that scenario and then checks what the provider saw
;; (requests, keys, context, hang-ups).  Environment:
;;
;;   CHINWAG_TEST_BINARY  the backend program
;;   HOME, XDG_CONFIG_HOME, XDG_DATA_HOME  the private home
;;
;; Tests named chinwag-test-unit-* need no provider from the Rust test:
;; most need no backend either, and those of conversation trees
;; (chinwag-test-unit-tree-*) serve their own scripted provider from
;; this Emacs and start a backend of their own against it.
;; Run one scenario by hand (after `cargo build'):
;;
;;   CHINWAG_TEST_BINARY=target/debug/chinwag emacs --batch -Q \
;;     -L editors/emacs -l editors/emacs/test/chinwag-test.el \
;;     --eval '(ert-run-tests-batch-and-exit "chinwag-test-unit")'

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'subr-x)

(defvar chinwag-test-markdown nil
  "The folder of markdown-mode, to run the tests with it, fontified.
The Rust test sets it for its second run of each scenario: markdown-mode
comes from the system's package folder (Debian: elpa-markdown-mode),
chat buffers derive from it, `global-font-lock-mode' is on and typing
is preceded by `font-lock-ensure', as redisplay would do.")

(when chinwag-test-markdown
  (add-to-list 'load-path chinwag-test-markdown)
  (require 'markdown-mode)
  (global-font-lock-mode 1))

(require 'chinwag)

(defvar chinwag-test-binary (getenv "CHINWAG_TEST_BINARY")
  "The backend program under test.")

(when chinwag-test-binary
  (setq chinwag-program chinwag-test-binary))

;; The provider is local: no key is needed unless a test sets one.
(setq chinwag-auth-source nil)
;; chinwag loads auth-source only when it needs it; the tests stub and reset it.
(require 'auth-source)

;;;; Helpers

(defun chinwag-test-wait (what predicate &optional seconds)
  "Wait up to SECONDS (default 20) for PREDICATE; fail naming WHAT."
  (let ((deadline (+ (float-time) (or seconds 20)))
        (value nil))
    (while (and (not (setq value (funcall predicate)))
                (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (or value (ert-fail (format "timed out waiting for %s" what)))))

(defun chinwag-test-fontify-as-shown (buffer)
  "Fontify BUFFER as redisplay would with font-lock on (with markdown-mode)."
  (when chinwag-test-markdown
    (with-current-buffer buffer
      (font-lock-ensure))))

(defun chinwag-test-type (buffer text)
  "Type TEXT at the end of BUFFER, as the user would, as one command."
  (chinwag-test-fontify-as-shown buffer)
  (with-current-buffer buffer
    (goto-char (point-max))
    (insert text)
    (undo-boundary)))

(defun chinwag-test-transcript (buffer)
  "Return the transcript of the chat BUFFER: all but the draft."
  (with-current-buffer buffer
    (save-restriction
      (widen)
      (buffer-substring-no-properties (point-min) chinwag-chat--input))))

(defun chinwag-test-draft (buffer)
  "Return the draft of the chat BUFFER."
  (with-current-buffer buffer (chinwag-chat--input-text)))

(defun chinwag-test-answer (buffer &optional seconds)
  "Wait up to SECONDS for BUFFER's answer to end."
  (chinwag-test-wait "the answer"
                     (lambda () (null (buffer-local-value 'chinwag-chat--stream buffer)))
                     seconds))

(defun chinwag-test-chat (&optional new)
  "Return a chat buffer (a NEW one when non-nil), shown in the selected window."
  (let ((buffer (chinwag new)))
    (switch-to-buffer buffer)
    buffer))

(defun chinwag-test-say (buffer text &optional seconds)
  "Type TEXT in the chat BUFFER, send it and wait up to SECONDS for the answer."
  (chinwag-test-type buffer text)
  (with-current-buffer buffer (chinwag-send))
  (chinwag-test-answer buffer seconds))

(defun chinwag-test-last-answer (buffer)
  "Return the text of the last answer in BUFFER, complete or not."
  (with-current-buffer buffer
    (save-excursion
      (goto-char (point-max))
      (let* ((start (progn (re-search-backward "^## Assistant.*\n\n") (match-end 0)))
             (end (if (re-search-forward "^## You$" nil t)
                      (match-beginning 0)
                    (point-max))))
        (string-trim-right (buffer-substring-no-properties start end))))))

(defun chinwag-test-messages ()
  "Return the text of the *Messages* buffer."
  (with-current-buffer (messages-buffer) (buffer-string)))

(defun chinwag-test-history (chat-id)
  "Return the saved chat CHAT-ID."
  (chinwag-rpc-request 'history/get (list :chatId chat-id)))

(defun chinwag-test-no-buffer-holds (secret)
  "Fail if any buffer, hidden ones included, holds SECRET."
  (dolist (buffer (buffer-list))
    (with-current-buffer buffer
      (save-restriction
        (widen)
        (should-not (and (string-search secret (buffer-substring-no-properties
                                                (point-min) (point-max)))
                         (buffer-name buffer)))))))

(defmacro chinwag-test-with-stubs (bindings &rest body)
  "Run BODY with the functions in BINDINGS, ((NAME FUNCTION) ...), replaced."
  (declare (indent 1))
  `(cl-letf ,(mapcar (lambda (b) `((symbol-function ',(car b)) ,(cadr b))) bindings)
     ,@body))

(defun chinwag-test-face-at (buffer regexp)
  "Return the face at the start of the first match of REGEXP in BUFFER."
  (with-current-buffer buffer
    (save-excursion
      (goto-char (point-min))
      (re-search-forward regexp)
      (get-text-property (match-beginning 0) 'face))))

(defun chinwag-test-fontify (buffer)
  "Fontify BUFFER as `jit-lock' would (font-lock mode is off in batch)."
  (with-current-buffer buffer
    (font-lock-set-defaults)
    (font-lock-fontify-region (point-min) (point-max))))

;;;; Unit tests: no backend

(ert-deftest chinwag-test-unit-language ()
  "Major modes map to fence languages, derived modes and tree-sitter too."
  (should (equal (chinwag-language 'rust-mode) "rust"))
  (should (equal (chinwag-language 'python-mode) "python"))
  (should (equal (chinwag-language 'python-ts-mode) "python"))
  (should (equal (chinwag-language 'emacs-lisp-mode) "elisp"))
  (should (equal (chinwag-language 'c++-mode) "cpp"))
  (should (equal (chinwag-language 'js-mode) "javascript"))
  (should (null (chinwag-language 'fundamental-mode)))
  (with-temp-buffer
    (lisp-interaction-mode)
    (should (equal (chinwag-language) "elisp"))))

(ert-deftest chinwag-test-unit-region-format ()
  "Context regions are shown as the backend formats them."
  (should (equal (chinwag-chat-format-region
                  '(:path "src/main.rs" :language "rust" :startLine 10 :endLine 12
                          :text "fn main() {}\n"))
                 "`src/main.rs` lines 10-12:\n```rust\nfn main() {}\n```"))
  (should (equal (chinwag-chat-format-region '(:startLine 3 :endLine 3 :text "x"))
                 "Selected code line 3:\n```\nx\n```"))
  (should (string-match-p "\\`Selected code:\n````\nlet s = \"```\";\n````\\'"
                          (chinwag-chat-format-region '(:text "let s = \"```\";"))))
  (with-temp-buffer
    (insert "one\ntwo\nthree\nfour\n")
    (let ((context (chinwag-region-context 5 15)))
      (should (equal (plist-get context :startLine) 2))
      (should (equal (plist-get context :endLine) 3))
      (should (equal (plist-get context :text) "two\nthree\n"))
      (should-not (plist-member context :path)))))

(ert-deftest chinwag-test-unit-mode-and-highlighting ()
  "Without markdown-mode, chat buffers derive from text-mode and highlight themselves."
  (skip-unless (not chinwag-test-markdown))
  (should-not (fboundp 'markdown-mode))
  (with-temp-buffer
    (chinwag-chat-mode)
    (should (derived-mode-p 'text-mode))
    (should (equal font-lock-defaults '(chinwag-chat--font-lock-keywords t)))
    (should (eq (key-binding (kbd "C-c RET")) #'chinwag-send))
    (should (eq (key-binding (kbd "C-c C-k")) #'chinwag-stop))
    (let ((inhibit-read-only t))
      (chinwag-chat--insert-message
       "assistant" "Text `inline` here\n\n```rust\nlet a = 1;\n## not a heading\n```\nafter\n\n~~~\nopen block"))
    (chinwag-test-fontify (current-buffer))
    (should (eq (chinwag-test-face-at (current-buffer) "^## Assistant") 'chinwag-heading))
    (should (eq (chinwag-test-face-at (current-buffer) "`inline`") 'chinwag-code))
    (should (eq (chinwag-test-face-at (current-buffer) "^```rust") 'chinwag-fence))
    (should (eq (chinwag-test-face-at (current-buffer) "let a") 'chinwag-code))
    (should (eq (chinwag-test-face-at (current-buffer) "## not") 'chinwag-code))
    (should (null (chinwag-test-face-at (current-buffer) "after")))
    (should (eq (chinwag-test-face-at (current-buffer) "open block") 'chinwag-code))
    ;; Fontifying only the tail, from inside a block, still knows it is code.
    (let ((inhibit-read-only t))
      (remove-text-properties (point-min) (point-max) '(face nil)))
    (save-excursion
      (goto-char (point-min))
      (re-search-forward "^## not")
      (font-lock-fontify-region (line-beginning-position) (point-max)))
    (should (eq (chinwag-test-face-at (current-buffer) "## not") 'chinwag-code))))

(ert-deftest chinwag-test-unit-highlighting-while-streaming ()
  "Fontified piece by piece as an answer streams, faces equal one whole pass."
  (skip-unless (not chinwag-test-markdown))
  (with-temp-buffer
    (chinwag-chat-mode)
    (font-lock-set-defaults)
    (let ((inhibit-read-only t))
      (chinwag-chat--insert-message "user" "Question with ```fake``` fences")
      (chinwag-chat--insert-message "assistant" ""))
    (font-lock-fontify-region (point-min) (point-max))
    (dolist (piece '("Intro `x`\n\n``" "`py" "thon\nx = 1\n" "## in code\n``" "`\nout\n"
                     "~~~~\nstill ~~~\n" "```\n~~~~\n" "after **bold**\n````\nlast"))
      (let ((start (point-max))
            (inhibit-read-only t))
        (goto-char start)
        (insert piece)
        ;; As jit-lock does after a change: from the start of the changed line.
        (font-lock-fontify-region (save-excursion (goto-char start) (line-beginning-position))
                                  (point-max))))
    (let ((streamed (cl-loop for pos from (point-min) below (point-max)
                             collect (get-text-property pos 'face))))
      (let ((inhibit-read-only t))
        (remove-text-properties (point-min) (point-max) '(face nil)))
      (setq chinwag-chat--fence-cache nil)
      (font-lock-fontify-region (point-min) (point-max))
      (should (equal streamed (cl-loop for pos from (point-min) below (point-max)
                                       collect (get-text-property pos 'face)))))
    (should (eq (chinwag-test-face-at (current-buffer) "^## in code") 'chinwag-code))
    (should (eq (chinwag-test-face-at (current-buffer) "^still") 'chinwag-code))
    (should (null (chinwag-test-face-at (current-buffer) "^after")))
    (should (eq (chinwag-test-face-at (current-buffer) "^last") 'chinwag-code))))

(ert-deftest chinwag-test-unit-markdown-parent ()
  "With markdown-mode installed, chat buffers derive from it."
  (skip-unless (not chinwag-test-markdown))
  (unwind-protect
      (progn
        (define-derived-mode markdown-mode text-mode "Markdown" "A stand-in.")
        (with-temp-buffer
          (chinwag-chat-mode)
          (should (derived-mode-p 'markdown-mode))
          (should-not font-lock-defaults))
        (let ((chinwag-use-markdown-mode nil))
          (with-temp-buffer
            (chinwag-chat-mode)
            (should-not (derived-mode-p 'markdown-mode))
            (should font-lock-defaults))))
    (fmakunbound 'markdown-mode)
    (put 'chinwag-chat-parent-mode 'derived-mode-parent 'text-mode)))

(ert-deftest chinwag-test-unit-handler-errors-are-caught ()
  "An error in a notification handler is logged and shown, not lost."
  (let ((chinwag-rpc-notification-functions
         (list (cons 'test/boom (lambda (_params) (error "Kaboom"))))))
    (chinwag-rpc--dispatch nil 'test/boom '(:x 1))
    (should (string-search "error handling test/boom: Kaboom"
                           (with-current-buffer (chinwag-events-buffer) (buffer-string))))
    (should (string-search "Kaboom" (chinwag-test-messages)))))

(ert-deftest chinwag-test-unit-vault-state-notification ()
  "`vault/stateChanged' updates the state and every chat's header line."
  (let ((buffer (with-current-buffer (generate-new-buffer "*chinwag-unit*")
                  (chinwag-chat-mode)
                  (setq chinwag-chat--provider "p" chinwag-chat--model "m")
                  (current-buffer))))
    (unwind-protect
        (progn
          (chinwag-rpc--dispatch nil 'vault/stateChanged
                                 '(:state "locked" :protection "password"))
          (should (chinwag-vault-locked-p))
          (should (string-search "[vault locked]"
                                 (buffer-local-value 'header-line-format buffer)))
          (should (string-search "locked itself" (chinwag-test-messages)))
          (chinwag-rpc--dispatch nil 'vault/stateChanged '(:state "unlocked"))
          (should-not (string-search "[vault locked]"
                                     (buffer-local-value 'header-line-format buffer))))
      (kill-buffer buffer)
      (setq chinwag-vault-status nil))))

(ert-deftest chinwag-test-unit-menu-and-keys ()
  "The transient menu and the command map hold defined commands only."
  (should (commandp 'chinwag-menu))
  ;; Loading chinwag leaves transient out of the heap; the menu's autoload brings it.
  (unless (featurep 'chinwag-menu)
    (should-not (featurep 'transient))
    (should (autoloadp (symbol-function 'chinwag-menu))))
  (require 'chinwag-menu)
  (should (get 'chinwag-menu 'transient--prefix))
  (let ((commands nil))
    (map-keymap (lambda (_key command) (push command commands)) chinwag-command-map)
    (should (memq 'chinwag-menu commands))
    (dolist (command commands)
      (should (commandp command))))
  (dolist (command '(chinwag chinwag-new chinwag-send chinwag-stop chinwag-refresh
                             chinwag-select-model
                             chinwag-send-region chinwag-ask chinwag-rewrite-region
                             chinwag-history chinwag-set-key chinwag-delete-key
                             chinwag-unlock chinwag-lock chinwag-set-password
                             chinwag-doctor chinwag-restart
                             chinwag-copy-code-block chinwag-apply-code-block
                             chinwag-next-code-block chinwag-previous-code-block
                             chinwag-regenerate chinwag-regenerate-by-another-model
                             chinwag-retry chinwag-edit chinwag-abandon-edit
                             chinwag-previous-sibling chinwag-next-sibling
                             chinwag-toggle-reasoning))
    (should (commandp command))
    ;; Every suffix of the menu is one of these commands.
    (should (transient-get-suffix 'chinwag-menu command)))
  (should (memq #'chinwag-rpc-shutdown kill-emacs-hook)))

(ert-deftest chinwag-test-unit-delta-insertion-cost ()
  "Measure (do not assert) GCs and time while 5,000 deltas are inserted."
  (let* ((buffer (with-current-buffer (generate-new-buffer "*chinwag-bench*")
                   (chinwag-chat-mode)
                   (setq chinwag-chat--id "bench")
                   (chinwag-chat--render nil)
                   (current-buffer)))
         (stream (chinwag-chat--make-stream
                  :buffer buffer :chat-id "bench" :start (float-time)
                  :marker (with-current-buffer buffer (chinwag-chat--open-answer))))
         (params (cl-loop for i below 5000
                          collect (list :chatId "bench" :messageId "m"
                                        :delta (format "tok%d " i) :kind "text")))
         ;; Compiled, so that the loop itself allocates nothing.
         (run (byte-compile (lambda (all)
                              (dolist (p all)
                                (chinwag-rpc--dispatch nil 'chat/delta p)))))
         (gcs (progn (garbage-collect) gcs-done))
         (gc-time gc-elapsed)
         (consed (memory-use-counts))
         (start (float-time)))
    (puthash "bench" stream chinwag-chat--streams)
    (unwind-protect
        (progn
          (with-current-buffer buffer (goto-char (point-min)))
          (funcall run params)
          (let ((elapsed (- (float-time) start))
                (after (memory-use-counts)))
            (message "CHINWAG-MEASURE handler: 5000 deltas in %.3f s (%.1f us each), \
%d GCs, %.3f s in GC, %d conses and %d string bytes allocated"
                     elapsed (* 1e6 (/ elapsed 5000)) (- gcs-done gcs)
                     (- gc-elapsed gc-time)
                     (- (nth 0 after) (nth 0 consed))
                     (- (nth 6 after) (nth 6 consed))))
          (with-current-buffer buffer
            (should (= (point) (point-min)))
            (should (eq buffer-undo-list nil))
            (should (string-suffix-p "tok4999 \n\n## You\n\n" (buffer-string)))
            (should (= (chinwag-chat--stream-deltas stream) 5000))))
      (remhash "bench" chinwag-chat--streams)
      (kill-buffer buffer))))

(defun chinwag-test--chat-buffer (messages)
  "Return a new chat buffer, without a backend, showing MESSAGES."
  (with-current-buffer (generate-new-buffer "*chinwag-unit*")
    (chinwag-chat-mode)
    (chinwag-chat--render messages)
    (goto-char (point-max))
    (current-buffer)))

(defun chinwag-test--stream (buffer)
  "Open an answer in the chat BUFFER, as a send would, and return its stream."
  (with-current-buffer buffer
    (setq chinwag-chat--id (or chinwag-chat--id "unit"))
    (let ((stream (chinwag-chat--make-stream
                   :buffer buffer :chat-id chinwag-chat--id :start (float-time)
                   :marker (chinwag-chat--open-answer))))
      (setq chinwag-chat--stream stream)
      (puthash chinwag-chat--id stream chinwag-chat--streams)
      stream)))

(ert-deftest chinwag-test-unit-code-blocks ()
  "Code blocks are copied without fences, and point moves between them."
  (let ((buffer (chinwag-test--chat-buffer
                 '((:role "user" :content "Explain\n\n```python\nx = 1\n```")
                   (:role "assistant"
                          :content "First:\n\n```rust\nfn a() {}\n## You\n```\n\nThen:\n\n~~~\nplain\n~~~\n")
                   (:role "user" :content "More")
                   (:role "assistant"
                          :content "Last:\n\n````go\nfunc b() {}\n```\nstill\n````\nafter"))))
        (kill-ring nil))
    (unwind-protect
        (with-current-buffer buffer
          (switch-to-buffer buffer)
          (should (eq (key-binding (kbd "C-c C-w")) #'chinwag-copy-code-block))
          (should (eq (key-binding (kbd "C-c C-y")) #'chinwag-apply-code-block))
          (should (eq (key-binding (kbd "M-n")) #'chinwag-next-code-block))
          (should (eq (key-binding (kbd "M-p")) #'chinwag-previous-code-block))
          (should (equal (mapcar (lambda (block)
                                   (list (plist-get block :role) (plist-get block :language)
                                         (chinwag-chat-code-block-text block)))
                                 (chinwag-chat-code-blocks))
                         '((user "python" "x = 1\n")
                           (assistant "rust" "fn a() {}\n## You\n")
                           (assistant nil "plain\n")
                           (assistant "go" "func b() {}\n```\nstill\n"))))
          ;; From the draft: the last block of the answers.
          (goto-char (point-max))
          (call-interactively #'chinwag-copy-code-block)
          (should (equal (current-kill 0) "func b() {}\n```\nstill\n"))
          (should (string-search "code block copied (go, 3 lines)" (chinwag-test-messages)))
          ;; In a block, on its fence or in its code: that block.
          (goto-char (point-min))
          (search-forward "x = ")
          (chinwag-copy-code-block)
          (should (equal (current-kill 0) "x = 1\n"))
          (search-forward "```rust")
          (chinwag-copy-code-block)
          (should (equal (current-kill 0) "fn a() {}\n## You\n"))
          ;; Forward and back between blocks.
          (goto-char (point-min))
          (let ((starts nil))
            (dotimes (_ 4)
              (call-interactively #'chinwag-next-code-block)
              (push (buffer-substring-no-properties (point) (line-end-position)) starts))
            (should (equal (nreverse starts) '("x = 1" "fn a() {}" "plain" "func b() {}"))))
          (should-error (chinwag-next-code-block) :type 'user-error)
          (call-interactively #'chinwag-previous-code-block)
          (should (looking-at "plain"))
          (forward-char 2)
          (chinwag-previous-code-block)
          (should (looking-at "plain"))
          (goto-char (point-min))
          (should-error (chinwag-previous-code-block) :type 'user-error))
      (kill-buffer buffer)))
  ;; No block in the answers: a clear message, nothing copied.
  (let ((buffer (chinwag-test--chat-buffer '((:role "user" :content "```\nmine\n```")
                                             (:role "assistant" :content "No code."))))
        (kill-ring nil))
    (unwind-protect
        (with-current-buffer buffer
          (should (equal (cadr (should-error (chinwag-copy-code-block) :type 'user-error))
                         "No code block in the answers of this chat"))
          (should-not kill-ring))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-apply-code-block ()
  "A block is shown against the region the chat was asked about, as a rewrite."
  (let ((source (generate-new-buffer "util.rs"))
        (chat (chinwag-test--chat-buffer
               '((:role "user" :content "Fix it")
                 (:role "assistant"
                        :content "Here:\n\n```rust\nfn add(a: i32) -> i32 { a }\n```\nDone.")))))
    (unwind-protect
        (progn
          (with-current-buffer source
            (insert "// head\nfn add(a: u8) -> u8 { a }\n// tail\n")
            (buffer-enable-undo))
          (with-current-buffer chat
            (switch-to-buffer chat)
            (should (string-match-p "No code was sent with the messages of this chat"
                                    (cadr (should-error (chinwag-apply-code-block)
                                                        :type 'user-error))))
            ;; As `chinwag-send-region' leaves it: the second line was sent.
            (chinwag-chat--remember-origin (list source 9 (+ 9 (length "fn add(a: u8) -> u8 { a }\n")))))
          ;; The source changes meanwhile: the region follows.
          (with-current-buffer source
            (goto-char (point-min))
            (insert "// first\n"))
          (with-current-buffer chat
            (goto-char (point-max))
            (should (eq (call-interactively #'chinwag-apply-code-block) source)))
          (with-current-buffer source
            (should (eq (current-buffer) (window-buffer (selected-window))))
            (let* ((job chinwag-rewrite--job)
                   (overlay (chinwag-rewrite--job-overlay job)))
              (should (eq (chinwag-rewrite--job-state job) 'proposed))
              (should chinwag-rewrite-mode)
              (should (equal (buffer-substring-no-properties (overlay-start overlay)
                                                             (overlay-end overlay))
                             "fn add(a: u8) -> u8 { a }\n"))
              (should (eq (overlay-get overlay 'face) 'chinwag-rewrite-removed))
              (should (equal (substring-no-properties (overlay-get overlay 'after-string))
                             "fn add(a: i32) -> i32 { a }\n"))
              ;; Nothing changed until it is accepted.
              (should (equal (buffer-string)
                             "// first\n// head\nfn add(a: u8) -> u8 { a }\n// tail\n"))
              (call-interactively (key-binding (kbd "C-c C-c")))
              (should (equal (buffer-string)
                             "// first\n// head\nfn add(a: i32) -> i32 { a }\n// tail\n"))))
          ;; Applying it again: the region already holds it.
          (with-current-buffer chat
            (should (string-match-p "already holds"
                                    (cadr (should-error (chinwag-apply-code-block)
                                                        :type 'user-error)))))
          ;; A rejected proposal changes nothing.
          (with-current-buffer source
            (goto-char (point-min))
            (insert "x")
            (delete-char -1))
          (with-current-buffer chat
            (chinwag-chat--remember-origin (list source 1 9))
            (chinwag-apply-code-block))
          (with-current-buffer source
            (call-interactively (key-binding (kbd "C-c C-k")))
            (should-not chinwag-rewrite--job)
            (should (equal (buffer-string)
                           "// first\n// head\nfn add(a: i32) -> i32 { a }\n// tail\n")))
          ;; The buffer asked about is gone: a clear message.
          (kill-buffer source)
          (with-current-buffer chat
            (should (equal (cadr (should-error (chinwag-apply-code-block) :type 'user-error))
                           "The buffer this chat was asked about is gone"))))
      (when (buffer-live-p source) (kill-buffer source))
      (kill-buffer chat))))

(ert-deftest chinwag-test-unit-reasoning-while-streaming ()
  "Streamed reasoning is folded under a label, apart from the answer's text."
  (let ((buffer (chinwag-test--chat-buffer '((:role "user" :content "Think")))))
    (unwind-protect
        (with-current-buffer buffer
          (chinwag-test-type buffer "draft")
          (let ((stream (chinwag-test--stream buffer)))
            ;; As a send leaves it: the user turn is the first message.
            (setf (chinwag-chat--stream-user stream) 0)
            (chinwag-chat--insert-delta stream "Let me " t)
            (chinwag-chat--insert-delta stream "think." t)
            (let* ((label (car (chinwag-chat--reasoning-labels)))
                   (body (overlay-get label 'chinwag-body)))
              (should (equal (buffer-substring-no-properties (overlay-start body)
                                                             (overlay-end body))
                             "Let me think."))
              (should (invisible-p (overlay-start body)))
              (chinwag-chat--insert-delta stream "The answer." nil)
              (should-not (invisible-p (1- (chinwag-chat--stream-marker stream))))
              (chinwag-chat--on-answer stream '(:content "The answer." :messageId "a1"
                                                         :userMessageId "u1"
                                                         :provider "p" :model "m"))
              (should (equal (chinwag-test-last-answer buffer)
                             "Reasoning\nLet me think.\n\nThe answer."))
              (should (equal (chinwag-test-draft buffer) "draft"))
              ;; The conversation has the answer, its reasoning and the ids.
              (should (equal (mapcar (lambda (m) (list (plist-get m :id) (plist-get m :parentId)
                                                       (plist-get m :reasoning)
                                                       (plist-get m :model)))
                                     chinwag-chat--messages)
                             '(("u1" nil nil nil) ("a1" "u1" "Let me think." "m"))))
              ;; Shown again: folded again, the heading names the model.
              (chinwag-chat--render chinwag-chat--messages)
              (should (equal (chinwag-test-headings buffer)
                             '("## You" "## Assistant (p/m)" "## You")))
              (let ((label (car (chinwag-chat--reasoning-labels))))
                (should (invisible-p (overlay-start (overlay-get label 'chinwag-body))))
                (chinwag-toggle-reasoning)
                (should-not (invisible-p (overlay-start (overlay-get label 'chinwag-body))))
                (should (string-search "TAB hides" (overlay-get label 'after-string)))))))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-lean-display ()
  "Reordering and composition are off until the chat's text needs them."
  (let ((buffer (chinwag-test--chat-buffer
                 '((:role "user" :content "Plain ASCII")
                   (:role "assistant" :content "Caf\u00e9, na\u00efve: no composition")))))
    (unwind-protect
        (with-current-buffer buffer
          (should-not bidi-display-reordering)
          (should-not auto-composition-mode)
          (chinwag-test-type buffer "still plain")
          (should-not bidi-display-reordering)
          (should-not auto-composition-mode)
          ;; A combining accent is composed: composition comes back alone.
          (chinwag-test-type buffer " e\u0301")
          (should auto-composition-mode)
          (should-not bidi-display-reordering)
          ;; Arabic streamed into an answer: reordering comes back.
          (let ((stream (chinwag-test--stream buffer)))
            (chinwag-chat--insert-delta stream "Hello, " nil)
            (should-not bidi-display-reordering)
            (chinwag-chat--insert-delta stream "\u0645\u0631\u062d\u0628\u0627" nil)
            (should bidi-display-reordering)
            (chinwag-chat--end-stream stream)))
      (kill-buffer buffer)))
  ;; Hebrew in a rendered chat: reordering on from the start.
  (let ((buffer (chinwag-test--chat-buffer
                 '((:role "user" :content "\u05e9\u05dc\u05d5\u05dd")))))
    (unwind-protect
        (with-current-buffer buffer
          (should bidi-display-reordering)
          (should-not auto-composition-mode))
      (kill-buffer buffer)))
  ;; The option off: Emacs's defaults stay.
  (let* ((chinwag-lean-display nil)
         (buffer (chinwag-test--chat-buffer '((:role "user" :content "Plain")))))
    (unwind-protect
        (with-current-buffer buffer
          (should bidi-display-reordering)
          (should auto-composition-mode))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-long-line-highlighted-when-the-answer-ends ()
  "The long line an answer writes has no faces while it streams, then has them."
  (let* ((chinwag-long-line-threshold 300)
         (buffer (chinwag-test--chat-buffer '((:role "user" :content "One long line")))))
    (unwind-protect
        (with-current-buffer buffer
          (font-lock-set-defaults)
          (let ((stream (chinwag-test--stream buffer))
                (flushed nil)
                (face-at (lambda (regexp)
                           (save-excursion
                             (goto-char (point-min))
                             (re-search-forward regexp)
                             (get-text-property (1- (point)) 'face)))))
            ;; As redisplay would: fontify what changed after each delta.
            (chinwag-test-with-stubs
                ((font-lock-flush (lambda (beg end) (push (cons beg end) flushed))))
              (chinwag-chat--insert-delta stream "Short `first` line.\n\n" nil)
              (dotimes (i 40)
                (chinwag-chat--insert-delta stream (format "word `code%d` and " i) nil)
                (font-lock-fontify-region (point-min) (point-max)))
              (should (funcall face-at "`firs"))
              (should (integerp (chinwag-chat--stream-deferred stream)))
              ;; Nothing on the long line, not even what it had while short.
              (should-not (funcall face-at "code2"))
              (should-not (funcall face-at "code39"))
              ;; Deltas on it are inserted as fontified, with no work for jit-lock.
              (should (get-text-property (- (chinwag-chat--stream-marker stream) 3)
                                         'fontified))
              ;; The transcript stays guarded, the draft is the user's.
              (chinwag-test-type buffer "my draft")
              (should (equal (chinwag-test-draft buffer) "my draft"))
              (goto-char (chinwag-chat--stream-marker stream))
              (should-error (insert "x") :type 'text-read-only)
              ;; Deltas for it are inserted at most every so often: the first at
              ;; once, those right after it gathered, and inserted together.
              (let ((before (buffer-size)))
                (chinwag-chat--take-delta stream "at once " nil)
                (should (= (buffer-size) (+ before 8)))
                (chinwag-chat--take-delta stream "gathered " nil)
                (chinwag-chat--take-delta stream "together " nil)
                (should (= (buffer-size) (+ before 8)))
                (should (chinwag-chat--stream-flush-timer stream))
                (chinwag-test-wait "the gathered text"
                                   (lambda () (= (buffer-size) (+ before 26))))
                (should (string-search "and at once gathered together " (buffer-string))))
              ;; A new line after it is highlighted as usual; what was gathered
              ;; goes first.
              (chinwag-chat--take-delta stream "pending " nil)
              (chinwag-chat--take-delta stream "end.\n\nNext `after` line" nil)
              (should (string-search "together pending end.\n" (buffer-string)))
              (font-lock-fontify-region (point-min) (point-max))
              (should (eq (chinwag-chat--stream-deferred stream) t))
              (should (funcall face-at "`afte"))
              (let ((answer-end (marker-position (chinwag-chat--stream-marker stream))))
                (chinwag-chat--on-answer stream '(:content nil))
                ;; The answer's text is fontified again, as redisplay would,
                ;; a moment after the last text is shown.
                (should-not flushed)
                (chinwag-test-wait "the highlighting of the long line" (lambda () flushed))
                (should (cl-find-if (lambda (region) (and (< (car region) (point-max))
                                                          (>= (cdr region) (1- answer-end))))
                                    flushed)))
              (font-lock-fontify-region (point-min) (point-max))
              (should (funcall face-at "code2"))
              (should (funcall face-at "code39"))
              (should (equal (chinwag-test-draft buffer) "my draft")))))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-typing-after-fontification ()
  "Once font-lock has run (markdown-mode's too), the draft takes typing.
The transcript refuses it: at its start, inside it, and at its last
character, whatever font-lock did to the text properties."
  (let ((buffer (chinwag-test--chat-buffer
                 '((:role "user" :content "Question `x`")
                   (:role "assistant" :content "Answer **bold**\n\n```rust\nfn main() {}\n```")))))
    (unwind-protect
        (with-current-buffer buffer
          (switch-to-buffer buffer)
          (when chinwag-test-markdown
            (should (derived-mode-p 'markdown-mode)))
          (let ((transcript (chinwag-test-transcript buffer)))
            (font-lock-ensure)
            (chinwag-test-fontify buffer)
            (goto-char (point-max))
            (insert "typed")
            (font-lock-ensure)
            (chinwag-test-fontify buffer)
            (goto-char (point-max))
            (insert " more")
            (should (equal (chinwag-test-draft buffer) "typed more"))
            (goto-char (point-min))
            (should-error (insert "x") :type 'text-read-only)
            (goto-char 5)
            (should-error (insert "x") :type 'text-read-only)
            (goto-char chinwag-chat--input)
            (should-error (delete-char -1) :type 'text-read-only)
            (should-error (delete-region (point-min) (point-max)) :type 'text-read-only)
            (insert "front ")
            (should (equal (chinwag-test-draft buffer) "front typed more"))
            (should (equal (chinwag-test-transcript buffer) transcript))
            (should (string-suffix-p "```\n\n## You\n\n" transcript))))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-undo-sees-only-the-draft ()
  "Undo and redo touch the draft only, while the transcript above it changes."
  (let ((buffer (chinwag-test--chat-buffer '((:role "user" :content "Hi")
                                             (:role "assistant" :content "Hello")))))
    (unwind-protect
        (with-current-buffer buffer
          (buffer-enable-undo)
          (chinwag-test-type buffer "one")
          (chinwag-test-type buffer " two")
          ;; The transcript grows above the draft: shown again, and streamed into.
          (chinwag-chat--render '((:role "user" :content "Hi")
                                  (:role "assistant" :content "Hello, longer now")
                                  (:role "user" :content "Elsewhere")
                                  (:role "assistant" :content "Sure")))
          (setq chinwag-chat--id "unit")
          (let* ((stream (chinwag-chat--make-stream
                          :buffer buffer :chat-id "unit" :start (float-time)
                          :marker (chinwag-chat--open-answer))))
            (chinwag-chat--insert-delta stream "Streamed " nil)
            (chinwag-test-type buffer " three")
            (chinwag-chat--insert-delta stream "text" nil)
            (let ((transcript (chinwag-test-transcript buffer))
                  (seen nil))
              (should (equal (chinwag-test-draft buffer) "one two three"))
              (should (string-search "Streamed text\n\n## You\n\n" transcript))
              ;; Undo, again and again: the draft goes back, the transcript stays.
              (setq last-command nil)
              (dotimes (_ 5)
                (condition-case nil
                    (progn (undo) (undo-boundary) (setq last-command 'undo))
                  (user-error nil))
                (push (chinwag-test-draft buffer) seen)
                (should (equal (chinwag-test-transcript buffer) transcript)))
              (should (equal (chinwag-test-draft buffer) ""))
              (should (member "one two" seen))
              (should (member "one" seen))
              ;; Redo brings the draft back, the transcript still the same.
              (when (fboundp 'undo-redo)
                (setq last-command 'undo)
                (undo-redo 1)
                (should (equal (chinwag-test-draft buffer) "one"))
                (should (equal (chinwag-test-transcript buffer) transcript))))))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-error-hints ()
  "Errors naming an action get a hint naming the user's command."
  (let ((chinwag-rpc--config-file (expand-file-name "~/.config/chinwag/config.toml")))
    (should (equal (chinwag-rpc-error-hint
                    '(:code 1005 :message "no key" :data (:action "setKey" :provider "mock")))
                   "M-x chinwag-set-key RET mock"))
    (should (equal (chinwag-rpc-error-hint '(:data (:action "unlock"))) "M-x chinwag-unlock"))
    (should (equal (chinwag-rpc-error-hint '(:data (:action "setPassword")))
                   "M-x chinwag-set-password"))
    (should (equal (chinwag-rpc-error-hint
                    '(:data (:action "fixConfig" :key "providers.mock.base_url" :line 3)))
                   "edit ~/.config/chinwag/config.toml line 3 (providers.mock.base_url)"))
    (let ((hint (chinwag-rpc-error-hint
                 '(:data (:action "startLocalServer" :provider "ollama"
                                  :url "http://127.0.0.1:11434")))))
      (should (string-search "ollama" hint))
      (should (string-search "http://127.0.0.1:11434" hint)))
    (should (string-match-p "restore" (chinwag-rpc-error-hint
                                       '(:data (:action "restoreOrReset")))))
    ;; Without an action, the codes that imply one.
    (should (equal (chinwag-rpc-error-hint '(:code 1001 :message "locked")) "M-x chinwag-unlock"))
    (should (equal (chinwag-rpc-error-hint '(:code 1005 :data (:provider "groq" :env "GROQ_API_KEY")))
                   "M-x chinwag-set-key RET groq"))
    (should-not (chinwag-rpc-error-hint '(:code 1101 :message "provider error")))
    (should-not (chinwag-rpc-error-hint '(:code -32602 :data "options.x: bad")))
    ;; Shown with the error.
    (should (equal (chinwag-rpc-error-message
                    '(:code 1001 :message "the vault is locked" :data (:action "unlock")))
                   "The vault is locked; to fix it: M-x chinwag-unlock"))))

(ert-deftest chinwag-test-unit-config-errors-warn-at-start ()
  "Config errors of `initialize' are shown as warnings, one list or one error."
  (when (get-buffer "*Warnings*") (kill-buffer "*Warnings*"))
  (chinwag-rpc--check-init
   (list :protocolVersion chinwag-protocol-version
         :config (list :file "/home/u/.config/chinwag/config.toml"
                       :error "unknown provider kind"
                       :errors (vector "second problem"
                                       '(:message "bad url" :key "providers.x.base_url"
                                                  :line 7)))))
  (let ((text (with-current-buffer "*Warnings*" (buffer-string))))
    (should (string-search "unknown provider kind" text))
    (should (string-search "second problem" text))
    (should (string-search "bad url" text))
    (should (string-search "config.toml line 7" text))))

(ert-deftest chinwag-test-unit-language-from-extension ()
  "A mode that says nothing useful gives way to the file's extension."
  (should (equal (chinwag-language 'conf-javaprop-mode "/src/main.rs") "rust"))
  (should (equal (chinwag-language 'fundamental-mode "/src/main.rs") "rust"))
  (should (equal (chinwag-language 'prog-mode "/src/build.zig") "zig"))
  (should (equal (chinwag-language 'text-mode "/src/app.unknownext") "unknownext"))
  (should (equal (chinwag-language 'python-mode "/src/odd.rs") "python"))
  (should (null (chinwag-language 'fundamental-mode)))
  (with-temp-buffer
    (conf-javaprop-mode)
    (setq buffer-file-name "/tmp/chinwag-unit/main.rs")
    (unwind-protect
        (should (equal (plist-get (chinwag-region-context (point-min) (point-max)) :language)
                       "rust"))
      (setq buffer-file-name nil))))

(ert-deftest chinwag-test-unit-select-model-without-a-list ()
  "When the model list cannot be had, a typed model name is taken."
  (let ((buffer (with-current-buffer (generate-new-buffer "*chinwag-unit*")
                  (chinwag-chat-mode)
                  (current-buffer))))
    (unwind-protect
        (with-current-buffer buffer
          (chinwag-test-with-stubs
              ((chinwag-request (lambda (method &rest _)
                                  (pcase method
                                    ('providers/list
                                     '(:default "mock" :providers
                                                [(:name "mock" :defaultModel "m")]))
                                    (_ (user-error "The provider is down")))))
               (completing-read (lambda (_prompt collection &rest _)
                                  (should (null collection))
                                  "typed-model")))
            (should (equal (chinwag-select-model) '("mock" "typed-model")))
            (should (equal chinwag-chat--model "typed-model"))))
      (kill-buffer buffer))))

(ert-deftest chinwag-test-unit-set-key-may-differ-from-auth-source ()
  "With auth-source on, `chinwag-set-key' still lets the user type another key."
  (let ((chinwag-auth-source t)
        (stored nil))
    (chinwag-test-with-stubs
        ((chinwag-vault--provider-names (lambda () '("mock")))
         (completing-read (lambda (&rest _) "mock"))
         (chinwag-vault--auth-source-key (lambda (_) (copy-sequence "from-auth-source")))
         (y-or-n-p (lambda (prompt) (should (string-search "auth-source" prompt)) nil))
         (read-passwd (lambda (&rest _) (copy-sequence "typed-key")))
         (chinwag-vault--store-key (lambda (provider key)
                                     (setq stored (list provider (copy-sequence key)))
                                     '(:result (:masked "ty...ey")))))
      (call-interactively #'chinwag-set-key))
    (should (equal stored '("mock" "typed-key")))))

(ert-deftest chinwag-test-unit-delete-key-asks ()
  "`chinwag-delete-key' asks first, and deletes nothing on no."
  (let ((calls nil))
    (chinwag-test-with-stubs
        ((chinwag-request (lambda (method &rest _) (push method calls) '(:deleted t)))
         (yes-or-no-p (lambda (_) nil)))
      (should-error (chinwag-delete-key "mock") :type 'user-error))
    (should-not (memq 'vault/deleteKey calls))))

(ert-deftest chinwag-test-unit-password-length-first ()
  "The new password's length is checked before it is asked a second time."
  (let ((asked 0))
    (chinwag-test-with-stubs
        ((chinwag-request (lambda (&rest _) '(:state "unlocked" :protection "localKey")))
         (read-passwd (lambda (&rest _) (setq asked (1+ asked)) (copy-sequence "short"))))
      (should-error (chinwag-set-password) :type 'user-error))
    (should (= asked 1))))

(ert-deftest chinwag-test-unit-no-stray-prefixes ()
  "No message of the package starts with a stray \"if:\"."
  (dolist (file (directory-files (file-name-directory (locate-library "chinwag.el"))
                                 t "\\`chinwag.*\\.el\\'"))
    (with-temp-buffer
      (insert-file-contents file)
      (should-not (and (re-search-forward "\"[Ii]f: " nil t) file)))))

(ert-deftest chinwag-test-unit-autoloads ()
  "The committed autoloads are up to date and make every command available."
  (let* ((file (locate-library "chinwag-autoloads.el"))
         (dir (file-name-directory file))
         (emacs (expand-file-name invocation-name invocation-directory))
         (tmp (make-temp-file "chinwag-autoloads" t)))
    (unwind-protect
        (progn
          (dolist (source (directory-files dir t "\\`chinwag.*\\.el\\'"))
            (unless (string-suffix-p "-autoloads.el" source)
              (copy-file source (expand-file-name (file-name-nondirectory source) tmp))))
          (should (zerop (call-process
                          emacs nil nil nil "--batch" "-Q" "--eval"
                          (format "(let ((make-backup-files nil)) \
(make-directory-autoloads %S %S))"
                                  tmp (expand-file-name "chinwag-autoloads.el" tmp)))))
          (should (equal (with-temp-buffer
                           (insert-file-contents (expand-file-name "chinwag-autoloads.el" tmp))
                           (buffer-string))
                         (with-temp-buffer
                           (insert-file-contents file)
                           (buffer-string))))
          ;; A fresh Emacs that loaded only the autoloads has every command.
          (let ((check
                 "(progn
  (dolist (command '(chinwag chinwag-new chinwag-send chinwag-stop chinwag-refresh
                     chinwag-select-model chinwag-send-region chinwag-ask
                     chinwag-rewrite-region chinwag-history chinwag-set-key
                     chinwag-delete-key chinwag-unlock chinwag-lock
                     chinwag-set-password chinwag-doctor chinwag-restart chinwag-menu
                     chinwag-copy-code-block chinwag-apply-code-block
                     chinwag-next-code-block chinwag-previous-code-block
                     chinwag-regenerate chinwag-regenerate-by-another-model
                     chinwag-retry chinwag-edit chinwag-abandon-edit
                     chinwag-previous-sibling chinwag-next-sibling
                     chinwag-toggle-reasoning))
    (unless (and (commandp command) (autoloadp (symbol-function command)))
      (princ (format \"NOT AUTOLOADED %s\\n\" command))
      (kill-emacs 3)))
  (unless (keymapp chinwag-command-map) (kill-emacs 4))
  (when (featurep 'chinwag) (kill-emacs 5))
  (autoload-do-load (symbol-function 'chinwag-doctor) 'chinwag-doctor)
  (unless (and (featurep 'chinwag) (not (autoloadp (symbol-function 'chinwag-doctor))))
    (kill-emacs 6))
  (kill-emacs 0))"))
            (with-temp-buffer
              (let ((status (call-process emacs nil t nil "--batch" "-Q" "-L" dir
                                          "-l" file "--eval" check)))
                (should (equal (list status (buffer-string)) (list 0 (buffer-string))))))))
      (delete-directory tmp t))))

;;;; Conversation trees (the real backend, a provider served from here)

;; The Rust test that runs the unit tests queues nothing for them, so
;; these tests serve their own scripted OpenAI-compatible provider from
;; this Emacs, on 127.0.0.1, and point a backend of their own at it.

(defvar chinwag-test-provider--replies nil
  "Replies of the scripted provider, in order: each a plist.
:tokens, a list of strings streamed as content; :reasoning, strings
streamed as reasoning first; or :status and :body, a plain answer.")

(defvar chinwag-test-provider--seen nil
  "The requests the scripted provider received, newest first.
Each is a plist: :method, :path and :json (the parsed body).")

(defvar chinwag-test-provider--server nil
  "The scripted provider's server process.")

(defun chinwag-test-provider--sse (reply)
  "Return the SSE body of REPLY."
  (let ((event (lambda (delta)
                 (concat "data: " (json-encode `((choices . [((delta . ,delta))]))) "\n\n"))))
    (concat
     (mapconcat (lambda (text) (funcall event `((reasoning_content . ,text))))
                (plist-get reply :reasoning) "")
     (mapconcat (lambda (text) (funcall event `((content . ,text))))
                (plist-get reply :tokens) "")
     "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
     "data: [DONE]\n\n")))

(defun chinwag-test-provider--answer (process method path body)
  "Answer the request METHOD PATH with BODY on PROCESS, then close it."
  (let* ((json (and (> (length body) 0)
                    (json-parse-string (decode-coding-string body 'utf-8)
                                       :object-type 'plist :array-type 'list)))
         (models (equal path "/v1/models"))
         (reply (unless models (pop chinwag-test-provider--replies)))
         (status (if models 200 (or (plist-get reply :status) 200)))
         (payload (encode-coding-string
                   (cond
                    (models "{\"object\":\"list\",\"data\":[{\"id\":\"other-model\"},{\"id\":\"other-large\"}]}")
                    ((null reply) "{\"error\":{\"message\":\"no reply queued\"}}")
                    ((plist-get reply :body))
                    (t (chinwag-test-provider--sse reply)))
                   'utf-8)))
    (push (list :method method :path path :json json) chinwag-test-provider--seen)
    (process-send-string
     process
     (format "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
             (if (or models reply) status 500) (if (= status 200) "OK" "Error")
             (if (or models (plist-get reply :body) (null reply))
                 "application/json" "text/event-stream")
             (length payload)))
    (process-send-string process payload)
    (process-send-eof process)))

(defun chinwag-test-provider--filter (process string)
  "Collect STRING from PROCESS; answer once a whole request came."
  (let ((data (concat (or (process-get process 'data) "") string)))
    (process-put process 'data data)
    (let ((end (string-search "\r\n\r\n" data)))
      (when end
        (let* ((head (substring data 0 end))
               (length (if (string-match "^content-length: *\\([0-9]+\\)" (downcase head))
                           (string-to-number (match-string 1 (downcase head)))
                         0))
               (body (substring data (+ end 4))))
          (when (and (>= (length body) length) (not (process-get process 'answered)))
            (process-put process 'answered t)
            (string-match "\\`\\([A-Z]+\\) \\([^ ]+\\)" head)
            (chinwag-test-provider--answer process (match-string 1 head) (match-string 2 head)
                                           (substring body 0 length))))))))

(defun chinwag-test-provider-start (&rest replies)
  "Serve REPLIES (see `chinwag-test-provider--replies'); write the backend's config.
The config names two providers on it: `mock' (default model mock-model,
the default provider) and `other' (other-model).  Any backend running
is stopped, so that the next request starts one with this config."
  (chinwag-rpc-shutdown)
  (setq chinwag-test-provider--replies replies
        chinwag-test-provider--seen nil
        chinwag-test-provider--server
        (make-network-process :name "chinwag-test-provider" :server t :host 'local
                              :service t :family 'ipv4 :coding 'binary :noquery t
                              :filter #'chinwag-test-provider--filter))
  (let* ((port (process-contact chinwag-test-provider--server :service))
         (url (format "http://127.0.0.1:%d/v1" port))
         (file (expand-file-name "chinwag/config.toml"
                                 (or (getenv "XDG_CONFIG_HOME") "~/.config"))))
    (make-directory (file-name-directory file) t)
    (with-temp-file file
      (insert "default_provider = \"mock\"\n"
              "[vault]\nkdf_memory_mib = 19\nkdf_iterations = 2\nkdf_parallelism = 1\n"
              "[chat]\nidle_timeout_secs = 5\n"
              "[providers.mock]\nkind = \"openai-compatible\"\n"
              (format "base_url = \"%s\"\ndefault_model = \"mock-model\"\n" url)
              "[providers.other]\nkind = \"openai-compatible\"\n"
              (format "base_url = \"%s\"\ndefault_model = \"other-model\"\n" url)))
    file))

(defun chinwag-test-provider-stop (config)
  "Stop the backend and the scripted provider; remove CONFIG, its config file."
  (chinwag-rpc-shutdown)
  (when (process-live-p chinwag-test-provider--server)
    (delete-process chinwag-test-provider--server))
  (setq chinwag-chat--providers nil)
  (when (file-exists-p config)
    (delete-file config)))

(defun chinwag-test-provider-chats ()
  "Return the bodies of the chat requests the provider saw, oldest first."
  (mapcar (lambda (seen) (plist-get seen :json))
          (reverse (cl-remove-if-not (lambda (seen)
                                       (equal (plist-get seen :path) "/v1/chat/completions"))
                                     chinwag-test-provider--seen))))

(defun chinwag-test-provider-messages (body)
  "Return the (ROLE CONTENT) pairs of the chat request BODY."
  (mapcar (lambda (m) (list (plist-get m :role) (plist-get m :content)))
          (plist-get body :messages)))

(defun chinwag-test-headings (buffer)
  "Return the heading lines of BUFFER's transcript, in order."
  (with-current-buffer buffer
    (mapcar (lambda (span)
              (save-excursion
                (goto-char (plist-get span :heading))
                (buffer-substring-no-properties (point) (line-end-position))))
            (chinwag-chat--message-spans))))

(defun chinwag-test-reloaded (buffer label)
  "Wait until BUFFER's transcript, shown again as saved, has a heading with LABEL."
  (chinwag-test-wait (format "a heading with %s" label)
                     (lambda () (cl-some (lambda (heading) (string-search label heading))
                                         (chinwag-test-headings buffer)))))

(defun chinwag-test-goto-message (buffer regexp)
  "Put point in BUFFER on the first message matching REGEXP."
  (with-current-buffer buffer
    (goto-char (point-min))
    (re-search-forward regexp)
    (goto-char (match-beginning 0))))

(ert-deftest chinwag-test-unit-tree-regenerate-and-switch ()
  "Regenerate, with another model too; switch versions; send from the branch shown."
  (skip-unless chinwag-test-binary)
  (let ((config (chinwag-test-provider-start
                 '(:tokens ("First " "answer."))
                 '(:tokens ("Second " "answer."))
                 '(:tokens ("Third " "answer."))
                 '(:tokens ("Follow-up answer.")))))
    (unwind-protect
        (let ((buffer (chinwag-test-chat t)))
          (chinwag-test-say buffer "Question")
          (should (equal (chinwag-test-last-answer buffer) "First answer."))
          (should (equal (chinwag-test-headings buffer)
                         '("## You" "## Assistant (mock/mock-model)" "## You")))
          ;; The ids of the turn come from the result.
          (with-current-buffer buffer
            (should (cl-every (lambda (m) (plist-get m :id)) chinwag-chat--messages)))
          (chinwag-test-type buffer "my draft")
          (with-current-buffer buffer
            (buffer-enable-undo)
            (should (eq (key-binding (kbd "C-c C-r")) #'chinwag-regenerate))
            (call-interactively #'chinwag-regenerate))
          (chinwag-test-answer buffer)
          (chinwag-test-reloaded buffer "[2/2]")
          (should (equal (chinwag-test-last-answer buffer) "Second answer."))
          (should (equal (chinwag-test-headings buffer)
                         '("## You" "## Assistant (mock/mock-model) [2/2]" "## You")))
          (should (equal (chinwag-test-draft buffer) "my draft"))
          (should (equal (chinwag-test-provider-messages (nth 1 (chinwag-test-provider-chats)))
                         '(("user" "Question"))))
          ;; Previous version, from the draft: the last message's.  The
          ;; window keeps its start, the draft its text, undo the draft only.
          (let ((window (get-buffer-window buffer)))
            (with-current-buffer buffer
              (set-window-start window 4)
              (call-interactively (key-binding (kbd "C-c [")))
              (should (equal (chinwag-test-last-answer buffer) "First answer."))
              (should (equal (chinwag-test-headings buffer)
                             '("## You" "## Assistant (mock/mock-model) [1/2]" "## You")))
              (should (= (window-start window) 4))
              (should (equal (chinwag-test-draft buffer) "my draft"))
              (let ((transcript (chinwag-test-transcript buffer)))
                (undo-boundary)
                (setq last-command nil)
                (condition-case nil (undo) (user-error nil))
                (should (equal (chinwag-test-transcript buffer) transcript)))
              (chinwag-test-type buffer "my draft")
              (should-error (chinwag-previous-sibling) :type 'user-error)
              ;; On the answer itself: point stays on it.
              (chinwag-test-goto-message buffer "^First answer")
              (call-interactively (key-binding (kbd "C-c ]")))
              (should (equal (chinwag-test-last-answer buffer) "Second answer."))
              (should (looking-at "## Assistant (mock/mock-model) \\[2/2\\]"))
              (should-error (chinwag-next-sibling) :type 'user-error)))
          ;; Answer again by another provider and model, chosen first.
          (chinwag-test-with-stubs
              ((completing-read (lambda (prompt collection &rest _)
                                  (if (string-prefix-p "Provider" prompt)
                                      (progn (should (member "other" collection)) "other")
                                    (should (member "other-large" collection))
                                    "other-large"))))
            (with-current-buffer buffer
              (goto-char (point-max))
              (chinwag-regenerate '(4))))
          (with-current-buffer buffer
            (should (string-search "## Assistant (other/other-large)" (buffer-string))))
          (chinwag-test-answer buffer)
          (chinwag-test-reloaded buffer "[3/3]")
          (should (equal (chinwag-test-headings buffer)
                         '("## You" "## Assistant (other/other-large) [3/3]" "## You")))
          (should (equal (chinwag-test-last-answer buffer) "Third answer."))
          (should (equal (plist-get (nth 2 (chinwag-test-provider-chats)) :model) "other-large"))
          (with-current-buffer buffer
            ;; The chat's own provider and model did not change.
            (should (string-match-p "mock / mock-model" header-line-format)))
          ;; Back to the first answer, then send: the model sees that branch.
          (with-current-buffer buffer
            (chinwag-previous-sibling)
            (chinwag-previous-sibling))
          (should (equal (chinwag-test-last-answer buffer) "First answer."))
          (with-current-buffer buffer
            (chinwag-chat--set-draft "Go on"))
          (chinwag-test-say buffer "")
          (should (equal (chinwag-test-provider-messages (nth 3 (chinwag-test-provider-chats)))
                         '(("user" "Question") ("assistant" "First answer.")
                           ("user" "Go on"))))
          (kill-buffer buffer))
      (chinwag-test-provider-stop config))))

(ert-deftest chinwag-test-unit-tree-edit ()
  "An edited turn is sent with chat/edit and makes a branch; the draft comes back."
  (skip-unless chinwag-test-binary)
  (let ((config (chinwag-test-provider-start
                 '(:tokens ("Answer one."))
                 '(:tokens ("Answer two.")))))
    (unwind-protect
        (let ((buffer (chinwag-test-chat t))
              (methods nil))
          (chinwag-test-say buffer "Original question")
          (chinwag-test-type buffer "keep me")
          ;; Edit the turn at point; then abandon: the draft comes back.
          (chinwag-test-goto-message buffer "^Original question")
          (with-current-buffer buffer
            (should (eq (key-binding (kbd "C-c C-e")) #'chinwag-edit))
            (call-interactively #'chinwag-edit)
            (should (equal (chinwag-test-draft buffer) "Original question"))
            (should (string-search "editing a message" header-line-format))
            (call-interactively (key-binding (kbd "C-c C-q")))
            (should (equal (chinwag-test-draft buffer) "keep me"))
            (should-not (string-search "editing" header-line-format))
            (should-error (chinwag-abandon-edit) :type 'user-error))
          ;; Edit again and send it.
          (chinwag-test-goto-message buffer "^Answer one")
          (with-current-buffer buffer
            (chinwag-edit)
            (chinwag-chat--set-draft "Edited question"))
          (let ((record (lambda (_conn method &rest _) (push method methods))))
            (advice-add 'jsonrpc-async-request :before record)
            (unwind-protect
                (with-current-buffer buffer (chinwag-send))
              (advice-remove 'jsonrpc-async-request record)))
          (should (memq 'chat/edit methods))
          (should-not (memq 'chat/send methods))
          (chinwag-test-answer buffer)
          (chinwag-test-reloaded buffer "## You [2/2]")
          (should (equal (chinwag-test-headings buffer)
                         '("## You [2/2]" "## Assistant (mock/mock-model)" "## You")))
          (should (equal (chinwag-test-last-answer buffer) "Answer two."))
          (should (string-search "Edited question" (chinwag-test-transcript buffer)))
          (should-not (string-search "Original question" (chinwag-test-transcript buffer)))
          (should (equal (chinwag-test-draft buffer) "keep me"))
          (should (equal (chinwag-test-provider-messages (nth 1 (chinwag-test-provider-chats)))
                         '(("user" "Edited question"))))
          ;; The original is a sibling: the branch it starts is still there.
          (chinwag-test-goto-message buffer "^Edited question")
          (with-current-buffer buffer (chinwag-previous-sibling))
          (should (equal (chinwag-test-headings buffer)
                         '("## You [1/2]" "## Assistant (mock/mock-model)" "## You")))
          (should (equal (chinwag-test-last-answer buffer) "Answer one."))
          (should (equal (chinwag-test-draft buffer) "keep me"))
          (kill-buffer buffer))
      (chinwag-test-provider-stop config))))

(ert-deftest chinwag-test-unit-tree-retry-and-reasoning ()
  "A failed turn is retried; reasoning is shown folded and opens."
  (skip-unless chinwag-test-binary)
  (let ((config (chinwag-test-provider-start
                 '(:status 500 :body "{\"error\":{\"message\":\"overloaded\"}}")
                 '(:reasoning ("Think " "hard.") :tokens ("Worked."))
                 '(:tokens ("Next."))))
        (chinwag-request-timeout 60))
    (unwind-protect
        (let ((buffer (chinwag-test-chat t)))
          (chinwag-test-say buffer "Will it work?")
          (with-current-buffer buffer
            (should (string-search "[error:" (buffer-string)))
            (should (eq (key-binding (kbd "C-c C-v")) #'chinwag-retry))
            (goto-char (point-max))
            (call-interactively #'chinwag-retry))
          (chinwag-test-answer buffer)
          (chinwag-test-reloaded buffer "[2/2]")
          (should (equal (chinwag-test-headings buffer)
                         '("## You" "## Assistant (mock/mock-model) [2/2]" "## You")))
          (should (equal (chinwag-test-provider-messages (nth 1 (chinwag-test-provider-chats)))
                         '(("user" "Will it work?"))))
          (with-current-buffer buffer
            (should-not (string-search "[error:" (buffer-string)))
            (should-error (chinwag-retry) :type 'user-error)
            ;; The reasoning is there, folded; TAB on it, or C-c C-z, opens it.
            (let* ((label (car (chinwag-chat--reasoning-labels)))
                   (body (overlay-get label 'chinwag-body)))
              (should (equal (buffer-substring-no-properties (overlay-start body)
                                                             (overlay-end body))
                             "Think hard.\n"))
              (should (invisible-p (overlay-start body)))
              (should-not (invisible-p (overlay-start label)))
              (goto-char (overlay-start label))
              (should (eq (key-binding (kbd "TAB")) #'chinwag-toggle-reasoning))
              (call-interactively (key-binding (kbd "TAB")))
              (should-not (invisible-p (overlay-start body)))
              (goto-char (point-max))
              (call-interactively (key-binding (kbd "C-c C-z")))
              (should (invisible-p (overlay-start body))))
            (should (equal (chinwag-test-last-answer buffer)
                           (concat "Reasoning\nThink hard.\n\nWorked."))))
          ;; The failed turn is not sent again, the retried one is.
          (chinwag-test-say buffer "And now?")
          (should (equal (chinwag-test-provider-messages (nth 2 (chinwag-test-provider-chats)))
                         '(("user" "Will it work?") ("assistant" "Worked.")
                           ("user" "And now?"))))
          (kill-buffer buffer))
      (chinwag-test-provider-stop config))))

;;;; Scenario: a chat round trip

(ert-deftest chinwag-test-chat ()
  "A chat streams at the end without moving point, then shows usage; and more."
  (let* ((buffer (chinwag-test-chat))
         (conn (chinwag-rpc-connection))
         (requests nil))
    (with-current-buffer buffer
      (should (eq major-mode 'chinwag-chat-mode))
      (should (derived-mode-p 'text-mode))
      ;; The second run of each scenario is with markdown-mode, for real.
      (should (eq (and (derived-mode-p 'markdown-mode) t) (and chinwag-test-markdown t)))
      (should (string-match-p "mock / mock-model" header-line-format))
      (should (equal (buffer-string) "## You\n\n")))
    ;; The model list comes from the provider; choose the other model.
    (chinwag-test-with-stubs
        ((completing-read (lambda (_prompt collection &rest _)
                            (should (equal (sort (copy-sequence collection) #'string<)
                                           '("mock-large" "mock-model")))
                            "mock-large")))
      (with-current-buffer buffer (chinwag-select-model)))
    (with-current-buffer buffer
      (should (string-match-p "mock / mock-large" header-line-format)))
    ;; Send with C-c RET, recording how the request is made.
    (chinwag-test-type buffer "Say hello")
    (let ((undo-before (buffer-local-value 'buffer-undo-list buffer))
          (record (lambda (_conn method _params &rest args)
                    (push (cons method args) requests))))
      (advice-add 'jsonrpc-async-request :before record)
      (unwind-protect
          (with-current-buffer buffer
            (call-interactively (key-binding (kbd "C-c RET"))))
        (advice-remove 'jsonrpc-async-request record))
      (let ((send (assq 'chat/send requests)))
        (should send)
        ;; No timeout: jsonrpc.el's default of 10 s must not apply.
        (should (plist-member (cdr send) :timeout))
        (should (null (plist-get (cdr send) :timeout))))
      (maphash (lambda (_id continuation) (should (null (nth 2 continuation))))
               (jsonrpc--request-continuations conn))
      (with-current-buffer buffer
        (let ((window (get-buffer-window buffer))
              (seen-progress nil)
              (grew nil)
              (size (buffer-size)))
          (ignore undo-before)
          ;; The message went to the transcript, the answer comes below it and
          ;; the new draft, empty, below that, with point.
          (should (equal (buffer-string)
                         "## You\n\nSay hello\n\n## Assistant (mock/mock-large)\n\n\n\n## You\n\n"))
          (should (= (point) (point-max)))
          ;; While it streams: point and window point stay in the draft, below
          ;; the answer; the transcript refuses input.
          (while chinwag-chat--stream
            (accept-process-output nil 0.02)
            (chinwag-test-fontify-as-shown buffer)
            (when chinwag-chat--stream
              (should (= (point) (point-max)))
              (should (= (window-point window) (point-max))))
            (when (> (buffer-size) size) (setq grew t))
            (when (and mode-line-process (string-match-p "answering" mode-line-process))
              (setq seen-progress t))
            (when (and chinwag-chat--stream (> (buffer-size) size))
              (save-excursion
                (goto-char (point-min))
                (should-error (insert "x") :type 'text-read-only))))
          (should grew)
          (should seen-progress)
          (should (= (point) (point-max)))
          (should (= (window-point window) (point-max)))
          ;; Nothing streamed went into the undo list, and what was sent left it.
          (should (null buffer-undo-list))
          (should (string-match-p "\\[11\\+5 tokens, [0-9.]+ tok/s, [0-9.]+ s\\]"
                                  mode-line-process))
          (should (equal (chinwag-test-last-answer buffer)
                         "Hello from the **mock**\n\n```rust\nfn main() {}\n```"))
          (should (string-suffix-p "```\n\n## You\n\n" (buffer-string)))
          ;; The transcript is read-only; the new input area is not.
          (goto-char (point-min))
          (should-error (insert "x") :type 'text-read-only)
          (goto-char (point-max))
          (insert "typed")
          (should (string-suffix-p "## You\n\ntyped" (buffer-string)))
          (delete-region (- (point-max) 5) (point-max))
          (unless chinwag-test-markdown
            (chinwag-test-fontify buffer)
            (should (eq (chinwag-test-face-at buffer "^## Assistant") 'chinwag-heading))
            (should (eq (chinwag-test-face-at buffer "fn main") 'chinwag-code))
            (should (eq (chinwag-test-face-at buffer "^```rust") 'chinwag-fence))))))
    ;; The history holds both turns; the title names the buffer.
    (let ((chat (chinwag-test-history (buffer-local-value 'chinwag-chat--id buffer))))
      (should (equal (plist-get chat :model) "mock-large"))
      (should (equal (plist-get (aref (plist-get chat :messages) 1) :status) "complete")))
    (should (equal (buffer-name buffer) "*chinwag: Say hello*"))
    ;; A second turn continues the chat; point moved away stays where it went.
    (chinwag-test-type buffer "More")
    (with-current-buffer buffer
      (chinwag-send)
      (goto-char (point-min))
      (chinwag-test-answer buffer)
      (should (= (point) (point-min))))
    (should (equal (chinwag-test-last-answer buffer) "Again."))
    ;; Nothing of the conversation reached a log.
    (dolist (name (list chinwag-events-buffer-name "*chinwag stderr*" " *chinwag stderr*"))
      (when (get-buffer name)
        (with-current-buffer name
          (should-not (string-search "Say hello" (buffer-string)))
          (should-not (string-search "from the" (buffer-string))))))
    ;; The doctor sees it all, in the selected window.
    (with-current-buffer (call-interactively #'chinwag-doctor)
      (should (eq (window-buffer (selected-window)) (current-buffer)))
      (let ((text (buffer-string)))
        (should (string-match-p (concat "Emacs: +" (regexp-quote emacs-version)) text))
        (should (string-match-p "Backend: +chinwag 0\\.1\\.0, protocol 1\\.0" text))
        (should (string-match-p "Vault: +unlocked, protection localKey" text))
        (should (string-match-p "mock +openai-compatible +http://127\\.0\\.0\\.1" text))
        (should (string-match-p (if chinwag-test-markdown
                                    "markdown-mode installed (used)"
                                  "markdown-mode not installed")
                                text))))
    ;; Killing Emacs shuts the backend down cleanly.
    (let ((process (chinwag-connection-process conn)))
      (chinwag-rpc-shutdown)
      (should (eq (process-status process) 'exit))
      (should (= (process-exit-status process) 0))
      (should-not (chinwag-rpc-live-p)))))

;;;; Scenario: stop

(ert-deftest chinwag-test-stop ()
  "C-c C-k stops the answer at once; the next message goes through."
  (let ((buffer (chinwag-test-chat)))
    (chinwag-test-type buffer "count")
    (with-current-buffer buffer (chinwag-send))
    (chinwag-test-wait "the first delta"
                       (lambda () (string-search "tok0" (with-current-buffer buffer
                                                          (buffer-string)))))
    (with-current-buffer buffer
      (call-interactively (key-binding (kbd "C-c C-k")))
      ;; At once: the note is there before anything else is processed.
      (should (string-match-p "\\[stopped\\]\n\n## You\n\n\\'" (buffer-string)))
      (should (equal mode-line-process " [stopped]"))
      (let ((text (buffer-string)))
        (sleep-for 0.4)
        (accept-process-output nil 0.1)
        (should (equal (buffer-string) text))))
    (chinwag-test-answer buffer)
    (let* ((chat (chinwag-test-history (buffer-local-value 'chinwag-chat--id buffer)))
           (answer (aref (plist-get chat :messages) 1)))
      (should (equal (plist-get answer :status) "cancelled"))
      (should (string-prefix-p "tok0 " (plist-get answer :content))))
    (chinwag-test-say buffer "again")
    (should (equal (chinwag-test-last-answer buffer) "after stop"))
    ;; Killing a chat buffer stops its answer too.
    (chinwag-test-type buffer "once more")
    (with-current-buffer buffer (chinwag-send))
    (chinwag-test-wait "the first delta of the third answer"
                       (lambda () (string-search "tok0" (chinwag-test-last-answer buffer))))
    (kill-buffer buffer)
    (chinwag-rpc-shutdown)))

;;;; Scenario: region and ask

(ert-deftest chinwag-test-region ()
  "The region goes with its file name, language and lines; ask sends the buffer."
  (let* ((root (expand-file-name "~/proj/"))
         (file (expand-file-name "pkg/util.py" root)))
    (make-directory (expand-file-name ".git" root) t)
    (make-directory (file-name-directory file) t)
    (with-temp-file file
      (insert "import os\n\ndef home():\n    return os.environ['HOME']\n"))
    (let ((source (find-file-noselect file)))
      (with-current-buffer source
        (should (eq major-mode 'python-mode))
        (transient-mark-mode 1)
        (goto-char (point-min))
        (forward-line 2)
        (push-mark (point) t t)
        (forward-line 2)
        (should (use-region-p))
        (call-interactively #'chinwag-send-region)
        (should-not (use-region-p)))
      (let ((chat chinwag-chat--last-buffer))
        (chinwag-test-answer chat)
        (should (equal (chinwag-test-last-answer chat) "It reads HOME."))
        ;; What the buffer shows is what the backend saved.
        (let* ((saved (chinwag-test-history (buffer-local-value 'chinwag-chat--id chat)))
               (content (plist-get (aref (plist-get saved :messages) 0) :content)))
          (should (equal content "Explain this code.\n\n`pkg/util.py` lines 3-4:\n\
```python\ndef home():\n    return os.environ['HOME']\n```"))
          (with-current-buffer chat
            (should (string-search (concat "## You\n\n" content "\n\n## Assistant")
                                   (buffer-string)))))
        ;; The chat remembers the region, for `chinwag-apply-code-block'.
        (let ((origin (buffer-local-value 'chinwag-chat--origin chat)))
          (should (eq (car origin) source))
          (should (equal (with-current-buffer source
                           (buffer-substring-no-properties (nth 1 origin) (nth 2 origin)))
                         "def home():\n    return os.environ['HOME']\n")))
        (with-current-buffer chat
          (should (equal (cadr (should-error (chinwag-apply-code-block) :type 'user-error))
                         "No code block in the answers of this chat")))
        ;; Ask about the whole buffer, from the minibuffer.
        (with-current-buffer source
          (deactivate-mark)
          (chinwag-test-with-stubs
              ((read-string (lambda (prompt &rest _)
                              (should (string-match-p "Ask about util.py" prompt))
                              "What does it import?")))
            (call-interactively #'chinwag-ask)))
        (chinwag-test-answer chat)
        (should (equal (chinwag-test-last-answer chat) "Only os."))
        ;; Asked about the whole buffer: the whole buffer is remembered.
        (let ((origin (buffer-local-value 'chinwag-chat--origin chat)))
          (should (eq (car origin) source))
          (should (equal (list (marker-position (nth 1 origin))
                               (marker-position (nth 2 origin)))
                         (with-current-buffer source (list (point-min) (point-max))))))))
    (chinwag-rpc-shutdown)))

;;;; Scenario: rewrite

(declare-function rust-mode "rust-mode" ())
(unless (fboundp 'rust-mode)
  (define-derived-mode rust-mode prog-mode "Rust"
    "Stands in for rust-mode, which Emacs 28 does not have built in."))

(ert-deftest chinwag-test-rewrite ()
  "A rewrite is shown as a diff; nothing changes until it is accepted."
  (let ((original "fn add(a: u8, b: u8) -> u8 { a + b }\nfn main() {}\n"))
    (with-current-buffer (get-buffer-create "lib.rs")
      (rust-mode)
      (insert original)
      (set-buffer-modified-p nil)
      (buffer-enable-undo)
      (transient-mark-mode 1)
      ;; Rewrite the first line and accept.
      (goto-char (point-min))
      (push-mark (point) t t)
      (forward-line 1)
      (chinwag-test-with-stubs ((read-string (lambda (&rest _) "use i32")))
        (call-interactively #'chinwag-rewrite-region))
      (let ((job chinwag-rewrite--job))
        (chinwag-test-wait "the proposal"
                           (lambda () (eq (chinwag-rewrite--job-state job) 'proposed)))
        (should (> (chinwag-rewrite--job-chars job) 0))
        (should (equal (buffer-string) original))
        (should-not (buffer-modified-p))
        (should chinwag-rewrite-mode)
        (let ((overlay (chinwag-rewrite--job-overlay job)))
          (should (eq (overlay-get overlay 'face) 'chinwag-rewrite-removed))
          (should (equal (substring-no-properties (overlay-get overlay 'after-string))
                         "fn add(a: i32, b: i32) -> i32 { a + b }\n")))
        (should (eq (key-binding (kbd "C-c C-c")) #'chinwag-rewrite-accept))
        (undo-boundary)
        (call-interactively (key-binding (kbd "C-c C-c")))
        (should (equal (buffer-string)
                       "fn add(a: i32, b: i32) -> i32 { a + b }\nfn main() {}\n"))
        (should-not chinwag-rewrite-mode)
        (should-not (overlays-in (point-min) (point-max)))
        ;; One undo step restores the original.
        (undo-boundary)
        (primitive-undo 1 (cdr buffer-undo-list))
        (setq buffer-undo-list nil)
        (should (equal (buffer-string) original)))
      (set-buffer-modified-p nil)
      ;; Rewrite the second line and reject: nothing changes.
      (goto-char (point-min))
      (forward-line 1)
      (push-mark (point) t t)
      (end-of-line)
      (chinwag-rewrite-region (region-beginning) (region-end) "add a comment")
      (chinwag-test-wait "the second proposal"
                         (lambda () (eq (chinwag-rewrite--job-state chinwag-rewrite--job)
                                        'proposed)))
      (should (equal (substring-no-properties
                      (overlay-get (chinwag-rewrite--job-overlay chinwag-rewrite--job)
                                   'after-string))
                     "\n// main\nfn main() {}\n"))
      (call-interactively (key-binding (kbd "C-c C-k")))
      (should (equal (buffer-string) original))
      (should-not (buffer-modified-p))
      (should-not (overlays-in (point-min) (point-max)))
      (should-error (chinwag-rewrite-accept) :type 'user-error)
      ;; A rewrite being written can be stopped.
      (let ((job (chinwag-rewrite-region 1 10 "slowly")))
        ;; Its progress is in the mode line (`format-mode-line' gives nothing
        ;; in batch Emacs: the lighter is checked), and C-c C-k here stops it.
        (should chinwag-rewrite-mode)
        (should (equal (cadr (assq 'chinwag-rewrite-mode minor-mode-alist))
                       '(:eval (chinwag-rewrite--lighter))))
        (should (string-match-p "Rewriting\\[0 chars\\]" (chinwag-rewrite--lighter)))
        (chinwag-test-wait "the first delta of the slow rewrite"
                           (lambda () (chinwag-rewrite--job-chat-id job)))
        (should (string-match-p "Rewriting\\[[1-9][0-9]* chars\\]"
                                (chinwag-rewrite--lighter)))
        (should (eq (key-binding (kbd "C-c C-k")) #'chinwag-rewrite-reject))
        (call-interactively (key-binding (kbd "C-c C-k")))
        (should-not chinwag-rewrite-mode)
        (should-not chinwag-rewrite--job)
        (should (equal (buffer-string) original))
        (chinwag-test-wait "the end of the slow rewrite"
                           (lambda () (not (memq job chinwag-rewrite--waiting))))))
    (chinwag-rpc-shutdown)))

;;;; Scenario: history

(ert-deftest chinwag-test-history ()
  "The history lists, renames, searches, exports, deletes and reopens chats."
  (let* ((first (chinwag-test-chat t))
         (second (progn (chinwag-test-say first "First topic: lifetimes")
                        (chinwag-test-chat t)))
         (first-id (buffer-local-value 'chinwag-chat--id first)))
    (chinwag-test-say second "Second topic")
    (let ((second-id (buffer-local-value 'chinwag-chat--id second))
          (history (chinwag-history)))
      (with-current-buffer history
        (should (eq major-mode 'chinwag-history-mode))
        (should (equal (mapcar #'car tabulated-list-entries) (list second-id first-id)))
        (should (string-search "First topic: lifetimes" (buffer-string)))
        ;; R renames the chat at point (the newest), and its buffer.
        (goto-char (point-min))
        (should (equal (tabulated-list-get-id) second-id))
        (chinwag-test-with-stubs ((read-string (lambda (&rest _) "Renamed chat")))
          (call-interactively (key-binding "R")))
        (should (string-search "Renamed chat" (buffer-string)))
        (should (equal (buffer-name second) "*chinwag: Renamed chat*"))
        ;; s searches titles and contents.
        (chinwag-test-with-stubs ((read-string (lambda (&rest _) "LIFETIME")))
          (call-interactively (key-binding "s")))
        (should (equal (mapcar #'car tabulated-list-entries) (list first-id)))
        (chinwag-test-with-stubs ((read-string (lambda (&rest _) "")))
          (call-interactively (key-binding "s")))
        (should (= (length tabulated-list-entries) 2))
        ;; e exports the chat at point to Markdown (C-u: JSON).
        (goto-char (point-min))
        (forward-line 1)
        (should (equal (tabulated-list-get-id) first-id))
        (chinwag-test-with-stubs ((read-file-name (lambda (&rest _) "~/first.md")))
          (call-interactively (key-binding "e")))
        (should (string-search "First topic: lifetimes"
                               (with-temp-buffer
                                 (insert-file-contents "~/first.md")
                                 (buffer-string))))
        (let ((current-prefix-arg '(4)))
          (chinwag-test-with-stubs ((read-file-name (lambda (&rest _) "~/first.json")))
            (call-interactively (key-binding "e"))))
        (should (string-search "\"chinwag-export\""
                               (with-temp-buffer
                                 (insert-file-contents "~/first.json")
                                 (buffer-string))))
        ;; Exporting over an existing file asks first.
        (chinwag-test-with-stubs ((read-file-name (lambda (&rest _) "~/first.md"))
                                  (y-or-n-p (lambda (&rest _) nil)))
          (should-error (call-interactively (key-binding "e")) :type 'user-error))
        ;; d flags, x deletes after asking.
        (goto-char (point-min))
        (call-interactively (key-binding "d"))
        (goto-char (point-min))
        (should (eq (char-after) ?D))
        (let ((asked nil))
          (chinwag-test-with-stubs ((yes-or-no-p (lambda (prompt) (setq asked prompt) t)))
            (call-interactively (key-binding "x")))
          (should (string-match-p "Renamed chat" asked)))
        (should (equal (mapcar #'car tabulated-list-entries) (list first-id)))
        (should (equal (plist-get (chinwag-rpc-request 'history/list) :total) 1))
        (should (string-search "deleted from history"
                               (buffer-local-value 'header-line-format second)))
        ;; RET reopens a chat whose buffer is gone; a message continues it.
        (kill-buffer first)
        (goto-char (point-min))
        (let ((reopened (call-interactively (key-binding (kbd "RET")))))
          (should (equal (buffer-local-value 'chinwag-chat--id reopened) first-id))
          (with-current-buffer reopened
            (should (string-match-p "\\`## You\n\nFirst topic: lifetimes\n\n## Assistant (mock/mock-model)\n\n\
Lifetimes are scopes\\.\n\n## You\n\n\\'"
                                    (buffer-string))))
          (chinwag-test-say reopened "Go on")
          (should (equal (chinwag-test-last-answer reopened) "Continued."))
          (should (= 4 (length (plist-get (chinwag-test-history first-id) :messages))))))))
  (chinwag-rpc-shutdown))

;;;; Scenario: keys

(ert-deftest chinwag-test-keys ()
  "Keys come from read-passwd or auth-source, also when a chat needs one."
  (let ((asked 0)
        (chinwag-auth-source nil))
    (chinwag-test-with-stubs ((read-passwd (lambda (&rest _)
                                             (setq asked (1+ asked))
                                             (copy-sequence "sk-emacs-CANARY-1"))))
      (chinwag-set-key "mock"))
    (should (= asked 1))
    (let ((keys (plist-get (chinwag-rpc-request 'vault/listKeys) :keys)))
      (should (equal (plist-get (aref keys 0) :provider) "mock"))
      (should-not (string-search "CANARY" (plist-get (aref keys 0) :masked))))
    (let ((chat (chinwag-test-chat t)))
      (chinwag-test-say chat "with the typed key")
      (should (equal (chinwag-test-last-answer chat) "one")))
    ;; From auth-source, without asking.
    (with-temp-file (expand-file-name "~/.authinfo")
      (insert "machine mock password sk-authinfo-CANARY-2\n"
              "machine remote password remote-key-CANARY-3\n"))
    (let ((auth-sources (list (expand-file-name "~/.authinfo")))
          (chinwag-auth-source t))
      (auth-source-forget-all-cached)
      (chinwag-test-with-stubs ((read-passwd (lambda (&rest _) (error "Asked"))))
        (chinwag-set-key "mock")
        (let ((chat (chinwag-test-chat t)))
          (chinwag-test-say chat "with the auth-source key")
          (should (equal (chinwag-test-last-answer chat) "two")))
        ;; A remote provider without a key: the chat takes it from auth-source.
        (let ((chinwag-provider "remote"))
          (let ((chat (chinwag-test-chat t)))
            (chinwag-test-say chat "needs a key")
            ;; The retry was made with the key: now the connection is refused.
            (with-current-buffer chat
              (should (string-match-p "\\[error: .*refused.*\\]" (buffer-string))))))
        (should (seq-find (lambda (key) (equal (plist-get key :provider) "remote"))
                          (plist-get (chinwag-rpc-request 'vault/listKeys) :keys)))))
    ;; A missing key is asked for when auth-source has none.
    (chinwag-rpc-request 'vault/deleteKey '(:provider "remote"))
    (let ((chinwag-provider "remote")
          (chinwag-auth-source nil)
          (asked 0))
      (chinwag-test-with-stubs ((read-passwd (lambda (prompt &rest _)
                                               (should (string-match-p "No API key for remote"
                                                                       prompt))
                                               (setq asked (1+ asked))
                                               (copy-sequence "remote-typed-CANARY-4"))))
        (let ((chat (chinwag-test-chat t)))
          (chinwag-test-say chat "ask me")
          (with-current-buffer chat
            (should (string-match-p "\\[error: .*refused.*\\]" (buffer-string))))))
      (should (= asked 1)))
    ;; Deleting asks first.
    (chinwag-test-with-stubs ((yes-or-no-p (lambda (_prompt) nil)))
      (should-error (chinwag-delete-key "remote") :type 'user-error))
    (should (seq-find (lambda (key) (equal (plist-get key :provider) "remote"))
                      (plist-get (chinwag-rpc-request 'vault/listKeys) :keys)))
    (chinwag-test-with-stubs ((yes-or-no-p (lambda (prompt)
                                             (should (string-search "remote" prompt))
                                             t)))
      (chinwag-delete-key "remote"))
    (should-not (seq-find (lambda (key) (equal (plist-get key :provider) "remote"))
                          (plist-get (chinwag-rpc-request 'vault/listKeys) :keys)))
    ;; No key reached a buffer or a log.
    (chinwag-test-no-buffer-holds "CANARY")
    (chinwag-rpc-shutdown)
    (chinwag-test-no-buffer-holds "CANARY")))

;;;; Scenario: a locked vault

(ert-deftest chinwag-test-unlock ()
  "A locked vault asks for the password once, unlocks and retries."
  (let ((password "correct horse battery")
        (asked 0)
        (chat (chinwag-test-chat t))
        (other nil))
    (chinwag-test-with-stubs ((read-passwd (lambda (&rest _) (copy-sequence password))))
      (chinwag-set-password))
    (should (equal (plist-get chinwag-vault-status :protection) "password"))
    ;; Both chats exist before the vault locks.
    (chinwag-test-say chat "before the lock")
    (setq other (chinwag-test-chat t))
    (chinwag-test-say other "the other chat")
    (chinwag-lock)
    (should (chinwag-vault-locked-p))
    (should (string-search "[vault locked]" (buffer-local-value 'header-line-format chat)))
    ;; Two messages need the vault at once: one question, both go through.
    (chinwag-test-with-stubs ((read-passwd (lambda (prompt &rest _)
                                             (should (string-match-p "vault password" prompt))
                                             (setq asked (1+ asked))
                                             (copy-sequence password))))
      (chinwag-test-type chat "first after the lock")
      (chinwag-test-type other "second after the lock")
      (with-current-buffer chat (chinwag-send))
      (with-current-buffer other (chinwag-send))
      (chinwag-test-answer chat)
      (chinwag-test-answer other))
    (should (= asked 1))
    (should (member (chinwag-test-last-answer chat) '("unlocked A" "unlocked B")))
    (should (member (chinwag-test-last-answer other) '("unlocked A" "unlocked B")))
    (should-not (chinwag-vault-locked-p))
    (should-not (string-search "[vault locked]"
                               (buffer-local-value 'header-line-format chat)))
    ;; A wrong password is asked again.
    (chinwag-lock)
    (let ((answers (list "wrong password" password))
          (prompts nil))
      (chinwag-test-with-stubs ((read-passwd (lambda (prompt &rest _)
                                               (push prompt prompts)
                                               (copy-sequence (pop answers)))))
        (chinwag-test-say chat "after a typo"))
      (should (= (length prompts) 2))
      (should (string-match-p "Wrong password" (car prompts)))
      (should (equal (chinwag-test-last-answer chat) "unlocked C")))
    ;; Stopped while the password is asked: the message is not sent after all.
    (chinwag-lock)
    (chinwag-test-with-stubs ((read-passwd (lambda (&rest _)
                                             (with-current-buffer chat (chinwag-stop))
                                             (copy-sequence password))))
      (chinwag-test-say chat "never mind"))
    (with-current-buffer chat
      (should (string-match-p "never mind\n\n## Assistant (mock/mock-model)\n\n\\[stopped\\]\n\n## You\n\n\\'"
                              (buffer-string))))
    (should-not (chinwag-vault-locked-p))
    ;; Giving up leaves the message failed, and the vault locked.
    (chinwag-lock)
    (chinwag-test-with-stubs ((read-passwd (lambda (&rest _) nil)))
      (chinwag-test-say chat "no password"))
    (with-current-buffer chat
      ;; The error says what to do about it.
      (should (string-match-p "\\[error: The vault is locked (no password given); \
to fix it: M-x chinwag-unlock\\]"
                              (buffer-string))))
    ;; chinwag-unlock.
    (chinwag-test-with-stubs ((read-passwd (lambda (&rest _) (copy-sequence password))))
      (chinwag-unlock))
    (should-not (chinwag-vault-locked-p))
    (chinwag-test-no-buffer-holds password)
    (chinwag-rpc-shutdown)))

;;;; Scenario: the backend dies

(ert-deftest chinwag-test-restart ()
  "A backend that dies is reported; the next command starts a new one."
  (let* ((chat (chinwag-test-chat t))
         (first (progn (chinwag-test-say chat "before the crash")
                       (chinwag-connection-process (chinwag-rpc-connection)))))
    (should (equal (chinwag-test-last-answer chat) "first life"))
    (signal-process first 'KILL)
    ;; The process is seen dead before its sentinel reports it: wait for the report.
    (chinwag-test-wait "the exit report"
                       (lambda () (string-match-p
                                   "chinwag: the backend was killed by signal 9.*next command"
                                   (chinwag-test-messages))))
    (should-not (chinwag-rpc-live-p))
    (should (string-search "backend was killed by signal 9"
                           (with-current-buffer (chinwag-events-buffer) (buffer-string))))
    ;; The next message starts a new backend and continues the chat.
    (chinwag-test-say chat "after the crash")
    (should (equal (chinwag-test-last-answer chat) "second life"))
    (let ((second (chinwag-connection-process (chinwag-rpc-connection))))
      (should-not (eq first second))
      ;; Dying in the middle of an answer ends it with the reason.
      (chinwag-test-type chat "a long one")
      (with-current-buffer chat (chinwag-send))
      (chinwag-test-wait "the first delta of the long answer"
                         (lambda () (string-search "tok0" (chinwag-test-last-answer chat))))
      (signal-process second 'KILL)
      (chinwag-test-answer chat)
      (with-current-buffer chat
        (should (string-match-p "\\[error: The chinwag backend exited\\]\n\n## You\n\n\\'"
                                (buffer-string)))))
    ;; A backend that cannot start says why.
    (let ((chinwag-program-args '("--no-such-flag")))
      (let ((err (should-error (chinwag-rpc-connection) :type 'user-error)))
        (should (string-match-p "did not start: exited with code 2: .*no-such-flag"
                                (error-message-string err)))))
    (should-not (chinwag-rpc-live-p))
    (let ((chinwag-program "/nonexistent/chinwag"))
      (should-error (chinwag-rpc-connection) :type 'user-error))))

;;;; Scenario: a long answer

(ert-deftest chinwag-test-long-stream ()
  "An answer streaming for longer than jsonrpc.el's 10 s default completes."
  (let ((chat (chinwag-test-chat t))
        (start (float-time)))
    (chinwag-test-say chat "take your time" 40)
    (should (> (- (float-time) start) 10.5))
    (should (equal (chinwag-test-last-answer chat)
                   (mapconcat (lambda (i) (format "slow%d" i)) (number-sequence 0 19) " ")))
    (with-current-buffer chat
      (should-not (string-search "[error" (buffer-string)))))
  (chinwag-rpc-shutdown))

;;;; Scenario: a fast answer

(defun chinwag-test--fast-answer (label)
  "Receive a 5,000-token answer in a new chat; report GC and allocation as LABEL."
  (let ((chat (chinwag-test-chat t))
        (deltas 0)
        (count nil))
    (setq count (lambda (_params) (setq deltas (1+ deltas))))
    (advice-add 'chinwag-chat--on-delta :before count)
    (unwind-protect
        (let ((gcs (progn (garbage-collect) gcs-done))
              (gc-time gc-elapsed)
              (counts (memory-use-counts))
              (start (float-time)))
          (chinwag-test-say chat "fast" 60)
          (let ((used (cl-mapcar #'- (memory-use-counts) counts)))
            (message "CHINWAG-MEASURE end to end, %s: 5000 tokens in %d notifications, \
%.2f s, %d GCs, %.3f s in GC; per notification %.1f conses, %.1f vector slots, \
%.1f string bytes in %.1f strings"
                     label deltas (- (float-time) start) (- gcs-done gcs)
                     (- gc-elapsed gc-time)
                     (/ (nth 0 used) (float deltas)) (/ (nth 2 used) (float deltas))
                     (/ (nth 4 used) (float deltas)) (/ (nth 6 used) (float deltas)))))
      (advice-remove 'chinwag-chat--on-delta count))
    (let ((answer (chinwag-test-last-answer chat)))
      (should (string-prefix-p "w0 w1 w2 " answer))
      (should (string-suffix-p " w4999" answer))
      (should (= (length (split-string answer " ")) 5000)))
    (kill-buffer chat)))

(ert-deftest chinwag-test-fast-stream ()
  "Measure (do not assert) GCs and time for 5,000 deltas from the backend.
Once with chinwag's reader, once with `jsonrpc.el''s."
  (let ((chinwag-fast-reader t))
    (chinwag-test--fast-answer "chinwag's reader"))
  (chinwag-rpc-shutdown)
  (let ((chinwag-fast-reader nil))
    (chinwag-test--fast-answer "jsonrpc.el's reader"))
  (chinwag-rpc-shutdown))

;;;; Scenario: undo, and writing while an answer streams

(ert-deftest chinwag-test-undo ()
  "Undo touches only what the user typed; the next message is written while
an answer streams above it, and its draft stays intact."
  (let ((buffer (chinwag-test-chat t)))
    (with-current-buffer buffer (buffer-enable-undo))
    (chinwag-test-say buffer "Say hello")
    (let ((transcript (chinwag-test-transcript buffer)))
      (should (string-search "Say hello" transcript))
      ;; Nothing to undo after the answer: the sent message stays.
      (with-current-buffer buffer
        (setq last-command nil)
        (dotimes (_ 3)
          (condition-case nil (progn (undo) (undo-boundary) (setq last-command 'undo)) (user-error nil))
          (should (equal (chinwag-test-transcript buffer) transcript)))
        (when (fboundp 'undo-redo)
          (condition-case nil (undo-redo 1) (user-error nil))
          (should (equal (chinwag-test-transcript buffer) transcript))))
      ;; Typed text is undone, and nothing else.
      (chinwag-test-type buffer "typo")
      (with-current-buffer buffer
        (setq last-command nil)
        (undo)
        (should (equal (chinwag-test-draft buffer) ""))
        (should (equal (chinwag-test-transcript buffer) transcript))))
    ;; While the next answer streams, the user writes the message after it.
    (chinwag-test-type buffer "Count slowly")
    (with-current-buffer buffer (chinwag-send))
    (chinwag-test-wait "the first delta"
                       (lambda () (string-search "tok0" (chinwag-test-last-answer buffer))))
    (chinwag-test-type buffer "Next question")
    (chinwag-test-wait "more deltas"
                       (lambda () (string-search "tok3" (chinwag-test-last-answer buffer))))
    (chinwag-test-type buffer ", typed")
    (chinwag-test-wait "more deltas"
                       (lambda () (string-search "tok6" (chinwag-test-last-answer buffer))))
    (with-current-buffer buffer
      (should chinwag-chat--stream)
      (should (string-suffix-p "\n\n## You\n\nNext question, typed" (buffer-string)))
      (should (= (point) (point-max)))
      ;; Undo during the stream: the draft only.
      (let ((before (chinwag-test-transcript buffer)))
        (setq last-command nil)
        (undo)
        (should (equal (chinwag-test-draft buffer) "Next question"))
        (should (string-prefix-p (string-remove-suffix "\n\n## You\n\n" before)
                                 (chinwag-test-transcript buffer)))))
    (chinwag-test-answer buffer)
    (with-current-buffer buffer
      (should (string-match-p "tok59 \n\n## You\n\nNext question\\'" (buffer-string)))
      (should (equal (chinwag-test-draft buffer) "Next question"))
      (chinwag-send))
    (chinwag-test-answer buffer)
    (should (equal (chinwag-test-last-answer buffer) "Third."))
    (with-current-buffer buffer
      (should (equal (chinwag-test-draft buffer) ""))
      (should (string-search "## You\n\nNext question\n\n## Assistant (mock/mock-model)\n\nThird." (buffer-string))))
    (kill-buffer buffer)
    (chinwag-rpc-shutdown)))

;;;; Scenario: two editors on one chat

(ert-deftest chinwag-test-two-editors ()
  "A chat continued elsewhere is shown again when the user comes back to it,
and before a message is sent; the draft is kept."
  (let* ((buffer (chinwag-test-chat t))
         (other (get-buffer-create "*other*")))
    (chinwag-test-say buffer "First here")
    (let ((id (buffer-local-value 'chinwag-chat--id buffer)))
      ;; Another editor continues the chat (through the same backend here).
      (chinwag-rpc-request 'chat/send (list :chatId id :content "From the other editor") 30)
      (chinwag-test-type buffer "my draft")
      ;; The user comes back to the chat's window.
      (switch-to-buffer other)
      (switch-to-buffer buffer)
      (chinwag-chat--on-return (selected-window))
      (chinwag-test-wait "the chat shown again"
                         (lambda ()
                           (string-search "## You\n\nFrom the other editor\n\n## Assistant (mock/mock-model)\n\n\
Elsewhere." (with-current-buffer buffer (buffer-string)))))
      (with-current-buffer buffer
        (should (equal (chinwag-test-draft buffer) "my draft"))
        (should (string-suffix-p "## You\n\nmy draft" (buffer-string)))
        (should (memq #'chinwag-chat--on-return window-selection-change-functions))
        (should (memq #'chinwag-chat--on-return window-buffer-change-functions)))
      ;; Changed elsewhere again, then sent from here without coming back first.
      (chinwag-rpc-request 'chat/send (list :chatId id :content "Again elsewhere") 30)
      (with-current-buffer buffer (chinwag-send))
      (chinwag-test-answer buffer)
      (with-current-buffer buffer
        (should (string-search "## You\n\nAgain elsewhere\n\n## Assistant (mock/mock-model)\n\nOnce more.\n\n\
## You\n\nmy draft\n\n## Assistant (mock/mock-model)\n\nHere." (buffer-string))))
      (should (= 8 (length (plist-get (chinwag-test-history id) :messages))))
      ;; Nothing changed elsewhere: coming back renders nothing again.
      (with-current-buffer buffer
        (let ((before (buffer-string)))
          (chinwag-test-with-stubs ((chinwag-chat--render (lambda (&rest _)
                                                            (error "Rendered again"))))
            (chinwag-chat--on-return (selected-window))
            (sleep-for 0.3)
            (accept-process-output nil 0.1))
          (should (equal (buffer-string) before))))
      ;; Deleted elsewhere: the buffer says so, and its next message starts a new chat.
      (chinwag-rpc-request 'history/delete (list :chatId id))
      (with-current-buffer buffer
        (chinwag-chat--on-return (selected-window))
        (chinwag-test-wait "the deletion noticed" (lambda () (null chinwag-chat--id)))
        (should (string-search "deleted elsewhere" header-line-format))))
    (kill-buffer other)
    (chinwag-rpc-shutdown)))

;;;; A provider error

(ert-deftest chinwag-test-provider-error ()
  "A provider that refuses the key: the error shows inline and in the echo area, the
user's message stays in the transcript, and the next message works."
  (let ((chat (chinwag-test-chat t)))
    (chinwag-test-say chat "Will this fail?")
    (should (string-search "Will this fail?" (with-current-buffer chat (buffer-string))))
    (should (string-search "[error:" (chinwag-test-last-answer chat)))
    (should (string-search "401" (chinwag-test-last-answer chat)))
    (should (string-search "401" (chinwag-test-messages)))
    (should-not (string-search "CANARY" (with-current-buffer chat (buffer-string))))
    (chinwag-test-say chat "Again")
    (should (equal (chinwag-test-last-answer chat) "Recovered."))
    ;; No stray prefixes in what was shown.
    (should-not (string-match-p "\\_<[Ii]f: " (chinwag-test-messages)))
    (should-not (string-match-p "\\_<[Ii]f: " (with-current-buffer chat (buffer-string))))))

(provide 'chinwag-test)
;;; chinwag-test.el ends here
