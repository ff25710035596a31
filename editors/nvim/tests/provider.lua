-- A scripted OpenAI-compatible provider on 127.0.0.1, inside the Neovim that runs the scenario
-- (libuv TCP): the scenarios that use it are self-contained (see run.lua). Each request takes
-- the next queued reply (a 500 when none is queued) and is recorded in `server.seen`.
--
--   local P = require("provider")
--   local server = P.start()
--   server:push(P.sse({ "Hello", " there" }))              -- an SSE stream, then [DONE]
--   server:push(P.sse(tokens, { pause = 2, piece = 64 }))  -- paced: 64 bytes every 2 ms
--   server:push(P.json(401, '{"error":{"message":"bad key"}}'))
--   server:push(P.sse({ "tok " }, { stall = true }))       -- never ends: only a hang-up does
--   P.write_config(server)                                 -- the chinwag config using it

local uv = vim.uv or vim.loop

local P = {}

---@class chinwag.test.Reply
---@field status integer
---@field body string
---@field content_type string
---@field pause integer|nil Milliseconds between pieces.
---@field piece integer|nil Bytes per piece (default: all at once).
---@field stall boolean|nil Keep the connection open after the body until the client hangs up.

---@class chinwag.test.Seen
---@field method string
---@field path string
---@field body string
---@field json table|nil

--- The SSE body of an OpenAI-style stream of `pieces` (each a content delta; a table
--- `{ reasoning = "..." }` is a reasoning delta), with usage (11 prompt tokens, one completion
--- token per piece).
---@param pieces (string|table)[]
---@return string
function P.openai_stream(pieces)
  local out = { 'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n' }
  for _, piece in ipairs(pieces) do
    local delta = type(piece) == "table" and { reasoning_content = piece.reasoning } or { content = piece }
    out[#out + 1] = "data: " .. vim.json.encode({ choices = { { delta = delta } } }) .. "\n\n"
  end
  out[#out + 1] = 'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
  out[#out + 1] = ('data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":%d}}\n\n'):format(#pieces)
  out[#out + 1] = "data: [DONE]\n\n"
  return table.concat(out)
end

--- A streamed answer.
---@param pieces (string|table)[]
---@param opts { pause: integer|nil, piece: integer|nil, stall: boolean|nil }|nil
---@return chinwag.test.Reply
function P.sse(pieces, opts)
  opts = opts or {}
  local body = P.openai_stream(pieces)
  if opts.stall then
    -- No end: drop the finish, usage and [DONE] events.
    body = body:gsub('data: {"choices":%[{"delta":{},"finish_reason".*$', "")
  end
  return {
    status = 200,
    body = body,
    content_type = "text/event-stream",
    pause = opts.pause,
    piece = opts.piece,
    stall = opts.stall,
  }
end

--- A JSON answer (an error, or a model list).
---@param status integer
---@param body string
---@return chinwag.test.Reply
function P.json(status, body)
  return { status = status, body = body, content_type = "application/json" }
end

---@class chinwag.test.Server
---@field port integer
---@field seen chinwag.test.Seen[]
---@field replies chinwag.test.Reply[]
---@field hangups integer Streams the client hung up on before their end.
local Server = {}
Server.__index = Server

---@param reply chinwag.test.Reply
function Server:push(reply)
  table.insert(self.replies, reply)
end

---@param path string|nil
---@return string
function Server:url(path)
  return ("http://127.0.0.1:%d%s"):format(self.port, path or "")
end

--- The chat requests seen, decoded.
---@return table[]
function Server:chats()
  local out = {}
  for _, seen in ipairs(self.seen) do
    if seen.path:find("chat/completions", 1, true) then
      out[#out + 1] = seen.json
    end
  end
  return out
end

--- The content of the last user message of the `n`th chat request.
---@param n integer
---@return string|nil
function Server:last_user(n)
  local request = self:chats()[n]
  if not request then
    return nil
  end
  for i = #request.messages, 1, -1 do
    if request.messages[i].role == "user" then
      return request.messages[i].content
    end
  end
end

function Server:stop()
  if self.tcp and not self.tcp:is_closing() then
    self.tcp:close()
  end
end

--- Write `reply` on `client`; `done(reusable)` when it is written.
local function respond(server, client, reply, done)
  local head = ("HTTP/1.1 %d Scripted\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"):format(
    reply.status,
    reply.content_type
  )
  client:write(head)
  local body = reply.body
  local size = reply.piece or #body
  local offset = 1
  local timer = uv.new_timer()
  local function finish()
    timer:close()
    if reply.stall then
      -- Until the client hangs up (the read callback sees the end).
      server.stalled[client] = true
      return
    end
    if not client:is_closing() then
      client:write("0\r\n\r\n")
    end
    done(true)
  end
  local function step()
    if client:is_closing() then
      timer:close()
      return
    end
    if offset > #body then
      return finish()
    end
    local piece = body:sub(offset, offset + size - 1)
    offset = offset + #piece
    client:write(("%x\r\n%s\r\n"):format(#piece, piece))
    if reply.pause and reply.pause > 0 then
      timer:start(reply.pause, 0, step)
    else
      step()
    end
  end
  step()
end

--- Start a server on 127.0.0.1 (a free port).
---@return chinwag.test.Server
function P.start()
  local server = setmetatable({ seen = {}, replies = {}, hangups = 0, stalled = {} }, Server)
  local tcp = uv.new_tcp()
  assert(tcp:bind("127.0.0.1", 0))
  server.tcp = tcp
  server.port = tcp:getsockname().port
  assert(tcp:listen(16, function(err)
    assert(not err, err)
    local client = uv.new_tcp()
    tcp:accept(client)
    local buffer = ""
    local busy = false
    local function next_request()
      if busy then
        return
      end
      local head_end = buffer:find("\r\n\r\n", 1, true)
      if not head_end then
        return
      end
      local head = buffer:sub(1, head_end - 1)
      local length = tonumber(head:lower():match("\r\ncontent%-length:%s*(%d+)")) or 0
      if #buffer < head_end + 3 + length then
        return
      end
      local body = buffer:sub(head_end + 4, head_end + 3 + length)
      buffer = buffer:sub(head_end + 4 + length)
      local method, path = head:match("^(%S+)%s+(%S+)")
      local ok, decoded = pcall(vim.json.decode, body)
      table.insert(server.seen, { method = method, path = path, body = body, json = ok and decoded or nil })
      local reply = table.remove(server.replies, 1) or P.json(500, '{"error":{"message":"no scripted reply"}}')
      busy = true
      respond(server, client, reply, function()
        busy = false
        next_request()
      end)
    end
    client:read_start(function(read_err, data)
      if read_err or not data then
        if server.stalled[client] then
          server.stalled[client] = nil
          server.hangups = server.hangups + 1
        elseif busy then
          server.hangups = server.hangups + 1
        end
        if not client:is_closing() then
          client:close()
        end
        return
      end
      buffer = buffer .. data
      next_request()
    end)
  end))
  return server
end

--- Write the chinwag config (in `$XDG_CONFIG_HOME/chinwag/config.toml`) with two providers
--- answered by `server`: `mock` (the default; model `mock-model`) and `other` (`other-model`),
--- and `faraway`, a remote one that has no key.
---@param server chinwag.test.Server
---@param chat_extra string|nil Lines for the `[chat]` table.
function P.write_config(server, chat_extra)
  local dir = assert(vim.env.XDG_CONFIG_HOME, "XDG_CONFIG_HOME is set by the runner") .. "/chinwag"
  vim.fn.mkdir(dir, "p")
  local text = table.concat({
    'default_provider = "mock"',
    "[vault]",
    "kdf_memory_mib = 19",
    "kdf_iterations = 2",
    "kdf_parallelism = 1",
    "[chat]",
    "idle_timeout_secs = 5",
    chat_extra or "",
    "[providers.mock]",
    'kind = "openai-compatible"',
    ('base_url = "%s"'):format(server:url("/v1")),
    'default_model = "mock-model"',
    "[providers.other]",
    'kind = "openai-compatible"',
    ('base_url = "%s"'):format(server:url("/v1")),
    'default_model = "other-model"',
    "[providers.faraway]",
    'kind = "openai-compatible"',
    'base_url = "https://llm.example.invalid/v1"',
    'default_model = "far-model"',
    "",
  }, "\n")
  local file = assert(io.open(dir .. "/config.toml", "w"))
  file:write(text)
  file:close()
end

return P
