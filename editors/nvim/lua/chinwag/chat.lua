---@mod chinwag.chat Chat buffers: markdown, one per conversation, answers streamed in place.
---
--- Layout of a chat buffer:
---
---   # chinwag · provider · model        (header, row 0)
---
---   ## You 2/2                           ("2/2": this message has siblings, see chinwag.tree)
---   question
---
---   ## Assistant (provider/model) 1/3    (virtual text: spinner, then usage and speed)
---   > [!reasoning]- Reasoning            (when the model reasoned: a quote, folded)
---   > ...
---
---   answer, streamed in at an extmark
---
---   ## You                               (the input section: everything below is the draft)
---   |
---
--- The buffer shows one branch of the conversation tree (the backend's current one); each
--- message keeps its id, so a send names the message it follows (`parentId`).
---
--- The conversation (`chat.messages`) is the model and the transcript (from the header down to
--- the input heading) its view: it is rendered from the model, and every write chinwag makes
--- is kept out of the undo tree (`undolevels=-1` for that change), so undo and redo only ever
--- touch what the user typed in the input area. Any other change that reaches the transcript
--- (a redo of an edit there, an edit) is put right from the model at once: the buffer never
--- shows a conversation other than the one the model is sent.
---
--- A `chat/delta` costs one `nvim_buf_set_text()` at the stream extmark (which moves to the end
--- of what was inserted); the rest of the buffer is not re-rendered and nothing is parsed.

local api = vim.api
local backend = require("chinwag.backend")
local config = require("chinwag.config")
local status = require("chinwag.status")
local util = require("chinwag.util")

local M = {}

M.ns = api.nvim_create_namespace("chinwag")

local USER_HEADING = "## You"
local ASSISTANT_HEADING = "## Assistant"
--- The first line of a reasoning block (a foldable callout); its lines follow as a quote.
local REASONING_HEADER = "> [!reasoning]- Reasoning"

M.USER_HEADING, M.ASSISTANT_HEADING, M.REASONING_HEADER = USER_HEADING, ASSISTANT_HEADING, REASONING_HEADER

---@class chinwag.Region
---@field path string|nil File name relative to the working directory.
---@field language string|nil Filetype.
---@field startLine integer|nil
---@field endLine integer|nil
---@field text string

---@class chinwag.Message A turn of the conversation (the model the transcript is rendered from).
---@field id string|nil Its id in the backend's tree (nil until the backend says it).
---@field siblings string[]|nil Ids of the messages with the same parent, this one included.
---@field role "user"|"assistant"
---@field content string What was said (for a streaming answer: what arrived before `parts`).
---@field context chinwag.Region[]|nil Code sent with a user turn (shown under it).
---@field status "streaming"|"complete"|"cancelled"|"error"|nil
---@field usage string|nil Usage and speed of a finished answer.
---@field error string|nil Why an answer failed.
---@field parts string[]|nil Pieces of a streaming answer not yet joined into `content`.
---@field provider string|nil Who wrote an answer (nil for answers saved before this was kept).
---@field model string|nil
---@field reasoning string|nil The model's reasoning before an answer (shown folded).
---@field reasoning_parts string[]|nil Pieces of streamed reasoning not yet joined.
---@field reasoning_open boolean|nil The user opened its fold.

---@class chinwag.Stream
---@field message chinwag.Message The answer being streamed.
---@field user chinwag.Message The user turn it answers.
---@field mark integer Extmark where the next delta goes.
---@field reasoning_mark integer|nil Extmark where the next reasoning delta goes.
---@field status_mark integer Extmark on the `## Assistant` heading holding the virtual text.
---@field chars integer Bytes of answer text inserted so far.
---@field reasoning integer Bytes of reasoning received so far.
---@field stopping boolean

---@class chinwag.Synced What `history/get` said last (to notice changes made elsewhere).
---@field updatedAt string|nil
---@field messageCount integer|nil
---@field leafId string|nil The current leaf (another editor may switch branches).

---@class chinwag.Chat
---@field buf integer
---@field number integer Sequence number, for the buffer name.
---@field id string|nil Chat id (nil until the first message creates the chat).
---@field provider string|nil
---@field model string|nil
---@field title string|nil
---@field system string|nil
---@field messages chinwag.Message[] The conversation; the transcript is its view.
---@field busy boolean An answer is being asked for or streaming.
---@field stream chinwag.Stream|nil
---@field prompt_mark integer Extmark on the `## You` heading of the input section.
---@field context chinwag.Region[] Regions staged for the next message.
---@field context_mark integer|nil
---@field preset string|nil The chat's preset (`/name`), shown in the header.
---@field stop_requested boolean
---@field request chinwag.Ticket|nil The `chat/send` in flight.
---@field synced chinwag.Synced|nil
---@field writing boolean|nil chinwag is writing to the buffer (not the user).
---@field check_pending boolean|nil A check of the transcript is scheduled.
---@field target chinwag.Target|nil The lines last sent from a file (what a block applies to).
---@field editing { message: chinwag.Message, index: integer, draft: string[], context: chinwag.Region[] }|nil A user turn being edited in the draft (sending makes a sibling with `chat/edit`); the draft and staged regions from before.
---@field folded boolean|nil Reasoning folds were made in this chat's windows.
---@field editing_mark integer|nil
---@field heading_marks table<integer, chinwag.Message> Extmark id of each message's heading.
---@field folds { first: integer, last: integer, message: chinwag.Message }[]|nil Reasoning blocks of the last render.
---@field reasoning_open table<string, boolean> Ids of the answers whose reasoning the user opened.
local Chat = {}
Chat.__index = Chat

---@type table<integer, chinwag.Chat>
M.by_buf = {}
---@type table<string, chinwag.Chat>
M.by_id = {}
---@type chinwag.Chat|nil
M.last = nil

local counter = 0

---@type uv.uv_timer_t|nil
local spinner_timer = nil

local function any_streaming()
  for _, chat in pairs(M.by_buf) do
    if chat.busy then
      return true
    end
  end
  return false
end

local function spin()
  local frame = status.spinner()
  for _, chat in pairs(M.by_buf) do
    if chat.busy and chat.stream and not chat.stream.stopping then
      local s = chat.stream
      local label = s.reasoning > 0 and s.chars == 0 and ("thinking (%d chars)"):format(s.reasoning) or "answering"
      chat:_virt(s.status_mark, { { " " .. frame .. " " .. label, "ChinwagSpinner" } })
    end
  end
  if not any_streaming() and spinner_timer then
    spinner_timer:stop()
    spinner_timer:close()
    spinner_timer = nil
  end
end

local function start_spinner()
  if spinner_timer then
    return
  end
  spinner_timer = (vim.uv or vim.loop).new_timer()
  spinner_timer:start(0, 100, vim.schedule_wrap(spin))
end

---@param text string
---@param width integer
---@return string
local function shorten(text, width)
  text = text:gsub("%s+", " ")
  text = vim.trim(text)
  if vim.fn.strchars(text) > width then
    return vim.fn.strcharpart(text, 0, width - 1) .. "…"
  end
  return text
end

--- Display lines of a region, as the backend formats it into the prompt.
---@param region chinwag.Region
---@return string[]
function M.region_lines(region)
  local label = (region.path and region.path ~= "") and ("`" .. region.path .. "`") or "Selected code"
  if region.startLine and region.endLine and region.endLine > region.startLine then
    label = label .. (" lines %d-%d"):format(region.startLine, region.endLine)
  elseif region.startLine then
    label = label .. (" line %d"):format(region.startLine)
  end
  local longest = 0
  for run in region.text:gmatch("`+") do
    longest = math.max(longest, #run)
  end
  local fence = string.rep("`", math.max(3, longest + 1))
  local text = region.text:gsub("\n$", "")
  local lines = { label .. ":", fence .. (region.language or "") }
  vim.list_extend(lines, util.lines(text))
  lines[#lines + 1] = fence
  return lines
end

--- The text lines marking how an answer ended, when it did not complete: `_(stopped)_`, or
--- `> [!error] why` (a markdown alert, one quoted line per line of the error).
---@param message chinwag.Message
---@return string[]
function M.marker_lines(message)
  if message.status == "cancelled" then
    return { "_(stopped)_" }
  elseif message.status == "error" then
    local lines = util.lines(message.error or "error")
    local out = { "> [!error] " .. lines[1] }
    for i = 2, #lines do
      out[#out + 1] = "> " .. lines[i]
    end
    return out
  end
  return {}
end

--- Virtual text on an answer's heading: spinner, usage, stopped or error.
---@param message chinwag.Message
---@return table|nil chunks
local function heading_chunks(message)
  if message.status == "streaming" then
    return { { " " .. status.spinner() .. " asking", "ChinwagSpinner" } }
  elseif message.status == "cancelled" then
    return { { " ■ stopped", "ChinwagStopped" } }
  elseif message.status == "error" then
    return { { " ✗ " .. util.lines(message.error or "error")[1], "ChinwagError" } }
  elseif message.usage then
    return { { " ✓ " .. message.usage, "ChinwagUsage" } }
  end
  return nil
end

---@param message chinwag.Message
---@return string
local function content_of(message)
  if message.parts and #message.parts > 0 then
    message.content = message.content .. table.concat(message.parts)
    message.parts = {}
  end
  return message.content
end

---@param message chinwag.Message
---@return string
local function reasoning_of(message)
  if message.reasoning_parts and #message.reasoning_parts > 0 then
    message.reasoning = (message.reasoning or "") .. table.concat(message.reasoning_parts)
    message.reasoning_parts = {}
  end
  return message.reasoning or ""
end

--- The position of `message` among its siblings and their count, when it has any.
---@param message chinwag.Message
---@return integer|nil index, integer count
function M.sibling_position(message)
  local siblings = message.siblings or {}
  for i, id in ipairs(siblings) do
    if id == message.id then
      return i, #siblings
    end
  end
  return nil, #siblings
end

--- A message's heading: `## You`, or `## Assistant (provider/model)`, then "2/3" when it has
--- siblings.
---@param message chinwag.Message
---@return string
function M.heading(message)
  local parts = { message.role == "user" and USER_HEADING or ASSISTANT_HEADING }
  if message.role == "assistant" and (message.provider or message.model) then
    parts[#parts + 1] = ("(%s)"):format(table.concat(
      vim.tbl_filter(function(x)
        return x ~= nil
      end, { message.provider, message.model }),
      "/"
    ))
  end
  local index, count = M.sibling_position(message)
  if index and count > 1 then
    parts[#parts + 1] = ("%d/%d"):format(index, count)
  end
  return table.concat(parts, " ")
end

---@private
---@param mark integer
---@param chunks table
function Chat:_virt(mark, chunks)
  if not api.nvim_buf_is_valid(self.buf) then
    return
  end
  local pos = api.nvim_buf_get_extmark_by_id(self.buf, M.ns, mark, {})
  if not pos[1] then
    return
  end
  api.nvim_buf_set_extmark(self.buf, M.ns, pos[1], 0, {
    id = mark,
    virt_text = chunks,
    virt_text_pos = "eol",
    hl_mode = "combine",
  })
end

---@return integer row 0-based row of the `## You` heading of the input section
function Chat:prompt_row()
  return api.nvim_buf_get_extmark_by_id(self.buf, M.ns, self.prompt_mark, {})[1]
end

---@return string
function Chat:header()
  local header = ("# chinwag · %s · %s"):format(
    self.provider or "(default provider)",
    self.model or "(default model)"
  )
  return self.preset and (header .. " · /" .. self.preset) or header
end

---@class chinwag.Transcript
---@field lines string[] From the header to the input heading (included).
---@field headings table<integer, chinwag.Message> 0-based rows of every message's heading.
---@field folds { first: integer, last: integer, message: chinwag.Message }[] Reasoning blocks (0-based rows).
---@field stream { row: integer, col: integer }|nil Where the streaming answer continues.
---@field reasoning_stream { row: integer, col: integer }|nil Where its reasoning continues.

--- The transcript rendered from the model.
---@return chinwag.Transcript
function Chat:transcript()
  local lines = { self:header(), "" }
  local headings = {}
  local folds = {}
  local stream, reasoning_stream
  for _, message in ipairs(self.messages) do
    lines[#lines + 1] = M.heading(message)
    headings[#lines - 1] = message
    if message.role == "user" then
      vim.list_extend(lines, util.lines(message.content))
      for _, region in ipairs(message.context or {}) do
        lines[#lines + 1] = ""
        vim.list_extend(lines, M.region_lines(region))
      end
      lines[#lines + 1] = ""
    else
      local streaming = message.status == "streaming"
      local reasoning = reasoning_of(message)
      if reasoning ~= "" then
        local first = #lines
        lines[#lines + 1] = REASONING_HEADER
        for _, line in ipairs(util.lines(reasoning)) do
          lines[#lines + 1] = "> " .. line
        end
        if streaming then
          reasoning_stream = { row = #lines - 1, col = #lines[#lines] }
        end
        lines[#lines + 1] = ""
        folds[#folds + 1] = { first = first, last = #lines - 1, message = message }
      end
      local content = content_of(message)
      local marker = M.marker_lines(message)
      if content ~= "" or #marker == 0 then
        vim.list_extend(lines, util.lines(content))
        if streaming then
          stream = { row = #lines - 1, col = #lines[#lines] }
        end
        if #marker > 0 then
          lines[#lines + 1] = ""
        end
      end
      vim.list_extend(lines, marker)
      lines[#lines + 1] = ""
    end
  end
  lines[#lines + 1] = USER_HEADING
  return { lines = lines, headings = headings, folds = folds, stream = stream, reasoning_stream = reasoning_stream }
end

--- Render the transcript from the model, leaving the input area (below the input heading)
--- as it is. Only the lines that differ are written, outside the undo tree.
function Chat:render()
  local buf = self.buf
  if not api.nvim_buf_is_valid(buf) then
    return
  end
  local t = self:transcript()
  local stop
  if self.prompt_mark then
    local row = self:prompt_row()
    stop = row + 1
    if api.nvim_buf_get_lines(buf, row, row + 1, false)[1] ~= USER_HEADING then
      -- The input heading was deleted (its mark slid onto the draft) or joined with the
      -- draft: what is on that line is the user's; the heading is written above it.
      stop = row
    end
  else
    stop = api.nvim_buf_line_count(buf)
  end
  self:_note_open_folds()
  local current = api.nvim_buf_get_lines(buf, 0, stop, false)
  local first = 1
  while first <= #current and first <= #t.lines and current[first] == t.lines[first] do
    first = first + 1
  end
  if first <= #current or first <= #t.lines then
    local replacement = vim.list_slice(t.lines, first)
    if not self.prompt_mark then
      replacement[#replacement + 1] = ""
    end
    self:_write(function()
      api.nvim_buf_set_lines(buf, first - 1, stop, false, replacement)
    end)
  end
  -- Marks: the input heading, the headings' virtual texts, the stream position.
  api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  self.context_mark = nil
  self.editing_mark = nil
  self.prompt_mark = api.nvim_buf_set_extmark(buf, M.ns, #t.lines - 1, 0, {})
  self.heading_marks = {}
  for row, message in pairs(t.headings) do
    local id = api.nvim_buf_set_extmark(buf, M.ns, row, 0, {
      virt_text = message.role == "assistant" and heading_chunks(message) or nil,
      virt_text_pos = message.role == "assistant" and "eol" or nil,
      hl_mode = message.role == "assistant" and "combine" or nil,
    })
    self.heading_marks[id] = message
    if self.stream and self.stream.message == message then
      self.stream.status_mark = id
    end
  end
  if self.stream then
    self.stream.mark = t.stream
        and api.nvim_buf_set_extmark(buf, M.ns, t.stream.row, t.stream.col, { right_gravity = true })
      or -1
    self.stream.reasoning_mark = t.reasoning_stream
        and api.nvim_buf_set_extmark(buf, M.ns, t.reasoning_stream.row, t.reasoning_stream.col, {
          right_gravity = true,
        })
      or nil
  end
  self.folds = t.folds
  self:_fold()
  self:_show_context()
  self:_show_editing()
end

--- Fold the reasoning blocks (manual folds, closed unless the user opened them) in every
--- window showing the chat.
---@param wins integer[]|nil Default: all of them.
function Chat:_fold(wins)
  local folds = self.folds or {}
  if #folds == 0 and not self.folded then
    -- No reasoning shown, ever: the user's folding is left alone.
    return
  end
  self.folded = true
  for _, win in ipairs(wins or vim.fn.win_findbuf(self.buf)) do
    api.nvim_win_call(win, function()
      -- What the user opened stays open.
      local view = vim.fn.winsaveview()
      if vim.wo[win].foldmethod ~= "manual" then
        vim.wo[win][0].foldmethod = "manual"
      end
      vim.cmd("silent! normal! zE")
      for _, fold in ipairs(folds) do
        vim.cmd(("silent! %d,%dfold"):format(fold.first + 1, fold.last + 1))
        if fold.message.reasoning_open or (fold.message.id and self.reasoning_open[fold.message.id]) then
          vim.cmd(("silent! %dfoldopen"):format(fold.first + 1))
        end
      end
      vim.fn.winrestview(view)
    end)
  end
end

--- Remember which reasoning folds the user opened (before a render drops them).
---@private
function Chat:_note_open_folds()
  for _, win in ipairs(vim.fn.win_findbuf(self.buf)) do
    for _, fold in ipairs(self.folds or {}) do
      local row = fold.first + 1
      local line = api.nvim_buf_get_lines(self.buf, fold.first, fold.first + 1, false)[1]
      if line == REASONING_HEADER and row <= api.nvim_buf_line_count(self.buf) then
        local level, closed = unpack(api.nvim_win_call(win, function()
          return { vim.fn.foldlevel(row), vim.fn.foldclosed(row) }
        end))
        if level > 0 then
          fold.message.reasoning_open = closed == -1
          if fold.message.id then
            self.reasoning_open[fold.message.id] = closed == -1 or nil
          end
        end
      end
    end
  end
end

--- Write to the buffer outside the undo tree, as chinwag (not as the user).
---@private
---@param fn function
function Chat:_write(fn)
  self.writing = true
  local ok, err = pcall(util.unrecorded, self.buf, fn)
  self.writing = false
  if not ok then
    error(err, 0)
  end
end

--- A change chinwag did not make touched the transcript (an undo or redo, or an edit): render
--- it again from the model (once, after the change; the draft below stays).
---@private
function Chat:_transcript_touched()
  if self.check_pending then
    return
  end
  self.check_pending = true
  vim.schedule(function()
    self.check_pending = false
    if api.nvim_buf_is_valid(self.buf) and M.by_buf[self.buf] == self then
      self:verify()
    end
  end)
end

--- Render the transcript again if the buffer's copy differs from the model.
---@return boolean rendered
function Chat:verify()
  local row = self:prompt_row()
  local t = self:transcript()
  local ok = row == #t.lines - 1
  if ok then
    local current = api.nvim_buf_get_lines(self.buf, 0, row + 1, false)
    ok = vim.deep_equal(current, t.lines)
  end
  if not ok then
    self:render()
  end
  return not ok
end

--- Rewrite the header line.
function Chat:update_header()
  if not api.nvim_buf_is_valid(self.buf) then
    return
  end
  local header = self:header()
  if api.nvim_buf_get_lines(self.buf, 0, 1, false)[1] ~= header then
    self:_write(function()
      api.nvim_buf_set_lines(self.buf, 0, 1, false, { header })
    end)
  end
  status.set_model(self.provider, self.model)
end

---@private
function Chat:_rename_buffer()
  local name = ("chinwag://%d"):format(self.number)
  if self.title and self.title ~= "" then
    name = name .. "/" .. shorten(self.title, 40):gsub("/", "∕")
  end
  pcall(api.nvim_buf_set_name, self.buf, name)
end

--- Bind to a chat id: deltas for it come here.
---@param id string
function Chat:attach(id)
  if self.id and self.id ~= id then
    backend.on_delta(self.id, nil)
    M.by_id[self.id] = nil
  end
  self.id = id
  M.by_id[id] = self
  backend.on_delta(id, function(params)
    self:on_delta(params)
  end)
end

--- The draft under the input heading.
---@return string
function Chat:take_input()
  local row = self:prompt_row()
  local lines = api.nvim_buf_get_lines(self.buf, row + 1, -1, false)
  while #lines > 0 and vim.trim(lines[1]) == "" do
    table.remove(lines, 1)
  end
  while #lines > 0 and vim.trim(lines[#lines]) == "" do
    table.remove(lines)
  end
  return table.concat(lines, "\n")
end

---@private
function Chat:_clear_input()
  local row = self:prompt_row()
  self:_write(function()
    api.nvim_buf_set_lines(self.buf, row + 1, -1, false, { "" })
  end)
end

--- Show, under the input heading, that the draft is a new version of an earlier turn.
---@private
function Chat:_show_editing()
  if self.editing_mark then
    pcall(api.nvim_buf_del_extmark, self.buf, M.ns, self.editing_mark)
    self.editing_mark = nil
  end
  local editing = self.editing
  if not editing or not self.prompt_mark then
    return
  end
  self.editing_mark = api.nvim_buf_set_extmark(self.buf, M.ns, self:prompt_row(), 0, {
    virt_text = {
      {
        " ✎ editing an earlier message: sending makes a new version of it"
          .. " · <C-c> (normal mode) or :ChinwagEditCancel keeps it as it was",
        "ChinwagContext",
      },
    },
    virt_text_pos = "eol",
  })
end

--- Put the user turn `message` (at `index` in the model) in the draft, to be sent as its new
--- version (`chat/edit`: a sibling of it; the original and its answers stay). The draft it
--- replaces comes back if the edit is abandoned.
---@param message chinwag.Message
---@param index integer
---@return boolean
function Chat:edit(message, index)
  if self.busy then
    util.notify("an answer is still coming; stop it with :ChinwagStop first", vim.log.levels.WARN)
    return false
  end
  if message.role ~= "user" or not message.id then
    util.notify("this message was not saved, so it cannot be edited; send it again instead", vim.log.levels.WARN)
    return false
  end
  local row = self:prompt_row()
  local before = self.editing
    or { draft = api.nvim_buf_get_lines(self.buf, row + 1, -1, false), context = vim.deepcopy(self.context) }
  self.editing = { message = message, index = index, draft = before.draft, context = before.context }
  local text = message.content
  -- The regions sent with the turn go again with its new version (the draft holds its text).
  self.context = vim.list_extend(vim.deepcopy(message.context or {}), vim.deepcopy(before.context))
  self:_show_context()
  self:_write(function()
    api.nvim_buf_set_lines(self.buf, row + 1, -1, false, util.lines(text))
  end)
  self:_show_editing()
  return true
end

--- Stop editing an earlier turn: the draft from before the edit comes back.
---@return boolean abandoned (false: nothing was being edited)
function Chat:abandon_edit()
  local editing = self.editing
  if not editing then
    return false
  end
  self.editing = nil
  self.context = editing.context
  self:_show_context()
  local row = self:prompt_row()
  self:_write(function()
    api.nvim_buf_set_lines(self.buf, row + 1, -1, false, #editing.draft > 0 and editing.draft or { "" })
  end)
  self:_show_editing()
  util.notify("edit abandoned; your message is unchanged")
  return true
end

--- Stage regions for the next message (shown under the input heading).
---@param regions chinwag.Region[]
function Chat:add_context(regions)
  vim.list_extend(self.context, regions)
  self:_show_context()
end

---@private
function Chat:_show_context()
  -- The staged list (regions and other items, with sizes) and what went with each turn.
  require("chinwag.context").show(self)
end

--- Cut the model to its first `keep` messages, add `user` (a new user turn; nil when the answer
--- follows the user turn at `keep`) and a streaming `answer`, render them above the input
--- heading, and start the stream.
---@private
---@param keep integer
---@param user chinwag.Message|nil
---@param answer chinwag.Message
function Chat:_begin_turn(keep, user, answer)
  local row = self:prompt_row()
  -- Windows whose cursor is in the draft follow it to the new input line.
  local followers = {}
  for _, win in ipairs(vim.fn.win_findbuf(self.buf)) do
    if api.nvim_win_get_cursor(win)[1] - 1 > row then
      followers[#followers + 1] = win
    end
  end
  for i = #self.messages, keep + 1, -1 do
    self.messages[i] = nil
  end
  if user then
    self.messages[#self.messages + 1] = user
  end
  answer.content, answer.parts, answer.status = "", {}, "streaming"
  self.messages[#self.messages + 1] = answer
  self.stream = {
    message = answer,
    user = user or self.messages[keep],
    chars = 0,
    reasoning = 0,
    stopping = false,
    mark = -1,
    status_mark = -1,
  }
  self:render()
  local last = api.nvim_buf_line_count(self.buf)
  for _, win in ipairs(followers) do
    api.nvim_win_set_cursor(win, { last, 0 })
  end
end

--- Append streamed text at the stream mark: one `nvim_buf_set_text()`, no re-render.
---@param text string
function Chat:append(text)
  local stream = self.stream
  if not stream or text == "" or not api.nvim_buf_is_valid(self.buf) then
    return
  end
  local pos = api.nvim_buf_get_extmark_by_id(self.buf, M.ns, stream.mark, {})
  local row, col = pos[1], pos[2]
  if not row then
    return
  end
  local parts = stream.message.parts
  parts[#parts + 1] = text
  if #parts > 64 then
    content_of(stream.message)
  end
  local lines = util.lines(text)
  self:_write(function()
    api.nvim_buf_set_text(self.buf, row, col, row, col, lines)
  end)
  stream.chars = stream.chars + #text
  self:_follow(row + #lines - 1)
end

--- Windows following the chat: those whose cursor is in the draft (below the input heading).
---@return integer[]
function Chat:followers()
  local prompt = self:prompt_row()
  return vim.tbl_filter(function(win)
    return api.nvim_win_get_cursor(win)[1] - 1 > prompt
  end, vim.fn.win_findbuf(self.buf))
end

--- Keep the newest text in view in the windows following the chat. Neovim shows whole lines
--- above the cursor, so a paragraph taller than the window would leave only the draft on
--- screen; with 'smoothscroll' it starts the window inside that line instead and keeps its end
--- above the draft as it grows. Set for the chat buffer in each window showing it (when it is
--- shown, see `create()`); this puts it back if the user turned it off meanwhile.
---@param row integer 0-based row the answer streams into (unused: Neovim does the rest)
function Chat:_follow(row)
  local _ = row
  for _, win in ipairs(self:followers()) do
    if not vim.wo[win].smoothscroll then
      vim.wo[win][0].smoothscroll = true
    end
  end
end

--- Append streamed reasoning at the reasoning mark (each line quoted); the first piece renders
--- the (folded) reasoning block above the answer.
---@param text string
function Chat:append_reasoning(text)
  local stream = self.stream
  if not stream or text == "" or not api.nvim_buf_is_valid(self.buf) then
    return
  end
  local message = stream.message
  message.reasoning_parts = message.reasoning_parts or {}
  table.insert(message.reasoning_parts, text)
  local pos = stream.reasoning_mark and api.nvim_buf_get_extmark_by_id(self.buf, M.ns, stream.reasoning_mark, {})
  if not (pos and pos[1]) then
    self:render()
    return
  end
  if #message.reasoning_parts > 64 then
    reasoning_of(message)
  end
  local lines = util.lines(text)
  for i = 2, #lines do
    lines[i] = "> " .. lines[i]
  end
  self:_write(function()
    api.nvim_buf_set_text(self.buf, pos[1], pos[2], pos[1], pos[2], lines)
  end)
end

---@param params table chat/delta params
function Chat:on_delta(params)
  local stream = self.stream
  if not stream then
    return
  end
  if params.kind == "reasoning" then
    stream.reasoning = stream.reasoning + #params.delta
    self:append_reasoning(params.delta)
    return
  end
  self:append(params.delta)
end

---@private
---@param err chinwag.RpcError|nil
---@param result table|nil
function Chat:_finish(err, result)
  local stream = self.stream
  if err and self.stop_requested and err.code ~= util.codes.CANCELLED then
    -- Stopped while waiting (e.g. at the vault prompt): report the stop, not the wait's error.
    err = { code = util.codes.CANCELLED, message = "stopped" }
  end
  self.busy = false
  self.stop_requested = false
  self.request = nil
  local event = {
    kind = "chat",
    chat_id = self.id,
    buf = self.buf,
    provider = self.provider,
    model = self.model,
  }
  if stream then
    local message = stream.message
    -- The ids of the new turn in the backend's tree (also on an error once the turn began).
    local ids = result or (err and type(err.data) == "table" and err.data) or {}
    if type(ids.messageId) == "string" then
      message.id = ids.messageId
    end
    if stream.user and type(ids.userMessageId) == "string" then
      stream.user.id = ids.userMessageId
    end
    if result then
      message.provider = type(result.provider) == "string" and result.provider or message.provider
      message.model = type(result.model) == "string" and result.model or message.model
    end
    if result and result.content then
      -- The final message is the truth (it equals the deltas unless something went wrong).
      message.content, message.parts = result.content, nil
    else
      content_of(message)
      message.parts = nil
    end
    if result and type(result.reasoning) == "string" then
      message.reasoning, message.reasoning_parts = result.reasoning, nil
    else
      reasoning_of(message)
      message.reasoning_parts = nil
    end
    if not err then
      message.status = "complete"
      message.usage = util.usage_text(result)
    elseif err.code == util.codes.CANCELLED then
      message.status = "cancelled"
    else
      message.status = "error"
      message.error = util.error_text(err)
    end
    self.stream = nil
    if message.usage == nil and message.status == "complete" then
      message.usage = "done"
    end
    self:render()
  end
  if not err then
    event.status = "complete"
    event.usage = result.usage
    event.timings = result.timings
    event.message_id = result.messageId
    event.finish_reason = result.finishReason
  elseif err.code == util.codes.CANCELLED then
    event.status = "cancelled"
  else
    event.status = "error"
    event.error = err
    util.report(nil, err)
  end
  status.finished(event)
  if self.id then
    self:_sync_after_turn()
  end
end

--- A message of the model from one of a `history/get` result (`old`: the same message as
--- shown, whose rendering and fold state are kept).
---@param m table
---@param old chinwag.Message|nil
---@return chinwag.Message
local function from_saved(m, old)
  local text = function(value)
    return type(value) == "string" and value or nil
  end
  local message = {
    id = text(m.id),
    siblings = type(m.siblings) == "table" and m.siblings or nil,
    role = m.role,
    content = text(m.content) or "",
  }
  if m.role == "user" then
    if old and old.context and old.role == "user" then
      -- Shown as sent: the text and its regions (the saved content has the regions appended,
      -- formatted the same way).
      message.content, message.context = old.content, old.context
    end
  else
    message.status = m.status
    message.provider, message.model = text(m.provider), text(m.model)
    message.reasoning = text(m.reasoning)
    if m.status == "error" then
      message.error = text(m.error) or "error"
    elseif m.status ~= "cancelled" then
      message.usage = util.usage_text(m)
    end
    message.reasoning_open = old and old.reasoning_open or nil
  end
  return message
end

--- Set the model from a `history/get` (or `chat/switch`) result and render it: the windows
--- keep their place (a reader's view stays, a window following the draft keeps following)
--- and the draft is not touched.
---@param saved table
function Chat:load(saved)
  require("chinwag.context").on_load(self, saved)
  self.provider, self.model = saved.provider or self.provider, saved.model or self.model
  self.title = saved.title or self.title
  self.system = saved.system ~= vim.NIL and saved.system or nil
  local old = {}
  for _, m in ipairs(self.messages) do
    if m.id then
      old[m.id] = m
    end
  end
  local messages = {}
  for _, m in ipairs(saved.messages or {}) do
    if m.role == "user" or m.role == "assistant" then
      messages[#messages + 1] = from_saved(m, type(m.id) == "string" and old[m.id] or nil)
    end
  end
  self.messages = messages
  self.synced = { updatedAt = saved.updatedAt, messageCount = saved.messageCount, leafId = saved.leafId }
  self:_keep_view(function()
    self:render()
  end)
  status.set_model(self.provider, self.model)
  self:_rename_buffer()
end

--- Run `fn` (a render) keeping each window's place: a window whose cursor is in the draft keeps
--- it at the same place in the draft; another keeps its first line and cursor line (as near as
--- the new transcript allows).
---@private
---@param fn function
function Chat:_keep_view(fn)
  local prompt = self.prompt_mark and self:prompt_row()
  local views = {}
  for _, win in ipairs(vim.fn.win_findbuf(self.buf)) do
    local view = api.nvim_win_call(win, vim.fn.winsaveview)
    views[win] = { view = view, draft = prompt and view.lnum - 1 > prompt and (view.lnum - 1 - prompt) or nil }
  end
  fn()
  local new_prompt = self:prompt_row()
  local count = api.nvim_buf_line_count(self.buf)
  for win, saved in pairs(views) do
    if api.nvim_win_is_valid(win) then
      local view = saved.view
      if saved.draft then
        view.lnum = math.min(count, new_prompt + 1 + saved.draft)
        view.topline = math.max(1, view.topline + (new_prompt - prompt))
      else
        view.lnum = math.min(view.lnum, new_prompt + 1)
        view.topline = math.min(view.topline, new_prompt + 1)
      end
      view.skipcol = 0
      api.nvim_win_call(win, function()
        vim.fn.winrestview(view)
      end)
    end
  end
end

--- The user and assistant turns of a `history/get` result.
---@param saved table
---@return table[]
local function saved_turns(saved)
  return vim.tbl_filter(function(m)
    return m.role == "user" or m.role == "assistant"
  end, saved.messages or {})
end

--- Whether the branch `saved` (a `history/get` result) holds differs from the one shown: turns
--- added, another branch, other sibling counts, other authors. Turns shown that the backend
--- never saved (refused before anything was sent) are not counted.
---@param saved table
---@return boolean
function Chat:differs(saved)
  local shown = vim.tbl_filter(function(m)
    return m.id ~= nil or m.status == "streaming"
  end, self.messages)
  local turns = saved_turns(saved)
  if #turns ~= #shown then
    return true
  end
  for i, m in ipairs(turns) do
    local mine = shown[i]
    if m.role ~= mine.role or (mine.id and m.id ~= mine.id) then
      return true
    end
    local function count(siblings)
      return math.max(1, type(siblings) == "table" and #siblings or 0)
    end
    if count(m.siblings) ~= count(mine.siblings) then
      return true
    end
    if m.role == "assistant" and type(m.model) == "string" and m.model ~= mine.model then
      return true
    end
  end
  return false
end

--- Whether `saved` (a `history/get` result) holds something this buffer does not show: turns
--- added or another branch made current in another editor, or a provider/model switched.
---@param saved table
---@return boolean
function Chat:changed_elsewhere(saved)
  local synced = self.synced or {}
  if
    saved.updatedAt == synced.updatedAt
    and saved.messageCount == synced.messageCount
    and saved.leafId == synced.leafId
  then
    return false
  end
  local turns = saved_turns(saved)
  local known = vim.tbl_filter(function(m)
    return m.id ~= nil
  end, self.messages)
  if #turns > #known then
    return true
  end
  for i, m in ipairs(turns) do
    if m.role ~= known[i].role or m.id ~= known[i].id then
      return true
    end
  end
  return (saved.provider ~= nil and saved.provider ~= self.provider)
    or (saved.model ~= nil and saved.model ~= self.model)
end

--- Ask the backend for the saved chat; `callback(changed)` says whether it changed elsewhere
--- since this buffer last saw it (it is then rendered again, the draft kept).
---@param callback fun(changed: boolean)|nil
---@param sending boolean|nil (internal: called by `send()`, which marked the chat busy)
function Chat:refresh(callback, sending)
  -- A backend that is not running is not started for this (its exit was reported).
  if not self.id or not self.synced or (self.busy and not sending) or not backend.running() then
    return callback and callback(false)
  end
  backend.request("history/get", { chatId = self.id }, function(err, saved)
    if err or not saved or not api.nvim_buf_is_valid(self.buf) or (self.busy and not sending) then
      return callback and callback(false)
    end
    local changed = self:changed_elsewhere(saved)
    if changed then
      self:load(saved)
    else
      self.synced = { updatedAt = saved.updatedAt, messageCount = saved.messageCount, leafId = saved.leafId }
    end
    return callback and callback(changed)
  end, { unlock = false })
end

--- After one of our turns: fetch the saved branch and render it when it differs from what is
--- shown (sibling counts after a regenerate or an edit; turns saved elsewhere meanwhile).
---@private
---@param callback fun()|nil When done.
function Chat:_sync_after_turn(callback)
  if not backend.running() then
    return callback and callback()
  end
  backend.request("history/get", { chatId = self.id }, function(err, saved)
    if err or not saved or self.busy or not api.nvim_buf_is_valid(self.buf) then
      return callback and callback()
    end
    if self:differs(saved) then
      self:load(saved)
    else
      self.synced = { updatedAt = saved.updatedAt, messageCount = saved.messageCount, leafId = saved.leafId }
    end
    -- What went with the turn (the context manifest), the chat's preset.
    require("chinwag.context").on_saved(self, saved)
    return callback and callback()
  end, { unlock = false })
end

--- The id of the last message shown that the backend has (what a new turn follows).
---@return string|nil
function Chat:last_id()
  for i = #self.messages, 1, -1 do
    if self.messages[i].id then
      return self.messages[i].id
    end
  end
  return nil
end

--- Send a message (default: the draft under the input heading) with `context` (default: the
--- staged regions). A chat changed in another editor since this buffer last saw it is
--- rendered again instead, the draft kept: read it, then send again. While a turn is being
--- edited (`edit()`), the draft is sent as its new version (`chat/edit`).
---@param message string|nil
---@param context chinwag.Region[]|nil
---@return boolean sent
function Chat:send(message, context)
  if self.busy then
    util.notify("an answer is still coming; stop it with :ChinwagStop first", vim.log.levels.WARN)
    return false
  end
  if vim.trim(message or self:take_input()) == "" then
    util.notify("write your message under the last '" .. USER_HEADING .. "' first", vim.log.levels.WARN)
    return false
  end
  if not (self.id and self.synced) then
    return self:_send_now(message, context)
  end
  self.busy = true
  self.stop_requested = false
  self:refresh(function(changed)
    self.busy = false
    if self.stop_requested then
      self.stop_requested = false
      return
    end
    if changed then
      util.notify(
        "this chat changed in another editor: it now shows what the model will be sent;"
          .. " your message was not sent (send it again)",
        vim.log.levels.WARN
      )
      return
    end
    self:_send_now(message, context)
  end, true)
  return true
end

---@private
---@param message string|nil
---@param context chinwag.Region[]|nil
---@return boolean sent
function Chat:_send_now(message, context)
  local from_draft = message == nil
  message = message or self:take_input()
  if vim.trim(message) == "" then
    util.notify("write your message under the last '" .. USER_HEADING .. "' first", vim.log.levels.WARN)
    return false
  end
  context = context or {}
  if #self.context > 0 then
    context = vim.list_extend(vim.deepcopy(self.context), context)
    self.context = {}
    self:_show_context()
  end
  local editing = from_draft and self.editing or nil
  if from_draft then
    self.editing = nil
    self:_clear_input()
  end
  self:_track_target(context)
  local user = {
    role = "user",
    content = message,
    context = #context > 0 and vim.deepcopy(context) or nil,
  }
  local answer = { role = "assistant", provider = self.provider, model = self.model }
  if editing then
    -- The new version of an earlier turn: a sibling of it, its answer below.
    return self:_run_turn("chat/edit", {
      messageId = editing.message.id,
      content = message,
      context = #context > 0 and context or nil,
    }, editing.index - 1, user, answer)
  end
  return self:_run_turn("chat/send", {
    content = message,
    parentId = self:last_id(),
    context = #context > 0 and context or nil,
  }, #self.messages, user, answer)
end

--- Start a turn: render it (`_begin_turn()`), then ask the backend with `method` and `params`
--- (`chatId` added; for a chat not created yet, `chat/new` first).
---@private
---@param method "chat/send"|"chat/edit"|"chat/regenerate"
---@param params table
---@param keep integer
---@param user chinwag.Message|nil
---@param answer chinwag.Message
---@return boolean started
function Chat:_run_turn(method, params, keep, user, answer)
  self:_begin_turn(keep, user, answer)
  self.busy = true
  self.stop_requested = false
  M.last = self
  if not self.title and user then
    self.title = shorten(user.content, 60)
    self:_rename_buffer()
  end
  start_spinner()
  status.started({
    kind = "chat",
    chat_id = self.id,
    buf = self.buf,
    provider = answer.provider or self.provider,
    model = answer.model or self.model,
  })

  local function ask()
    if self.stop_requested then
      return self:_finish({ code = util.codes.CANCELLED, message = "stopped" }, nil)
    end
    params.chatId = self.id
    self.request = backend.request(method, params, function(err, result)
      self:_finish(err, result)
    end)
  end

  if self.id then
    ask()
  else
    local provider, model = self.provider, self.model
    backend.request("chat/new", {
      provider = provider,
      model = model,
      system = self.system,
    }, function(err, result)
      if err then
        return self:_finish(err, nil)
      end
      self:attach(result.chatId)
      self.provider, self.model = result.provider, result.model
      answer.provider, answer.model = result.provider, result.model
      self:update_header()
      ask()
    end)
  end
  return true
end

--- Remember the last region of `context` taken from a buffer: what a code block of the
--- answer applies to (`chinwag.blocks`).
---@private
---@param context chinwag.Region[]
function Chat:_track_target(context)
  local sources = package.loaded["chinwag.selection"] and require("chinwag.selection").source or {}
  for i = #context, 1, -1 do
    local buf = sources[context[i]]
    if buf then
      require("chinwag.blocks").track(self, buf, context[i])
      return
    end
  end
end

--- Stop the answer now (`chat/cancel`); the partial answer stays, marked stopped.
---@return boolean stopped
function Chat:stop()
  if not self.busy then
    return false
  end
  self.stop_requested = true
  if self.stream then
    self.stream.stopping = true
    self:_virt(self.stream.status_mark, { { " ■ stopping…", "ChinwagStopped" } })
  end
  if self.request then
    -- Not retried after a vault prompt either.
    self.request.cancelled = true
  end
  if self.id then
    backend.notify("chat/cancel", { chatId = self.id })
  end
  return true
end

--- Change provider/model (and keep them for later turns).
---@param provider string
---@param model string|nil
---@param callback fun(ok: boolean)|nil
function Chat:configure(provider, model, callback)
  local function apply(p, m)
    self.provider, self.model = p, m
    self:update_header()
    if callback then
      callback(true)
    end
  end
  if not self.id then
    return apply(provider, model)
  end
  backend.request("chat/configure", { chatId = self.id, provider = provider, model = model }, function(err, result)
    if err then
      util.notify("could not switch model: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    if self.synced then
      self.synced = {
        updatedAt = result.updatedAt,
        messageCount = result.messageCount,
        leafId = result.leafId or self.synced.leafId,
      }
    end
    apply(result.provider, result.model)
  end)
end

---@private
function Chat:_keymaps()
  local keys = config.get().keymaps
  util.map(self.buf, keys.send, function()
    self:send()
  end, "chinwag: send")
  util.map(self.buf, keys.stop, function()
    if self:stop() then
      return
    end
    local mode = api.nvim_get_mode().mode
    if mode:sub(1, 1) == "i" or mode:sub(1, 1) == "R" then
      -- Nothing streams: leave insert mode, as <C-c> does elsewhere.
      vim.cmd.stopinsert()
    elseif not self:abandon_edit() then
      util.notify("nothing to stop")
    end
  end, "chinwag: stop the answer (else: insert mode, leave it; normal mode, abandon an edit)")
  local tree = require("chinwag.tree")
  util.map(self.buf, keys.regenerate, function()
    tree.regenerate(self)
  end, "chinwag: a new answer to the turn at the cursor (else the last)")
  util.map(self.buf, keys.regenerate_with, function()
    tree.regenerate_with(self)
  end, "chinwag: a new answer from a provider and model you pick")
  util.map(self.buf, keys.edit, function()
    tree.edit(self)
  end, "chinwag: edit your message at the cursor (else the last) as a new version")
  util.map(self.buf, keys.next_sibling, function()
    tree.switch(self, 1)
  end, "chinwag: the next version of the message at the cursor")
  util.map(self.buf, keys.prev_sibling, function()
    tree.switch(self, -1)
  end, "chinwag: the previous version of the message at the cursor")
  local blocks = require("chinwag.blocks")
  util.map(self.buf, keys.yank_block, function()
    blocks.yank(self)
  end, "chinwag: yank the code block at the cursor (else the last one)")
  util.map(self.buf, keys.next_block, function()
    blocks.jump(1, vim.v.count1)
  end, "chinwag: next code block")
  util.map(self.buf, keys.prev_block, function()
    blocks.jump(-1, vim.v.count1)
  end, "chinwag: previous code block")
  util.map(self.buf, keys.apply_block, function()
    blocks.apply(self)
  end, "chinwag: apply the code block at the cursor (else the last one) to the code sent")
  util.map(self.buf, keys.close, function()
    local win = api.nvim_get_current_win()
    if #api.nvim_tabpage_list_wins(0) > 1 or api.nvim_win_get_config(win).relative ~= "" then
      api.nvim_win_close(win, false)
    end
  end, "chinwag: close the chat window")
end

--- Resolve the default provider/model for the header when the options leave them open.
---@private
function Chat:_resolve_defaults()
  if self.provider and self.model then
    return
  end
  backend.providers(function(err, result)
    if err and err.code == require("chinwag.rpc").NOT_STARTED then
      util.report(nil, err)
    end
    if err or not result or self.id or not api.nvim_buf_is_valid(self.buf) then
      return
    end
    local name = self.provider or result.default
    for _, p in ipairs(result.providers or {}) do
      if p.name == name then
        self.provider = name
        self.model = self.model or p.defaultModel
        self:update_header()
        return
      end
    end
  end)
end

---@class chinwag.ChatCreateOptions
---@field saved table|nil A `history/get` result to show and continue.

--- A new chat buffer (not shown).
---@param opts chinwag.ChatCreateOptions|nil
---@return chinwag.Chat
function M.create(opts)
  opts = opts or {}
  counter = counter + 1
  local buf = api.nvim_create_buf(false, true)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  local provider, model = config.provider_model()
  local chat = setmetatable({
    buf = buf,
    number = counter,
    busy = false,
    context = {},
    messages = {},
    reasoning_open = {},
    stop_requested = false,
    provider = provider,
    model = model,
    system = config.get().system_prompt,
  }, Chat)
  vim.bo[buf].filetype = "markdown"
  M.by_buf[buf] = chat
  if opts.saved then
    chat:load(opts.saved)
  else
    chat:render()
  end
  chat:update_header()
  chat:_rename_buffer()
  chat:_keymaps()
  require("chinwag.context").setup_buffer(chat)
  if opts.saved then
    chat:attach(opts.saved.id)
  else
    chat:_resolve_defaults()
  end
  local group = api.nvim_create_augroup(("chinwag.chat.%d"):format(buf), { clear = true })
  api.nvim_create_autocmd("BufWipeout", {
    group = group,
    buffer = buf,
    once = true,
    callback = function()
      if chat.busy then
        chat:stop()
      end
      if chat.id then
        backend.on_delta(chat.id, nil)
        M.by_id[chat.id] = nil
      end
      M.by_buf[buf] = nil
      if M.last == chat then
        M.last = nil
      end
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
  api.nvim_create_autocmd("BufWinEnter", {
    group = group,
    buffer = buf,
    callback = function()
      -- A paragraph taller than the window stays in view while it streams (see `_follow()`).
      vim.wo[0][0].smoothscroll = true
      -- Folds are the window's: the reasoning is folded in a new window too.
      chat:_fold({ api.nvim_get_current_win() })
    end,
  })
  api.nvim_create_autocmd("BufWinLeave", {
    group = group,
    buffer = buf,
    callback = function()
      -- The reasoning the user opened or closed there, for the next window.
      pcall(chat._note_open_folds, chat)
    end,
  })
  api.nvim_create_autocmd("BufEnter", {
    group = group,
    buffer = buf,
    callback = function()
      M.last = chat
      status.set_model(chat.provider, chat.model)
      -- Back in the chat: show what another editor may have added meanwhile.
      chat:refresh()
    end,
  })
  api.nvim_create_autocmd("FocusGained", {
    group = group,
    callback = function()
      if api.nvim_get_current_buf() == buf then
        chat:refresh()
      end
    end,
  })
  -- A change not made by chinwag that reaches the transcript (undo, redo, an edit) is put
  -- right from the model.
  api.nvim_buf_attach(buf, false, {
    on_lines = function(_, _, _, first)
      if M.by_buf[buf] ~= chat then
        return true
      end
      if chat.writing or not chat.prompt_mark then
        return
      end
      local row = api.nvim_buf_get_extmark_by_id(buf, M.ns, chat.prompt_mark, {})[1]
      if not row or first <= row then
        chat:_transcript_touched()
      end
    end,
  })
  M.last = chat
  return chat
end

--- The chat of the current buffer, else the one used last.
---@return chinwag.Chat|nil
function M.current()
  local chat = M.by_buf[api.nvim_get_current_buf()]
  if chat then
    return chat
  end
  if M.last and api.nvim_buf_is_valid(M.last.buf) then
    return M.last
  end
  return nil
end

--- The window showing `chat` in the current tab, if any.
---@param chat chinwag.Chat
---@return integer|nil
function M.window(chat)
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) == chat.buf then
      return win
    end
  end
  return nil
end

--- The chat window of the current tabpage: the current window if it shows a chat, else the
--- first window showing one.
---@return integer|nil
function M.chat_window()
  local current = api.nvim_get_current_win()
  if M.by_buf[api.nvim_win_get_buf(current)] then
    return current
  end
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if M.by_buf[api.nvim_win_get_buf(win)] then
      return win
    end
  end
  return nil
end

---@class chinwag.ShowOptions
---@field focus boolean|nil Move the cursor into the chat window (default true).
---@field input boolean|nil Put the cursor at the end of the draft.

--- Show `chat`: in the window showing it, else in the chat window of the current tabpage
--- (one chat window per tabpage, reused), else in a new window as `window.layout` says.
---@param chat chinwag.Chat
---@param opts chinwag.ShowOptions|nil
---@return integer win
function M.show(chat, opts)
  opts = opts or {}
  local focus = opts.focus ~= false
  local win = M.window(chat)
  local previous = api.nvim_get_current_win()
  if not win then
    win = M.chat_window()
    if win then
      api.nvim_win_set_buf(win, chat.buf)
    end
  end
  if not win then
    local w = config.get().window
    if w.layout == "float" then
      local width = util.size(w.float_width, vim.o.columns)
      local height = util.size(w.float_height, vim.o.lines - vim.o.cmdheight - 2)
      win = api.nvim_open_win(chat.buf, true, {
        relative = "editor",
        width = width,
        height = height,
        row = math.floor((vim.o.lines - height) / 2) - 1,
        col = math.floor((vim.o.columns - width) / 2),
        border = w.border,
        title = " chinwag ",
        title_pos = "center",
        style = "minimal",
      })
      focus = true
    elseif w.layout == "current" then
      win = previous
      api.nvim_win_set_buf(win, chat.buf)
      focus = true
    else
      if w.layout == "vertical" then
        vim.cmd(("botright %dvsplit"):format(util.size(w.width, vim.o.columns)))
      else
        vim.cmd(("botright %dsplit"):format(util.size(w.height, vim.o.lines)))
      end
      win = api.nvim_get_current_win()
      api.nvim_win_set_buf(win, chat.buf)
    end
    vim.wo[win].wrap = true
    vim.wo[win].linebreak = true
    vim.wo[win].number = false
    vim.wo[win].relativenumber = false
    vim.wo[win].signcolumn = "no"
  end
  if focus then
    api.nvim_set_current_win(win)
  elseif api.nvim_win_is_valid(previous) then
    api.nvim_set_current_win(previous)
  end
  if opts.input then
    local last = api.nvim_buf_line_count(chat.buf)
    api.nvim_win_set_cursor(win, { last, #api.nvim_buf_get_lines(chat.buf, last - 1, last, false)[1] })
  end
  M.last = chat
  return win
end

--- `:Chinwag`: open (or focus) the current chat, creating one if there is none.
---@return chinwag.Chat
function M.open()
  local chat = M.current() or M.create()
  M.show(chat, { focus = true, input = M.by_buf[api.nvim_get_current_buf()] ~= chat })
  return chat
end

--- `:ChinwagToggle`: hide the chat window of the current tabpage, or show the current chat.
---@return integer|nil win The chat window when it was shown, nil when hidden.
function M.toggle()
  local win = M.chat_window()
  if win then
    local floating = api.nvim_win_get_config(win).relative ~= ""
    local others = vim.tbl_filter(function(w)
      return w ~= win and api.nvim_win_get_config(w).relative == ""
    end, api.nvim_tabpage_list_wins(0))
    if not floating and #others == 0 then
      util.notify("the chat is the only window here; nothing to hide it behind", vim.log.levels.WARN)
      return win
    end
    api.nvim_win_close(win, false)
    return nil
  end
  local chat = M.current() or M.create()
  return M.show(chat, { focus = true })
end

--- `:ChinwagNew`: a fresh chat.
---@return chinwag.Chat
function M.new()
  local chat = M.create()
  M.show(chat, { focus = true, input = true })
  return chat
end

--- `:ChinwagStop`: stop the answer of the current chat (else any streaming one, else the
--- rewrites being written).
function M.stop()
  local chat = M.current()
  if chat and chat:stop() then
    return
  end
  for _, other in pairs(M.by_buf) do
    if other:stop() then
      return
    end
  end
  if package.loaded["chinwag.rewrite"] and require("chinwag.rewrite").stop() then
    return
  end
  if package.loaded["chinwag.inline"] and require("chinwag.inline").stop() then
    return
  end
  util.notify("nothing to stop")
end

--- Open a saved chat (focusing its buffer when it is open already).
---@param chat_id string
---@param callback fun(chat: chinwag.Chat|nil)|nil
function M.open_saved(chat_id, callback)
  local open = M.by_id[chat_id]
  if open and api.nvim_buf_is_valid(open.buf) then
    M.show(open, { focus = true })
    return callback and callback(open)
  end
  backend.request("history/get", { chatId = chat_id }, function(err, saved)
    if err then
      util.notify("cannot open the chat: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(nil)
    end
    local chat = M.create({ saved = saved })
    M.show(chat, { focus = true, input = true })
    return callback and callback(chat)
  end)
end

--- A chat to send to: the current one (shown), else a new one.
---@param opts chinwag.ShowOptions|nil
---@return chinwag.Chat
function M.target(opts)
  local chat = M.current() or M.create()
  M.show(chat, opts)
  return chat
end

M.Chat = Chat

return M
