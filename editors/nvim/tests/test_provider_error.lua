-- A provider that refuses the key: the error is notified and shown inline under the turn, the
-- user's message stays in the buffer, and the next message works once the provider recovers.
local H = require("helpers")

H.run("test_provider_error", function()
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · mock-model"
  end, "the header")

  H.keys("iWill this fail?<C-s>")
  H.wait(function()
    return not chat.busy
  end, "the failed answer")
  H.eq(H.sections(buf)[1], { role = "user", text = "Will this fail?" }, "the user's message is kept")
  H.ok(#H.notes_with("HTTP 401") >= 1, "the error is notified: " .. vim.inspect(H.notes))
  local inline = table.concat(vim.list_extend(H.virt_texts(buf), H.virt_lines(buf)), "\n")
  H.contains(inline, "401", "the error is shown inline in the chat")
  H.ok(not inline:find("CANARY", 1, true), "the key is not shown")

  -- The provider recovers: the next message streams normally.
  H.keys("iAgain<C-s>")
  H.wait(function()
    return not chat.busy and H.answer(buf, -1) == "Recovered."
  end, "the next answer")
end)
