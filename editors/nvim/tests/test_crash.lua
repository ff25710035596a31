-- The backend is killed mid-answer: the user is told why (exit, log folder), the chat shows the
-- failure, and the next command starts a new backend that continues the same chat.
local H = require("helpers")
local api = vim.api
local backend = require("chinwag.backend")

H.run("test_crash", function()
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "count" })
  chat:send()
  H.wait(function()
    return (H.answer(chat.buf, 1) or ""):find("tok0 ", 1, true) ~= nil
  end, "the answer to start")
  local pid = H.ok(backend.pid(), "a backend pid")
  local log_dir = H.ok(backend.info, "initialize result").paths.logDir
  local finished
  api.nvim_create_autocmd("User", {
    pattern = "ChinwagRequestFinished",
    once = true,
    callback = function(ev)
      finished = ev.data
    end,
  })
  H.eq((vim.uv or vim.loop).kill(pid, "sigkill"), 0, "killed")

  H.wait(function()
    return #H.notes_with("the backend stopped") == 1
  end, "the notification")
  local note = H.notes_with("the backend stopped")[1]
  H.contains(note.msg, "signal 9", "the notification says how it ended")
  H.contains(note.msg, "Log: " .. log_dir, "the notification names the log folder")
  H.contains(note.msg, "starts it again", "the notification says what happens next")
  H.eq(note.level, vim.log.levels.ERROR, "an error")
  H.ok(not chat.busy, "the chat is no longer busy")
  H.eq(finished and finished.status, "error", "the finished event reports the error")
  H.contains(H.virt_texts(chat.buf)[1], "exited", "the chat shows the failure")
  H.eq(backend.pid(), nil, "no backend now")

  -- The next command restarts it, and the chat goes on under the same id.
  local id = chat.id
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "are you back?" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the answer from the new backend")
  H.ok(backend.pid() and backend.pid() ~= pid, "a new backend")
  H.eq(chat.id, id, "the same chat")
  H.eq(H.answer(chat.buf, 2), "Back again.", "the answer")

  -- A backend that dies at once: its exit code and the tail of its stderr are shown.
  backend.stop()
  require("chinwag").setup({ cmd = { "sh", "-c", "echo 'config exploded at line 3' >&2; exit 3" } })
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "hello?" })
  chat:send()
  H.wait(function()
    return not chat.busy and #H.notes_with("exit code 3") == 1
  end, "the report of the early exit")
  local early = H.notes_with("exit code 3")[1].msg
  H.contains(early, "stderr:\n  config exploded at line 3", "the stderr tail")
  H.contains(early, "Log: " .. log_dir, "the log folder")

  -- A backend that cannot start is reported with what to do.
  backend.stop()
  require("chinwag").setup({ cmd = { "/nonexistent/chinwag" } })
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "anyone?" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the failure to start")
  H.contains(H.notes[#H.notes].msg, "cannot start the backend", "the notification")
  H.contains(H.notes[#H.notes].msg, "setup()", "the hint")
  H.log("BACKEND_PIDS=" .. pid)
end)
