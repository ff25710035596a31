;;; chinwag-autoloads.el --- automatically extracted autoloads  -*- lexical-binding: t -*-
;;
;;; Code:


;;;### (autoloads nil "chinwag" "chinwag.el" (0 0 0 0))
;;; Generated autoloads from chinwag.el

(defvar chinwag-command-map (let ((map (make-sparse-keymap))) (define-key map "c" #'chinwag) (define-key map "n" #'chinwag-new) (define-key map (kbd "RET") #'chinwag-send) (define-key map "k" #'chinwag-stop) (define-key map "g" #'chinwag-refresh) (define-key map "m" #'chinwag-select-model) (define-key map "r" #'chinwag-send-region) (define-key map "a" #'chinwag-ask) (define-key map "w" #'chinwag-rewrite-region) (define-key map "y" #'chinwag-copy-code-block) (define-key map "A" #'chinwag-apply-code-block) (define-key map "h" #'chinwag-history) (define-key map "K" #'chinwag-set-key) (define-key map "u" #'chinwag-unlock) (define-key map "l" #'chinwag-lock) (define-key map "d" #'chinwag-doctor) (define-key map "t" #'chinwag-menu) map) "\
Keymap of the chinwag commands, to bind to a prefix key.
For example: (global-set-key (kbd \"C-c c\") chinwag-command-map).")

(autoload 'chinwag "chinwag" "\
Open the current chat buffer, or a new one with prefix argument NEW.

\(fn &optional NEW)" t nil)

(autoload 'chinwag-restart "chinwag" "\
Stop the chinwag backend and start a new one." t nil)

(autoload 'chinwag-doctor "chinwag" "\
Show what works and what does not: Emacs, backend, vault, providers, keys." t nil)

(register-definition-prefixes "chinwag" '("chinwag--"))

;;;***

;;;### (autoloads nil "chinwag-chat" "chinwag-chat.el" (0 0 0 0))
;;; Generated autoloads from chinwag-chat.el

(autoload 'chinwag-toggle-reasoning "chinwag-chat" "\
Show or hide a model's reasoning: the one at point, or of the answer at point.
Elsewhere, the last one of the chat.  Reasoning is hidden at first;
TAB or a click on it (EVENT) shows it too.

\(fn &optional EVENT)" t nil)

(autoload 'chinwag-send "chinwag-chat" "\
Send what was written below the last \"## You\" heading.
If the chat changed elsewhere (another editor) since this buffer showed
it, the buffer shows it again first, with the draft kept." t nil)

(autoload 'chinwag-regenerate "chinwag-chat" "\
Answer again the turn at point, or the last turn of the chat.
On a user turn or on one of its answers, that turn is answered again;
the new answer is a sibling of the others, which all stay (see them with
\\<chinwag-chat-mode-map>\\[chinwag-previous-sibling] and \\[chinwag-next-sibling]).  With a prefix argument CHOOSE, choose the
provider and model of the new answer first (the chat keeps its own).

\(fn &optional CHOOSE)" t nil)

(autoload 'chinwag-regenerate-by-another-model "chinwag-chat" "\
Answer again the turn at point (or the last one) by a model chosen first.
That is `chinwag-regenerate' with a prefix argument." t nil)

(autoload 'chinwag-retry "chinwag-chat" "\
Retry the failed turn at point, or the last failed turn of the chat.
A turn failed when its answer is an error, or never came; retrying it
answers it again (`chat/regenerate')." t nil)

(autoload 'chinwag-edit "chinwag-chat" "\
Edit the user turn at point, or the last one, in the draft.
Its text replaces the draft (the draft comes back afterwards); sending
it with \\<chinwag-chat-mode-map>\\[chinwag-send] makes a new branch from the turn's parent
\(`chat/edit'): the original turn and its answers stay, as siblings.
\\[chinwag-abandon-edit] abandons the edit." t nil)

(autoload 'chinwag-abandon-edit "chinwag-chat" "\
Abandon the edit in progress: the draft from before it comes back." t nil)

(autoload 'chinwag-next-sibling "chinwag-chat" "\
Show the next version of the message at point (or of the last message).
Versions are the answers to the same turn (regenerated), or the edits of
a turn; the branch below the version shown is the one last continued." t nil)

(autoload 'chinwag-previous-sibling "chinwag-chat" "\
Show the previous version of the message at point (or of the last message).
See `chinwag-next-sibling'." t nil)

(autoload 'chinwag-copy-code-block "chinwag-chat" "\
Copy the code block at point to the kill ring, without its fences.
When point is not in a code block, copy the last one of the answers.
In a chat buffer this is \\<chinwag-chat-mode-map>\\[chinwag-copy-code-block]; elsewhere it
copies from the current chat." t nil)

(autoload 'chinwag-next-code-block "chinwag-chat" "\
Move point to the start of the next code block of the chat." t nil)

(autoload 'chinwag-previous-code-block "chinwag-chat" "\
Move point to the start of the previous code block of the chat.
Inside a block, that is the start of this block." t nil)

(autoload 'chinwag-refresh "chinwag-chat" "\
Show the current chat as saved by the backend, with the draft kept.
Another editor may have continued it; this happens by itself when the
chat's window is selected and before a message is sent." t nil)

(autoload 'chinwag-stop "chinwag-chat" "\
Stop the answer streaming into this chat (or the last chat used)." t nil)

(autoload 'chinwag-new "chinwag-chat" "\
Open a new chat buffer." t nil)

(autoload 'chinwag-select-model "chinwag-chat" "\
Choose the model of the current chat from the provider's model list.
With a prefix argument CHOOSE-PROVIDER, choose the provider first.

\(fn &optional CHOOSE-PROVIDER)" t nil)

(register-definition-prefixes "chinwag-chat" '("chinwag-"))

;;;***

;;;### (autoloads nil "chinwag-history" "chinwag-history.el" (0 0
;;;;;;  0 0))
;;; Generated autoloads from chinwag-history.el

(autoload 'chinwag-history "chinwag-history" "\
List the saved chats." t nil)

(register-definition-prefixes "chinwag-history" '("chinwag-history-"))

;;;***

;;;### (autoloads nil "chinwag-menu" "chinwag-menu.el" (0 0 0 0))
;;; Generated autoloads from chinwag-menu.el
 (autoload 'chinwag-menu "chinwag-menu" nil t)

;;;***

;;;### (autoloads nil "chinwag-region" "chinwag-region.el" (0 0 0
;;;;;;  0))
;;; Generated autoloads from chinwag-region.el

(autoload 'chinwag-send-region "chinwag-region" "\
Send the region from BEG to END to the current chat.
The message is what is written in the chat's input area, or
`chinwag-region-prompt'; with a prefix argument READ-MESSAGE, it is
read in the minibuffer.  The file name, language and lines of the
region go with it.

\(fn BEG END &optional READ-MESSAGE)" t nil)

(autoload 'chinwag-ask "chinwag-region" "\
Ask QUESTION about the active region, or about the whole buffer.
In a chat buffer, just send QUESTION there.

\(fn QUESTION)" t nil)

(register-definition-prefixes "chinwag-region" '("chinwag-"))

;;;***

;;;### (autoloads nil "chinwag-rewrite" "chinwag-rewrite.el" (0 0
;;;;;;  0 0))
;;; Generated autoloads from chinwag-rewrite.el

(autoload 'chinwag-rewrite-region "chinwag-rewrite" "\
Ask for a rewrite of the region from BEG to END following INSTRUCTION.
The proposal is shown in place; nothing changes until it is accepted
with \\[chinwag-rewrite-accept] or dropped with \\[chinwag-rewrite-reject].

\(fn BEG END INSTRUCTION)" t nil)

(autoload 'chinwag-apply-code-block "chinwag-rewrite" "\
Propose the chat's code block at point as the new text of the code asked about.
The code asked about is the region sent as context with the chat's
last message that had one (`chinwag-send-region', `chinwag-ask').  The
block is the one at point, or else the last one of the answers.  It is
shown in that region's buffer as a rewrite is: accept it with
\\<chinwag-rewrite-mode-map>\\[chinwag-rewrite-accept], reject it with \\[chinwag-rewrite-reject].
In a chat buffer this is \\<chinwag-chat-mode-map>\\[chinwag-apply-code-block]." t nil)

(autoload 'chinwag-rewrite-accept "chinwag-rewrite" "\
Replace the region with the proposed rewrite, as one undo step." t nil)

(autoload 'chinwag-rewrite-reject "chinwag-rewrite" "\
Drop the proposed rewrite, or stop the rewrite being written.
The buffer stays as it is." t nil)

(register-definition-prefixes "chinwag-rewrite" '("chinwag-rewrite-"))

;;;***

;;;### (autoloads nil "chinwag-rpc" "chinwag-rpc.el" (0 0 0 0))
;;; Generated autoloads from chinwag-rpc.el

(register-definition-prefixes "chinwag-rpc" '("chinwag-"))

;;;***

;;;### (autoloads nil "chinwag-vault" "chinwag-vault.el" (0 0 0 0))
;;; Generated autoloads from chinwag-vault.el

(autoload 'chinwag-set-key "chinwag-vault" "\
Store an API key for PROVIDER in the chinwag vault.
The key comes from `auth-source' when `chinwag-auth-source' is non-nil
and an entry whose host is PROVIDER exists, unless ASK (the prefix
argument) is non-nil; otherwise it is read with `read-passwd'.  When
called interactively and auth-source has a key, it asks whether to store
that one or to type another.  The key is never echoed or logged.

\(fn PROVIDER &optional ASK)" t nil)

(autoload 'chinwag-delete-key "chinwag-vault" "\
Delete the API key stored for PROVIDER, after asking for confirmation.
With NO-CONFIRM non-nil, do not ask.

\(fn PROVIDER &optional NO-CONFIRM)" t nil)

(autoload 'chinwag-unlock "chinwag-vault" "\
Unlock the chinwag vault with its password." t nil)

(autoload 'chinwag-lock "chinwag-vault" "\
Lock the chinwag vault, so that the backend forgets the keys in memory." t nil)

(autoload 'chinwag-set-password "chinwag-vault" "\
Set or change the password protecting the chinwag vault." t nil)

(register-definition-prefixes "chinwag-vault" '("chinwag-"))

;;;***

(provide 'chinwag-autoloads)
;; Local Variables:
;; version-control: never
;; no-byte-compile: t
;; no-update-autoloads: t
;; coding: utf-8
;; End:
;;; chinwag-autoloads.el ends here
