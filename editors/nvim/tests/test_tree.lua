-- chinwag-test: own-provider
-- Conversations are trees. Every send says which message it follows (parentId) and learns
-- the ids of its turn; headings name the answer's provider/model and say "n/m" when a message
-- has siblings; reasoning is shown folded. gR regenerates (another model with
-- :ChinwagRegenerate or the gM picker), [v / ]v switch versions, gC edits a turn into the draft
-- (chat/edit on send, <C-c> abandons), :ChinwagRetry answers a failed turn again. Re-renders
-- keep the draft, the window's place and undo away from the transcript.
local H = require("helpers")
local P = require("provider")
local api = vim.api

--- Every request the plugin makes to the backend: { method, params }.
local requests = {}

local function last_request(method)
  for i = #requests, 1, -1 do
    if requests[i].method == method then
      return requests[i].params
    end
  end
end

local function row_of(buf, prefix, nth)
  local seen = 0
  for i, line in ipairs(H.lines(buf)) do
    if line == prefix or line:find(prefix .. " ", 1, true) == 1 then
      seen = seen + 1
      if seen == (nth or 1) then
        return i
      end
    end
  end
  error(("no line %q (%d) in\n%s"):format(prefix, nth or 1, H.text(buf)))
end

local function draft(chat)
  return api.nvim_buf_get_lines(chat.buf, chat:prompt_row() + 1, -1, false)
end

local function transcript(chat)
  return api.nvim_buf_get_lines(chat.buf, 0, chat:prompt_row() + 1, false)
end

local function wait_idle(chat, what)
  H.wait(function()
    return not chat.busy and not H.pending_sync
  end, what)
  -- The history/get after the turn (sibling counts) has come back.
  H.wait(function()
    local get = requests[#requests]
    return get and get.method == "history/get" and get.done
  end, what .. " (then history/get)")
end

H.run("test_tree", function()
  local server = P.start()
  P.write_config(server)
  server:push(P.sse({ { reasoning = "Let me think.\nA second thought." }, "Hello one." }))
  server:push(P.sse({ "More here." }))
  server:push(P.sse({ "Hello two." }))
  server:push(P.sse({ "From other." }))
  server:push(P.json(200, '{"object":"list","data":[{"id":"other-model"},{"id":"other-large"}]}'))
  server:push(P.sse({ "Picked large." }))
  server:push(P.sse({ "Hi!" }))
  server:push(P.json(500, '{"error":{"message":"the model is overloaded"}}'))
  server:push(P.sse({ "Recovered." }))
  server:push(P.sse({ "Back." }))
  server:push(P.json(200, '{"object":"list","data":[{"id":"mock-model"},{"id":"mock-small"}]}'))
  server:push(P.sse({ "Small now." }))
  H.setup()
  local backend = require("chinwag.backend")
  local request = backend.request
  backend.request = function(method, params, callback, opts)
    local entry = { method = method, params = vim.deepcopy(params) }
    table.insert(requests, entry)
    return request(method, params, function(...)
      entry.done = true
      return callback(...)
    end, opts)
  end

  vim.o.lines, vim.o.columns = 40, 120
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  local win = api.nvim_get_current_win()

  -- 1. Two turns; the first has reasoning, shown folded.
  H.keys("iSay hello<C-s><Esc>")
  wait_idle(chat, "the first answer")
  local send1 = last_request("chat/send")
  H.eq(send1.parentId, nil, "the first message follows nothing")
  H.eq(H.headings(buf), { "## You", "## Assistant (mock/mock-model)" }, "the answer's provider and model")
  local user1, answer1 = chat.messages[1], chat.messages[2]
  H.ok(user1.id and answer1.id, "the ids of the turn are known")
  local reasoning_row = row_of(buf, "> [!reasoning]-")
  H.eq(H.lines(buf)[reasoning_row + 1], "> Let me think.", "the reasoning, quoted")
  H.eq(H.lines(buf)[reasoning_row + 2], "> A second thought.", "all of it")
  H.ok(vim.fn.foldclosed(reasoning_row) ~= -1, "folded by default")
  H.eq(H.answer(buf, 1):match("Hello one%.$"), "Hello one.", "the answer after the reasoning")
  api.nvim_win_set_cursor(win, { reasoning_row, 0 })
  H.keys("zo")
  H.eq(vim.fn.foldclosed(reasoning_row), -1, "zo opens it")

  -- Hidden and shown again (a new window): still folded as the user left it, then closed.
  vim.cmd("ChinwagToggle")
  vim.cmd("ChinwagToggle")
  win = api.nvim_get_current_win()
  H.eq(api.nvim_get_current_buf(), buf, "the chat is back")
  H.eq(vim.fn.foldclosed(reasoning_row), -1, "the opened reasoning stays open in the new window")
  H.keys(reasoning_row .. "Gzc")
  H.ok(vim.fn.foldclosed(reasoning_row) ~= -1, "zc closes it")
  vim.cmd("ChinwagToggle")
  vim.cmd("ChinwagToggle")
  win = api.nvim_get_current_win()
  H.ok(vim.fn.foldclosed(reasoning_row) ~= -1, "closed in the next window too")
  H.keys(reasoning_row .. "Gzo")

  api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(buf), 0 })
  H.keys("imore<C-s><Esc>")
  wait_idle(chat, "the second answer")
  H.eq(last_request("chat/send").parentId, answer1.id, "a send follows the last message shown")
  H.eq(#H.sections(buf), 5, "two turns and the draft")

  -- The user's draft, kept through everything below.
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "my draft" })
  vim.o.undolevels = vim.o.undolevels

  -- 2. gR on the first answer: a second answer to the first turn; the other branch is hidden.
  api.nvim_win_set_cursor(win, { row_of(buf, "## Assistant") + 1, 0 })
  H.keys("gR")
  H.ok(chat.busy, "regenerating")
  wait_idle(chat, "the regenerated answer")
  H.eq(last_request("chat/regenerate").messageId, user1.id, "chat/regenerate on the turn at the cursor")
  H.eq(H.headings(buf), { "## You", "## Assistant (mock/mock-model) 2/2" }, "the new answer, 2 of 2")
  H.eq(H.answer(buf, 1), "Hello two.", "its text")
  H.eq(draft(chat), { "my draft" }, "the draft survives the re-render")
  local transcript_after = transcript(chat)
  H.keys("G")
  for _ = 1, 5 do
    H.keys("u")
  end
  H.eq(transcript(chat), transcript_after, "undo cannot change the transcript")
  H.keys("5<C-r>")

  -- 3. [v / ]v on the answer: the versions, with the branch each leads to.
  api.nvim_win_set_cursor(win, { row_of(buf, "## Assistant") + 1, 0 })
  local view = vim.fn.winsaveview()
  H.keys("[v")
  H.wait(function()
    return H.headings(buf)[2] == "## Assistant (mock/mock-model) 1/2"
  end, "the first version")
  H.ok(H.answer(buf, 1):find("Hello one.", 1, true), "its text")
  H.eq(H.sections(buf)[3], { role = "user", text = "more" }, "and the turn that followed it")
  H.eq(last_request("chat/switch").messageId, answer1.id, "chat/switch to the sibling")
  H.eq(vim.fn.winsaveview().topline, view.topline, "the window stays where it was")
  H.eq(api.nvim_get_current_line(), "## Assistant (mock/mock-model) 1/2", "the cursor stays on the message")
  H.eq(vim.fn.foldclosed(row_of(buf, "> [!reasoning]-")), -1, "the reasoning the user opened stays open")
  H.eq(draft(chat), { "my draft" }, "the draft survives the switch")
  H.keys("[v")
  H.ok(#H.notes_with("this is the first version (1/2)") > 0, "no version before the first")
  vim.cmd("ChinwagSibling next")
  H.wait(function()
    return H.headings(buf)[2] == "## Assistant (mock/mock-model) 2/2"
  end, "back to the second version, by :ChinwagSibling")
  H.eq(#H.sections(buf), 3, "the branch of the second version")

  -- 4. Another model: named, then picked.
  vim.cmd("ChinwagRegenerate other other-model")
  wait_idle(chat, "the answer from the other model")
  H.eq(H.headings(buf)[2], "## Assistant (other/other-model) 3/3", "the other model in the heading")
  H.eq(server:chats()[#server:chats()].model, "other-model", "asked of the other model")
  H.eq(last_request("chat/regenerate").provider, "other", "with the provider")
  H.contains(H.lines(buf)[1], "mock · mock-model", "the chat's own model does not change")
  H.will_select_text("other")
  H.will_select_text("other-large")
  vim.cmd("ChinwagRegenerate!")
  wait_idle(chat, "the answer from the picked model")
  H.eq(H.headings(buf)[2], "## Assistant (other/other-large) 4/4", "the picked model in the heading")
  H.eq(H.answer(buf, 1), "Picked large.", "its text")

  -- 5. gC on the first turn: edited in the draft, sent as chat/edit; a new branch.
  api.nvim_win_set_cursor(win, { row_of(buf, "## You") + 1, 0 })
  H.keys("gC")
  H.eq(draft(chat), { "Say hello" }, "the turn's text in the draft")
  H.ok(
    vim.iter(H.virt_texts(buf)):any(function(t)
      return t:find("editing an earlier message", 1, true) ~= nil
    end),
    "the draft says it is an edit"
  )
  H.keys("<C-c>")
  H.eq(draft(chat), { "my draft" }, "<C-c> abandons the edit: the draft is back")
  vim.cmd("ChinwagEdit")
  H.eq(draft(chat), { "Say hello" }, ":ChinwagEdit: the turn at the cursor")
  vim.cmd("ChinwagEditCancel")
  H.eq(draft(chat), { "my draft" }, ":ChinwagEditCancel: the draft is back")
  H.keys("gg")
  H.keys("gC")
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "Say hi" })
  H.keys("<C-s>")
  wait_idle(chat, "the answer to the edit")
  local edit = last_request("chat/edit")
  H.eq({ edit.messageId, edit.content }, { user1.id, "Say hi" }, "chat/edit with the turn's id")
  H.eq(H.headings(buf), { "## You 2/2", "## Assistant (mock/mock-model)" }, "a second version of the turn")
  H.eq(H.sections(buf)[1], { role = "user", text = "Say hi" }, "the new text")
  H.eq(H.answer(buf, 1), "Hi!", "its answer")
  H.eq(draft(chat), { "" }, "the sent draft is cleared")
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "my draft" })
  api.nvim_win_set_cursor(win, { row_of(buf, "## You") + 1, 0 })
  H.keys("[v")
  H.wait(function()
    return H.headings(buf)[1] == "## You 1/2"
  end, "the first version of the turn")
  H.eq(H.sections(buf)[1].text, "Say hello", "with its text")
  H.eq(H.headings(buf)[2], "## Assistant (other/other-large) 4/4", "and the answer it was left at")
  H.eq(draft(chat), { "my draft" }, "the draft survives")
  H.keys("]v")
  H.wait(function()
    return H.headings(buf)[1] == "## You 2/2"
  end, "the edited turn again")

  -- 6. A failed turn, retried.
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "fail please" })
  chat:send()
  wait_idle(chat, "the failed answer")
  H.contains(H.answer(buf, -1), "[!error]", "the error is shown")
  vim.cmd("ChinwagRetry")
  wait_idle(chat, "the retried answer")
  local retry = last_request("chat/regenerate")
  H.eq(retry.messageId, chat.messages[#chat.messages - 1].id, "regenerate on the failed turn")
  H.eq(H.answer(buf, -1), "Recovered.", "the new answer")
  H.eq(H.headings(buf)[4], "## Assistant (mock/mock-model) 2/2", "beside the failed one")
  H.eq(#H.notes_with("no failed answer to retry"), 0, "nothing else to say")
  vim.cmd("ChinwagRetry")
  H.eq(#H.notes_with("no failed answer to retry"), 1, "nothing left to retry")

  -- A search finds the first answer, on a branch not shown: it is shown, the cursor on it.
  H.will_select_text("Hello one")
  local found = nil
  require("chinwag.history").search("HELLO one", function(ok)
    found = ok
  end)
  H.wait(function()
    return found ~= nil
  end, "the search")
  H.ok(found, "found")
  H.eq(last_request("chat/switch").messageId, answer1.id, "switched to it")
  H.eq(H.headings(buf)[1], "## You 1/2", "the branch with the message found")
  H.eq(api.nvim_get_current_line(), "## Assistant (mock/mock-model) 1/4", "the cursor on it")
  H.ok(H.answer(buf, 1):find("Hello one.", 1, true), "its text")

  -- Another editor shows another version of the first turn: back in the chat, so does this one.
  local other_version = chat.messages[1].siblings[2]
  local switched = backend.request_sync("chat/switch", { chatId = chat.id, messageId = other_version }, 5000)
  H.ok(switched, "switched elsewhere")
  vim.cmd("wincmd p")
  vim.cmd("wincmd p")
  H.wait(function()
    return H.headings(buf)[1] == "## You 2/2"
  end, "the branch shown elsewhere, after BufEnter")
  H.eq(H.sections(buf)[1].text, "Say hi", "its text")

  -- 7. A turn refused before anything was sent (no key for faraway), retried on another model.
  vim.cmd("ChinwagNew")
  local far = require("chinwag.chat").current()
  H.ok(far ~= chat, "a new chat")
  far:configure("faraway", "far-model")
  far:send("are you there?")
  H.wait(function()
    return not far.busy
  end, "the refusal")
  H.contains(H.answer(far.buf, 1), "[!error]", "the refusal is shown")
  H.eq(far.messages[1].id, nil, "refused before anything was saved: no id")
  local configured = false
  far:configure("mock", "mock-model", function(ok)
    configured = ok
  end)
  H.wait(function()
    return configured
  end, "the chat on the mock model")
  local before = #requests
  vim.cmd("ChinwagRetry")
  H.wait(function()
    return not far.busy and H.answer(far.buf, 1) == "Back."
  end, "the retried turn's answer")
  local sent = vim.tbl_filter(function(r)
    return r.method == "chat/send"
  end, vim.list_slice(requests, before + 1))
  H.eq(#sent, 1, "a turn never saved is sent again")
  H.eq({ sent[1].params.content, sent[1].params.parentId }, { "are you there?", nil }, "the same text, from the top")
  H.eq(#H.sections(far.buf), 3, "one turn shown, the refused one replaced")
  H.eq(H.sections(far.buf)[1], { role = "user", text = "are you there?" }, "the same message")

  -- gM: a new answer from a provider and model picked.
  H.will_select_text("mock")
  H.will_select_text("mock-small")
  H.keys("gM")
  H.wait(function()
    return not far.busy and H.headings(far.buf)[2] == "## Assistant (mock/mock-small) 2/2"
  end, "gM: the picked model in the heading, 2 of 2")
  H.eq(H.answer(far.buf, 1), "Small now.", "its text")
  server:stop()
end)
