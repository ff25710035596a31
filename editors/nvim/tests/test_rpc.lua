-- The transport's framing: frames split anywhere (inside headers and multi-byte characters),
-- several frames in one read, a 1 MiB body in 64 KiB reads, and a bad header. Also checks that
-- a request to a process that is gone fails at once, and the server-to-client request reply.
local H = require("helpers")
local rpc = require("chinwag.rpc")

local function frame(body)
  return "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

H.run("test_rpc", function()
  -- 300 frames with multi-byte text, fed in pieces of 1 to 37 bytes.
  local bodies, stream = {}, {}
  for i = 1, 300 do
    local body =
      vim.json.encode({ jsonrpc = "2.0", method = "chat/delta", params = { delta = ("ü✓%d\r\n"):rep(i % 7) } })
    bodies[#bodies + 1] = body
    stream[#stream + 1] = frame(body)
  end
  stream = table.concat(stream)
  local split = rpc._framer()
  local got = {}
  local pos, size = 1, 1
  while pos <= #stream do
    local piece = stream:sub(pos, pos + size - 1)
    pos = pos + #piece
    size = size % 37 + 1
    local out, fault = split(piece)
    H.eq(fault, nil, "no fault")
    vim.list_extend(got, out or {})
  end
  H.eq(got, bodies, "every frame, whole and in order")

  -- A large body in 64 KiB reads, with the next frame in the same last read.
  local big = vim.json.encode({ jsonrpc = "2.0", id = 1, result = { content = ("x"):rep(1024 * 1024) } })
  local tail = vim.json.encode({ jsonrpc = "2.0", id = 2, result = vim.NIL })
  local data = frame(big) .. frame(tail)
  split = rpc._framer()
  got = {}
  for start = 1, #data, 65536 do
    vim.list_extend(got, split(data:sub(start, start + 65535)) or {})
  end
  H.eq(#got, 2, "two frames")
  H.ok(got[1] == big and got[2] == tail, "the large body and the next")

  -- A header without Content-Length is a fault.
  local _, fault = rpc._framer()("Content-Type: x\r\n\r\n{}")
  H.ok(fault, "a bad header is reported")

  -- A process that sends a request of its own, records what it reads, then exits: the client
  -- replies -32601 to that request and fails the callbacks still waiting when it is gone.
  local exited
  local script = [[
    printf 'Content-Length: 54\r\n\r\n{"jsonrpc":"2.0","id":"s1","method":"x/y","params":{}}'
    timeout 0.5 cat > "$1"
    exit 7
  ]]
  local record = vim.fn.tempname()
  local client = assert(rpc.start({ "sh", "-c", script, "sh", record }, {
    on_exit = function(exit)
      exited = exit
    end,
  }))
  local answer
  client:request("anything", nil, function(err)
    answer = err
  end)
  H.wait(function()
    return exited ~= nil and answer ~= nil
  end, "the exit")
  H.eq(exited.code, 7, "the exit code")
  local written = table.concat(vim.fn.readfile(record, "b"), "\n")
  H.contains(written, '"method":"anything"', "the request went out")
  H.contains(written, '"id":"s1"', "the reply to the server's request")
  H.contains(written, "-32601", "method not found")
  H.eq(answer.code, rpc.EXITED, "the waiting callback failed")
  local late
  client:request("late", nil, function(err)
    late = err
  end)
  H.wait(function()
    return late ~= nil
  end, "the late request to fail")
  H.eq(late.code, rpc.EXITED, "a request after the exit fails at once")
end)
