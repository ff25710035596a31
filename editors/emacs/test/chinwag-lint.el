;;; chinwag-lint.el --- Byte-compile and checkdoc the chinwag package  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The chinwag authors
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; Run one file through the checks the package must pass, in a fresh
;; batch Emacs per file (so that a missing `require' is not hidden by
;; what an earlier file loaded):
;;
;;   emacs --batch -Q -L editors/emacs -l editors/emacs/test/chinwag-lint.el \
;;         -f chinwag-lint-batch editors/emacs/chinwag-chat.el
;;
;; - byte-compilation with `byte-compile-error-on-warn', in a child
;;   Emacs that has loaded nothing else (so that a missing `require' is
;;   not hidden by what this file loads), into a temporary folder (so
;;   no .elc lands beside the sources);
;; - `checkdoc' (every finding counts);
;; - for chinwag.el, the package headers `package.el' reads.
;;
;; Exit code 0 when clean; otherwise every problem is printed.

;;; Code:

(require 'bytecomp)
(require 'checkdoc)
(require 'package)
(require 'lisp-mnt)
(require 'cl-lib)

(defvar chinwag-lint--problems nil
  "Problems found, newest first.")

(defun chinwag-lint--problem (format-string &rest args)
  "Record a problem described by FORMAT-STRING and ARGS."
  (push (apply #'format format-string args) chinwag-lint--problems))

(defun chinwag-lint--byte-compile (file)
  "Byte-compile FILE with warnings as errors, in a fresh child Emacs.
The output goes to a temporary folder."
  (let* ((dir (make-temp-file "chinwag-elc" t))
         (setup (format "(setq byte-compile-error-on-warn t byte-compile-dest-file-function (lambda (source) (expand-file-name (concat (file-name-base source) \".elc\") %S)))"
                        dir)))
    (unwind-protect
        (with-temp-buffer
          (let ((status (call-process (expand-file-name invocation-name invocation-directory)
                                      nil t nil
                                      "--batch" "-Q" "-L" (file-name-directory file)
                                      "--eval" setup
                                      "-f" "batch-byte-compile" file)))
            (unless (and (eql status 0)
                         (file-exists-p (expand-file-name
                                         (concat (file-name-base file) ".elc") dir)))
              (chinwag-lint--problem "%s: byte-compilation failed (%s):\n%s"
                                     file status (buffer-string)))))
      (delete-directory dir t))))

(defun chinwag-lint--checkdoc (file)
  "Run `checkdoc' on FILE, recording every finding."
  (cl-letf (((symbol-function 'checkdoc-error)
             (lambda (point msg)
               (chinwag-lint--problem "%s:%s: checkdoc: %s" file
                                      (with-current-buffer (find-file-noselect file)
                                        (line-number-at-pos (or point 1)))
                                      msg))))
    (let ((checkdoc-spellcheck-documentation-flag nil)
          (checkdoc-autofix-flag 'never))
      (checkdoc-file file))))

(defun chinwag-lint--headers (file)
  "Check the package headers of the main FILE."
  (with-current-buffer (find-file-noselect file)
    (condition-case err
        (let ((desc (package-buffer-info)))
          (unless (equal (package-version-join (package-desc-version desc)) "0.1.0")
            (chinwag-lint--problem "%s: Version is not 0.1.0" file))
          (let ((reqs (package-desc-reqs desc)))
            (dolist (want '((emacs (28 1)) (jsonrpc (1 0 14)) (transient (0 3 7))))
              (unless (equal (assq (car want) reqs) want)
                (chinwag-lint--problem "%s: Package-Requires lacks %S (has %S)"
                                       file want reqs)))
            ;; Nothing required beyond what Emacs 28 has built in.
            (dolist (req reqs)
              (unless (eq (car req) 'emacs)
                (let ((builtin (or (alist-get (car req) package--builtin-versions)
                                   (and (eq (car req) 'transient)
                                        (chinwag-lint--header-version "transient")))))
                  (when (and builtin (version-list-< builtin (cadr req)))
                    (chinwag-lint--problem "%s: requires %s %S but Emacs has %S"
                                           file (car req) (cadr req) builtin)))))))
      (error (chinwag-lint--problem "%s: package headers: %s" file
                                    (error-message-string err))))
    (dolist (header '("author" "url" "keywords" "SPDX-License-Identifier"))
      (unless (lm-header header)
        (chinwag-lint--problem "%s: no %s header" file header)))))

(defun chinwag-lint--header-version (library)
  "Return the version list of LIBRARY from its headers, or nil."
  (let ((file (locate-library (concat library ".el"))))
    (when file
      (lm-with-file file
        (let ((version (or (lm-header "package-version") (lm-header "version"))))
          (and version (version-to-list version)))))))

(defun chinwag-lint--common (file)
  "Check what every FILE of the package needs: lexical binding, footer, prefix."
  (with-temp-buffer
    (insert-file-contents file)
    (goto-char (point-min))
    (unless (looking-at-p ";;; [^ ]+\\.el --- .*-\\*- lexical-binding: t; -\\*-$")
      (chinwag-lint--problem "%s: first line lacks the summary or lexical-binding" file))
    (unless (re-search-forward (format "^;;; %s ends here$"
                                       (regexp-quote (file-name-nondirectory file)))
                               nil t)
      (chinwag-lint--problem "%s: no footer line" file))
    (goto-char (point-min))
    (when (re-search-forward "\\<\\(TODO\\|FIXME\\|XXX\\)\\>" nil t)
      (chinwag-lint--problem "%s:%d: %s left in the code" file
                             (line-number-at-pos) (match-string 1)))
    ;; Every definition carries the package prefix.
    (goto-char (point-min))
    (while (re-search-forward
            "^(\\(?:cl-\\)?def\\(?:un\\|var\\|var-local\\|custom\\|face\\|const\\|macro\\|group\\|struct\\|class\\|ine-derived-mode\\|ine-minor-mode\\|subst\\|alias\\)\\*? +(?\\([^ ()\n]+\\)"
            nil t)
      (let ((name (match-string 1)))
        ;; (defvar OTHER) only declares a variable another library defines.
        (unless (or (string-prefix-p "chinwag" name)
                    (looking-at-p ")"))
          (chinwag-lint--problem "%s:%d: `%s' lacks the chinwag- prefix"
                                 file (line-number-at-pos) name))))))

(defun chinwag-lint-batch ()
  "Check the files named on the command line; exit 0 when all are clean."
  (let ((files command-line-args-left))
    (setq command-line-args-left nil)
    (dolist (file files)
      (let ((file (expand-file-name file)))
        (chinwag-lint--common file)
        (chinwag-lint--byte-compile file)
        (chinwag-lint--checkdoc file)
        (when (equal (file-name-nondirectory file) "chinwag.el")
          (chinwag-lint--headers file))))
    (if chinwag-lint--problems
        (progn
          (dolist (problem (reverse chinwag-lint--problems))
            (message "PROBLEM %s" problem))
          (kill-emacs 1))
      (message "clean: %s" (mapconcat #'file-name-nondirectory files " "))
      (kill-emacs 0))))

(provide 'chinwag-lint)
;;; chinwag-lint.el ends here
