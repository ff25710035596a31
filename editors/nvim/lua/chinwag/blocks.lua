---@mod chinwag.blocks Code blocks of a chat: yank one, jump between them, apply one.
---
--- A block is a fenced code block (``` or ~~~, three or more) of the transcript (above the
--- input heading), as the buffer shows it. The block "at the cursor" includes its fences; when
--- the cursor is in none, yank and apply take the last block of the transcript.
---
--- Apply shows a block against the code the chat was asked about: the lines last sent from a
--- file with a message of this chat (`:ChinwagSend`, `:ChinwagAsk`), tracked by an extmark so
--- they follow edits above them, through the accept/reject diff of `:ChinwagRewrite`.

local api = vim.api
local util = require("chinwag.util")

local M = {}

--- Extmarks on the lines a chat was last sent (see `track()`).
M.ns = api.nvim_create_namespace("chinwag.target")

---@class chinwag.Block
---@field first integer 0-based row of the opening fence.
---@field last integer 0-based row of the closing fence (the last row of an unclosed block).
---@field language string|nil The fence's info string, first word.
---@field lines string[] The code.

---@class chinwag.Target The lines a chat was asked about.
---@field buf integer
---@field mark integer Extmark in `buf` over those lines.
---@field path string|nil As sent.

--- The code blocks of `lines` (a buffer's lines from row 0).
---@param lines string[]
---@return chinwag.Block[]
function M.parse(lines)
  local blocks = {}
  local open
  for i, line in ipairs(lines) do
    local row = i - 1
    if open then
      if line:match(open.closing) and #line:match("[`~]+") >= open.length then
        open.block.last = row
        blocks[#blocks + 1] = open.block
        open = nil
      else
        -- The code, less the fence's own indent (a block in a list item).
        local content = line
        if open.indent ~= "" and content:sub(1, #open.indent) == open.indent then
          content = content:sub(#open.indent + 1)
        end
        table.insert(open.block.lines, content)
      end
    else
      local indent, run, info = line:match("^(%s*)(```+)([^`]*)$")
      if not run then
        indent, run, info = line:match("^(%s*)(~~~+)(.*)$")
      end
      if run then
        local language = vim.trim(info or ""):match("^(%S+)")
        open = {
          closing = run:sub(1, 1) == "`" and "^%s*`+%s*$" or "^%s*~+%s*$",
          length = #run,
          indent = indent,
          block = { first = row, last = row, language = language, lines = {} },
        }
      end
    end
  end
  if open then
    open.block.last = #lines - 1
    blocks[#blocks + 1] = open.block
  end
  return blocks
end

--- The code blocks of a chat's transcript.
---@param chat chinwag.Chat
---@return chinwag.Block[]
function M.list(chat)
  return M.parse(api.nvim_buf_get_lines(chat.buf, 0, chat:prompt_row(), false))
end

--- The block at `row` (0-based), else nil.
---@param blocks chinwag.Block[]
---@param row integer
---@return chinwag.Block|nil
local function block_at(blocks, row)
  for _, block in ipairs(blocks) do
    if block.first <= row and row <= block.last then
      return block
    end
  end
  return nil
end

--- The row of the cursor in `chat`'s window (0-based), when the current window shows it.
---@param chat chinwag.Chat
---@return integer|nil
local function cursor_row(chat)
  if api.nvim_get_current_buf() ~= chat.buf then
    local win = require("chinwag.chat").window(chat)
    return win and api.nvim_win_get_cursor(win)[1] - 1 or nil
  end
  return api.nvim_win_get_cursor(0)[1] - 1
end

--- The block at the cursor, else the last one of the transcript.
---@param chat chinwag.Chat
---@return chinwag.Block|nil
function M.current(chat)
  local blocks = M.list(chat)
  local row = cursor_row(chat)
  return (row and block_at(blocks, row)) or blocks[#blocks]
end

---@param name string
---@return boolean
local function clipboard_has(name)
  return vim.tbl_contains(vim.split(vim.o.clipboard, ",", { trimempty = true }), name)
end

--- Yank the block at the cursor (else the last one), linewise, to the unnamed register, and
--- also to `+` when 'clipboard' has "unnamedplus" and to `*` when it has "unnamed".
---@param chat chinwag.Chat|nil Default: the current chat.
---@return chinwag.Block|nil yanked
function M.yank(chat)
  chat = chat or require("chinwag.chat").current()
  local block = chat and M.current(chat)
  if not block then
    util.notify("no code block in this chat", vim.log.levels.WARN)
    return nil
  end
  vim.fn.setreg('"', block.lines, "l")
  for register, item in pairs({ ["+"] = "unnamedplus", ["*"] = "unnamed" }) do
    if clipboard_has(item) then
      pcall(vim.fn.setreg, register, block.lines, "l")
    end
  end
  util.notify(
    ("yanked %d line%s of %s"):format(#block.lines, #block.lines == 1 and "" or "s", block.language or "code")
  )
  return block
end

--- Move the cursor to the opening fence of the next (`direction` 1) or previous (-1) block,
--- `count` times (default 1).
---@param direction 1|-1
---@param count integer|nil
---@return chinwag.Block|nil
function M.jump(direction, count)
  local chat = require("chinwag.chat").by_buf[api.nvim_get_current_buf()]
  if not chat then
    return nil
  end
  local blocks = M.list(chat)
  local row = api.nvim_win_get_cursor(0)[1] - 1
  local target
  for _ = 1, math.max(1, count or 1) do
    local found
    if direction > 0 then
      for _, block in ipairs(blocks) do
        if block.first > row then
          found = block
          break
        end
      end
    else
      -- Inside a block, its own fence first (as `[m` does for a method).
      for i = #blocks, 1, -1 do
        if blocks[i].first < row then
          found = blocks[i]
          break
        end
      end
    end
    if not found then
      break
    end
    target, row = found, found.first
  end
  if not target then
    util.notify(direction > 0 and "no code block below" or "no code block above")
    return nil
  end
  vim.cmd("normal! m'")
  api.nvim_win_set_cursor(0, { target.first + 1, 0 })
  return target
end

--- Remember the lines `region` (sent from `buf`) covers as what `chat` was asked about.
---@param chat chinwag.Chat
---@param buf integer
---@param region chinwag.Region
function M.track(chat, buf, region)
  if not (region.startLine and region.endLine and api.nvim_buf_is_valid(buf)) then
    return
  end
  local old = chat.target
  if old and api.nvim_buf_is_valid(old.buf) then
    pcall(api.nvim_buf_del_extmark, old.buf, M.ns, old.mark)
  end
  local last = math.min(region.endLine, api.nvim_buf_line_count(buf))
  local line = api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ""
  chat.target = {
    buf = buf,
    path = region.path,
    -- Lines inserted above move it down, lines inserted inside grow it, and deleting all of
    -- its text invalidates it.
    mark = api.nvim_buf_set_extmark(buf, M.ns, region.startLine - 1, 0, {
      end_row = last - 1,
      end_col = #line,
      right_gravity = true,
      end_right_gravity = true,
      invalidate = true,
    }),
  }
end

--- The lines (1-based, inclusive) of `chat`'s target now, or nil and why not.
---@param chat chinwag.Chat
---@return { buf: integer, line1: integer, line2: integer }|nil, string|nil
function M.target_lines(chat)
  local target = chat.target
  if not target then
    return nil,
      "no code to apply it to: this chat was not sent lines from a file in this session"
        .. " (select them and :ChinwagSend or :ChinwagAsk first)"
  end
  local name = target.path or ("buffer " .. target.buf)
  if not api.nvim_buf_is_valid(target.buf) then
    return nil, ("%s, the code this chat was asked about, is no longer open; nothing applied"):format(name)
  end
  local mark = api.nvim_buf_get_extmark_by_id(target.buf, M.ns, target.mark, { details = true })
  if not mark[1] or (mark[3] and mark[3].invalid) then
    return nil, ("the lines of %s this chat was asked about were deleted; nothing applied"):format(name)
  end
  return { buf = target.buf, line1 = mark[1] + 1, line2 = (mark[3] and mark[3].end_row or mark[1]) + 1 }
end

--- Show the block at the cursor (else the last one) against the lines the chat was asked
--- about, in the diff of `:ChinwagRewrite` (`ga` accept, `gr` reject).
---@param chat chinwag.Chat|nil Default: the current chat.
---@return chinwag.Rewrite|nil
function M.apply(chat)
  chat = chat or require("chinwag.chat").current()
  local block = chat and M.current(chat)
  if not block then
    util.notify("no code block in this chat to apply", vim.log.levels.WARN)
    return nil
  end
  local lines, why = M.target_lines(chat)
  if not lines then
    util.notify(why, vim.log.levels.WARN)
    return nil
  end
  return require("chinwag.rewrite").propose(lines.buf, lines.line1, lines.line2, block.lines)
end

return M
