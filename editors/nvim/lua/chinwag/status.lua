---@mod chinwag.status Statusline data and the `User` events.

local util = require("chinwag.util")

local M = {}

---@class chinwag.StatusState
---@field provider string|nil Provider of the chat last used.
---@field model string|nil Model of the chat last used.
---@field active integer Requests streaming now.
---@field last_usage string|nil "11 → 4 tokens · 34.1 tok/s · 0.4 s" of the last answer.
---@field last_status string|nil "complete", "cancelled" or "error".
---@field vault string|nil "locked" or "unlocked".

---@type chinwag.StatusState
M.state = { active = 0 }

local frame = 0

---@param pattern string
---@param data table
local function fire(pattern, data)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = data })
end

---@class chinwag.RequestEvent
---@field kind "chat"|"rewrite"
---@field chat_id string|nil
---@field buf integer|nil The chat buffer (chat) or the source buffer (rewrite).
---@field provider string|nil
---@field model string|nil

--- A request to the model begins: fires `User ChinwagRequestStarted`.
---@param event chinwag.RequestEvent
function M.started(event)
  M.state.active = M.state.active + 1
  if event.provider then
    M.state.provider = event.provider
  end
  if event.model then
    M.state.model = event.model
  end
  fire("ChinwagRequestStarted", event)
  vim.cmd.redrawstatus({ bang = true })
end

--- A request to the model ends: fires `User ChinwagRequestFinished` with `status`
--- ("complete", "cancelled" or "error"), `usage`, `timings` and `error`.
---@param event chinwag.RequestEvent|table
function M.finished(event)
  M.state.active = math.max(0, M.state.active - 1)
  M.state.last_status = event.status
  if event.status == "complete" then
    M.state.last_usage = util.usage_text(event) or M.state.last_usage
  end
  fire("ChinwagRequestFinished", event)
  vim.cmd.redrawstatus({ bang = true })
end

--- The provider/model shown in the statusline (the chat last used).
---@param provider string|nil
---@param model string|nil
function M.set_model(provider, model)
  M.state.provider = provider or M.state.provider
  M.state.model = model or M.state.model
end

---@param vault table vault/status result
function M.set_vault(vault)
  M.state.vault = vault.state
end

---@param _ chinwag.RpcExit
function M.backend_exited(_)
  M.state.active = 0
end

--- Advance the spinner (called by streaming chats' timers).
function M.tick()
  frame = frame + 1
end

---@return string
function M.spinner()
  local frames = require("chinwag.config").get().spinner
  return frames[(frame % #frames) + 1] or ""
end

--- The state as a table (copy), for custom statuslines.
---@return chinwag.StatusState
function M.get()
  return vim.deepcopy(M.state)
end

--- A statusline component: `chinwag mock/mock-model ⠋ streaming` while an answer streams,
--- else `chinwag mock/mock-model idle · 11 → 4 tokens · 34.1 tok/s · 0.4 s`.
---@return string
function M.statusline()
  local s = M.state
  local parts = { "chinwag" }
  if s.provider then
    parts[#parts + 1] = s.provider .. (s.model and ("/" .. s.model) or "")
  end
  local text = table.concat(parts, " ")
  if s.vault == "locked" then
    text = text .. " (locked)"
  end
  if s.active > 0 then
    return text .. " " .. M.spinner() .. " streaming"
  end
  if s.last_usage then
    return text .. " idle · " .. s.last_usage
  end
  return text .. " idle"
end

return M
