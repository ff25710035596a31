-- A chat open in two editors never shows one thing while the model is sent another: turns
-- added elsewhere appear when the user comes back to the chat (BufEnter, FocusGained), and a
-- send on a chat changed elsewhere renders it first and sends nothing; the draft is kept.
-- "Elsewhere" is a chat/send on the same chat id that this buffer did not make (another
-- editor's backend reaches the same store).
local H = require("helpers")
local api = vim.api
local backend = require("chinwag.backend")

local function draft(chat)
  return api.nvim_buf_get_lines(chat.buf, chat:prompt_row() + 1, -1, false)
end

local function send_elsewhere(chat, text)
  local result, err = backend.request_sync("chat/send", { chatId = chat.id, content = text }, 10000)
  H.ok(result and not err, "sent elsewhere: " .. vim.inspect(err))
  return result
end

H.run("test_refresh", function()
  H.setup()
  local source = api.nvim_get_current_win()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  local chat_win = api.nvim_get_current_win()
  api.nvim_buf_set_lines(buf, -2, -1, false, { "first" })
  chat:send()
  H.wait(function()
    return not chat.busy and chat.synced ~= nil
  end, "the first answer")
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "my draft" })

  -- Another editor adds a turn; coming back to the chat shows it.
  send_elsewhere(chat, "from elsewhere")
  H.eq(#H.sections(buf), 3, "not shown while nobody looks")
  api.nvim_set_current_win(source)
  api.nvim_set_current_win(chat_win)
  H.wait(function()
    return #H.sections(buf) == 5
  end, "the turn added elsewhere, after BufEnter")
  local sections = H.sections(buf)
  H.eq(sections[3], { role = "user", text = "from elsewhere" }, "the other editor's turn")
  H.eq(sections[4], { role = "assistant", text = "Two." }, "its answer")
  H.eq(draft(chat), { "my draft" }, "the draft is kept")

  -- Changed elsewhere again while the user is in the chat: sending renders it, sends nothing.
  send_elsewhere(chat, "again elsewhere")
  H.ok(chat:send(), "send")
  H.wait(function()
    return not chat.busy and #H.sections(buf) == 7
  end, "the chat rendered again instead of sent")
  H.eq(#H.notes_with("changed in another editor"), 1, "the user is told")
  H.eq(H.notes_with("changed in another editor")[1].level, vim.log.levels.WARN, "as a warning")
  H.eq(draft(chat), { "my draft" }, "the draft is kept, not sent")
  H.eq(H.sections(buf)[5], { role = "user", text = "again elsewhere" }, "the new turn")

  -- Sent again: it goes, after everything shown.
  H.ok(chat:send(), "send again")
  H.wait(function()
    return not chat.busy and H.answer(buf, -1) == "Four."
  end, "the answer to the draft")
  sections = H.sections(buf)
  H.eq(sections[7], { role = "user", text = "my draft" }, "the draft is the last turn")

  -- FocusGained (back from another program) refreshes too.
  H.wait(function()
    return chat.synced and chat.synced.messageCount == 8
  end, "the buffer in sync")
  send_elsewhere(chat, "via focus")
  vim.cmd("doautocmd FocusGained")
  H.wait(function()
    return #H.sections(buf) == 11
  end, "the turn added elsewhere, after FocusGained")
  H.eq(H.answer(buf, -1), "Five.", "its answer")
end)
