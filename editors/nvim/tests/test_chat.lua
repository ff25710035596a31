-- Open a chat, send with the keys, the answer streams in order without moving the cursor,
-- usage appears at the end, events and statusline follow; stop mid-stream with :ChinwagStop and
-- with <C-c>; the draft typed while streaming is kept; the backend stops when Neovim quits.
local H = require("helpers")
local api = vim.api

H.run("test_chat", function()
  H.setup({ system_prompt = "Be brief." })
  local events = {}
  api.nvim_create_autocmd("User", {
    pattern = { "ChinwagRequestStarted", "ChinwagRequestFinished" },
    callback = function(ev)
      events[#events + 1] = { name = ev.match, data = ev.data }
    end,
  })
  local source_win = api.nvim_get_current_win()

  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  H.ok(api.nvim_get_current_win() ~= source_win, "the chat opens in a split and is focused")
  H.eq(#api.nvim_tabpage_list_wins(0), 2, "windows")
  H.eq(vim.bo[buf].filetype, "markdown", "filetype")
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · mock-model"
  end, "the header with provider and model")
  H.eq(api.nvim_win_get_cursor(0)[1], api.nvim_buf_line_count(buf), "the cursor is on the draft line")

  -- Turn 1: typed in insert mode and sent with <C-s>; streams in order.
  H.keys("iSay hello<C-s>")
  H.ok(chat.busy, "a request is in flight")
  H.eq(events[1] and events[1].name, "ChinwagRequestStarted", "started event")
  -- While it streams, the user keeps typing in the draft below.
  H.wait(function()
    return (H.answer(buf, 1) or "") ~= ""
  end, "the first delta")
  H.contains(require("chinwag").status(), "streaming", "statusline while streaming")
  H.keys("icount<Esc>")
  local seen = {}
  H.wait(function()
    seen[#seen + 1] = H.answer(buf, 1)
    return not chat.busy
  end, "the end of the answer")
  local expected = {}
  for i = 0, 39 do
    expected[#expected + 1] = ("Grüß%d "):format(i)
  end
  expected = table.concat(expected) .. "✓"
  H.eq(H.answer(buf, 1), expected, "the whole answer")
  local distinct = {}
  for _, text in ipairs(seen) do
    H.ok(expected:sub(1, #text) == text, "every state is a prefix of the answer: " .. vim.inspect(text))
    distinct[text] = true
  end
  H.ok(vim.tbl_count(distinct) >= 3, "the answer arrived in several steps, not at once")
  -- The cursor stayed on the user's draft, which holds what was typed while streaming.
  local sections = H.sections(buf)
  H.eq(sections[#sections], { role = "user", text = "count" }, "the draft typed while streaming")
  H.eq(api.nvim_get_current_line(), "count", "the cursor is on the draft")
  H.eq(sections[1], { role = "user", text = "Say hello" }, "the user's turn")
  local virt = H.virt_texts(buf)
  H.contains(virt[#virt], "11 → 40 tokens", "usage after the answer")
  H.contains(virt[#virt], "tok/s", "speed after the answer")
  H.eq(events[#events].name, "ChinwagRequestFinished", "finished event")
  H.eq(events[#events].data.status, "complete", "finished status")
  H.eq(events[#events].data.usage, { promptTokens = 11, completionTokens = 40 }, "finished usage")
  H.contains(require("chinwag").status(), "mock/mock-model idle · 11 → 40 tokens", "statusline when idle")

  -- Turn 2: sent with <CR> in normal mode, stopped with :ChinwagStop.
  H.keys("<CR>")
  H.wait(function()
    return (H.answer(buf, 2) or ""):find("tok0 ", 1, true) ~= nil
  end, "the second answer to start")
  vim.cmd("ChinwagStop")
  H.wait(function()
    return not chat.busy
  end, "the stop")
  H.contains(H.virt_texts(buf)[2], "stopped", "the stopped marker")
  H.eq(events[#events].data.status, "cancelled", "finished status after stop")
  local partial = H.answer(buf, 2)
  H.ok(#partial > 0 and not partial:find("tok199", 1, true), "a partial answer is kept: " .. partial)

  -- Turn 3: stopped with <C-c> in the chat buffer.
  H.keys("Gimore please<Esc>")
  H.keys("<C-s>")
  H.wait(function()
    return (H.answer(buf, 3) or ""):find("tok0 ", 1, true) ~= nil
  end, "the third answer to start")
  H.keys("<C-c>")
  H.wait(function()
    return not chat.busy
  end, "the stop by <C-c>")
  H.contains(H.virt_texts(buf)[3], "stopped", "the stopped marker after <C-c>")

  -- Turn 4: the conversation goes on after stops.
  H.keys("Giand now?<C-s><Esc>")
  H.wait(function()
    return not chat.busy and H.answer(buf, 4) == "Fine."
  end, "the fourth answer")
  H.eq(#vim.tbl_filter(function(e)
    return e.name == "ChinwagRequestStarted"
  end, events), 4, "one started event per request")

  -- :Chinwag from another window focuses the same chat.
  api.nvim_set_current_win(source_win)
  vim.cmd("Chinwag")
  H.eq(api.nvim_get_current_buf(), buf, ":Chinwag focuses the open chat")
  H.eq(#api.nvim_tabpage_list_wins(0), 2, "no second chat window")

  -- :ChinwagToggle hides the chat window and shows it again.
  vim.cmd("ChinwagToggle")
  H.eq(#api.nvim_tabpage_list_wins(0), 1, "the toggle hides the chat window")
  H.ok(api.nvim_buf_is_valid(buf), "the chat lives on")
  vim.cmd("ChinwagToggle")
  H.eq(#api.nvim_tabpage_list_wins(0), 2, "the toggle shows it again")
  H.eq(api.nvim_get_current_buf(), buf, "with the same chat")
  vim.cmd("ChinwagToggle")

  -- The float layout (no chat window open); q closes the chat window (the chat lives on).
  require("chinwag.config").options.window.layout = "float"
  vim.cmd("ChinwagNew")
  local float = api.nvim_get_current_win()
  H.eq(api.nvim_win_get_config(float).relative, "editor", "the new chat is a float")
  H.ok(api.nvim_get_current_buf() ~= buf, "a new chat buffer")
  local float_buf = api.nvim_get_current_buf()
  H.keys("q")
  H.ok(not api.nvim_win_is_valid(float), "q closes the float")
  H.ok(api.nvim_buf_is_valid(float_buf), "the chat buffer stays")
  H.eq(api.nvim_get_current_win(), source_win, "back in the source window")
  vim.cmd("Chinwag")
  H.eq(api.nvim_get_current_buf(), float_buf, ":Chinwag brings back the chat used last")
  H.log("BACKEND_PID=" .. tostring(require("chinwag.backend").pid()))
end)
