---@mod chinwag.util Small shared helpers.

local M = {}

--- Error codes of docs/protocol.md the plugin acts on.
M.codes = {
  CANCELLED = -32800,
  INVALID_REQUEST = -32600,
  VAULT_LOCKED = 1001,
  WRONG_PASSWORD = 1002,
  KEY_MISSING = 1005,
  NOT_FOUND = 1201,
  PATH_REFUSED = 1402,
  CONTEXT_REFUSED = 1404,
  CONTEXT_UNAVAILABLE = 1405,
}

---@param message string
---@param level integer|nil vim.log.levels (default INFO)
function M.notify(message, level)
  vim.notify("chinwag: " .. message, level or vim.log.levels.INFO, { title = "chinwag" })
end

--- Tell the user a request failed, unless the backend died (that has its own message).
---@param prefix string|nil
---@param err chinwag.RpcError
function M.report(prefix, err)
  if type(err) == "table" and err.code == require("chinwag.rpc").EXITED then
    return
  end
  M.notify((prefix or "") .. M.error_text(err), vim.log.levels.ERROR)
end

--- The config file the backend reads (for hints).
---@return string
local function config_file()
  local info = package.loaded["chinwag.backend"]
    and (package.loaded["chinwag.backend"].info or package.loaded["chinwag.backend"].last_info)
  local file = info and ((info.config and info.config.file) or (info.paths and info.paths.configFile))
  if type(file) == "string" and file ~= "" then
    return (vim.fn.fnamemodify(file, ":~"))
  end
  return "~/.config/chinwag/config.toml"
end

--- What the user should do about an error whose `data.action` asks for something, in Neovim's
--- words (nil when the error carries no known action).
---
--- - `setKey` (`data.provider`, `data.env`): run :ChinwagKey {provider} (or set $ENV)
--- - `unlock`: run :ChinwagUnlock
--- - `setPassword`: run :ChinwagPassword
--- - `fixConfig` (`data.key`, `data.line`): edit the config file at that line
--- - `startLocalServer` (`data.provider`, `data.url`): start the local server
--- - `restoreOrReset`: restore the store from a backup or reset it
--- - `confirmFile` (`data.path`): send again and confirm the file
---@param err chinwag.RpcError|table|nil
---@return string|nil
function M.action_hint(err)
  local data = type(err) == "table" and err.data or nil
  if type(data) ~= "table" or type(data.action) ~= "string" then
    return nil
  end
  local action = data.action
  if action == "setKey" then
    local provider = data.provider and tostring(data.provider) or "{provider}"
    local hint = "run :ChinwagKey " .. provider
    if data.env then
      hint = hint .. " or set $" .. tostring(data.env)
    end
    return hint
  elseif action == "unlock" then
    return "run :ChinwagUnlock"
  elseif action == "setPassword" then
    return "run :ChinwagPassword"
  elseif action == "fixConfig" then
    local hint = "edit " .. config_file()
    if data.line then
      hint = hint .. " line " .. tostring(data.line)
    end
    if data.key then
      hint = hint .. (" (key `%s`)"):format(tostring(data.key))
    end
    return hint
  elseif action == "startLocalServer" then
    local what = data.provider and ("the " .. tostring(data.provider) .. " server") or "the local server"
    local hint = "start " .. what
    if data.url then
      hint = hint .. " at " .. tostring(data.url)
    end
    if data.provider == "ollama" then
      hint = hint .. " (`ollama serve`)"
    end
    return hint
  elseif action == "confirmFile" then
    return ("send it again and confirm %s when asked (for that send only), or leave it out"):format(
      tostring(data.path or "the file")
    )
  elseif action == "restoreOrReset" then
    return "restore the data from a backup or reset it (`chinwag doctor` in a shell shows how), then restart Neovim"
  end
  return nil
end

--- A description of a JSON-RPC error for people, with what to do about it when the error says.
---@param err chinwag.RpcError|table|string|nil
---@return string
function M.error_text(err)
  if type(err) ~= "table" then
    return tostring(err)
  end
  local text = tostring(err.message or "error")
  local data = err.data
  if type(data) == "table" and data.provider and data.status and data.status ~= vim.NIL then
    text = ("%s (%s, HTTP %s)"):format(text, data.provider, tostring(data.status))
  end
  local hint = M.action_hint(err)
  if hint then
    text = ("%s: %s"):format(text, hint)
  elseif err.code == M.codes.KEY_MISSING and type(data) == "table" and data.provider then
    text = ("%s (store one with :ChinwagKey %s%s)"):format(
      text,
      data.provider,
      data.env and (" or set $" .. data.env) or ""
    )
  end
  return text
end

--- Run `fn` with `undolevels=-1` on `buf`, so the change it makes never enters the undo tree
--- (and the history before it is dropped: undo then cannot reach text written by chinwag).
---@param buf integer
---@param fn function
---@return any
function M.unrecorded(buf, fn)
  local levels = vim.bo[buf].undolevels
  vim.bo[buf].undolevels = -1
  local ok, result = pcall(fn)
  vim.bo[buf].undolevels = levels
  if not ok then
    error(result, 0)
  end
  return result
end

--- Lines of `text` (split on "\n"), without copying when there is no newline.
---@param text string
---@return string[]
function M.lines(text)
  if not text:find("\n", 1, true) then
    return { text }
  end
  return vim.split(text, "\n", { plain = true })
end

--- `n` as a size in columns/lines: a fraction of `total` below 1, else as is.
---@param n number
---@param total integer
---@return integer
function M.size(n, total)
  if n < 1 then
    return math.max(1, math.floor(total * n))
  end
  return math.floor(n)
end

--- Set the chinwag keymaps of one group on a buffer.
---@param buf integer
---@param maps table<string, string[]|false>
---@param fn function
---@param desc string
function M.map(buf, maps, fn, desc)
  for lhs, modes in pairs(maps or {}) do
    if modes then
      vim.keymap.set(modes, lhs, fn, { buffer = buf, desc = desc, nowait = true, silent = true })
    end
  end
end

--- Format a duration in ms for people.
---@param ms number|nil
---@return string|nil
function M.duration(ms)
  if not ms then
    return nil
  end
  if ms < 1000 then
    return ("%d ms"):format(ms)
  end
  return ("%.1f s"):format(ms / 1000)
end

--- "11 → 4 tokens · 34.1 tok/s · 0.4 s" from a chat/send result (nil when it has nothing).
---@param result table
---@return string|nil
function M.usage_text(result)
  local parts = {}
  local usage = result.usage
  if usage and usage.promptTokens and usage.completionTokens then
    parts[#parts + 1] = ("%d → %d tokens"):format(usage.promptTokens, usage.completionTokens)
  end
  local timings = result.timings
  if timings then
    if timings.tokensPerSecond then
      parts[#parts + 1] = ("%.1f tok/s"):format(timings.tokensPerSecond)
    end
    if timings.totalMs then
      parts[#parts + 1] = M.duration(timings.totalMs)
    end
  end
  if #parts == 0 then
    return nil
  end
  return table.concat(parts, " · ")
end

return M
