-- 5,000 tokens relayed one notification each (delta_window_ms = 0), fast: the whole text ends
-- in the buffer, in order. Measures (does not assert) the time and the longest stall of the
-- event loop while it streams, and prints them for tests/nvim.rs.
local H = require("helpers")
local api = vim.api
local uv = vim.uv or vim.loop

local TOKENS = 5000

H.run("test_stream_5000", function()
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local deltas = 0
  local on_delta = chat.on_delta
  chat.on_delta = function(self, params)
    deltas = deltas + 1
    return on_delta(self, params)
  end
  -- Another buffer the user types in while the answer streams.
  vim.cmd("wincmd p")
  local typing_buf = api.nvim_get_current_buf()

  local longest, last = 0, uv.hrtime()
  local ticker = uv.new_timer()
  ticker:start(2, 2, function()
    local now = uv.hrtime()
    longest = math.max(longest, now - last)
    last = now
  end)
  local typed = 0
  local typist = uv.new_timer()
  typist:start(
    5,
    5,
    vim.schedule_wrap(function()
      if chat.busy then
        api.nvim_buf_set_lines(typing_buf, -1, -1, false, { "typed " .. typed })
        typed = typed + 1
      end
    end)
  )

  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "count to 5000" })
  local started = uv.hrtime()
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the end of the stream", 50000)
  local elapsed = (uv.hrtime() - started) / 1e6
  ticker:stop()
  typist:stop()

  local expected = {}
  for i = 0, TOKENS - 1 do
    expected[#expected + 1] = ("t%d%s"):format(i, i % 100 == 99 and "\n" or " ")
  end
  expected = table.concat(expected)
  local got = H.answer(chat.buf, 1)
  H.eq(#got, #expected, "the length of the answer")
  H.ok(got == expected, "the whole answer, in order")
  H.contains(H.virt_texts(chat.buf)[1], "→ 5000 tokens", "the usage")
  H.log(("PERF_MS=%d"):format(elapsed))
  H.log(("PERF_DELTAS=%d"):format(deltas))
  H.log(("PERF_MAX_STALL_MS=%.1f"):format(longest / 1e6))
  H.log(("PERF_TYPED=%d"):format(typed))
  H.log(("PERF_UNDO_STEPS=%d"):format(vim.fn.undotree(chat.buf).seq_last))
  H.log(("PERF_RSS_MB=%d"):format(uv.resident_set_memory() / 1e6))
end)
