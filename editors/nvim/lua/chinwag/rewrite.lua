---@mod chinwag.rewrite `:ChinwagRewrite`: a proposed rewrite of the selection, shown as a diff.
---
--- The proposal opens in a new tab beside the original lines, both in diff mode. Accept (`ga`)
--- replaces exactly the selected lines with the proposal (as edited there, if you edited it);
--- reject (`gr`, `q`) closes the tab. Nothing touches the file without the accept. A chat's
--- code block applied to the code it was asked about (`chinwag.blocks`) goes through the same
--- diff (`M.propose()`).

local api = vim.api
local backend = require("chinwag.backend")
local config = require("chinwag.config")
local status = require("chinwag.status")
local util = require("chinwag.util")

local M = {}

local ns = api.nvim_create_namespace("chinwag.rewrite")

---@class chinwag.Rewrite
---@field buf integer Source buffer.
---@field line1 integer
---@field line2 integer
---@field original string[] The selected lines when the rewrite was asked.
---@field proposal string[]
---@field tab integer|nil
---@field orig_buf integer|nil
---@field prop_buf integer|nil
---@field chat_id string|nil
---@field chars integer
---@field request chinwag.Ticket|nil The `chat/rewrite` request while it runs.

---@type chinwag.Rewrite[]
M.pending = {}

--- The rewrite whose diff is open in the current tab, if any.
---@return chinwag.Rewrite|nil
function M.current()
  local tab = api.nvim_get_current_tabpage()
  for _, rewrite in ipairs(M.pending) do
    if rewrite.tab == tab then
      return rewrite
    end
  end
  return nil
end

---@param rewrite chinwag.Rewrite
local function forget(rewrite)
  for i, r in ipairs(M.pending) do
    if r == rewrite then
      table.remove(M.pending, i)
      break
    end
  end
end

---@param rewrite chinwag.Rewrite
local function close(rewrite)
  forget(rewrite)
  if rewrite.tab and api.nvim_tabpage_is_valid(rewrite.tab) then
    if #api.nvim_list_tabpages() > 1 then
      local number = api.nvim_tabpage_get_number(rewrite.tab)
      vim.cmd.tabclose(number)
    end
  end
  for _, buf in ipairs({ rewrite.orig_buf, rewrite.prop_buf }) do
    if buf and api.nvim_buf_is_valid(buf) then
      api.nvim_buf_delete(buf, { force = true })
    end
  end
  -- Back to the source buffer.
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) == rewrite.buf then
      api.nvim_set_current_win(win)
      break
    end
  end
end

--- Apply the proposal: replace exactly the selected lines. Refused (diff kept) when those lines
--- changed since the rewrite was asked.
---@param rewrite chinwag.Rewrite|nil
---@return boolean applied
function M.accept(rewrite)
  rewrite = rewrite or M.current()
  if not rewrite then
    util.notify("no rewrite to accept here", vim.log.levels.WARN)
    return false
  end
  if not api.nvim_buf_is_valid(rewrite.buf) then
    util.notify("the buffer of this rewrite is gone; nothing applied", vim.log.levels.ERROR)
    close(rewrite)
    return false
  end
  local now = api.nvim_buf_get_lines(rewrite.buf, rewrite.line1 - 1, rewrite.line2, false)
  if not vim.deep_equal(now, rewrite.original) then
    util.notify(
      ("lines %d-%d changed since the rewrite was asked; nothing applied (reject it and ask again)"):format(
        rewrite.line1,
        rewrite.line2
      ),
      vim.log.levels.ERROR
    )
    return false
  end
  local proposal = rewrite.proposal
  if rewrite.prop_buf and api.nvim_buf_is_valid(rewrite.prop_buf) then
    proposal = api.nvim_buf_get_lines(rewrite.prop_buf, 0, -1, false)
  end
  api.nvim_buf_set_lines(rewrite.buf, rewrite.line1 - 1, rewrite.line2, false, proposal)
  close(rewrite)
  util.notify(("rewrite applied to lines %d-%d"):format(rewrite.line1, rewrite.line1 + #proposal - 1))
  return true
end

--- Discard the proposal.
---@param rewrite chinwag.Rewrite|nil
---@return boolean
function M.reject(rewrite)
  rewrite = rewrite or M.current()
  if not rewrite then
    util.notify("no rewrite to reject here", vim.log.levels.WARN)
    return false
  end
  close(rewrite)
  util.notify("rewrite rejected; nothing changed")
  return true
end

---@param name string
---@param lines string[]
---@param filetype string
---@return integer
local function scratch(name, lines, filetype)
  local buf = api.nvim_create_buf(false, true)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  pcall(api.nvim_buf_set_name, buf, name)
  vim.bo[buf].filetype = filetype
  return buf
end

--- Show the diff of `rewrite` in a new tab.
---@param rewrite chinwag.Rewrite
local function show(rewrite)
  local filetype = vim.bo[rewrite.buf].filetype
  local base = ("chinwag://rewrite/%d-%d"):format(rewrite.line1, rewrite.line2)
  vim.cmd("tab split")
  rewrite.tab = api.nvim_get_current_tabpage()
  rewrite.orig_buf = scratch(base .. "/original", rewrite.original, filetype)
  vim.bo[rewrite.orig_buf].modifiable = false
  rewrite.prop_buf = scratch(base .. "/proposal", rewrite.proposal, filetype)
  local left = api.nvim_get_current_win()
  api.nvim_win_set_buf(left, rewrite.orig_buf)
  vim.cmd("diffthis")
  vim.cmd("rightbelow vsplit")
  local right = api.nvim_get_current_win()
  api.nvim_win_set_buf(right, rewrite.prop_buf)
  vim.cmd("diffthis")
  local keys = config.get().keymaps
  for _, buf in ipairs({ rewrite.orig_buf, rewrite.prop_buf }) do
    util.map(buf, keys.accept, function()
      M.accept(rewrite)
    end, "chinwag: accept the rewrite")
    util.map(buf, keys.reject, function()
      M.reject(rewrite)
    end, "chinwag: reject the rewrite")
  end
  local function first_key(maps, fallback)
    local lhs = {}
    for key, modes in pairs(maps or {}) do
      if modes then
        lhs[#lhs + 1] = key
      end
    end
    table.sort(lhs)
    return ((lhs[1] or fallback):gsub("%%", "%%%%"))
  end
  vim.wo[right].winbar = ("proposal: %s accept · %s reject"):format(
    first_key(keys.accept, "require('chinwag.rewrite').accept()"),
    first_key(keys.reject, "require('chinwag.rewrite').reject()")
  )
  vim.wo[left].winbar = ("original: %s lines %d-%d"):format(
    vim.fn.fnamemodify(api.nvim_buf_get_name(rewrite.buf), ":t"):gsub("%%", "%%%%"),
    rewrite.line1,
    rewrite.line2
  )
end

--- Show `proposal` as a replacement of lines `line1`..`line2` (1-based, inclusive) of `buf` in
--- the accept/reject diff (as a rewrite's answer is shown): `chinwag.blocks` applies a code
--- block of a chat this way.
---@param buf integer
---@param line1 integer
---@param line2 integer
---@param proposal string[]
---@return chinwag.Rewrite
function M.propose(buf, line1, line2, proposal)
  ---@type chinwag.Rewrite
  local rewrite = {
    buf = buf,
    line1 = line1,
    line2 = line2,
    original = api.nvim_buf_get_lines(buf, line1 - 1, line2, false),
    proposal = vim.deepcopy(proposal),
    chars = 0,
  }
  M.pending[#M.pending + 1] = rewrite
  show(rewrite)
  return rewrite
end

--- Stop the rewrites still being written (`$/cancelRequest`).
---@return boolean stopped any
function M.stop()
  local stopped = false
  for _, rewrite in ipairs(M.pending) do
    if rewrite.request then
      backend.cancel(rewrite.request)
      stopped = true
    end
  end
  return stopped
end

--- `:[range]ChinwagRewrite {instruction}`.
---@param args chinwag.CommandArgs
function M.rewrite(args)
  local instruction = vim.trim(args.args or "")
  if instruction == "" then
    util.notify("usage: :[range]ChinwagRewrite {instruction}", vim.log.levels.ERROR)
    return
  end
  local buf = api.nvim_get_current_buf()
  if not vim.bo[buf].modifiable then
    util.notify("this buffer is not modifiable", vim.log.levels.ERROR)
    return
  end
  local region = require("chinwag.selection").lines_region(buf, args.line1, args.line2)
  -- `/fix ...`: a preset (its instruction when nothing follows the name).
  local preset
  preset, instruction = require("chinwag.presets").split(instruction)
  ---@type chinwag.Rewrite
  local rewrite = {
    buf = buf,
    line1 = args.line1,
    line2 = args.line2,
    original = api.nvim_buf_get_lines(buf, args.line1 - 1, args.line2, false),
    proposal = {},
    chars = 0,
  }
  M.pending[#M.pending + 1] = rewrite
  local provider, model = config.provider_model()
  -- Progress as virtual text on the first selected line.
  local mark = api.nvim_buf_set_extmark(buf, ns, args.line1 - 1, 0, {
    virt_text = { { " " .. status.spinner() .. " chinwag is rewriting…", "ChinwagSpinner" } },
    virt_text_pos = "eol",
  })
  local timer = (vim.uv or vim.loop).new_timer()
  timer:start(
    100,
    100,
    vim.schedule_wrap(function()
      if api.nvim_buf_is_valid(buf) and not timer:is_closing() then
        pcall(api.nvim_buf_set_extmark, buf, ns, args.line1 - 1, 0, {
          id = mark,
          virt_text = {
            {
              (" %s chinwag is rewriting… %d chars"):format(status.spinner(), rewrite.chars),
              "ChinwagSpinner",
            },
          },
          virt_text_pos = "eol",
        })
      end
    end)
  )
  -- The rewrite's chat id is known only at the end: take the first unknown chat's deltas.
  local remove = backend.on_unknown_delta(function(params)
    if rewrite.chat_id == nil or rewrite.chat_id == params.chatId then
      rewrite.chat_id = params.chatId
      rewrite.chars = rewrite.chars + #params.delta
      return true
    end
    return false
  end)
  local event = { kind = "rewrite", buf = buf, provider = provider, model = model }
  status.started(event)
  rewrite.request = backend.request("chat/rewrite", {
    instruction = instruction,
    region = region,
    provider = provider,
    model = model,
    preset = preset,
    root = require("chinwag.context").root_of(buf),
  }, function(err, result)
    rewrite.request = nil
    remove()
    timer:stop()
    timer:close()
    if api.nvim_buf_is_valid(buf) then
      api.nvim_buf_del_extmark(buf, ns, mark)
    end
    if err then
      forget(rewrite)
      event.status = err.code == util.codes.CANCELLED and "cancelled" or "error"
      event.error = err
      status.finished(event)
      if err.code == util.codes.CANCELLED then
        util.notify("rewrite stopped; nothing changed")
      else
        util.report("rewrite failed: ", err)
      end
      return
    end
    event.status = "complete"
    event.chat_id = result.chatId
    status.finished(event)
    local text = (result.text or ""):gsub("\n$", "")
    rewrite.proposal = util.lines(text)
    rewrite.chat_id = result.chatId
    show(rewrite)
  end)
end

return M
