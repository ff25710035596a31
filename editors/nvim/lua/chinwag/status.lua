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

---@type uv.uv_timer_t|nil
local timer = nil

--- Redraw the statuslines (and tablines/winbars) so `statusline()` is shown as it is now.
local function redraw()
  pcall(vim.cmd.redrawstatus, { bang = true })
end

--- While anything streams: advance the spinner and redraw the statuslines every 100 ms.
local function start_timer()
  if timer then
    return
  end
  timer = (vim.uv or vim.loop).new_timer()
  timer:start(
    100,
    100,
    vim.schedule_wrap(function()
      if M.state.active <= 0 then
        if timer then
          timer:stop()
          timer:close()
          timer = nil
        end
        return
      end
      frame = frame + 1
      redraw()
    end)
  )
end

---@param pattern string
---@param data table
local function fire(pattern, data)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = data })
end

---@class chinwag.RequestEvent
---@field kind "chat"|"rewrite"|"inline"
---@field chat_id string|nil
---@field buf integer|nil The chat buffer (chat) or the source buffer (rewrite, inline).
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
  -- A new answer: the usage shown is the one of the answer it will give.
  M.state.last_usage = nil
  M.state.last_status = nil
  fire("ChinwagRequestStarted", event)
  start_timer()
  redraw()
end

--- A request to the model ends: fires `User ChinwagRequestFinished` with `status`
--- ("complete", "cancelled" or "error"), `usage`, `timings` and `error`.
---@param event chinwag.RequestEvent|table
function M.finished(event)
  M.state.active = math.max(0, M.state.active - 1)
  M.state.last_status = event.status
  -- The usage of this answer, none after a stop or an error.
  M.state.last_usage = event.status == "complete" and util.usage_text(event) or nil
  fire("ChinwagRequestFinished", event)
  redraw()
end

--- The provider/model shown in the statusline (the chat last used).
---@param provider string|nil
---@param model string|nil
function M.set_model(provider, model)
  local before = (M.state.provider or "") .. "/" .. (M.state.model or "")
  M.state.provider = provider or M.state.provider
  M.state.model = model or M.state.model
  if before ~= (M.state.provider or "") .. "/" .. (M.state.model or "") then
    redraw()
  end
end

---@param vault table vault/status result (or `{ state = "locked" }`)
function M.set_vault(vault)
  if vault and vault.state and vault.state ~= M.state.vault then
    M.state.vault = vault.state
    redraw()
  end
end

---@param _ chinwag.RpcExit
function M.backend_exited(_)
  M.state.active = 0
  M.state.vault = nil
  redraw()
end

--- Advance the spinner by one frame (the statusline timer does it while anything streams).
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
--- else `chinwag mock/mock-model idle · 11 → 4 tokens · 34.1 tok/s · 0.4 s` (the usage of the
--- last answer), `idle · stopped` or `idle · error`. It redraws itself: on every change of
--- state and every 100 ms while anything streams.
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
  elseif s.last_status == "cancelled" then
    return text .. " idle · stopped"
  elseif s.last_status == "error" then
    return text .. " idle · error"
  end
  return text .. " idle"
end

return M
