---@mod chinwag.selection Sending code to a chat: `:ChinwagSend` and `:ChinwagAsk`.

local api = vim.api
local util = require("chinwag.util")

local M = {}

---@class chinwag.CommandArgs
---@field args string
---@field range integer 0, 1 or 2
---@field line1 integer
---@field line2 integer

--- The file name to show the model: relative to the working directory; nil for scratch buffers.
---@param buf integer
---@return string|nil
local function display_path(buf)
  local name = api.nvim_buf_get_name(buf)
  if name == "" or vim.bo[buf].buftype ~= "" then
    return nil
  end
  return vim.fn.fnamemodify(name, ":.")
end

--- The buffer each region was taken from (weak keys: the regions are the tables sent).
---@type table<chinwag.Region, integer>
M.source = setmetatable({}, { __mode = "k" })

--- A region of `buf`: whole lines `line1`..`line2` (1-based, inclusive).
---@param buf integer
---@param line1 integer
---@param line2 integer
---@return chinwag.Region
function M.lines_region(buf, line1, line2)
  local lines = api.nvim_buf_get_lines(buf, line1 - 1, line2, false)
  local filetype = vim.bo[buf].filetype
  local region = {
    path = display_path(buf),
    language = filetype ~= "" and filetype or nil,
    startLine = line1,
    endLine = line2,
    text = table.concat(lines, "\n"),
  }
  M.source[region] = buf
  return region
end

--- The region a command was given: the characters of a charwise/blockwise visual selection
--- when the range is `'<,'>` of one, else the whole lines of the range.
---@param buf integer
---@param args chinwag.CommandArgs
---@return chinwag.Region
function M.command_region(buf, args)
  local region = M.lines_region(buf, args.line1, args.line2)
  local mode = vim.fn.visualmode()
  if args.range == 2 and (mode == "v" or mode == "\22") and vim.fn.getregion then
    local first, last = vim.fn.getpos("'<"), vim.fn.getpos("'>")
    if first[2] == args.line1 and last[2] == args.line2 then
      local ok, text = pcall(vim.fn.getregion, first, last, { type = mode })
      if ok and #text > 0 then
        region.text = table.concat(text, "\n")
      end
    end
  end
  return region
end

--- `:[range]ChinwagSend [instruction]`: send the selection to the current chat (opening one).
--- With an instruction it is sent at once; without, the selection is staged in the chat and
--- the cursor goes to the draft for the question.
---@param args chinwag.CommandArgs
function M.send(args)
  local chat_mod = require("chinwag.chat")
  local buf = api.nvim_get_current_buf()
  if chat_mod.by_buf[buf] then
    util.notify("select code in a file buffer, not in the chat", vim.log.levels.WARN)
    return
  end
  local line1, line2 = args.line1, args.line2
  if args.range == 0 then
    line1, line2 = 1, api.nvim_buf_line_count(buf)
  end
  local region = M.command_region(buf, { args = args.args, range = args.range, line1 = line1, line2 = line2 })
  local instruction = vim.trim(args.args or "")
  local layout = require("chinwag.config").get().window.layout
  if instruction == "" then
    local chat = chat_mod.target({ focus = true, input = true })
    chat:add_context({ region })
    vim.cmd("startinsert!")
    return
  end
  local keep_focus = layout == "vertical" or layout == "horizontal"
  local chat = chat_mod.target({ focus = not keep_focus })
  chat:send(instruction, { region })
end

--- `:[range]ChinwagAsk {question}`: ask about the selection, or the whole buffer without a range.
---@param args chinwag.CommandArgs
function M.ask(args)
  local question = vim.trim(args.args or "")
  if question == "" then
    util.notify("usage: :[range]ChinwagAsk {question}", vim.log.levels.ERROR)
    return
  end
  local chat_mod = require("chinwag.chat")
  local buf = api.nvim_get_current_buf()
  if chat_mod.by_buf[buf] then
    -- Asked from the chat itself: no code to attach.
    chat_mod.by_buf[buf]:send(question, {})
    return
  end
  M.send(args)
end

return M
