-- One chat window per tabpage, reused: new chats, reopened chats (history) and search results
-- show in the chat window already open instead of adding a split each time; :ChinwagToggle
-- hides and shows it.
local H = require("helpers")
local api = vim.api

--- Windows of the current tabpage showing a chat.
local function chat_windows()
  local chats = require("chinwag.chat").by_buf
  return vim.tbl_filter(function(win)
    return chats[api.nvim_win_get_buf(win)] ~= nil
  end, api.nvim_tabpage_list_wins(0))
end

local function one_sane_window(what)
  local wins = chat_windows()
  H.eq(#wins, 1, what .. ": one chat window")
  H.eq(#api.nvim_tabpage_list_wins(0), 2, what .. ": the source window and the chat window")
  H.eq(api.nvim_win_get_width(wins[1]), math.floor(vim.o.columns * 0.4), what .. ": the configured width")
  return wins[1]
end

H.run("test_windows", function()
  H.setup()
  local chat_mod = require("chinwag.chat")
  local source = api.nvim_get_current_win()

  -- A first chat, saved with one turn.
  vim.cmd("Chinwag")
  local first = chat_mod.current()
  api.nvim_buf_set_lines(first.buf, -2, -1, false, { "Say hello" })
  H.ok(first:send(), "sent")
  H.wait(function()
    return not first.busy
  end, "the answer")
  local win = one_sane_window("the first chat")

  -- Five new chats, from the source window each time: still one chat window.
  local bufs = { [first.buf] = true }
  for i = 1, 5 do
    api.nvim_set_current_win(source)
    vim.cmd("ChinwagNew")
    local chat = chat_mod.current()
    H.ok(not bufs[chat.buf], "chat " .. i .. " is new")
    bufs[chat.buf] = true
    H.eq(api.nvim_get_current_win(), win, "chat " .. i .. " shows in the chat window")
    one_sane_window("after new chat " .. i)
  end

  -- A chat reopened from the history (its buffer was wiped) shows there too.
  local id = first.id
  api.nvim_buf_delete(first.buf, { force = true })
  api.nvim_set_current_win(source)
  H.will_select_text("Say hello")
  H.will_select_text("Open")
  vim.cmd("ChinwagHistory")
  H.wait(function()
    return chat_mod.by_id[id] ~= nil
  end, "the reopened chat")
  H.eq(api.nvim_win_get_buf(win), chat_mod.by_id[id].buf, "the reopened chat is in the chat window")
  one_sane_window("after the history")

  -- And a search result.
  api.nvim_buf_delete(chat_mod.by_id[id].buf, { force = true })
  api.nvim_set_current_win(source)
  H.will_select_text("Say hello")
  vim.cmd("ChinwagSearch hello")
  H.wait(function()
    return chat_mod.by_id[id] ~= nil
  end, "the chat found")
  win = one_sane_window("after the search")
  H.eq(api.nvim_win_get_buf(win), chat_mod.by_id[id].buf, "the chat found is in the chat window")

  -- :ChinwagToggle hides the chat window and brings it back with the same chat.
  local shown = api.nvim_win_get_buf(win)
  vim.cmd("ChinwagToggle")
  H.eq(#chat_windows(), 0, "hidden")
  H.eq(#api.nvim_tabpage_list_wins(0), 1, "only the source window")
  vim.cmd("ChinwagToggle")
  win = one_sane_window("shown again")
  H.eq(api.nvim_win_get_buf(win), shown, "the same chat")
  -- The chat as the only window is not hidden (there is nothing to show instead).
  vim.cmd("only")
  vim.cmd("ChinwagToggle")
  H.eq(#chat_windows(), 1, "the only window stays")
  H.ok(#H.notes_with("only window") == 1, "and the user is told why")
end)
