---@mod chinwag.rpc JSON-RPC 2.0 over a child process's stdio, LSP `Content-Length` framing.
---
--- Our own transport rather than `vim.lsp.rpc`, which logs every payload at debug level: the
--- payloads carry passwords and API keys. Nothing here logs a payload.

local uv = vim.uv or vim.loop

local M = {}

--- Error code given to callbacks still waiting when the process ends (not a server code).
M.EXITED = -32099
--- Error code given to callbacks when the process could not be started (not a server code).
M.NOT_STARTED = -32098

---@class chinwag.RpcError
---@field code integer
---@field message string
---@field data any

---@class chinwag.RpcExit
---@field code integer Exit code.
---@field signal integer Signal number (0 if none).
---@field stderr string The last few KiB the process wrote to stderr.
---@field expected boolean Whether we asked it to stop.

---@class chinwag.RpcOptions
---@field env table<string, string>|nil Extra environment variables.
---@field cwd string|nil
---@field on_notification fun(method: string, params: any)|nil
---@field on_exit fun(exit: chinwag.RpcExit)|nil

---@class chinwag.RpcClient
---@field pid integer
---@field closed boolean True once the process has exited and every callback has run.
---@field private handle uv.uv_process_t
---@field private stdin uv.uv_pipe_t
---@field private stdout uv.uv_pipe_t
---@field private stderr uv.uv_pipe_t
---@field private next_id integer
---@field private callbacks table<integer, fun(err: chinwag.RpcError|nil, result: any)>
---@field private opts chinwag.RpcOptions
---@field private stderr_tail string
---@field private stopping boolean
---@field private exit_info { code: integer, signal: integer }|nil
---@field private stdout_done boolean
local Client = {}
Client.__index = Client

local STDERR_KEEP = 4096

---@param extra table<string, string>
---@return string[]|nil
local function environment(extra)
  if not extra or next(extra) == nil then
    return nil
  end
  local env = vim.fn.environ()
  for key, value in pairs(extra) do
    env[key] = value
  end
  local list = {}
  for key, value in pairs(env) do
    list[#list + 1] = key .. "=" .. tostring(value)
  end
  return list
end

--- Split `data` into LSP frames. Keeps partial input between calls; concatenates chunks only
--- once a frame is complete, so a large body costs one copy, not one per chunk.
---@return fun(data: string): string[]|nil, string|nil
local function framer()
  local chunks, size = {}, 0
  local need = nil ---@type integer|nil total bytes (header + body) of the frame being read
  return function(data)
    chunks[#chunks + 1] = data
    size = size + #data
    if need and size < need then
      return nil
    end
    local buffer = #chunks == 1 and chunks[1] or table.concat(chunks)
    local bodies = {}
    local pos = 1
    while true do
      local header_end = buffer:find("\r\n\r\n", pos, true)
      if not header_end then
        need = nil
        break
      end
      local length = buffer:sub(pos, header_end - 1):match("[Cc]ontent%-[Ll]ength:%s*(%d+)")
      if not length then
        return nil, "bad frame header from the backend"
      end
      local body_start = header_end + 4
      local body_end = body_start + tonumber(length) - 1
      if body_end > #buffer then
        need = body_end - pos + 1
        break
      end
      bodies[#bodies + 1] = buffer:sub(body_start, body_end)
      pos = body_end + 1
    end
    local rest = pos > #buffer and "" or buffer:sub(pos)
    chunks, size = { rest }, #rest
    if rest == "" then
      chunks, size = {}, 0
    end
    return bodies
  end
end

M._framer = framer -- for the tests

--- Start `cmd` and speak JSON-RPC to it.
---@param cmd string[]
---@param opts chinwag.RpcOptions
---@return chinwag.RpcClient|nil client, string|nil error
function M.start(cmd, opts)
  local stdin = uv.new_pipe(false)
  local stdout = uv.new_pipe(false)
  local stderr = uv.new_pipe(false)
  local self = setmetatable({
    next_id = 0,
    callbacks = {},
    opts = opts,
    stderr_tail = "",
    stopping = false,
    closed = false,
    stdout_done = false,
    stdin = stdin,
    stdout = stdout,
    stderr = stderr,
  }, Client)
  local args = {}
  for i = 2, #cmd do
    args[#args + 1] = cmd[i]
  end
  local handle, pid = uv.spawn(cmd[1], {
    args = args,
    stdio = { stdin, stdout, stderr },
    env = environment(opts.env),
    cwd = opts.cwd,
    hide = true,
  }, function(code, signal)
    self.exit_info = { code = code, signal = signal }
    self:_maybe_finish()
  end)
  if not handle then
    for _, pipe in ipairs({ stdin, stdout, stderr }) do
      pipe:close()
    end
    return nil, tostring(pid)
  end
  self.handle = handle
  self.pid = pid --[[@as integer]]

  local split = framer()
  stdout:read_start(function(err, data)
    if err or not data then
      self.stdout_done = true
      self:_maybe_finish()
      return
    end
    local bodies, fault = split(data)
    if fault then
      self.stderr_tail = (self.stderr_tail .. "\n(chinwag.nvim: " .. fault .. ")"):sub(-STDERR_KEEP)
      self:kill()
      return
    end
    if bodies and #bodies > 0 then
      vim.schedule(function()
        for _, body in ipairs(bodies) do
          self:_dispatch(body)
        end
      end)
    end
  end)
  stderr:read_start(function(err, data)
    if err or not data then
      return
    end
    self.stderr_tail = (self.stderr_tail .. data):sub(-STDERR_KEEP)
  end)
  return self
end

--- Once the process has exited and its stdout is drained (every answer it wrote dispatched),
--- fail the callbacks still waiting and report the exit.
---@private
function Client:_maybe_finish()
  if not self.exit_info then
    return
  end
  if not self.stdout_done then
    -- A grandchild may hold stdout open; do not wait for it for long.
    if not self.drain_timer then
      self.drain_timer = uv.new_timer()
      self.drain_timer:start(500, 0, function()
        self.stdout_done = true
        self:_maybe_finish()
      end)
    end
    return
  end
  if self.finishing then
    return
  end
  self.finishing = true
  if self.drain_timer and not self.drain_timer:is_closing() then
    self.drain_timer:close()
  end
  for _, pipe in ipairs({ self.stdin, self.stdout, self.stderr, self.handle }) do
    if pipe and not pipe:is_closing() then
      pipe:close()
    end
  end
  -- Scheduled after the dispatch of every frame already read (vim.schedule is FIFO).
  vim.schedule(function()
    self.closed = true
    local callbacks = self.callbacks
    self.callbacks = {}
    local ids = vim.tbl_keys(callbacks)
    table.sort(ids)
    for _, id in ipairs(ids) do
      pcall(callbacks[id], { code = M.EXITED, message = "the chinwag backend exited" }, nil)
    end
    if self.opts.on_exit then
      self.opts.on_exit({
        code = self.exit_info.code,
        signal = self.exit_info.signal,
        stderr = self.stderr_tail,
        expected = self.stopping,
      })
    end
  end)
end

---@private
---@param body string
function Client:_dispatch(body)
  local ok, message = pcall(vim.json.decode, body, { luanil = { object = true, array = true } })
  if not ok or type(message) ~= "table" then
    return
  end
  if message.method then
    if message.id ~= nil then
      -- The protocol has no server-to-client requests; say so rather than leave it waiting.
      self:_write({
        jsonrpc = "2.0",
        id = message.id,
        error = { code = -32601, message = "method not found" },
      })
    elseif self.opts.on_notification then
      local handled, err = pcall(self.opts.on_notification, message.method, message.params)
      if not handled then
        vim.notify("chinwag: " .. tostring(err), vim.log.levels.ERROR)
      end
    end
    return
  end
  local callback = message.id and self.callbacks[message.id]
  if not callback then
    if message.error then
      vim.notify(
        ("chinwag: the backend reported %s (%s)"):format(tostring(message.error.message), tostring(message.error.code)),
        vim.log.levels.ERROR
      )
    end
    return
  end
  self.callbacks[message.id] = nil
  if message.error then
    callback(message.error, nil)
  else
    callback(nil, message.result)
  end
end

---@private
---@param message table
---@return boolean written
function Client:_write(message)
  if self.closed or self.exit_info or self.stdin:is_closing() then
    return false
  end
  local body = vim.json.encode(message)
  self.stdin:write("Content-Length: " .. #body .. "\r\n\r\n" .. body)
  return true
end

--- Send a request; `callback(err, result)` runs on the main loop with the answer.
---@param method string
---@param params table|nil
---@param callback fun(err: chinwag.RpcError|nil, result: any)
---@return integer|nil id The request id (nil if the process is gone; the callback then runs at once).
function Client:request(method, params, callback)
  self.next_id = self.next_id + 1
  local id = self.next_id
  if not self:_write({ jsonrpc = "2.0", id = id, method = method, params = params }) then
    vim.schedule(function()
      callback({ code = M.EXITED, message = "the chinwag backend is not running" }, nil)
    end)
    return nil
  end
  self.callbacks[id] = callback
  return id
end

---@param method string
---@param params table|nil
---@return boolean written
function Client:notify(method, params)
  return self:_write({ jsonrpc = "2.0", method = method, params = params })
end

--- Cancel a request in flight (`$/cancelRequest`); it then answers -32800.
---@param id integer
function Client:cancel(id)
  if self.callbacks[id] then
    self:notify("$/cancelRequest", { id = id })
  end
end

---@return boolean
function Client:is_running()
  return not self.closed and not self.exit_info
end

--- Ask the process to stop (`shutdown`, then `exit`), waiting at most `timeout` ms for each;
--- kill it if it is still there. Blocks: meant for VimLeavePre and restarts.
---@param timeout integer
function Client:stop(timeout)
  if not self:is_running() then
    return
  end
  self.stopping = true
  local answered = false
  self:request("shutdown", nil, function()
    answered = true
  end)
  vim.wait(timeout, function()
    return answered or self.exit_info ~= nil
  end, 10)
  self:notify("exit", nil)
  if self.stdin and not self.stdin:is_closing() then
    self.stdin:shutdown()
  end
  local exited = vim.wait(timeout, function()
    return self.exit_info ~= nil
  end, 10)
  if not exited then
    self:kill()
  end
end

--- Kill the process (SIGTERM; the backend still flushes what it holds).
function Client:kill()
  if self.handle and not self.handle:is_closing() and not self.exit_info then
    self.handle:kill("sigterm")
  end
end

return M
