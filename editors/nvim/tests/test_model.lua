-- :ChinwagModel lists providers and the provider's models (from the backend) with
-- vim.ui.select; the pick applies to the open chat before and after it has started.
local H = require("helpers")
local api = vim.api

H.run("test_model", function()
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  H.wait(function()
    return H.lines(chat.buf)[1] == "# chinwag · mock · mock-model"
  end, "the default model in the header")

  -- Before the first message: the new chat will use the pick.
  local offered
  H.will_select(function(items, opts)
    H.eq(opts.prompt, "Provider", "the first prompt")
    offered = vim.tbl_map(opts.format_item, items)
    for _, p in ipairs(items) do
      if p.name == "mock" then
        return p
      end
    end
  end)
  H.will_select(function(items)
    H.eq(items, { "mock-large", "mock-model" }, "the models the backend listed (sorted)")
    return "mock-large"
  end)
  vim.cmd("ChinwagModel")
  H.wait(function()
    return H.lines(chat.buf)[1] == "# chinwag · mock · mock-large"
  end, "the header to show the pick")
  H.ok(
    vim.tbl_contains(offered, "faraway  (openai-compatible, no key)"),
    "providers with their key state: " .. vim.inspect(offered)
  )
  H.contains(require("chinwag").status(), "mock/mock-large", "the statusline")
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "Which model are you?" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the answer")
  H.eq(chat.model, "mock-large", "the chat's model")

  -- After: chat/configure switches the running chat.
  H.will_select_text("mock")
  H.will_select_text("mock-model")
  vim.cmd("ChinwagModel")
  H.wait(function()
    return H.lines(chat.buf)[1] == "# chinwag · mock · mock-model"
  end, "the header after switching back")
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "And now?" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the second answer")
  -- A new chat starts with the session's pick.
  vim.cmd("ChinwagNew")
  H.eq(H.lines(require("chinwag.chat").current().buf)[1], "# chinwag · mock · mock-model", "a new chat uses the pick")
end)
