-- Minimal init for the headless tests: this plugin on the runtimepath, nothing else.
-- Run by tests/nvim.rs as `nvim --headless --clean -u minimal_init.lua -c "luafile <scenario>"`.
local plugin = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(plugin)
vim.opt.swapfile = false
vim.opt.shada = ""
package.path = plugin .. "/tests/?.lua;" .. package.path
