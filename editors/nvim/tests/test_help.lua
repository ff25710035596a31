-- `:help chinwag` works in a fresh Neovim with only the plugin on the runtimepath (as the
-- README's lazy.nvim specs set it up): doc/tags is shipped and current, and a copy of the
-- plugin without it gets it generated when the plugin loads.
local H = require("helpers")

local plugin = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")

--- Run a fresh Neovim with `dir` on the runtimepath; `:help {tag}`; the help file and line.
local function help_in_fresh_nvim(dir, tag, source_plugin)
  local out = vim.fn.tempname()
  local cmd = {
    "nvim",
    "--headless",
    "--clean",
    "--cmd",
    "set rtp^=" .. vim.fn.fnameescape(dir),
  }
  if source_plugin then
    vim.list_extend(cmd, { "-c", "source " .. vim.fn.fnameescape(dir .. "/plugin/chinwag.lua") })
  end
  local write = "call writefile(%s, '" .. out .. "')"
  vim.list_extend(cmd, {
    "-c",
    ("try | help %s | %s | catch | %s | endtry"):format(
      tag,
      write:format("[expand('%:t'), getline('.')]"),
      write:format("['ERROR', v:exception]")
    ),
    "-c",
    "qa!",
  })
  local result = vim.system(cmd, { text = true }):wait(20000)
  H.eq(result.code, 0, "the fresh nvim exits: " .. tostring(result.stderr))
  local lines = vim.fn.filereadable(out) == 1 and vim.fn.readfile(out) or { "no output" }
  vim.fn.delete(out)
  return lines
end

H.run("test_help", function()
  -- 1. The shipped tags, without setup() or any command run.
  local lines = help_in_fresh_nvim(plugin, "chinwag", false)
  H.eq(lines[1], "chinwag.txt", ":help chinwag opens the plugin's help: " .. vim.inspect(lines))
  H.contains(lines[2], "*chinwag*", "at the chinwag tag")
  lines = help_in_fresh_nvim(plugin, ":ChinwagToggle", false)
  H.eq(lines[1], "chinwag.txt", ":help :ChinwagToggle: " .. vim.inspect(lines))

  -- 2. The shipped tags are current: :helptags on a copy of doc/ writes the same file.
  local copy = vim.fn.tempname()
  vim.fn.mkdir(copy .. "/doc", "p")
  vim.fn.writefile(vim.fn.readfile(plugin .. "/doc/chinwag.txt", "b"), copy .. "/doc/chinwag.txt", "b")
  vim.cmd.helptags(vim.fn.fnameescape(copy .. "/doc"))
  H.eq(
    vim.fn.readfile(plugin .. "/doc/tags"),
    vim.fn.readfile(copy .. "/doc/tags"),
    "doc/tags matches doc/chinwag.txt (regenerate: nvim --headless --clean -c 'helptags editors/nvim/doc' -c q)"
  )

  -- 3. A copy of the plugin without doc/tags: loading the plugin generates them.
  vim.fn.delete(copy .. "/doc/tags")
  vim.fn.mkdir(copy .. "/plugin", "p")
  vim.fn.writefile(vim.fn.readfile(plugin .. "/plugin/chinwag.lua", "b"), copy .. "/plugin/chinwag.lua", "b")
  lines = help_in_fresh_nvim(copy, "chinwag", true)
  H.eq(lines[1], "chinwag.txt", "the tags are generated when missing: " .. vim.inspect(lines))
  H.eq(vim.fn.filereadable(copy .. "/doc/tags"), 1, "doc/tags was written")
  vim.fn.delete(copy, "rf")
end)
