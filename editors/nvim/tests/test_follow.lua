-- chinwag-test: own-provider
-- An answer that is one paragraph far taller than the window (5,000 characters, no newline)
-- stays in view while it streams: the window following the answer (cursor in the draft) shows
-- the newest text, then the end of the answer, above the draft. A window whose cursor is up
-- in the transcript is not moved.
local H = require("helpers")
local P = require("provider")
local api = vim.api

--- 1,050 words and a marker at the end: about 5,000 characters on one line.
local function long_line(marker)
  local tokens = {}
  for i = 1, 1050 do
    tokens[#tokens + 1] = ("w%d "):format(i)
  end
  tokens[#tokens + 1] = marker
  return tokens
end

H.run("test_follow", function()
  local server = P.start()
  P.write_config(server)
  server:push(P.sse(long_line("TAILEND"), { piece = 256, pause = 3 }))
  server:push(P.sse(long_line("SECONDEND"), { piece = 256, pause = 1 }))
  H.setup()
  vim.o.lines, vim.o.columns = 24, 80
  vim.o.scrolloff = 8

  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local win = api.nvim_get_current_win()
  H.ok(api.nvim_win_get_height(win) < 30, "a small window")
  H.keys("iwrite one long line<C-s><Esc>")
  H.ok(chat.busy, "sent")

  -- While it streams: the newest whole word is on screen whenever we look.
  local checks = 0
  H.wait(function()
    local answer = H.answer(chat.buf, 1) or ""
    local newest = answer:match("(w%d+) %S*$")
    if newest and #answer > 2500 and checks < 5 then
      H.ok(H.on_screen(newest .. " "), ("the newest word %s is on screen at %d chars"):format(newest, #answer))
      checks = checks + 1
    end
    return not chat.busy
  end, "the end of the long answer", 30000)
  H.ok(checks > 0, "looked at the screen while the answer streamed")
  local answer = H.answer(chat.buf, 1)
  H.ok(#answer > 5000 and not answer:find("\n"), "one line of about 5,000 characters: " .. #answer)
  H.ok(
    api.nvim_win_call(win, function()
      return vim.fn.winheight(0)
    end)
      < api.nvim_win_text_height(win, { start_row = chat:prompt_row() - 2, end_row = chat:prompt_row() - 2 }).all,
    "the paragraph is taller than the window"
  )
  H.ok(H.on_screen("TAILEND"), "the end of the answer is on screen")
  H.ok(H.on_screen("## You"), "the draft heading is on screen")
  H.eq(api.nvim_win_get_cursor(win)[1], api.nvim_buf_line_count(chat.buf), "the cursor stayed in the draft")

  -- A window whose cursor is up in the transcript stays where it is.
  api.nvim_win_set_cursor(win, { 1, 0 })
  vim.cmd("redraw")
  H.ok(chat:send("and another"), "sent again")
  H.wait(function()
    return not chat.busy
  end, "the second answer", 30000)
  H.ok((H.answer(chat.buf, 2) or ""):find("SECONDEND", 1, true), "the second answer arrived")
  H.eq(vim.fn.getwininfo(win)[1].topline, 1, "the window reading the top was not moved")
  H.ok(not H.on_screen("SECONDEND"), "and does not show the end")
  server:stop()
end)
