-- Presets: `/` at the start of the draft offers the names (completion narrows as you type), the
-- chosen one is sent as `preset` with the rest of the message; an unknown `/word` is just text;
-- :ChinwagSend /tests with a range and :ChinwagRewrite /fix take a preset; the chat's preset is
-- in its header, also when it is reopened.
local H = require("helpers")
local api = vim.api

H.run("test_presets", function()
  H.setup()
  local presets = require("chinwag.presets")
  vim.fn.writefile({ "fn add(a: u8, b: u8) -> u8 { a - b }" }, "src/lib.rs")
  vim.cmd("edit src/lib.rs")
  local source_win = api.nvim_get_current_win()

  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  H.wait(function()
    return presets.cache ~= nil
  end, "the presets")
  local names = vim.tbl_map(function(p)
    return p.name
  end, presets.cache)
  H.eq(names, { "explain", "review", "fix", "tests", "docs", "commit", "terse" }, "built-ins first, then the config's")

  -- `/` at the start of the draft opens the names; typing narrows them; <C-y> takes one.
  H.keys(
    "i/<Cmd>lua _G.first = vim.fn.complete_info({'items', 'pum_visible'})<CR>"
      .. "ter<Cmd>lua _G.second = vim.fn.complete_info({'pum_visible'}); _G.line = vim.api.nvim_get_current_line()<CR>"
      .. "<C-y><Cmd>lua _G.taken = vim.api.nvim_get_current_line()<CR> keep it short<C-s><Esc>"
  )
  H.eq(_G.first.pum_visible, 1, "the menu is shown")
  H.eq(#_G.first.items, 7, "every preset is offered")
  H.eq(_G.first.items[7].word, "/terse", "as /name")
  H.eq(_G.second.pum_visible, 1, "still shown while typing")
  H.eq(_G.line, "/ter", "typing narrows without inserting a name")
  H.eq(_G.taken, "/terse", "the name taken")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 1) == "Short."
  end, "the terse answer")
  H.eq(H.sections(chat.buf)[1].text, "/terse keep it short", "the message as typed")
  H.wait(function()
    return H.lines(chat.buf)[1] == "# chinwag · mock · mock-model · /terse"
  end, "the preset in the header")

  -- Not at the start of a message: no names.
  H.keys("Gihello /te<Esc>")
  api.nvim_win_set_cursor(0, { api.nvim_buf_line_count(chat.buf), #"hello /te" })
  H.eq(presets.completefunc(1, ""), -3, "no completion after other text")
  vim.cmd("normal! cc")

  -- A `/word` that is no preset is a message like any other.
  chat:send("/nonesuch is a path")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 2) == "Plain."
  end, "the plain answer")

  -- :ChinwagSend with a range and a preset; completion of `/name` on the command line.
  H.eq(presets.complete_command("/te", "ChinwagSend /te"), { "/tests", "/terse" }, "command-line completion")
  H.eq(presets.complete_command("x", "'<,'>ChinwagSend x"), {}, "only after a slash")
  api.nvim_set_current_win(source_win)
  vim.cmd("1ChinwagSend /tests")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 3) == "Tests."
  end, "the tests answer")
  H.wait(function()
    return H.lines(chat.buf)[1] == "# chinwag · mock · mock-model · /tests"
  end, "the chat took the preset")

  -- :ChinwagRewrite /fix: the preset's instruction.
  api.nvim_set_current_win(source_win)
  vim.cmd("1ChinwagRewrite /fix")
  H.wait(function()
    return require("chinwag.rewrite").current() ~= nil
  end, "the rewrite's diff")
  require("chinwag.rewrite").reject()

  -- Reopened: the header names the chat's preset.
  local id = chat.id
  vim.cmd("bwipeout! " .. chat.buf)
  local reopened
  require("chinwag.chat").open_saved(id, function(c)
    reopened = c
  end)
  H.wait(function()
    return reopened ~= nil
  end, "the reopened chat")
  H.eq(H.lines(reopened.buf)[1], "# chinwag · mock · mock-model · /tests", "the preset shown when reopened")
  H.eq(reopened.preset, "tests", "the chat's preset")
end)
