---@mod chinwag Talk to language models from Neovim through the chinwag backend.
---
--- Everything is lazy: `setup()` only records options; the backend starts on the first command.

local M = {}

--- Configure chinwag. Optional: without it the defaults apply (`chinwag` from PATH).
---@param opts chinwag.Options|nil
function M.setup(opts)
  require("chinwag.config").setup(opts)
end

--- Open (or focus) the current chat.
---@return chinwag.Chat
function M.open()
  return require("chinwag.chat").open()
end

--- Open a new chat.
---@return chinwag.Chat
function M.new()
  return require("chinwag.chat").new()
end

--- Hide the chat window of the current tabpage, or show the current chat.
function M.toggle()
  require("chinwag.chat").toggle()
end

--- Send the draft of the current chat (or `message` when given).
---@param message string|nil
---@return boolean sent
function M.send(message)
  local chat = require("chinwag.chat").current()
  if not chat then
    chat = require("chinwag.chat").open()
  end
  return chat:send(message)
end

--- Stop the answer streaming in the current chat.
function M.stop()
  require("chinwag.chat").stop()
end

--- Statusline component (see `:help chinwag-statusline`).
---@return string
function M.status()
  return require("chinwag.status").statusline()
end

--- Statusline data as a table: provider, model, active, last_usage, last_status, vault.
---@return chinwag.StatusState
function M.status_data()
  return require("chinwag.status").get()
end

return M
