-- Runner for the self-contained scenarios: those whose first line is
-- `-- chinwag-test: own-provider` start their scripted provider inside Neovim (provider.lua) and
-- write their own config, so they need only a private HOME and the backend binary.
--
--   nvim -l editors/nvim/tests/run.lua [name ...]     (default: every such scenario)
--
-- The backend is $CHINWAG_BIN, else target/debug/chinwag (build it with `cargo build`). Each
-- scenario runs as tests/nvim.rs runs the others: `nvim --headless --clean -u minimal_init.lua
-- -c "luafile <scenario>"` in `<HOME>/project`, HOME and XDG folders private, and passes when it
-- exits 0 having printed `PASS <name>`. CHINWAG_TEST_DUMP=1 prints their stderr when they pass.
-- (From Rust, `run(&home, "<name>")` of tests/nvim.rs runs one the same way.)

local uv = vim.uv or vim.loop
local tests = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
local root = vim.fn.fnamemodify(tests, ":h:h:h")
local bin = vim.env.CHINWAG_BIN or (root .. "/target/debug/chinwag")
if vim.fn.executable(bin) ~= 1 then
  io.stderr:write(("no backend at %s: run `cargo build` or set CHINWAG_BIN\n"):format(bin))
  os.exit(2)
end

local MARK = "-- chinwag-test: own-provider"

local names = {}
if #arg > 0 then
  names = vim.list_slice(arg, 1)
else
  for _, file in ipairs(vim.fn.glob(tests .. "/test_*.lua", false, true)) do
    local first = (io.open(file) or { read = function() end }):read("*l")
    if first == MARK then
      names[#names + 1] = vim.fn.fnamemodify(file, ":t:r")
    end
  end
  table.sort(names)
end

local failed = {}
for _, name in ipairs(names) do
  local home = vim.fn.tempname()
  vim.fn.mkdir(home .. "/project/src", "p")
  local env = {
    PATH = vim.env.PATH,
    HOME = home,
    XDG_CONFIG_HOME = home .. "/config",
    XDG_DATA_HOME = home .. "/data",
    XDG_STATE_HOME = home .. "/state",
    XDG_CACHE_HOME = home .. "/cache",
    CHINWAG_BIN = bin,
    CHINWAG_TEST_HOME = home,
    TMPDIR = vim.env.TMPDIR,
    CHINWAG_TEST_DUMP = vim.env.CHINWAG_TEST_DUMP,
  }
  local started = uv.hrtime()
  local result = vim
    .system({
      "nvim",
      "--headless",
      "--clean",
      "-u",
      tests .. "/minimal_init.lua",
      "-c",
      "luafile " .. tests .. "/" .. name .. ".lua",
    }, { cwd = home .. "/project", env = env, clear_env = true, stdin = false, timeout = 60000 })
    :wait()
  local ms = (uv.hrtime() - started) / 1e6
  local passed = result.code == 0 and (result.stderr or ""):find("PASS " .. name, 1, true) ~= nil
  if passed then
    io.stdout:write(("ok    %s (%.1f s)\n"):format(name, ms / 1000))
    if vim.env.CHINWAG_TEST_DUMP then
      io.stdout:write(result.stderr or "")
    end
  else
    failed[#failed + 1] = name
    io.stdout:write(("FAIL  %s (exit %s, %.1f s)\n%s\n"):format(name, tostring(result.code), ms / 1000, result.stderr))
  end
  vim.fn.delete(home, "rf")
end
io.stdout:write(("%d passed, %d failed\n"):format(#names - #failed, #failed))
os.exit(#failed == 0 and 0 or 1)
