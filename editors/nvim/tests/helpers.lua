-- Helpers for the headless scenarios: assertions, waits, stubs for the prompts, and a runner
-- that exits with 0 on success and 1 (printing why to stderr) on failure.

local api = vim.api
local H = {}

---@type { msg: string, level: integer|nil }[]
H.notes = {}
--- Prompts shown by inputsecret (the answers are never printed).
H.secret_prompts = {}

local queues = { select = {}, input = {}, secret = {} }

function H.log(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[#parts + 1] = type(v) == "string" and v or vim.inspect(v)
  end
  io.stderr:write(table.concat(parts, " ") .. "\n")
end

function H.eq(actual, expected, what)
  if not vim.deep_equal(actual, expected) then
    error(("%s:\n  expected %s\n  got      %s"):format(what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function H.ok(value, what)
  if not value then
    error("expected: " .. what, 2)
  end
  return value
end

function H.contains(haystack, needle, what)
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    error(("%s: %s does not contain %s"):format(what, vim.inspect(haystack), vim.inspect(needle)), 2)
  end
end

--- Wait (processing events) until `cond()` is true.
function H.wait(cond, what, timeout)
  local ok = vim.wait(timeout or 15000, function()
    return H.async_error ~= nil or cond()
  end, 5)
  if H.async_error then
    error(("while waiting for %s: %s"):format(what, H.async_error), 2)
  end
  if not ok then
    error("timed out waiting for " .. what, 2)
  end
end

--- Run `fn` (a stub answering the plugin); an error in it fails the scenario at the next wait.
local function guarded(fn, ...)
  local ok, result = xpcall(fn, debug.traceback, ...)
  if not ok then
    H.async_error = H.async_error or result
    return nil
  end
  return result
end

function H.lines(buf)
  return api.nvim_buf_get_lines(buf, 0, -1, false)
end

function H.text(buf)
  return table.concat(H.lines(buf), "\n")
end

--- The sections of a chat buffer: { { role = "user"|"assistant", text = "..." }, ... }
--- (the input section last, as role "user").
function H.sections(buf)
  local sections = {}
  local current
  for _, line in ipairs(H.lines(buf)) do
    -- Headings may go on with the author and the version: `## Assistant (p/m) 2/3`.
    local role = (line == "## You" or line:find("^## You ")) and "user"
      or ((line == "## Assistant" or line:find("^## Assistant ")) and "assistant")
    if role then
      current = { role = role, lines = {}, heading = line }
      sections[#sections + 1] = current
    elseif current then
      table.insert(current.lines, line)
    end
  end
  for _, s in ipairs(sections) do
    if s.lines[#s.lines] == "" then
      table.remove(s.lines)
    end
    s.text = table.concat(s.lines, "\n")
    s.lines = nil
  end
  if not H.keep_headings then
    for _, s in ipairs(sections) do
      s.heading = nil
    end
  end
  return sections
end

--- The headings of a chat buffer's messages (the input heading left out), in order.
---@param buf integer
---@return string[]
function H.headings(buf)
  H.keep_headings = true
  local sections = H.sections(buf)
  H.keep_headings = false
  local out = {}
  for i = 1, #sections - 1 do
    out[#out + 1] = sections[i].heading
  end
  return out
end

--- Text of the `n`th assistant section (negative: from the end).
function H.answer(buf, n)
  local answers = vim.tbl_filter(function(s)
    return s.role == "assistant"
  end, H.sections(buf))
  if n < 0 then
    n = #answers + 1 + n
  end
  return answers[n] and answers[n].text
end

--- The text of virtual-text chunks (`{ {text, hl}, ... }`).
local function chunks_text(chunks)
  local parts = {}
  for _, chunk in ipairs(chunks) do
    parts[#parts + 1] = chunk[1]
  end
  return table.concat(parts)
end

--- Virtual texts in the chinwag namespace, in buffer order, as strings.
function H.virt_texts(buf)
  local ns = api.nvim_create_namespace("chinwag")
  local out = {}
  for _, mark in ipairs(api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    local details = mark[4]
    if details.virt_text then
      out[#out + 1] = chunks_text(details.virt_text)
    end
  end
  return out
end

--- Virtual lines in the chinwag namespace, as strings.
function H.virt_lines(buf)
  local ns = api.nvim_create_namespace("chinwag")
  local out = {}
  for _, mark in ipairs(api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    for _, line in ipairs(mark[4].virt_lines or {}) do
      out[#out + 1] = chunks_text(line)
    end
  end
  return out
end

--- The screen as Neovim would draw it now (after a redraw): one string per screen row.
---@return string[]
function H.screen()
  vim.cmd("redraw")
  local rows = {}
  for row = 1, vim.o.lines do
    local cells = {}
    for col = 1, vim.o.columns do
      cells[#cells + 1] = vim.fn.screenstring(row, col)
    end
    rows[#rows + 1] = table.concat(cells)
  end
  return rows
end

--- Whether `needle` is on one screen row.
---@param needle string
---@return boolean
function H.on_screen(needle)
  for _, row in ipairs(H.screen()) do
    if row:find(needle, 1, true) then
      return true
    end
  end
  return false
end

--- Notifications whose text contains `needle`.
function H.notes_with(needle)
  return vim.tbl_filter(function(n)
    return n.msg:find(needle, 1, true) ~= nil
  end, H.notes)
end

--- Queue what the next vim.ui.select picks: a function(items, opts) returning the item.
function H.will_select(chooser)
  table.insert(queues.select, chooser)
end

--- Pick the item whose formatted text contains `needle`.
function H.will_select_text(needle)
  H.will_select(function(items, opts)
    for _, item in ipairs(items) do
      local text = opts.format_item and opts.format_item(item) or tostring(item)
      if text:find(needle, 1, true) then
        return item
      end
    end
    error(("no item with %q among %s"):format(needle, vim.inspect(items)))
  end)
end

function H.will_input(text)
  table.insert(queues.input, text)
end

function H.will_secret(text)
  table.insert(queues.secret, text)
end

function H.pending_prompts()
  return #queues.select + #queues.input + #queues.secret
end

--- Keys typed as a user would (mappings apply); returns when they have been processed.
function H.keys(keys)
  api.nvim_feedkeys(vim.keycode(keys), "mx", false)
end

--- Install the stubs and set chinwag up against the binary under test.
function H.setup(opts)
  vim.notify = function(msg, level)
    table.insert(H.notes, { msg = msg, level = level })
    io.stderr:write(("[notify %s] %s\n"):format(tostring(level), msg))
  end
  vim.ui.select = function(items, opts, on_choice)
    local chooser = table.remove(queues.select, 1)
    if not chooser then
      H.async_error = H.async_error or ("unexpected vim.ui.select: " .. tostring(opts.prompt))
      return
    end
    local item = guarded(chooser, items, opts or {})
    local index
    for i, it in ipairs(items) do
      if it == item then
        index = i
      end
    end
    vim.schedule(function()
      on_choice(item, index)
    end)
  end
  vim.ui.input = function(opts, on_confirm)
    if #queues.input == 0 then
      H.async_error = H.async_error or ("unexpected vim.ui.input: " .. tostring(opts.prompt))
      return
    end
    local text = table.remove(queues.input, 1)
    vim.schedule(function()
      on_confirm(text)
    end)
  end
  H.real_inputsecret = H.real_inputsecret or vim.fn.inputsecret
  vim.fn.inputsecret = function(prompt)
    table.insert(H.secret_prompts, prompt)
    if #queues.secret == 0 then
      H.async_error = H.async_error or ("unexpected inputsecret: " .. tostring(prompt))
      return ""
    end
    return table.remove(queues.secret, 1)
  end
  local options = vim.tbl_deep_extend("force", { cmd = { vim.env.CHINWAG_BIN } }, opts or {})
  require("chinwag").setup(options)
end

--- Print every chat buffer, with its virtual texts, to stderr.
function H.dump()
  local chats = package.loaded["chinwag.chat"] and package.loaded["chinwag.chat"].by_buf or {}
  for buf in pairs(chats) do
    if api.nvim_buf_is_valid(buf) then
      io.stderr:write(
        ("--- chat buffer %d (%s):\n%s\n--- virtual text: %s\n"):format(
          buf,
          api.nvim_buf_get_name(buf),
          H.text(buf),
          vim.inspect(H.virt_texts(buf))
        )
      )
    end
  end
end

--- Run a scenario: exit 0 when it passes, 1 with the reason on stderr when it fails.
function H.run(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok and H.async_error then
    ok, err = false, H.async_error
  end
  if ok and H.pending_prompts() > 0 then
    ok, err = false, ("%d queued prompt answers were never used"):format(H.pending_prompts())
  end
  if ok and vim.env.CHINWAG_TEST_DUMP then
    H.dump()
  end
  if ok then
    io.stderr:write("PASS " .. name .. "\n")
    vim.cmd("qa!")
  else
    io.stderr:write("FAIL " .. name .. ": " .. tostring(err) .. "\n")
    H.dump()
    vim.cmd("cquit 1")
  end
end

return H
