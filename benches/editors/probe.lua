-- Responsiveness probe for Neovim's TUI, started by `cargo bench --bench editors` under tmux.
--
-- A one-shot 1 ms timer is re-armed every time it fires; how late it fires is the event loop's
-- lag. A libuv timer fires even in the middle of a long redraw (Neovim polls libuv there), so
-- the timer also queues a `vim.schedule()` callback (one at a time) and records how long it
-- waits to run: that is the lag of scheduled work (plugins' callbacks, RPC handlers), which
-- runs only between redraws. In "stream" mode the probe opens a chat and sends a prompt at
-- `CHINWAG_BENCH_SEND_AT` seconds; in "longline" mode it sends the prompt the bench's provider
-- answers with one long line; in "tree" mode it first imports `$HOME/tree.json` (a chat of 200
-- turns with 20 branches, written by the harness) and opens that chat, then sends as in
-- "stream"; in "idle" mode it opens a chat and sends nothing. The time the client takes over
-- each `chat/delta` (its handler, not the redraw after it) is recorded too.
-- Samples are written to `CHINWAG_BENCH_OUT` as lines the harness reads:
--   mark <wall µs>                   when the prompt was (or, idle, would have been) sent
--   lag <wall µs> <lag µs>           one per timer firing
--   sched <wall µs> <lag µs>         one per scheduled callback, when it ran
--   delta <µs>                       one per chat/delta handled
--   done                             the file is complete

local uv = vim.uv
local env = vim.env

vim.opt.rtp:prepend(env.CHINWAG_BENCH_PLUGIN)
vim.o.shortmess = vim.o.shortmess .. "IWF"
vim.o.swapfile = false
vim.o.more = false

require("chinwag").setup({
  cmd = { env.CHINWAG_BENCH_BIN },
  window = { layout = "current" },
})

local mode = env.CHINWAG_BENCH_MODE
local send_at = tonumber(env.CHINWAG_BENCH_SEND_AT) * 1000
local total = tonumber(env.CHINWAG_BENCH_SECONDS) * 1000
-- The prompt benches/editors.rs answers with one long line (its LONG_LINE_PROMPT).
local LONG_LINE_PROMPT = "Write one long line."

-- Wall clock (µs) of an `hrtime()` reading, so the harness can line samples up with the
-- provider's stream on its own clock.
local sec, usec = uv.gettimeofday()
local wall0 = sec * 1e6 + usec
local hr0 = uv.hrtime()
local function wall(hr)
  return wall0 + (hr - hr0) / 1e3
end

local capacity = 20000
local at, lag = {}, {}
local sched_at, sched_lag = {}, {}
for i = 1, capacity do
  at[i], lag[i] = 0, 0
  sched_at[i], sched_lag[i] = 0, 0
end
local count, sched_count = 0, 0
local deltas = {}
local mark_hr = nil

-- The scheduled callback: at most one waiting at a time, so a stall shows as one long sample.
local queued_at = nil
local function scheduled()
  local now = uv.hrtime()
  if sched_count < capacity then
    sched_count = sched_count + 1
    sched_at[sched_count], sched_lag[sched_count] = now, now - queued_at
  end
  queued_at = nil
end

local timer = uv.new_timer()
local expected = 0
local function tick()
  local now = uv.hrtime()
  if count < capacity then
    count = count + 1
    at[count], lag[count] = now, now - expected
  end
  if not queued_at then
    queued_at = now
    vim.schedule(scheduled)
  end
  expected = uv.hrtime() + 1e6
  timer:start(1, 0, tick)
end

local function finish()
  timer:stop()
  local out = assert(io.open(env.CHINWAG_BENCH_OUT, "w"))
  out:write(("mark %d\n"):format(wall(mark_hr)))
  for i = 1, count do
    out:write(("lag %d %d\n"):format(wall(at[i]), math.max(0, lag[i]) / 1e3))
  end
  for i = 1, sched_count do
    out:write(("sched %d %d\n"):format(wall(sched_at[i]), sched_lag[i] / 1e3))
  end
  for _, cost in ipairs(deltas) do
    out:write(("delta %d\n"):format(cost / 1e3))
  end
  out:write("done\n")
  out:close()
  vim.cmd("qall!")
end

-- The client's own time per chat/delta.
local Chat = require("chinwag.chat").Chat
local on_delta = Chat.on_delta
Chat.on_delta = function(self, params)
  local started = uv.hrtime()
  on_delta(self, params)
  if #deltas < capacity then
    deltas[#deltas + 1] = uv.hrtime() - started
  end
end

--- Import the harness's chat and open it (tree mode).
local function open_tree()
  local backend = require("chinwag.backend")
  local imported = backend.request_sync("history/import", { path = env.HOME .. "/tree.json" }, 30000)
  assert(imported and imported.imported == 1, "the tree chat was not imported")
  local list = assert(backend.request_sync("history/list", {}, 10000))
  local opened = false
  require("chinwag.chat").open_saved(list.chats[1].id, function(chat)
    opened = chat ~= nil
  end)
  vim.wait(10000, function()
    return opened
  end)
  assert(opened, "the tree chat did not open")
end

vim.schedule(function()
  if mode == "tree" then
    open_tree()
  else
    require("chinwag").open()
  end
  expected = uv.hrtime() + 1e6
  timer:start(1, 0, tick)
  vim.defer_fn(function()
    mark_hr = uv.hrtime()
    if mode == "stream" or mode == "tree" then
      require("chinwag").send("Tell me a long story.")
    elseif mode == "longline" then
      require("chinwag").send(LONG_LINE_PROMPT)
    end
  end, send_at)
  vim.defer_fn(finish, total)
end)
