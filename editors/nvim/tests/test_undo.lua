-- Undo and redo in a chat buffer only ever touch what the user typed in the input area: after
-- an answer, many `u` and `<C-r>` leave the transcript byte-identical; during a stream, `u`
-- removes no heading and the stream goes on at its place; the next message is appended after
-- the transcript. An edit of the transcript is rendered back from the model.
local H = require("helpers")
local api = vim.api

--- The transcript: every line down to the input heading (included).
local function transcript(chat)
  return api.nvim_buf_get_lines(chat.buf, 0, chat:prompt_row() + 1, false)
end

local function draft(chat)
  return api.nvim_buf_get_lines(chat.buf, chat:prompt_row() + 1, -1, false)
end

--- Close the undo block (keys fed in one scenario are otherwise one undoable change, as in a
--- mapping; typed keys each make their own).
local function sync()
  vim.o.undolevels = vim.o.undolevels
end

local function keys_n(keys, n)
  for _ = 1, n do
    H.keys(keys)
  end
end

H.run("test_undo", function()
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · mock-model"
  end, "the header")

  -- 1. After an answer.
  H.keys("iSay hello<C-s><Esc>")
  H.wait(function()
    return not chat.busy
  end, "the first answer")
  local before = transcript(chat)
  H.eq(before[#before], "## You", "the transcript ends at the input heading")
  H.eq(H.answer(buf, 1), "Hello there.", "the answer")
  H.keys("Gifirst line<Esc>")
  sync()
  H.keys("osecond line<Esc>")
  sync()
  H.eq(draft(chat), { "first line", "second line" }, "the typed draft")
  keys_n("u", 12)
  H.eq(transcript(chat), before, "12 undos leave the transcript byte-identical")
  H.eq(draft(chat), { "" }, "12 undos undo what was typed, and only that")
  H.eq(H.lines(buf)[1], "# chinwag · mock · mock-model", "the header is still there")
  keys_n("<C-r>", 12)
  H.eq(transcript(chat), before, "12 redos leave the transcript byte-identical")
  H.eq(draft(chat), { "first line", "second line" }, "redo brings the typed text back")
  keys_n("u", 1)
  H.eq(draft(chat), { "first line" }, "one undo undoes one typed change")
  keys_n("<C-r>", 1)

  -- An edit that reaches the transcript (here: the header deleted) is put right from the
  -- model, and neither undo nor redo can bring it back.
  H.keys("ggdd")
  sync()
  H.wait(function()
    return vim.deep_equal(transcript(chat), before)
  end, "the transcript to be rendered again after an edit in it")
  keys_n("u", 3)
  keys_n("<C-r>", 3)
  H.wait(function()
    return vim.deep_equal(transcript(chat), before)
  end, "the transcript after undo and redo")
  H.eq(draft(chat), { "first line", "second line" }, "the draft stays")

  -- 2. During a stream.

  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "count" })
  H.ok(chat:send(), "sent count")
  H.wait(function()
    return (H.answer(buf, 2) or ""):find("tok3 ", 1, true) ~= nil
  end, "the second answer to stream")
  H.keys("Gityped while streaming<Esc>")
  keys_n("u", 10)
  local sections = H.sections(buf)
  H.eq(#sections, 5, "no heading was removed by undo: " .. vim.inspect(sections))
  H.eq(sections[3], { role = "user", text = "count" }, "the turn being answered")
  H.eq(H.lines(buf)[1], "# chinwag · mock · mock-model", "the header stays")
  local answer_then = H.answer(buf, 2)
  H.wait(function()
    return #(H.answer(buf, 2) or "") > #answer_then + 20
  end, "the stream to go on after the undos")
  local answer_now = H.answer(buf, 2)
  H.eq(answer_now:sub(1, #answer_then), answer_then, "the stream goes on where it was")
  H.ok(answer_now:match("^tok0 tok1 tok2 ") ~= nil, "in order: " .. answer_now)
  H.eq(#H.sections(buf), 5, "the answer streams into its own section")
  vim.cmd("ChinwagStop")
  H.wait(function()
    return not chat.busy
  end, "the stop")
  local stopped = transcript(chat)
  keys_n("u", 10)
  H.eq(transcript(chat), stopped, "undo after the stop leaves the transcript")

  -- 3. The next message goes after the transcript.
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "and now?" })
  H.ok(chat:send(), "sent and now?")
  H.wait(function()
    return not chat.busy
  end, "the third answer")
  sections = H.sections(buf)
  H.eq(#sections, 7, "seven sections: " .. vim.inspect(sections))
  H.eq(sections[1], { role = "user", text = "Say hello" }, "the first turn is first")
  H.eq(sections[5], { role = "user", text = "and now?" }, "the new turn comes after the transcript")
  H.eq(sections[6], { role = "assistant", text = "Fine." }, "its answer")
  H.eq(sections[7], { role = "user", text = "" }, "an empty input area last")
  keys_n("u", 10)
  H.eq(#H.sections(buf), 7, "undo after the third answer removes nothing")

  -- Deleting the input heading (the draft below it) puts the heading back and keeps the draft.
  local whole = transcript(chat)
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "keep me" })
  api.nvim_win_set_cursor(0, { chat:prompt_row() + 1, 0 })
  H.keys("dd")
  H.wait(function()
    return vim.deep_equal(transcript(chat), whole)
  end, "the input heading to be back")
  H.eq(draft(chat), { "keep me" }, "the draft is kept")
end)
