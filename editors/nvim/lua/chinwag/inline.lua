---@mod chinwag.inline Chat in any buffer: the answer streams in right after the prompt.
---
--- `:[range]ChinwagInline [prompt]` and the operator `gz{motion}` (`gz` on a visual selection,
--- `gzz` for the prompt at the cursor) take the prompt from the buffer you are in, start a chat
--- (a normal one, saved in the history: `:ChinwagContinue` opens it in the chat buffer) and
--- stream the answer into the buffer below the prompt:
---
--- - Markdown buffers get a `## Assistant` heading and the answer as Markdown.
--- - Buffers with a 'commentstring' (code) get every line of the answer as a comment, so the
---   file stays valid: uncomment what you keep.
--- - Others (plain text) get the answer as it is.
---
--- (`inline.style` forces one.) The whole answer is one undo step (the writes are joined with
--- `:undojoin`), and `u` takes it out again. `:ChinwagStop` (or `<C-c>` in that buffer while it
--- streams) stops it; what arrived stays, marked `(stopped)`.
---
--- The prompt at the cursor runs from the last line holding the prompt marker (`inline.marker`,
--- `>>>` by default; the marker and what is before it on that line are dropped) down to the
--- cursor line; without a marker since the last answer, it is the paragraph up to the cursor line.

local api = vim.api
local backend = require("chinwag.backend")
local config = require("chinwag.config")
local status = require("chinwag.status")
local util = require("chinwag.util")

local M = {}

M.ns = api.nvim_create_namespace("chinwag.inline")

---@class chinwag.InlineJob
---@field buf integer
---@field chat_id string|nil
---@field mark integer Extmark where the next text goes.
---@field start integer Extmark on the first line of the answer block.
---@field style "markdown"|"comment"|"plain"
---@field prefix string Comment leader of each line ("" unless `comment`).
---@field suffix string Comment end of each line.
---@field ticket chinwag.Ticket|nil The request in flight.
---@field stopping boolean
---@field chars integer
---@field maps table[] Buffer-local mappings the stop key replaced while streaming.

---@type chinwag.InlineJob[]
M.jobs = {}

---@class chinwag.InlineAnswer An answer written earlier (to continue its chat).
---@field buf integer
---@field start integer Extmark on its first line.
---@field finish integer Extmark on its last line.
---@field chat_id string

---@type chinwag.InlineAnswer[]
M.answers = {}

--- The chat of the last answer written in a buffer.
---@type string|nil
M.last_chat = nil

local MARKDOWN = { markdown = true, ["markdown.mdx"] = true, quarto = true, rmd = true, vimwiki = true, pandoc = true }
--- Prose, where a comment is not what the text needs (a commit message drops its comments).
local PROSE = { text = true, gitcommit = true, mail = true, org = true, rst = true, asciidoc = true, tex = true }

--- How answers look in `buf`.
---@param buf integer
---@return "markdown"|"comment"|"plain" style, string prefix, string suffix
function M.style(buf)
  local style = (config.get().inline or {}).style or "auto"
  local filetype = vim.bo[buf].filetype
  if style == "auto" then
    if MARKDOWN[filetype] then
      style = "markdown"
    elseif filetype ~= "" and not PROSE[filetype] and vim.bo[buf].commentstring:find("%s", 1, true) then
      style = "comment"
    else
      style = "plain"
    end
  end
  if style ~= "comment" then
    return style, "", ""
  end
  local prefix, suffix = vim.bo[buf].commentstring:match("^(.-)%%s(.-)$")
  if not prefix then
    prefix, suffix = "# ", ""
  end
  if prefix ~= "" and not prefix:match("%s$") then
    prefix = prefix .. " "
  end
  if suffix ~= "" and not suffix:match("^%s") then
    suffix = " " .. suffix
  end
  return "comment", prefix, suffix
end

--- Whether 0-based `row` of `buf` is the last line of an answer written earlier.
---@param buf integer
---@param row integer
---@return boolean
local function ends_answer(buf, row)
  for _, answer in ipairs(M.answers) do
    if answer.buf == buf then
      local pos = api.nvim_buf_get_extmark_by_id(buf, M.ns, answer.finish, {})
      if pos[1] == row then
        return true
      end
    end
  end
  return false
end

--- The prompt at the cursor: from the last prompt marker (since the last answer) to the cursor
--- line, else the paragraph up to the cursor line.
---@param buf integer
---@param row integer 0-based cursor row
---@return string|nil prompt, integer last_row
function M.prompt_at(buf, row)
  local marker = (config.get().inline or {}).marker or ">>>"
  local lines = api.nvim_buf_get_lines(buf, 0, row + 1, false)
  local first
  if marker ~= "" then
    for r = row, 0, -1 do
      if r < row and ends_answer(buf, r) then
        break
      end
      local at = lines[r + 1]:find(marker, 1, true)
      if at then
        first = r
        lines[r + 1] = lines[r + 1]:sub(at + #marker)
        break
      end
    end
  end
  if not first then
    first = row
    while first > 0 and vim.trim(lines[first]) ~= "" and not ends_answer(buf, first - 1) do
      first = first - 1
    end
  end
  local prompt = vim.trim(table.concat(vim.list_slice(lines, first + 1, row + 1), "\n"))
  return prompt ~= "" and prompt or nil, row
end

--- Write `text` at the job's mark, joined to the answer's undo step.
---@param job chinwag.InlineJob
---@param text string
---@param raw boolean|nil Written as it is (not as comment lines).
local function write(job, text, raw)
  if text == "" or not api.nvim_buf_is_valid(job.buf) then
    return
  end
  if job.style == "comment" and not raw then
    text = text:gsub("\n", job.suffix .. "\n" .. job.prefix)
  end
  local pos = api.nvim_buf_get_extmark_by_id(job.buf, M.ns, job.mark, {})
  if not pos[1] then
    return
  end
  api.nvim_buf_call(job.buf, function()
    -- One undo step for the whole answer (fails only right after an undo: then it is two).
    pcall(vim.cmd, "undojoin")
    api.nvim_buf_set_text(job.buf, pos[1], pos[2], pos[1], pos[2], util.lines(text))
  end)
end

---@param job chinwag.InlineJob
local function restore_maps(job)
  if not api.nvim_buf_is_valid(job.buf) then
    return
  end
  for lhs, modes in pairs(config.get().keymaps.stop or {}) do
    if modes then
      for _, mode in ipairs(modes) do
        pcall(vim.keymap.del, mode, lhs, { buffer = job.buf })
      end
    end
  end
  for _, map in ipairs(job.maps) do
    vim.fn.mapset(map.mode, false, map)
  end
end

---@param job chinwag.InlineJob
local function map_stop(job)
  job.maps = {}
  for lhs, modes in pairs(config.get().keymaps.stop or {}) do
    if modes then
      for _, mode in ipairs(modes) do
        local existing = vim.fn.maparg(lhs, mode, false, true)
        if existing.buffer == 1 then
          existing.mode = mode
          job.maps[#job.maps + 1] = existing
        end
      end
    end
  end
  util.map(job.buf, config.get().keymaps.stop, function()
    M.stop(job.buf)
  end, "chinwag: stop the answer streaming into this buffer")
end

---@param job chinwag.InlineJob
---@param err table|nil
---@param result table|nil
local function finish(job, err, result)
  for i, j in ipairs(M.jobs) do
    if j == job then
      table.remove(M.jobs, i)
      break
    end
  end
  if job.chat_id then
    backend.on_delta(job.chat_id, nil)
  end
  restore_maps(job)
  if err and job.stopping and err.code ~= util.codes.CANCELLED then
    err = { code = util.codes.CANCELLED, message = "stopped" }
  end
  local event = { kind = "inline", buf = job.buf, chat_id = job.chat_id, provider = job.provider, model = job.model }
  if api.nvim_buf_is_valid(job.buf) then
    -- The comment of the last line is closed; a stop or an error is said on a line of its own.
    local tail = job.suffix
    if err then
      local markdown = job.style == "markdown"
      local what
      if err.code == util.codes.CANCELLED then
        what = markdown and "_(stopped)_" or "(stopped)"
      else
        what = (markdown and "> [!error] " or "chinwag: ") .. util.error_text(err):gsub("\n", " ")
      end
      if job.chars > 0 then
        tail = tail .. "\n" .. (markdown and "\n" or "") .. job.prefix .. what .. job.suffix
      else
        tail = what .. job.suffix
      end
    end
    write(job, tail, true)
    local pos = api.nvim_buf_get_extmark_by_id(job.buf, M.ns, job.mark, {})
    if pos[1] then
      local next_line = api.nvim_buf_get_lines(job.buf, pos[1] + 1, pos[1] + 2, false)[1]
      if next_line and vim.trim(next_line) ~= "" then
        -- Keep the answer apart from the text below it.
        write(job, "\n", true)
      end
      if job.chat_id then
        M.answers[#M.answers + 1] = {
          buf = job.buf,
          chat_id = job.chat_id,
          start = job.start,
          finish = api.nvim_buf_set_extmark(job.buf, M.ns, pos[1], 0, {}),
        }
      end
    end
    pcall(api.nvim_buf_del_extmark, job.buf, M.ns, job.mark)
  end
  if job.chat_id then
    M.last_chat = job.chat_id
  end
  if not err then
    event.status = "complete"
    event.usage = result and result.usage
    event.timings = result and result.timings
  elseif err.code == util.codes.CANCELLED then
    event.status = "cancelled"
  else
    event.status = "error"
    event.error = err
    util.report(nil, err)
  end
  status.finished(event)
end

--- Ask `content` (with `context`) in a new chat and stream the answer into `buf` below 0-based
--- row `after`.
---@param buf integer
---@param after integer
---@param content string
---@param context table[]|nil
---@return chinwag.InlineJob|nil
function M.ask(buf, after, content, context)
  if not vim.bo[buf].modifiable then
    util.notify("this buffer is not modifiable", vim.log.levels.ERROR)
    return nil
  end
  for _, job in ipairs(M.jobs) do
    if job.buf == buf then
      util.notify("an answer is still streaming into this buffer; :ChinwagStop stops it", vim.log.levels.WARN)
      return nil
    end
  end
  local style, prefix, suffix = M.style(buf)
  local provider, model = config.provider_model()
  ---@type chinwag.InlineJob
  local job = {
    buf = buf,
    style = style,
    prefix = prefix,
    suffix = suffix,
    stopping = false,
    chars = 0,
    maps = {},
    provider = provider,
    model = model,
  }
  local lines = style == "markdown" and { "", "## Assistant", "" } or { "", prefix }
  local count = api.nvim_buf_line_count(buf)
  after = math.min(after, count - 1)
  -- The first change of the answer's undo step (the writes that follow join it).
  api.nvim_buf_set_lines(buf, after + 1, after + 1, false, lines)
  local last = after + #lines
  job.start = api.nvim_buf_set_extmark(buf, M.ns, after + 1, 0, {})
  job.mark = api.nvim_buf_set_extmark(buf, M.ns, last, #lines[#lines], { right_gravity = true })
  M.jobs[#M.jobs + 1] = job
  map_stop(job)
  status.started({ kind = "inline", buf = buf, provider = provider, model = model })
  local root = require("chinwag.context").root_of(buf)
  job.ticket = backend.request("chat/new", {
    provider = provider,
    model = model,
    system = config.get().system_prompt,
  }, function(err, result)
    if err then
      return finish(job, err, nil)
    end
    job.chat_id = result.chatId
    job.provider, job.model = result.provider, result.model
    if job.stopping then
      return finish(job, { code = util.codes.CANCELLED, message = "stopped" }, nil)
    end
    backend.on_delta(result.chatId, function(params)
      if params.kind ~= "reasoning" then
        job.chars = job.chars + #params.delta
        write(job, params.delta)
      end
    end)
    job.ticket = backend.request("chat/send", {
      chatId = result.chatId,
      content = content,
      context = context and #context > 0 and context or nil,
      root = root,
    }, function(send_err, answer)
      finish(job, send_err, answer)
    end)
  end)
  return job
end

--- Stop the answers streaming (into `buf`, else into any buffer).
---@param buf integer|nil
---@return boolean stopped
function M.stop(buf)
  local stopped = false
  for _, job in ipairs(M.jobs) do
    if not buf or job.buf == buf then
      job.stopping = true
      if job.ticket then
        backend.cancel(job.ticket)
      end
      if job.chat_id then
        backend.notify("chat/cancel", { chatId = job.chat_id })
      end
      stopped = true
    end
  end
  return stopped
end

--- `:[range]ChinwagInline [prompt]`: with a range, the lines (or the characters of a visual
--- selection) are the prompt, or the code the prompt is about when one is given; without a
--- range, the prompt given, else the one at the cursor.
---@param args chinwag.CommandArgs
function M.command(args)
  local buf = api.nvim_get_current_buf()
  if require("chinwag.chat").by_buf[buf] then
    util.notify("this is a chat: write under the last '## You' and send it", vim.log.levels.WARN)
    return
  end
  local given = vim.trim(args.args or "")
  if args.range > 0 then
    local region = require("chinwag.selection").command_region(buf, args)
    if given ~= "" then
      return M.ask(buf, args.line2 - 1, given, { region })
    end
    if vim.trim(region.text) == "" then
      util.notify("the selection is empty", vim.log.levels.WARN)
      return
    end
    return M.ask(buf, args.line2 - 1, region.text)
  end
  local row = api.nvim_win_get_cursor(0)[1] - 1
  if given ~= "" then
    return M.ask(buf, row, given)
  end
  local prompt, last = M.prompt_at(buf, row)
  if not prompt then
    util.notify("no prompt here: write one (after " .. ((config.get().inline or {}).marker or ">>>") .. ")")
    return
  end
  return M.ask(buf, last, prompt)
end

--- 'operatorfunc' of `gz`: the text the motion covered is the prompt.
---@param kind "line"|"char"|"block"
function M.operator(kind)
  local buf = api.nvim_get_current_buf()
  if require("chinwag.chat").by_buf[buf] then
    util.notify("this is a chat: write under the last '## You' and send it", vim.log.levels.WARN)
    return
  end
  local first, last = vim.fn.getpos("'["), vim.fn.getpos("']")
  local text
  if kind == "line" then
    text = table.concat(api.nvim_buf_get_lines(buf, first[2] - 1, last[2], false), "\n")
  else
    local ok, region = pcall(vim.fn.getregion, first, last, { type = kind == "char" and "v" or "\22" })
    text = ok and table.concat(region, "\n") or ""
  end
  if vim.trim(text) == "" then
    util.notify("nothing to ask", vim.log.levels.WARN)
    return
  end
  M.ask(buf, last[2] - 1, vim.trim(text))
end

--- The keys of the `gz` operator (`g@` with this module's 'operatorfunc').
---@return string
function M.operator_keys()
  vim.o.operatorfunc = "v:lua.require'chinwag.inline'.operator"
  return "g@"
end

--- `:ChinwagContinue`: open the chat of the answer at the cursor (else the last one written in
--- a buffer) in the chat buffer, to go on with it.
function M.continue()
  local buf = api.nvim_get_current_buf()
  local row = api.nvim_win_get_cursor(0)[1] - 1
  local chat_id
  for _, answer in ipairs(M.answers) do
    if answer.buf == buf then
      local first = api.nvim_buf_get_extmark_by_id(buf, M.ns, answer.start, {})[1]
      local last = api.nvim_buf_get_extmark_by_id(buf, M.ns, answer.finish, {})[1]
      if first and last and row >= first - 1 and row <= last then
        chat_id = answer.chat_id
      end
    end
  end
  chat_id = chat_id or M.last_chat
  if not chat_id then
    util.notify("no answer was written in a buffer yet (:ChinwagInline, gz)", vim.log.levels.WARN)
    return
  end
  require("chinwag.chat").open_saved(chat_id)
end

return M
