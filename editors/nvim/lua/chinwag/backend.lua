---@mod chinwag.backend The one backend process per Neovim: started on first use, restarted
--- by the next command after it dies, stopped with `shutdown` + `exit` when Neovim quits.

local config = require("chinwag.config")
local rpc = require("chinwag.rpc")
local util = require("chinwag.util")

local M = {}

M.VERSION = "0.1.0"
M.PROTOCOL = "1.0"

--- The `initialize` result of the running backend (nil until it answers).
---@type table|nil
M.info = nil

--- The last `initialize` result seen, kept after the backend exits (for its log path).
---@type table|nil
M.last_info = nil

--- Provider names from the last `providers/list`, for command completion.
---@type string[]
M.provider_names = {}

---@type chinwag.RpcClient|nil
local client = nil

--- Handlers for `chat/delta`, by chat id; `delta_fallback` gets deltas of unknown chats.
---@type table<string, fun(params: table)>
local delta_handlers = {}
---@type (fun(params: table): boolean)[]
local delta_fallbacks = {}

local leave_autocmd = nil

---@param which chinwag.RpcClient
---@param exit chinwag.RpcExit
local function on_exit(which, exit)
  -- A newer backend may be running already (started between the exit and this report).
  if client == which then
    client = nil
    M.info = nil
  end
  if exit.expected then
    return
  end
  local how = exit.signal ~= 0 and ("signal " .. exit.signal) or ("exit code " .. exit.code)
  local lines = { ("the backend stopped (%s)."):format(how) }
  local paths = M.last_info and M.last_info.paths
  if paths and paths.logDir then
    lines[#lines + 1] = "Log: " .. paths.logDir
  end
  local tail = vim.trim(exit.stderr or "")
  if tail ~= "" then
    local stderr_lines = vim.split(tail, "\n", { plain = true })
    local first = math.max(1, #stderr_lines - 9)
    lines[#lines + 1] = "stderr:"
    for i = first, #stderr_lines do
      lines[#lines + 1] = "  " .. stderr_lines[i]
    end
  end
  lines[#lines + 1] = "The next chinwag command starts it again."
  util.notify(table.concat(lines, "\n"), vim.log.levels.ERROR)
  require("chinwag.status").backend_exited(exit)
end

---@param method string
---@param params table|nil
local function on_notification(method, params)
  if method == "chat/delta" and params then
    local handler = delta_handlers[params.chatId]
    if handler then
      handler(params)
      return
    end
    for _, fallback in ipairs(delta_fallbacks) do
      if fallback(params) then
        return
      end
    end
  elseif method == "vault/stateChanged" and params then
    require("chinwag.vault").state_changed(params)
  end
end

--- The config errors of an `initialize` result, one line each for people: `config.error` (a
--- message) and `config.errors` (a list of messages or of `{ message, key, line }`), with
--- where to fix them.
---@param result table
---@return string[]
function M.config_problems(result)
  local cfg = type(result) == "table" and result.config or nil
  if type(cfg) ~= "table" then
    return {}
  end
  local file = type(cfg.file) == "string" and vim.fn.fnamemodify(cfg.file, ":~") or "the config file"
  local out, seen = {}, {}
  local function add(text)
    if text and text ~= "" and not seen[text] then
      seen[text] = true
      out[#out + 1] = text
    end
  end
  if type(cfg.errors) == "table" then
    for _, e in ipairs(cfg.errors) do
      if type(e) == "string" then
        add(e)
      elseif type(e) == "table" then
        local text = tostring(e.message or "invalid")
        local where = {}
        if e.key and e.key ~= vim.NIL then
          where[#where + 1] = ("key `%s`"):format(tostring(e.key))
        end
        if e.line and e.line ~= vim.NIL then
          where[#where + 1] = ("edit %s line %s"):format(file, tostring(e.line))
        end
        add(#where > 0 and ("%s (%s)"):format(text, table.concat(where, ", ")) or text)
      end
    end
  end
  if type(cfg.error) == "string" and #out == 0 then
    add(cfg.error .. " (in " .. file .. ")")
  end
  return out
end

---@param which chinwag.RpcClient
---@param result table
local function on_initialized(which, result)
  if client ~= which then
    return
  end
  M.info = result
  M.last_info = result
  local major = tostring(result.protocolVersion or ""):match("^(%d+)")
  if major and major ~= M.PROTOCOL:match("^(%d+)") then
    util.notify(
      ("the backend speaks protocol %s; this plugin speaks %s. Update one of them."):format(
        result.protocolVersion,
        M.PROTOCOL
      ),
      vim.log.levels.WARN
    )
  end
  local problems = M.config_problems(result)
  if #problems > 0 then
    util.notify(
      ("%s (running on defaults):\n%s"):format(
        #problems == 1 and "config error" or ("%d config errors"):format(#problems),
        table.concat(problems, "\n")
      ),
      vim.log.levels.WARN
    )
  end
  if result.storageError then
    util.notify("storage unavailable: " .. result.storageError, vim.log.levels.ERROR)
  end
  if result.vault then
    require("chinwag.status").set_vault(result.vault)
  end
end

--- The running client, started if needed.
---@return chinwag.RpcClient|nil client, string|nil error
function M.ensure()
  if client and client:is_running() then
    return client
  end
  local opts = config.get()
  local cmd = opts.cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    return nil,
      ("cannot start the backend: %q is not an executable (install it with `cargo install --locked --path .` in the chinwag repository, or set `cmd` in setup())"):format(
        cmd[1]
      )
  end
  local started, err
  started, err = rpc.start(cmd, {
    env = opts.env,
    on_notification = on_notification,
    on_exit = function(exit)
      on_exit(started, exit)
    end,
  })
  if not started then
    return nil, ("cannot start the backend %q: %s"):format(cmd[1], err)
  end
  client = started
  started:request("initialize", {
    clientInfo = { name = "chinwag.nvim", version = M.VERSION },
    protocolVersion = M.PROTOCOL,
  }, function(init_err, result)
    if init_err then
      if init_err.code ~= rpc.EXITED then
        util.notify("initialize failed: " .. util.error_text(init_err), vim.log.levels.ERROR)
      end
      return
    end
    on_initialized(started, result)
  end)
  if not leave_autocmd then
    leave_autocmd = vim.api.nvim_create_autocmd("VimLeavePre", {
      group = vim.api.nvim_create_augroup("chinwag.backend", { clear = true }),
      callback = function()
        M.stop()
      end,
    })
  end
  return client
end

---@class chinwag.RequestOptions
---@field unlock boolean|nil On 1001 (vault locked) ask for the password once and retry (default true).
---@field confirm boolean|nil On 1404 with `action = "confirmFile"` ask whether to send that file this once and retry with it in `allowFiles` (default true).

--- What completes the params of a chat turn before it is first sent (the project root, staged
--- context, a preset): `chinwag.context.prepare()`. It may return a function run after the
--- request's callback with the same error and result.
---@type fun(method: string, params: table): (fun(err: table|nil, result: any)|nil)
M.prepare = function(method, params)
  if method == "chat/send" or method == "chat/edit" or method == "chat/regenerate" then
    return require("chinwag.context").prepare(method, params)
  end
end

---@class chinwag.Ticket
---@field id integer|nil The id of the request in flight (changes when it is retried).
---@field cancelled boolean|nil Set by `cancel()`: not retried after a vault prompt.

--- Send a request, starting the backend if needed. On `1001` the user is asked for the vault
--- password once and the request is retried.
---@param method string
---@param params table|nil
---@param callback fun(err: chinwag.RpcError|nil, result: any)
---@param opts chinwag.RequestOptions|nil
---@param ticket chinwag.Ticket|nil (internal: the ticket of the request being retried)
---@return chinwag.Ticket ticket For `cancel()`.
function M.request(method, params, callback, opts, ticket)
  opts = opts or {}
  ticket = ticket or {}
  if type(params) == "table" and not ticket.prepared then
    ticket.prepared = true
    local after = M.prepare(method, params)
    if after then
      local inner = callback
      callback = function(request_err, result)
        inner(request_err, result)
        after(request_err, result)
      end
    end
  end
  local running, err = M.ensure()
  if not running then
    ticket.id = nil
    vim.schedule(function()
      callback({ code = rpc.NOT_STARTED, message = err }, nil)
    end)
    return ticket
  end
  ticket.id = running:request(method, params, function(request_err, result)
    if request_err and request_err.code == util.codes.VAULT_LOCKED then
      -- The statusline's "(locked)" follows what the backend just said.
      require("chinwag.status").set_vault({ state = "locked" })
    end
    if request_err and request_err.code == util.codes.VAULT_LOCKED and opts.unlock ~= false then
      require("chinwag.vault").unlock_then(function(unlocked)
        if unlocked and not ticket.cancelled then
          M.request(method, params, callback, { unlock = false }, ticket)
        else
          callback(request_err, nil)
        end
      end)
      return
    end
    local data = request_err and request_err.data
    if
      request_err
      and request_err.code == util.codes.CONTEXT_REFUSED
      and opts.confirm ~= false
      and type(data) == "table"
      and data.action == "confirmFile"
      and type(params) == "table"
      and not vim.tbl_contains(params.allowFiles or {}, data.path)
    then
      require("chinwag.context").confirm_file(data, function(yes)
        if yes and not ticket.cancelled then
          params.allowFiles = params.allowFiles or {}
          table.insert(params.allowFiles, data.path)
          M.request(method, params, callback, opts, ticket)
        else
          ticket.id = nil
          callback(request_err, nil)
        end
      end)
      return
    end
    ticket.id = nil
    callback(request_err, result)
  end)
  return ticket
end

--- A request answered synchronously (for `:checkhealth`, completion and tests).
---@param method string
---@param params table|nil
---@param timeout integer|nil milliseconds (default 5000)
---@param opts chinwag.RequestOptions|nil
---@return any result, chinwag.RpcError|nil err
function M.request_sync(method, params, timeout, opts)
  local done, result, failure = false, nil, nil
  M.request(method, params, function(err, res)
    done, result, failure = true, res, err
  end, opts or { unlock = false })
  if not vim.wait(timeout or 5000, function()
    return done
  end, 10) then
    return nil, { code = -32000, message = method .. " did not answer in time" }
  end
  return result, failure
end

---@param method string
---@param params table|nil
---@return boolean sent
function M.notify(method, params)
  if client and client:is_running() then
    return client:notify(method, params)
  end
  return false
end

--- Cancel a request in flight (`$/cancelRequest`); it then answers -32800.
---@param ticket chinwag.Ticket
function M.cancel(ticket)
  ticket.cancelled = true
  if ticket.id and client and client:is_running() then
    client:cancel(ticket.id)
  end
end

--- Route `chat/delta` for `chat_id` to `handler` (nil removes it).
---@param chat_id string
---@param handler fun(params: table)|nil
function M.on_delta(chat_id, handler)
  delta_handlers[chat_id] = handler
end

--- Offer deltas of chats nobody subscribed to (a rewrite learns its chat id only at the end);
--- `handler` returns true when it took one. Returns a function that removes it.
---@param handler fun(params: table): boolean
---@return fun()
function M.on_unknown_delta(handler)
  delta_fallbacks[#delta_fallbacks + 1] = handler
  return function()
    for i, h in ipairs(delta_fallbacks) do
      if h == handler then
        table.remove(delta_fallbacks, i)
        return
      end
    end
  end
end

--- The backend's pid, or nil when it is not running.
---@return integer|nil
function M.pid()
  return client and client:is_running() and client.pid or nil
end

---@return boolean
function M.running()
  return client ~= nil and client:is_running()
end

--- Stop the backend (shutdown + exit), waiting briefly.
function M.stop()
  if client then
    local stopping = client
    stopping:stop(config.get().shutdown_timeout)
  end
end

--- Provider list, also refreshing the completion cache.
---@param callback fun(err: chinwag.RpcError|nil, result: table|nil)
function M.providers(callback)
  M.request("providers/list", nil, function(err, result)
    if result and result.providers then
      M.provider_names = vim.tbl_map(function(p)
        return p.name
      end, result.providers)
    end
    callback(err, result)
  end)
end

return M
