-- The statusline component redraws itself: the spinner turns while an answer streams, the
-- usage shown is the current answer's (none after a stop or an error), "(locked)" follows the
-- vault. The stop marker and errors are real lines of the transcript, readable and yankable.
local H = require("helpers")
local api = vim.api
local backend = require("chinwag.backend")

local PASSWORD = "correct horse battery"

--- What the statusline showed, at each redraw.
local shown = {}
function _G.ChinwagStatusProbe()
  local text = require("chinwag").status()
  shown[#shown + 1] = text
  return text
end

local function last_shown()
  return shown[#shown] or ""
end

H.run("test_status", function()
  H.setup()
  vim.o.laststatus = 2
  vim.o.statusline = "%{v:lua.ChinwagStatusProbe()}"
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · mock-model"
  end, "the header")

  -- A complete answer: its usage is shown.
  api.nvim_buf_set_lines(buf, -2, -1, false, { "first" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the first answer")
  H.wait(function()
    return last_shown():find("idle · 11 → 1 tokens", 1, true) ~= nil
  end, "the usage in the statusline: " .. last_shown())

  -- A stream: redrawn while it streams, the spinner turning, the old usage gone.
  local before = #shown
  api.nvim_buf_set_lines(buf, -2, -1, false, { "count" })
  chat:send()
  H.wait(function()
    return (H.answer(buf, 2) or ""):find("tok3 ", 1, true) ~= nil
  end, "the stream")
  H.eq(require("chinwag").status_data().last_usage, nil, "a new send clears the usage")
  vim.wait(800, function()
    return false
  end)
  local frames = {}
  for i = before + 1, #shown do
    if shown[i]:find("streaming", 1, true) then
      frames[shown[i]] = true
    end
    H.ok(not shown[i]:find("tokens", 1, true), "no old usage while streaming: " .. shown[i])
  end
  H.ok(vim.tbl_count(frames) >= 3, "the spinner turned in the statusline: " .. vim.inspect(frames))

  -- Stopped: no usage (not the previous answer's), and the marker is a line of text.
  vim.cmd("ChinwagStop")
  H.wait(function()
    return not chat.busy
  end, "the stop")
  H.wait(function()
    return last_shown():find("idle · stopped", 1, true) ~= nil
  end, "the stop in the statusline: " .. last_shown())
  H.ok(not last_shown():find("tokens", 1, true), "no usage after a stop: " .. last_shown())
  local answer = H.answer(buf, 2)
  H.ok(answer:find("\n\n_(stopped)_", 1, true) ~= nil, "the stop marker is text: " .. answer)
  H.ok(vim.tbl_contains(H.lines(buf), "_(stopped)_"), "a buffer line")

  -- An error: the whole message is a line of the transcript (and can be yanked).
  api.nvim_buf_set_lines(buf, -2, -1, false, { "fail please" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the failed answer")
  local row
  for i, line in ipairs(H.lines(buf)) do
    if line:find("> [!error] ", 1, true) == 1 then
      row = i
    end
  end
  H.ok(row, "an error line in the transcript: " .. H.text(buf))
  api.nvim_win_set_cursor(0, { row, 0 })
  vim.cmd("normal! yy")
  local yanked = vim.fn.getreg('"')
  H.contains(yanked, "Incorrect API key provided", "the yanked error has the provider's message")
  H.contains(yanked, "HTTP 401", "and the status")
  H.wait(function()
    return last_shown():find("idle · error", 1, true) ~= nil
  end, "the error in the statusline: " .. last_shown())

  -- (locked) follows the vault, redrawn.
  H.ok(backend.request_sync("vault/setPassword", { current = vim.NIL, new = PASSWORD }), "a password")
  vim.cmd("ChinwagLock")
  H.wait(function()
    return last_shown():find("(locked)", 1, true) ~= nil
  end, "(locked) in the statusline: " .. last_shown())
  H.will_secret(PASSWORD)
  vim.cmd("ChinwagUnlock")
  H.wait(function()
    return #H.notes_with("vault unlocked") == 1 and not last_shown():find("(locked)", 1, true)
  end, "(locked) gone: " .. last_shown())
end)
