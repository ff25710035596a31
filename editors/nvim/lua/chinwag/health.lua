---@mod chinwag.health `:checkhealth chinwag`

local M = {}

function M.check()
  local health = vim.health
  local config = require("chinwag.config")
  local backend = require("chinwag.backend")

  health.start("Neovim")
  local version = vim.version()
  local text = ("Neovim %d.%d.%d"):format(version.major, version.minor, version.patch)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok(text)
  else
    health.error(text .. ": chinwag needs Neovim 0.10 or newer")
  end

  health.start("Backend")
  local cmd = config.get().cmd
  local path = vim.fn.exepath(cmd[1])
  if path == "" then
    health.error(("backend %q not found"):format(cmd[1]), {
      "Install it: `cargo install --locked --path .` in the chinwag repository",
      "or point setup({ cmd = { '/path/to/chinwag' } }) at it",
    })
    return
  end
  local ok, out = pcall(function()
    return vim.system({ path, "--version" }, { text = true }):wait(5000)
  end)
  if ok and out and out.code == 0 then
    health.ok(("backend %s: %s"):format(path, vim.trim(out.stdout or "")))
  else
    health.error(("backend %s does not run: %s"):format(path, ok and vim.trim(out.stderr or "") or tostring(out)))
    return
  end

  local _, start_err = backend.ensure()
  if start_err then
    health.error(start_err)
    return
  end
  local info = backend.info
  if not info then
    vim.wait(5000, function()
      return backend.info ~= nil or not backend.running()
    end, 10)
    info = backend.info
  end
  if not info then
    health.error("the backend did not answer `initialize`")
    return
  end
  health.ok(("running (pid %d), protocol %s"):format(backend.pid() or -1, tostring(info.protocolVersion)))
  local paths = info.paths or {}
  health.info(
    "config: "
      .. tostring(paths.configFile)
      .. ((info.config and info.config.found) and "" or " (not found: built-in defaults)")
  )
  for _, problem in ipairs(require("chinwag.backend").config_problems(info)) do
    health.error("config error: " .. problem)
  end
  health.info("log: " .. tostring(paths.logDir))
  if info.storageError then
    health.error("storage unavailable: " .. info.storageError)
  end

  health.start("Vault")
  local vault, vault_err = backend.request_sync("vault/status")
  if vault_err then
    health.error("vault: " .. require("chinwag.util").error_text(vault_err))
  else
    local line = ("vault %s, protection: %s"):format(vault.state, vault.protection)
    if vault.autoLockMinutes then
      line = line .. (", locks after %d idle minutes"):format(vault.autoLockMinutes)
    end
    if vault.protection == "localKey" then
      health.warn(line, { vault.warning or "set a password with :ChinwagPassword" })
    else
      health.ok(line)
    end
  end

  health.start("Providers")
  local providers, providers_err = backend.request_sync("providers/list")
  if providers_err then
    health.error("providers: " .. require("chinwag.util").error_text(providers_err))
    return
  end
  local chosen = config.provider_model() or providers.default
  for _, p in ipairs(providers.providers or {}) do
    local line = ("%s (%s, %s)%s"):format(p.name, p.kind, p.baseUrl, p.name == providers.default and ", default" or "")
    -- `keyState` is the backend's own words (`from vault`, `from $VAR`, `none needed`), the
    -- same as `chinwag doctor` and the Emacs doctor show.
    local state = p.keyState
      or (p.keyFound and ("from " .. tostring(p.keySource)))
      or (p["local"] and "none needed")
      or "MISSING"
    if p.keyFound or p["local"] then
      health.ok(line .. ": key: " .. state)
    elseif p.name == chosen then
      health.warn(line .. ": key: " .. state, { ("store one with :ChinwagKey %s"):format(p.name) })
    else
      health.info(line .. ": key: " .. state)
    end
  end
end

return M
