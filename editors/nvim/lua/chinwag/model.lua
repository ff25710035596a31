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
local function pick_model(provider, callback)
  backend.request("models/list", { provider = provider.name }, function(err, result)
    local models = {}
    if result then
      for _, m in ipairs(result.models or {}) do
        models[#models + 1] = m.id
      end
    end
    if err or #models == 0 then
      if err then
        util.notify(
          ("cannot list the models of %s: %s"):format(provider.name, util.error_text(err)),
          vim.log.levels.WARN
        )
      end
      vim.ui.input(
        { prompt = ("Model for %s: "):format(provider.name), default = provider.defaultModel or "" },
        function(model)
          if model and vim.trim(model) ~= "" then
            M.apply(provider.name, vim.trim(model), callback)
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
        M.apply(provider.name, model, callback)
      elseif callback then
        callback(false)
      end
    end)
  end)
end

--- `:ChinwagModel`.
---@param callback fun(ok: boolean)|nil
function M.pick(callback)
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
        pick_model(provider, callback)
      elseif callback then
        callback(false)
      end
    end)
  end)
end

return M
