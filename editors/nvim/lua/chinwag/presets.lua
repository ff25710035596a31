---@mod chinwag.presets Presets and `/name` slash commands.
---
--- A preset is a named way of asking (`presets/list`: the built-ins `explain`, `review`, `fix`,
--- `tests`, `docs`, `commit`, and the config file's `[presets.NAME]`). `/name` at the start of a
--- message applies it: the message is sent with `preset = "name"` and the rest as its content.
--- In the chat buffer, typing `/` at the start of the draft offers the names (insert-mode
--- completion, 'completefunc'); `:ChinwagSend /tests`, `:ChinwagAsk /explain` and
--- `:ChinwagRewrite /fix` take one too.

local api = vim.api
local backend = require("chinwag.backend")

local M = {}

---@class chinwag.Preset
---@field name string
---@field provider string|nil
---@field model string|nil
---@field system string|nil
---@field instruction string|nil
---@field stagedDiff boolean
---@field builtin boolean

--- The presets of the running backend (nil until fetched).
---@type chinwag.Preset[]|nil
M.cache = nil

--- The backend (its `initialize` result) the cache was fetched from: a restarted backend may
--- have read another config.
local cached_for = nil
local fetching = false
local waiting = {}

--- Whether the cache belongs to the running backend.
---@return boolean
local function fresh()
  return M.cache ~= nil and (cached_for == nil or cached_for == backend.info)
end

--- The presets, fetched once per backend (`callback(presets)`, an empty list on an error).
---@param callback fun(presets: chinwag.Preset[])|nil
function M.fetch(callback)
  if fresh() then
    return callback and callback(M.cache)
  end
  if callback then
    waiting[#waiting + 1] = callback
  end
  if fetching then
    return
  end
  fetching = true
  backend.request("presets/list", nil, function(err, result)
    fetching = false
    if not err and type(result) == "table" and type(result.presets) == "table" then
      M.cache = result.presets
      cached_for = backend.info
    end
    local callbacks = waiting
    waiting = {}
    for _, cb in ipairs(callbacks) do
      cb(M.cache or {})
    end
  end, { unlock = false })
end

--- The presets now, waiting for them at most `timeout` ms when they are not known yet.
---@param timeout integer|nil
---@return chinwag.Preset[]
function M.get(timeout)
  if not fresh() then
    local done = false
    M.fetch(function()
      done = true
    end)
    vim.wait(timeout or 2000, function()
      return done
    end, 10)
  end
  return M.cache or {}
end

---@param name string
---@return chinwag.Preset|nil
function M.find(name)
  for _, preset in ipairs(M.get()) do
    if preset.name == name then
      return preset
    end
  end
  return nil
end

--- Split `/name rest` into the preset's name and the rest, when `name` is a known preset
--- (otherwise the text is a message that happens to start with a slash).
---@param text string|nil
---@return string|nil name, string rest
function M.split(text)
  if type(text) ~= "string" then
    return nil, text
  end
  local name, rest = text:match("^%s*/([%w_%.%-]+)%s*(.*)$")
  if not name then
    name = text:match("^%s*/([%w_%.%-]+)%s*$")
    rest = ""
  end
  if name and M.find(name) then
    return name, rest
  end
  return nil, text
end

--- Completion items for presets whose `/name` starts with `base`.
---@param base string
---@return table[]
function M.items(base)
  local out = {}
  for _, preset in ipairs(M.cache or {}) do
    local word = "/" .. preset.name
    if word:find(base, 1, true) == 1 then
      local about = preset.instruction or preset.system or ""
      about = vim.trim((about:gsub("%s+", " ")))
      if vim.fn.strchars(about) > 60 then
        about = vim.fn.strcharpart(about, 0, 59) .. "…"
      end
      out[#out + 1] = {
        word = word,
        menu = preset.builtin and "[preset]" or "[config]",
        info = preset.instruction or preset.system or "",
        abbr = word .. (about ~= "" and ("  " .. about) or ""),
        icase = 0,
      }
    end
  end
  return out
end

--- Whether the cursor (`row`, 0-based; `col` bytes) is at the start of a message in `buf`: the
--- draft of a chat, above it nothing but blank lines.
---@param buf integer
---@param row integer
---@param col integer
---@return boolean
local function at_message_start(buf, row, col)
  local chat = require("chinwag.chat").by_buf[buf]
  if not chat or not chat.prompt_mark then
    return false
  end
  local prompt = chat:prompt_row()
  if row <= prompt then
    return false
  end
  local before = api.nvim_buf_get_lines(buf, prompt + 1, row + 1, false)
  before[#before] = before[#before]:sub(1, col)
  return vim.trim(table.concat(before, "\n")) == ""
    or vim.trim(table.concat(before, "\n")):match("^/[%w_%.%-]*$") ~= nil
end

--- 'completefunc' of chat buffers: preset names after a `/` at the start of the message.
---@param findstart integer
---@param base string
---@return integer|table
function M.completefunc(findstart, base)
  local buf = api.nvim_get_current_buf()
  if findstart == 1 then
    local row, col = unpack(api.nvim_win_get_cursor(0))
    local line = api.nvim_get_current_line():sub(1, col)
    local start = line:find("/[%w_%.%-]*$")
    if not start or vim.trim(line:sub(1, start - 1)) ~= "" or not at_message_start(buf, row - 1, start - 1) then
      return -3
    end
    if not fresh() then
      -- Not known yet: ask now, offer them next time (a completefunc must not wait).
      M.fetch()
      return -3
    end
    return start - 1
  end
  return M.items(base)
end

--- The key typed in insert mode: `/` at the start of a message opens the preset names.
---@param buf integer
---@return string keys
local function slash(buf)
  local row, col = unpack(api.nvim_win_get_cursor(0))
  if
    vim.fn.pumvisible() == 0
    and at_message_start(buf, row - 1, col)
    and vim.trim(api.nvim_get_current_line()) == ""
  then
    if fresh() then
      return "/" .. vim.keycode("<C-x><C-u>")
    end
    M.fetch()
  end
  return "/"
end

--- Set up slash completion in a chat buffer: 'completefunc' (`<C-x><C-u>`), `/` at the start
--- of the draft opens it, and 'completeopt' gets `menuone,noinsert` there so that typing
--- narrows the list.
---@param buf integer
function M.setup_buffer(buf)
  vim.bo[buf].completefunc = "v:lua.require'chinwag.presets'.completefunc"
  local opt = vim.split(vim.o.completeopt, ",", { trimempty = true })
  for _, flag in ipairs({ "menuone", "noinsert" }) do
    if not vim.tbl_contains(opt, flag) and not (flag == "noinsert" and vim.tbl_contains(opt, "noselect")) then
      opt[#opt + 1] = flag
    end
  end
  pcall(function()
    vim.bo[buf].completeopt = table.concat(opt, ",")
  end)
  local keys = require("chinwag.config").get().keymaps.presets
  for lhs, modes in pairs(keys or {}) do
    if modes then
      vim.keymap.set(
        modes,
        lhs,
        function()
          return slash(buf)
        end,
        { buffer = buf, expr = true, replace_keycodes = false, desc = "chinwag: / at the start of a message: presets" }
      )
    end
  end
  M.fetch()
end

--- Command-line completion of `/name` for `:ChinwagSend`, `:ChinwagAsk`, `:ChinwagRewrite`.
---@param lead string
---@param line string
---@return string[]
function M.complete_command(lead, line)
  local args = line:gsub("^%s*%S*%s*", "", 1)
  if lead ~= args or (lead ~= "" and lead:sub(1, 1) ~= "/") then
    return {}
  end
  local out = {}
  for _, preset in ipairs(M.get(1000)) do
    local word = "/" .. preset.name
    if word:find(lead, 1, true) == 1 then
      out[#out + 1] = word
    end
  end
  return out
end

return M
