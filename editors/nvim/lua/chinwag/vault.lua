---@mod chinwag.vault API keys and the vault password.
---
--- Secrets are read with `inputsecret()`: never echoed, never in the command or input history.
--- They go to the backend in one request and the local is dropped at once; nothing logs them.

local backend = require("chinwag.backend")
local status = require("chinwag.status")
local util = require("chinwag.util")

local M = {}

---@type (fun(unlocked: boolean))[]
local waiting = {}
local prompting = false

--- Read a secret. Empty input (or <Esc>) gives nil.
---@param prompt string
---@return string|nil
local function secret(prompt)
  local ok, value = pcall(vim.fn.inputsecret, prompt)
  -- Clear the prompt line so nothing of it lingers on screen.
  vim.cmd("redraw")
  if not ok or value == nil or value == "" then
    return nil
  end
  return value
end

---@param unlocked boolean
local function release(unlocked)
  prompting = false
  local callbacks = waiting
  waiting = {}
  for _, callback in ipairs(callbacks) do
    callback(unlocked)
  end
end

--- A request met a locked vault: ask for the password once (however many requests wait),
--- unlock, then call every `done(true)` so they retry; `done(false)` if the user gave up or
--- the password was wrong.
---@param done fun(unlocked: boolean)
function M.unlock_then(done)
  waiting[#waiting + 1] = done
  if prompting then
    return
  end
  prompting = true
  vim.schedule(function()
    local password = secret("chinwag vault password: ")
    if not password then
      util.notify("the vault stays locked", vim.log.levels.WARN)
      release(false)
      return
    end
    backend.request("vault/unlock", { password = password }, function(err, result)
      if err then
        util.notify("unlock failed: " .. util.error_text(err), vim.log.levels.ERROR)
        release(false)
        return
      end
      status.set_vault(result)
      release(true)
    end, { unlock = false })
    password = nil
  end)
end

--- `:ChinwagUnlock`: ask for the password and unlock.
---@param callback fun(ok: boolean)|nil
function M.unlock(callback)
  backend.request("vault/status", nil, function(err, vault)
    if err then
      util.notify(util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    status.set_vault(vault)
    if vault.state ~= "locked" then
      util.notify("the vault is already unlocked")
      return callback and callback(true)
    end
    local password = secret("chinwag vault password: ")
    if not password then
      return callback and callback(false)
    end
    backend.request("vault/unlock", { password = password }, function(unlock_err, result)
      if unlock_err then
        util.notify("unlock failed: " .. util.error_text(unlock_err), vim.log.levels.ERROR)
        return callback and callback(false)
      end
      status.set_vault(result)
      util.notify("vault unlocked")
      return callback and callback(true)
    end, { unlock = false })
    password = nil
  end)
end

--- `:ChinwagLock`: forget the keys in memory.
---@param callback fun(ok: boolean)|nil
function M.lock(callback)
  backend.request("vault/lock", nil, function(err, result)
    if err then
      util.notify("lock failed: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    status.set_vault(result)
    if result.state == "locked" then
      util.notify("vault locked")
    else
      util.notify("the vault has no password, so it cannot stay locked (set one with :ChinwagPassword)")
    end
    return callback and callback(true)
  end, { unlock = false })
end

--- The providers the backend knows (`providers/list`, asked at most once a session unless it
--- failed); nil when the backend cannot say.
---@return table[]|nil
local function providers()
  local result = backend.request_sync("providers/list", nil, 3000)
  if not result or type(result.providers) ~= "table" then
    return nil
  end
  backend.provider_names = vim.tbl_map(function(p)
    return p.name
  end, result.providers)
  return result.providers
end

---@param p table a providers/list entry
---@return string
local function describe(p)
  local key = "no key"
  if p["local"] then
    key = "local, no key needed"
  elseif p.keyFound then
    key = "key from " .. tostring(p.keySource)
  end
  return ("%s  (%s)"):format(p.name, key)
end

---@param provider string
---@param callback fun(ok: boolean)|nil
local function read_and_store(provider, callback)
  local key = secret(("API key for %s: "):format(provider))
  if not key then
    util.notify("no key given; nothing stored", vim.log.levels.WARN)
    return callback and callback(false)
  end
  backend.request("vault/setKey", { provider = provider, key = key }, function(err, result)
    if err then
      util.notify("the key was not stored: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    util.notify(("key stored for %s (%s)"):format(result.provider, result.masked))
    return callback and callback(true)
  end)
  key = nil
end

--- `:ChinwagKey [provider]`: store an API key read with `inputsecret()`. Without a provider,
--- pick one (`vim.ui.select`); an unknown provider is refused before the key is asked for.
---@param provider string|nil
---@param callback fun(ok: boolean)|nil
function M.set_key(provider, callback)
  provider = provider and vim.trim(provider) or ""
  local known = providers()
  if provider == "" then
    if not known then
      util.notify("cannot list the providers; name one: :ChinwagKey {provider}", vim.log.levels.ERROR)
      return callback and callback(false)
    end
    vim.ui.select(known, { prompt = "Store an API key for", format_item = describe }, function(choice)
      if not choice then
        return callback and callback(false)
      end
      read_and_store(choice.name, callback)
    end)
    return
  end
  if known then
    local names = vim.tbl_map(function(p)
      return p.name
    end, known)
    if not vim.tbl_contains(names, provider) then
      util.notify(
        ("no provider %q (known: %s); nothing asked, nothing stored"):format(provider, table.concat(names, ", ")),
        vim.log.levels.ERROR
      )
      return callback and callback(false)
    end
  end
  read_and_store(provider, callback)
end

--- `:ChinwagPassword`: set, change or (empty new password) remove the vault password.
---@param callback fun(ok: boolean)|nil
function M.set_password(callback)
  backend.request("vault/status", nil, function(err, vault)
    if err then
      util.notify(util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    local current = nil
    if vault.protection == "password" then
      current = secret("current vault password: ")
      if not current then
        return callback and callback(false)
      end
    end
    local new = secret("new vault password (empty: none): ")
    if new then
      local again = secret("new vault password again: ")
      if again ~= new then
        util.notify("the passwords differ; nothing changed", vim.log.levels.ERROR)
        return callback and callback(false)
      end
    elseif not current then
      util.notify("no password given; nothing changed", vim.log.levels.WARN)
      return callback and callback(false)
    end
    local done = new and "vault password set" or "vault password removed (the local key file protects it now)"
    backend.request("vault/setPassword", { current = current, new = new or vim.NIL }, function(set_err, result)
      if set_err then
        util.notify("the password was not changed: " .. util.error_text(set_err), vim.log.levels.ERROR)
        return callback and callback(false)
      end
      status.set_vault(result)
      util.notify(done)
      return callback and callback(true)
    end, { unlock = false })
    current, new = nil, nil
  end)
end

--- `vault/stateChanged` from the backend (auto-lock).
---@param vault table
function M.state_changed(vault)
  status.set_vault(vault)
  if vault.state == "locked" then
    util.notify("the vault locked itself after being idle; you will be asked for the password when needed")
  end
end

return M
