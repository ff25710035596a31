-- chinwag: user commands. Modules load only when a command runs.
if vim.g.loaded_chinwag == 1 then
  return
end
vim.g.loaded_chinwag = 1

local command = vim.api.nvim_create_user_command

-- `:help chinwag` at once: doc/tags is shipped, but a copy without it (or with a stale one
-- removed) gets it generated here when the folder is writable.
do
  local doc = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h") .. "/doc"
  if vim.fn.filereadable(doc .. "/tags") == 0 and vim.fn.filewritable(doc) == 2 then
    pcall(vim.cmd.helptags, vim.fn.fnameescape(doc))
  end
end

-- Highlight groups (linked by default, so colour schemes may set them).
local function highlights()
  local links = {
    ChinwagSpinner = "Comment",
    ChinwagUsage = "Comment",
    ChinwagStopped = "DiagnosticWarn",
    ChinwagError = "DiagnosticError",
    ChinwagContext = "Special",
    ChinwagSent = "Comment",
  }
  for group, target in pairs(links) do
    vim.api.nvim_set_hl(0, group, { link = target, default = true })
  end
end
highlights()
vim.api.nvim_create_autocmd("ColorScheme", {
  group = vim.api.nvim_create_augroup("chinwag.highlights", { clear = true }),
  callback = highlights,
})

local function provider_names()
  local backend = require("chinwag.backend")
  if #backend.provider_names == 0 then
    local result = backend.request_sync("providers/list", nil, 2000)
    if result and result.providers then
      backend.provider_names = vim.tbl_map(function(p)
        return p.name
      end, result.providers)
    end
  end
  return backend.provider_names
end

command("Chinwag", function()
  require("chinwag.chat").open()
end, { desc = "chinwag: open or focus the chat" })

command("ChinwagToggle", function()
  require("chinwag.chat").toggle()
end, { desc = "chinwag: hide or show the chat window" })

command("ChinwagNew", function()
  require("chinwag.chat").new()
end, { desc = "chinwag: start a new chat" })

command("ChinwagStop", function()
  require("chinwag.chat").stop()
end, { desc = "chinwag: stop the answer" })

command("ChinwagSend", function(args)
  require("chinwag.selection").send(args)
end, {
  range = true,
  nargs = "*",
  complete = "customlist,v:lua.require'chinwag.presets'.complete_command",
  desc = "chinwag: send the selection to the chat",
})

command("ChinwagAsk", function(args)
  require("chinwag.selection").ask(args)
end, {
  range = true,
  nargs = "+",
  complete = "customlist,v:lua.require'chinwag.presets'.complete_command",
  desc = "chinwag: ask about the selection or the buffer",
})

command("ChinwagRewrite", function(args)
  require("chinwag.rewrite").rewrite(args)
end, { range = true, nargs = "+", desc = "chinwag: rewrite the selection (shown as a diff)" })

command("ChinwagApply", function()
  require("chinwag.blocks").apply()
end, { desc = "chinwag: apply the chat's code block at the cursor (else the last) to the code sent" })

command("ChinwagYank", function()
  require("chinwag.blocks").yank()
end, { desc = "chinwag: yank the chat's code block at the cursor (else the last)" })

local function model_complete(lead, line)
  local words = vim.split(vim.trim(line:gsub("^%S+", "", 1)), "%s+", { trimempty = true })
  local typing_first = #words == 0 or (#words == 1 and not line:match("%s$"))
  local candidates = typing_first and provider_names() or require("chinwag.model").model_names(words[1])
  return vim.tbl_filter(function(name)
    return name:find(lead, 1, true) == 1
  end, candidates)
end

command("ChinwagRegenerate", function(args)
  local tree = require("chinwag.tree")
  if args.bang then
    tree.regenerate_with()
  elseif #args.fargs > 2 then
    vim.notify("chinwag: usage: :ChinwagRegenerate[!] [provider [model]]", vim.log.levels.ERROR)
  else
    tree.regenerate(nil, args.fargs[1], args.fargs[2])
  end
end, {
  nargs = "*",
  bang = true,
  complete = model_complete,
  desc = "chinwag: a new answer to the turn at the cursor (else the last); ! picks provider and model",
})

command("ChinwagRetry", function()
  require("chinwag.tree").retry()
end, { desc = "chinwag: answer the failed turn at the cursor (else the last failed one) again" })

command("ChinwagEdit", function()
  require("chinwag.tree").edit()
end, { desc = "chinwag: edit your message at the cursor (else the last) in the draft, as a new version" })

command("ChinwagEditCancel", function()
  require("chinwag.tree").edit_cancel()
end, { desc = "chinwag: stop editing; your draft from before comes back" })

command("ChinwagSibling", function(args)
  local direction = ({ next = 1, prev = -1 })[args.args]
  if not direction then
    vim.notify("chinwag: usage: :ChinwagSibling next|prev", vim.log.levels.ERROR)
    return
  end
  require("chinwag.tree").switch(nil, direction)
end, {
  nargs = 1,
  complete = function(lead)
    return vim.tbl_filter(function(word)
      return word:find(lead, 1, true) == 1
    end, { "next", "prev" })
  end,
  desc = "chinwag: show the next or previous version of the message at the cursor",
})

command("ChinwagModel", function(args)
  require("chinwag.model").command(args.fargs)
end, {
  nargs = "*",
  complete = model_complete,
  desc = "chinwag: pick (or name) provider and model",
})

command("ChinwagHistory", function()
  require("chinwag.history").list()
end, { desc = "chinwag: saved chats (open, rename, delete, export)" })

command("ChinwagSearch", function(args)
  require("chinwag.history").search(args.args)
end, { nargs = "+", desc = "chinwag: search saved chats" })

command("ChinwagKey", function(args)
  require("chinwag.vault").set_key(vim.trim(args.args))
end, {
  nargs = "?",
  complete = function(lead)
    return vim.tbl_filter(function(name)
      return name:find(lead, 1, true) == 1
    end, provider_names())
  end,
  desc = "chinwag: store an API key (read without echo); no argument: pick the provider",
})

command("ChinwagUnlock", function()
  require("chinwag.vault").unlock()
end, { desc = "chinwag: unlock the vault" })

command("ChinwagLock", function()
  require("chinwag.vault").lock()
end, { desc = "chinwag: lock the vault" })

command("ChinwagPassword", function()
  require("chinwag.vault").set_password()
end, { desc = "chinwag: set, change or remove the vault password" })

-- Context for the next message, presets, project instructions, chat in any buffer.

command("ChinwagAdd", function(args)
  require("chinwag.context").command(args)
end, {
  nargs = "+",
  complete = function(lead, line)
    return require("chinwag.context").complete(lead, line)
  end,
  desc = "chinwag: attach buffer, file {path}, diagnostics, diff [staged] or url {url} to the next message",
})

command("ChinwagRemove", function(args)
  require("chinwag.context").remove(nil, args.args ~= "" and args.args or nil)
end, {
  nargs = "?",
  complete = function(lead)
    return require("chinwag.context").complete_remove(lead)
  end,
  desc = "chinwag: take an item (or all) off the next message",
})

command("ChinwagAllowSecrets", function(args)
  require("chinwag.context").allow_secrets(args.bang)
end, { bang = true, desc = "chinwag: send the next message without the secret guard (! undoes)" })

command("ChinwagTrust", function()
  require("chinwag.trust").command()
end, { desc = "chinwag: show the project's .chinwag.md/AGENTS.md and trust it" })

command("ChinwagInline", function(args)
  require("chinwag.inline").command(args)
end, { range = true, nargs = "*", desc = "chinwag: ask here; the answer streams in below the prompt" })

command("ChinwagContinue", function()
  require("chinwag.inline").continue()
end, { desc = "chinwag: open the chat of the answer at the cursor (else the last) to go on" })

vim.keymap.set("n", "<Plug>(ChinwagInline)", function()
  return require("chinwag.inline").operator_keys()
end, { expr = true, desc = "chinwag: ask with the text of a motion; the answer streams in below" })
vim.keymap.set("x", "<Plug>(ChinwagInline)", ":ChinwagInline<CR>", {
  silent = true,
  desc = "chinwag: ask with the selection; the answer streams in below",
})
vim.keymap.set("n", "<Plug>(ChinwagInlineLine)", "<Cmd>ChinwagInline<CR>", {
  desc = "chinwag: ask with the prompt at the cursor; the answer streams in below",
})
if vim.g.chinwag_no_default_maps ~= 1 and vim.g.chinwag_no_default_maps ~= true then
  for _, map in ipairs({
    { "n", "gz", "<Plug>(ChinwagInline)" },
    { "x", "gz", "<Plug>(ChinwagInline)" },
    { "n", "gzz", "<Plug>(ChinwagInlineLine)" },
  }) do
    if vim.fn.maparg(map[2], map[1]) == "" then
      vim.keymap.set(map[1], map[2], map[3], { remap = true, desc = "chinwag: ask here (see :help chinwag-inline)" })
    end
  end
end
