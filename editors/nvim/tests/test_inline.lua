-- Chat in any buffer: the prompt at the cursor of a Markdown buffer gets its answer streamed
-- in below under `## Assistant`, as one undo step; in code, after a `>>>` marker (gzz), the
-- answer is commented; the operator (gzip) and a visual selection (gz) in plain text; <C-c>
-- and :ChinwagStop stop it; :ChinwagContinue opens the exchange as a chat that goes on.
local H = require("helpers")
local api = vim.api

local function idle()
  return #require("chinwag.inline").jobs == 0
end

H.run("test_inline", function()
  H.setup()
  local inline = require("chinwag.inline")

  -- Markdown: the paragraph at the cursor is the prompt.
  vim.fn.writefile({ "# Notes", "", "What is a monad?" }, "notes.md")
  vim.cmd("edit notes.md")
  local md = api.nvim_get_current_buf()
  H.eq(inline.style(md), "markdown", "markdown style")
  api.nvim_win_set_cursor(0, { 3, 0 })
  local before = vim.fn.undotree().seq_last
  vim.cmd("ChinwagInline")
  local seen = {}
  H.wait(function()
    seen[table.concat(H.lines(md), "\n")] = true
    return idle()
  end, "the markdown answer")
  H.eq(
    H.lines(md),
    { "# Notes", "", "What is a monad?", "", "## Assistant", "A monad is a pattern.", "It chains." },
    "the answer below the prompt"
  )
  H.ok(vim.tbl_count(seen) >= 3, "it streamed in: " .. vim.inspect(vim.tbl_keys(seen)))
  H.eq(vim.fn.undotree().seq_last - before, 1, "one undo step")
  vim.cmd("undo")
  H.eq(H.lines(md), { "# Notes", "", "What is a monad?" }, "undo takes the whole answer out")
  H.eq(api.nvim_win_get_cursor(0)[1], 3, "the cursor stays on the prompt")

  -- Code: the prompt after the marker, the answer as comments (gzz).
  vim.fn.writefile({ "local x = 1", "-- >>> write an add function", "-- taking two numbers" }, "script.lua")
  vim.cmd("edit script.lua")
  local code = api.nvim_get_current_buf()
  H.eq({ inline.style(code) }, { "comment", "-- ", "" }, "comment style")
  api.nvim_win_set_cursor(0, { 3, 0 })
  H.keys("gzz")
  H.wait(idle, "the code answer")
  H.eq(H.lines(code), {
    "local x = 1",
    "-- >>> write an add function",
    "-- taking two numbers",
    "",
    "-- fn add(a: i32, b: i32) -> i32 {",
    "--     a + b",
    "-- }",
  }, "the answer as comments")

  -- Plain text: the operator over the inner paragraph, then a visual selection.
  vim.fn.writefile({ "First paragraph.", "", "Translate hello", "into French.", "", "Tail." }, "notes.txt")
  vim.cmd("edit notes.txt")
  local text = api.nvim_get_current_buf()
  H.eq(inline.style(text), "plain", "plain style")
  api.nvim_win_set_cursor(0, { 3, 0 })
  H.keys("gzip")
  H.wait(idle, "the operator's answer")
  H.keys("ggVgz")
  H.wait(idle, "the visual answer")
  H.eq(H.lines(text), {
    "First paragraph.",
    "",
    "Visual answer.",
    "",
    "Translate hello",
    "into French.",
    "",
    "Plain answer.",
    "",
    "Tail.",
  }, "both answers below their prompts")

  -- Stopped with <C-c> in the buffer (the key is the buffer's own again after), and with
  -- :ChinwagStop.
  vim.fn.writefile({ "Count forever" }, "stop.md")
  vim.cmd("edit stop.md")
  local stop = api.nvim_get_current_buf()
  vim.cmd("ChinwagInline")
  H.wait(function()
    return H.text(stop):find("tok0 ", 1, true) ~= nil
  end, "the endless answer")
  H.keys("<C-c>")
  H.wait(idle, "the stop by <C-c>")
  local lines = H.lines(stop)
  H.eq(lines[#lines], "_(stopped)_", "marked stopped")
  H.eq(lines[#lines - 1], "", "on a line of its own")
  H.eq(vim.fn.maparg("<C-c>", "n"), "", "the stop key is gone with the stream")
  vim.cmd("ChinwagInline Count again")
  H.wait(function()
    local _, count = H.text(stop):gsub("tok0 ", "")
    return count == 2
  end, "the second endless answer")
  vim.cmd("ChinwagStop")
  H.wait(idle, "the stop by :ChinwagStop")

  -- Continued in the chat buffer from the code answer.
  vim.cmd("buffer " .. code)
  api.nvim_win_set_cursor(0, { 6, 0 })
  vim.cmd("ChinwagContinue")
  local chat
  H.wait(function()
    chat = require("chinwag.chat").by_buf[api.nvim_get_current_buf()]
    return chat ~= nil
  end, "the chat")
  H.eq(H.sections(chat.buf)[1].text, "write an add function\n-- taking two numbers", "the inline prompt")
  chat:send("And subtraction?")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 2) == "Continued."
  end, "the continued answer")
end)
