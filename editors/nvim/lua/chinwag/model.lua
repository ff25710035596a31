---@mod chinwag.model `:ChinwagModel`: pick provider and model with `vim.ui.select`.

local backend = require("chinwag.backend")
local config = require("chinwag.config")
local util = require("chinwag.util")

local M = {}

--- Use `provider`/`model` for the current chat (if any) and for new chats and rewrites.
---@param provider string
---@param model string
---@param callback fun(ok: boolean)|nil
function M.apply(provider, model, callback)
  config.session.provider = provider
  config.session.model = model
  require("chinwag.status").set_model(provider, model)
  local chat = require("chinwag.chat").current()
  if not chat then
    util.notify(("new chats use %s · %s"):format(provider, model))
    return callback and callback(true)
  end
  chat:configure(provider, model, function(ok)
    if ok then
      util.notify(("this chat now uses %s · %s"):format(provider, model))
    end
    return callback and callback(ok)
  end)
end

---@param provider table a providers/list entry
---@param callback fun(ok: boolean)|nil
---@param choose fun(provider: string, model: string, callback: fun(ok: boolean)|nil)|nil What to do with the pick (default: `apply()`).
local function pick_model(provider, callback, choose)
  choose = choose or M.apply
  backend.request("models/list", { provider = provider.name }, function(err, result)
    local models = {}
    if result then
      for _, m in ipairs(result.models or {}) do
        models[#models + 1] = m.id
      end
    end
    if err or #models == 0 then
      util.notify(
        ("cannot list the models of %s: %s. Type the model's name."):format(
          provider.name,
          err and util.error_text(err) or "the provider listed none"
        ),
        vim.log.levels.WARN
      )
      vim.ui.input(
        { prompt = ("Model for %s (type its name): "):format(provider.name), default = provider.defaultModel or "" },
        function(model)
          if model and vim.trim(model) ~= "" then
            choose(provider.name, vim.trim(model), callback)
          elseif callback then
            callback(false)
          end
        end
      )
      return
    end
    vim.ui.select(models, {
      prompt = ("Model (%s)"):format(provider.name),
      format_item = function(id)
        return id == provider.defaultModel and (id .. " (default)") or id
      end,
    }, function(model)
      if model then
        choose(provider.name, model, callback)
      elseif callback then
        callback(false)
      end
    end)
  end)
end

--- Model names of `provider` for command completion (empty when they cannot be listed).
---@param provider string|nil
---@return string[]
function M.model_names(provider)
  if not provider or provider == "" then
    return {}
  end
  local result = backend.request_sync("models/list", { provider = provider }, 2000)
  local names = {}
  for _, m in ipairs(result and result.models or {}) do
    names[#names + 1] = m.id
  end
  return names
end

--- `:ChinwagModel [provider [model]]`: no argument picks both; a provider picks its model (or
--- asks for its name when the models cannot be listed); both apply at once.
---@param fargs string[]
---@param callback fun(ok: boolean)|nil
function M.command(fargs, callback)
  fargs = fargs or {}
  if #fargs == 0 then
    return M.pick(callback)
  end
  if #fargs > 2 then
    util.notify("usage: :ChinwagModel [provider [model]]", vim.log.levels.ERROR)
    return callback and callback(false)
  end
  local name, model = fargs[1], fargs[2]
  backend.providers(function(err, result)
    if err then
      util.notify("cannot list providers: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    local provider
    for _, p in ipairs(result.providers or {}) do
      if p.name == name then
        provider = p
      end
    end
    if not provider then
      local names = vim.tbl_map(function(p)
        return p.name
      end, result.providers or {})
      util.notify(("no provider %q (known: %s)"):format(name, table.concat(names, ", ")), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    if model then
      return M.apply(provider.name, model, callback)
    end
    pick_model(provider, callback)
  end)
end

--- `:ChinwagModel` without arguments: pick a provider, then its model.
---@param callback fun(ok: boolean)|nil
---@param choose fun(provider: string, model: string, callback: fun(ok: boolean)|nil)|nil What to do with the pick (default: use it, `apply()`).
function M.pick(callback, choose)
  backend.providers(function(err, result)
    if err then
      util.notify("cannot list providers: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    vim.ui.select(result.providers, {
      prompt = "Provider",
      format_item = function(p)
        local key = "no key"
        if p["local"] then
          key = "local"
        elseif p.keyFound then
          key = "key from " .. tostring(p.keySource)
        end
        local default = p.name == result.default and ", default" or ""
        return ("%s  (%s, %s%s)"):format(p.name, p.kind, key, default)
      end,
    }, function(provider)
      if provider then
        pick_model(provider, callback, choose)
      elseif callback then
        callback(false)
      end
    end)
  end)
end

return M
