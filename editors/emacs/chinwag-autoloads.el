;;; chinwag-autoloads.el --- automatically extracted autoloads  -*- lexical-binding: t -*-
;;
;;; Code:


;;;### (autoloads nil "chinwag" "chinwag.el" (0 0 0 0))
;;; Generated autoloads from chinwag.el

(defvar chinwag-command-map (let ((map (make-sparse-keymap))) (define-key map "c" #'chinwag) (define-key map "n" #'chinwag-new) (define-key map (kbd "RET") #'chinwag-send) (define-key map "k" #'chinwag-stop) (define-key map "g" #'chinwag-refresh) (define-key map "m" #'chinwag-select-model) (define-key map "r" #'chinwag-send-region) (define-key map "a" #'chinwag-ask) (define-key map "w" #'chinwag-rewrite-region) (define-key map "y" #'chinwag-copy-code-block) (define-key map "A" #'chinwag-apply-code-block) (define-key map "h" #'chinwag-history) (define-key map "K" #'chinwag-set-key) (define-key map "u" #'chinwag-unlock) (define-key map "l" #'chinwag-lock) (define-key map "d" #'chinwag-doctor) (define-key map "t" #'chinwag-menu) (define-key map "x" #'chinwag-context-add) (define-key map "o" #'chinwag-inline-open-chat) (define-key map "T" #'chinwag-trust-project) map) "\
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
it, the buffer shows it again first, with the draft kept.  Outside a
chat buffer, send the region or the text before point as a prompt and
write the answer after it (see `chinwag-inline-send')." t nil)

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

;;;### (autoloads nil "chinwag-context" "chinwag-context.el" (0 0
;;;;;;  0 0))
;;; Generated autoloads from chinwag-context.el
 (with-eval-after-load 'chinwag-chat (require 'chinwag-context))

(autoload 'chinwag-context-add-buffer "chinwag-context" "\
Send the whole BUFFER (its text when sent) with the next message.
Called from a chat buffer, read which buffer; elsewhere, the current one.

\(fn BUFFER)" t nil)

(autoload 'chinwag-context-add-file "chinwag-context" "\
Send FILE with the next message, read by the backend from the project.
FILE is a file name (relative names are relative to the project root)
or a glob such as src/**/*.rs (`*', `?', and `**' for any folders).

\(fn FILE)" t nil)

(autoload 'chinwag-context-add-diagnostics "chinwag-context" "\
Send the diagnostics of BUFFER (Flymake, Flycheck) with the next message.
Each goes with its lines of code; they are read again when it goes.

\(fn BUFFER)" t nil)

(autoload 'chinwag-context-add-git-diff "chinwag-context" "\
Send the project's git diff with the next message; with STAGED, the staged one.
Interactively, STAGED is the prefix argument.  The backend runs git in
the project root.

\(fn &optional STAGED)" t nil)

(autoload 'chinwag-context-add-url "chinwag-context" "\
Send the web page at URL, as text, with the next message.
The backend fetches it (https, or http on this machine).

\(fn URL)" t nil)

(autoload 'chinwag-context-add "chinwag-context" "\
Attach something to the next message: ask what." t nil)

(autoload 'chinwag-context-remove "chinwag-context" "\
Remove an item from the context of the next message of the current chat.
With a numeric prefix argument N, the Nth item; otherwise read which.

\(fn &optional N)" t nil)

(autoload 'chinwag-context-clear "chinwag-context" "\
Remove every item from the context of the next message of the current chat." t nil)

(autoload 'chinwag-context-allow-secrets "chinwag-context" "\
Send the secrets of the next message of the current chat as they are.
The guard then holds nothing back, for that message only.  Called again
\(or with OFF non-nil), the guard holds them back again.

\(fn &optional OFF)" t nil)

(autoload 'chinwag-trust-project "chinwag-context" "\
Show the project instructions of ROOT and trust them if you agree.
ROOT defaults to the current buffer's project root.  Trusted
instructions (`.chinwag.md', or else `AGENTS.md') join the system prompt
of the messages that name that root, until the file changes.

\(fn &optional ROOT)" t nil)

(register-definition-prefixes "chinwag-context" '("chinwag-context-"))

;;;***

;;;### (autoloads nil "chinwag-history" "chinwag-history.el" (0 0
;;;;;;  0 0))
;;; Generated autoloads from chinwag-history.el

(autoload 'chinwag-history "chinwag-history" "\
List the saved chats." t nil)

(register-definition-prefixes "chinwag-history" '("chinwag-history-"))

;;;***

;;;### (autoloads nil "chinwag-inline" "chinwag-inline.el" (0 0 0
;;;;;;  0))
;;; Generated autoloads from chinwag-inline.el

(autoload 'chinwag-inline-send "chinwag-inline" "\
Send the prompt from BEG to END and write the answer right after it.
Interactively, the prompt is the region when it is active, or else the
text before point back to the end of the last answer in this buffer
\(or to its start).  A prompt right after an answer continues that
chat; any other starts a new one (saved in the history: see
`chinwag-inline-open-chat').  The answer streams in after the prompt,
between headings in Markdown and Org buffers (see
`chinwag-inline-headings'), as one undo step;
\\<chinwag-inline-mode-map>\\[chinwag-inline-stop] stops it.

\(fn &optional BEG END)" t nil)

(autoload 'chinwag-inline-open-chat "chinwag-inline" "\
Open the chat of the answer at point (or the last one here) in a chat buffer.
It goes on from there like any chat." t nil)

(register-definition-prefixes "chinwag-inline" '("chinwag-inline-"))

;;;***

;;;### (autoloads nil "chinwag-menu" "chinwag-menu.el" (0 0 0 0))
;;; Generated autoloads from chinwag-menu.el
 (autoload 'chinwag-menu "chinwag-menu" nil t)

;;;***

;;;### (autoloads nil "chinwag-presets" "chinwag-presets.el" (0 0
;;;;;;  0 0))
;;; Generated autoloads from chinwag-presets.el
 (with-eval-after-load 'chinwag-chat (require 'chinwag-presets))

(autoload 'chinwag-send-region-with-preset "chinwag-presets" "\
Send the region from BEG to END to the current chat with PRESET.
The preset's instruction is the message (followed by what is written in
the chat's input area); its provider, model and system prompt become
the chat's.

\(fn BEG END PRESET)" t nil)

(autoload 'chinwag-rewrite-region-with-preset "chinwag-presets" "\
Rewrite the region from BEG to END as PRESET asks.
The preset's instruction, provider, model and system prompt are used.

\(fn BEG END PRESET)" t nil)

(register-definition-prefixes "chinwag-presets" '("chinwag-"))

;;;***

;;;### (autoloads nil "chinwag-region" "chinwag-region.el" (0 0 0
;;;;;;  0))
;;; Generated autoloads from chinwag-region.el

(autoload 'chinwag-send-region "chinwag-region" "\
Send the region from BEG to END to the current chat.
The message is what is written in the chat's input area, or
`chinwag-region-prompt'; with a prefix argument READ-MESSAGE, it is
read in the minibuffer, where /NAME at its start applies the preset
NAME (TAB completes it).  With PRESET, the name of a preset (C-u C-u
reads it), the preset's instruction is the message, followed by what is
written in the chat's input area.  The file name, language and lines of
the region go with it.

\(fn BEG END &optional READ-MESSAGE PRESET)" t nil)

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
With PRESET, the name of a preset (a prefix argument reads it), the
preset's provider, model and system prompt are used, and its
instruction when INSTRUCTION is empty.  An INSTRUCTION that starts with
/NAME names the preset too (TAB completes it at the prompt).  The
proposal is shown in place; nothing changes until it is accepted with
\\[chinwag-rewrite-accept] or dropped with \\[chinwag-rewrite-reject].

\(fn BEG END INSTRUCTION &optional PRESET)" t nil)

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
