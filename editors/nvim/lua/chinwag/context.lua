---@mod chinwag.context Context for the next message: buffers, files, diagnostics, the git diff, web pages.
---
--- Items are staged in a chat (`:ChinwagAdd`) and listed under its input heading, each with its
--- size and token estimate (`chat/previewContext`, asked once per item when it is staged) and
--- what the secret guard will hold back. They go with the next message, then the list is empty.
--- `:ChinwagRemove` (or `dc` in the chat, with a count) takes one off the list.
---
--- Every chat turn names the project root (`root`): the git root of the buffer the context came
--- from, else of the working directory, else the working directory. Files are read there by the
--- backend; its `.chinwag.md`/`AGENTS.md` joins the system prompt once trusted
--- (`chinwag.trust`).
---
--- A file that often holds secrets or that git ignores is sent only when the user says so for
--- that send (`1404` with `action = "confirmFile"`): the user is asked, and the request is sent
--- again with the path in `allowFiles` (`confirm_file()`, run by `chinwag.backend`).
---
--- After a turn, what was sent (the manifest saved with the user's message) is shown under its
--- heading as one line: kinds, labels, sizes, redactions; reopened chats show it too.

local api = vim.api
local backend = require("chinwag.backend")
local util = require("chinwag.util")

local M = {}

--- Namespace of the "what was sent" lines under the user headings.
M.ns = api.nvim_create_namespace("chinwag.context")

---@class chinwag.Staged An item staged for the next message.
---@field wire table The item as `chat/send` takes it (`kind`, ...).
---@field label string What the list shows (`file src/*.rs`).
---@field preview chinwag.Preview|nil
---@field failed string|nil Why there is no preview.
---@field allow string[]|nil Paths the user confirmed for this send (`allowFiles`).
---@field pending boolean|nil A preview is on its way.

---@class chinwag.Preview What `chat/previewContext` said of one item.
---@field bytes integer
---@field tokens integer
---@field files integer Manifest items (a glob gives one per file).
---@field redactions table[] What the secret guard replaces.
---@field refused table[] Files a glob left out.

---@class chinwag.ContextState
---@field items chinwag.Staged[]
---@field root string|nil The project root of the last item staged from a file.
---@field allow_secrets boolean The next message goes without the secret guard.
---@field by_id table<string, table> Manifests of user messages, by message id.
---@field by_ordinal table<integer, table> The same by position among the user turns saved.
---@field by_message table<chinwag.Message, table> The same for the turns sent from this buffer.
---@field loaded table<chinwag.Message, boolean> The user turns shown from the last `history/get`.
---@field loading boolean|nil A `history/get` result is being rendered.

---@type table<chinwag.Chat, chinwag.ContextState>
local states = setmetatable({}, { __mode = "k" })

--- Previews of regions staged by `:ChinwagSend` (kept in `chat.context`).
---@type table<table, chinwag.Staged>
local region_staged = setmetatable({}, { __mode = "k" })

---@param chat chinwag.Chat
---@return chinwag.ContextState
function M.state(chat)
  local st = states[chat]
  if not st then
    st = {
      items = {},
      allow_secrets = false,
      by_id = {},
      by_ordinal = {},
      by_message = setmetatable({}, { __mode = "k" }),
      loaded = setmetatable({}, { __mode = "k" }),
    }
    states[chat] = st
  end
  return st
end

-- Roots and paths ---------------------------------------------------------------------------

--- The project root for `buf`: `vim.fs.root(buf, {".git"})` for a file buffer, else the git
--- root of the working directory, else the working directory.
---@param buf integer|nil
---@return string
function M.root_of(buf)
  if buf and api.nvim_buf_is_valid(buf) and vim.bo[buf].buftype == "" and api.nvim_buf_get_name(buf) ~= "" then
    local root = vim.fs.root(buf, { ".git" })
    if root then
      return root
    end
  end
  local cwd = vim.fn.getcwd()
  return vim.fs.root(cwd, { ".git" }) or cwd
end

--- The root a chat's turns name.
---@param chat chinwag.Chat|nil
---@return string
function M.chat_root(chat)
  return (chat and states[chat] and states[chat].root) or M.root_of(nil)
end

---@param path string
---@return string
local function real(path)
  return (vim.uv or vim.loop).fs_realpath(path) or vim.fs.normalize(path)
end

--- The name of `buf` relative to `root` (else relative to the working directory); nil for a
--- buffer that is not a file.
---@param buf integer
---@param root string
---@return string|nil
function M.relative(buf, root)
  local name = api.nvim_buf_get_name(buf)
  if name == "" or vim.bo[buf].buftype ~= "" then
    return nil
  end
  local full = real(vim.fn.fnamemodify(name, ":p"))
  local prefix = real(root) .. "/"
  if full:sub(1, #prefix) == prefix then
    return full:sub(#prefix + 1)
  end
  return vim.fn.fnamemodify(name, ":~:.")
end

--- The buffer context is taken from: the current one, or (from a chat) the alternate file or
--- the previous window's.
---@return integer|nil
function M.source_buffer()
  local chats = require("chinwag.chat").by_buf
  local function usable(buf)
    return buf and buf > 0 and api.nvim_buf_is_valid(buf) and not chats[buf] and vim.bo[buf].buftype == ""
  end
  local current = api.nvim_get_current_buf()
  if not chats[current] then
    return current
  end
  local alternate = vim.fn.bufnr("#")
  if usable(alternate) then
    return alternate
  end
  local previous = vim.fn.win_getid(vim.fn.winnr("#"))
  if previous ~= 0 and usable(api.nvim_win_get_buf(previous)) then
    return api.nvim_win_get_buf(previous)
  end
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if usable(api.nvim_win_get_buf(win)) then
      return api.nvim_win_get_buf(win)
    end
  end
  return nil
end

-- Items -------------------------------------------------------------------------------------

---@param buf integer
---@return string|nil
local function language(buf)
  local filetype = vim.bo[buf].filetype
  return filetype ~= "" and filetype or nil
end

--- The whole buffer (its text now).
---@param buf integer
---@param root string
---@return chinwag.Staged
function M.buffer_item(buf, root)
  local path = M.relative(buf, root)
  return {
    wire = {
      kind = "buffer",
      path = path,
      language = language(buf),
      text = table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n"),
    },
    label = "buffer " .. (path or "[No Name]"),
  }
end

--- A file or glob relative to the root, read by the backend when the message is sent.
---@param path string
---@return chinwag.Staged
function M.file_item(path)
  return { wire = { kind = "file", path = path }, label = "file " .. path }
end

local SEVERITY = { "error", "warning", "info", "hint" }

--- The buffer's diagnostics (`vim.diagnostic.get()`), each with its line(s) of code; nil when
--- it has none.
---@param buf integer
---@param root string
---@return chinwag.Staged|nil
function M.diagnostics_item(buf, root)
  local diagnostics = vim.diagnostic.get(buf)
  if #diagnostics == 0 then
    return nil
  end
  table.sort(diagnostics, function(a, b)
    if a.lnum ~= b.lnum then
      return a.lnum < b.lnum
    end
    return (a.severity or 9) < (b.severity or 9)
  end)
  local count = api.nvim_buf_line_count(buf)
  local items = {}
  for _, d in ipairs(diagnostics) do
    local first = math.min(d.lnum, count - 1)
    local last = math.max(first, math.min(d.end_lnum or d.lnum, count - 1))
    if d.end_lnum and d.end_lnum > d.lnum and (d.end_col or 0) == 0 then
      -- A range ending at column 0 ends with the line before.
      last = math.max(first, last - 1)
    end
    items[#items + 1] = {
      line = first + 1,
      endLine = last > first and last + 1 or nil,
      severity = SEVERITY[d.severity] or nil,
      message = d.message,
      source = d.source,
      text = table.concat(api.nvim_buf_get_lines(buf, first, last + 1, false), "\n"),
    }
  end
  local path = M.relative(buf, root)
  return {
    wire = { kind = "diagnostics", path = path, language = language(buf), items = items },
    label = ("diagnostics %s (%d)"):format(path or "[No Name]", #items),
  }
end

---@param staged boolean
---@return chinwag.Staged
function M.diff_item(staged)
  return { wire = { kind = "gitDiff", staged = staged }, label = staged and "git diff --cached" or "git diff" }
end

---@param url string
---@return chinwag.Staged
function M.url_item(url)
  return { wire = { kind = "url", url = url }, label = "url " .. url }
end

-- Sizes and manifests -----------------------------------------------------------------------

--- "880 B", "1.2 KiB", "3.4 MiB".
---@param bytes number|nil
---@return string
function M.size(bytes)
  bytes = tonumber(bytes) or 0
  if bytes < 1024 then
    return ("%d B"):format(bytes)
  elseif bytes < 1024 * 1024 then
    return ("%.1f KiB"):format(bytes / 1024)
  end
  return ("%.1f MiB"):format(bytes / 1024 / 1024)
end

---@param value any
---@return table
local function list(value)
  return type(value) == "table" and value or {}
end

--- "2 redacted (openai-key, assignment)" for a list of redactions ("" when there are none).
---@param redactions table[]
---@return string
local function redaction_text(redactions)
  if #redactions == 0 then
    return ""
  end
  local kinds, seen = {}, {}
  for _, r in ipairs(redactions) do
    local kind = tostring(r.kind or "secret")
    if not seen[kind] then
      seen[kind] = true
      kinds[#kinds + 1] = kind
    end
  end
  return ("%d redacted (%s)"):format(#redactions, table.concat(kinds, ", "))
end

--- All the redactions of a manifest: the message's, the items' and the instructions'.
---@param manifest table
---@return table[]
function M.redactions(manifest)
  local out = {}
  vim.list_extend(out, list(list(manifest.message).redactions))
  for _, item in ipairs(list(manifest.items)) do
    vim.list_extend(out, list(item.redactions))
  end
  if type(manifest.instructions) == "table" then
    vim.list_extend(out, list(manifest.instructions.redactions))
  end
  return out
end

--- One line saying what a manifest sent: kinds, labels and sizes of its items, tokens,
--- redactions, files left out, the project instructions, an override of the guard.
---@param manifest table
---@return string
function M.manifest_line(manifest)
  local parts = {}
  local items = list(manifest.items)
  local shown = math.min(#items, 4)
  for i = 1, shown do
    local item = items[i]
    local label = tostring(item.label or ""):gsub(" %(the whole buffer%)$", "")
    -- The labels of diagnostics and of the git diff say what they are.
    local kind = ({ region = "", diagnostics = "", gitDiff = "" })[item.kind] or (tostring(item.kind) .. " ")
    parts[#parts + 1] = ("%s%s (%s)"):format(kind, label, M.size(item.bytes))
  end
  if #items > shown then
    parts[#parts + 1] = ("+%d more"):format(#items - shown)
  end
  if #items > 0 then
    parts[#parts + 1] = ("~%d tokens"):format(tonumber(manifest.totalTokens) or 0)
  end
  local redacted = redaction_text(M.redactions(manifest))
  if redacted ~= "" then
    parts[#parts + 1] = redacted
  end
  if manifest.allowSecrets == true then
    parts[#parts + 1] = "secrets sent as they were"
  end
  local allowed = list(manifest.allowFiles)
  if #allowed > 0 then
    parts[#parts + 1] = "confirmed " .. table.concat(allowed, ", ")
  end
  local refused = list(manifest.refused)
  if #refused > 0 then
    local names = {}
    for _, r in ipairs(refused) do
      names[#names + 1] = ("%s (%s)"):format(tostring(r.path or r.kind), tostring(r.reason or "refused"))
    end
    parts[#parts + 1] = "left out " .. table.concat(names, ", ")
  end
  local instructions = manifest.instructions
  if type(instructions) == "table" then
    parts[#parts + 1] = instructions.included and (tostring(instructions.path) .. " included")
      or (tostring(instructions.path) .. " not trusted, not sent")
  end
  return "sent: " .. table.concat(parts, " · ")
end

--- What the staged list shows after an item's label.
---@param staged chinwag.Staged
---@return string
local function preview_text(staged)
  if staged.failed then
    return " · no preview: " .. staged.failed
  end
  local p = staged.preview
  if not p then
    return " · …"
  end
  local parts = {}
  if staged.wire.kind == "file" and (p.files ~= 1 or staged.wire.path:find("[*?]")) then
    parts[#parts + 1] = ("%d file%s"):format(p.files, p.files == 1 and "" or "s")
  end
  parts[#parts + 1] = M.size(p.bytes)
  parts[#parts + 1] = ("~%d tokens"):format(p.tokens)
  local redacted = redaction_text(p.redactions)
  if redacted ~= "" then
    parts[#parts + 1] = redacted
  end
  if #p.refused > 0 then
    parts[#parts + 1] = ("%d left out"):format(#p.refused)
  end
  if staged.allow and #staged.allow > 0 then
    parts[#parts + 1] = "confirmed for this send"
  end
  return " · " .. table.concat(parts, " · ")
end

--- The label of a region staged by `:ChinwagSend`.
---@param region table
---@return string
local function region_label(region)
  return (require("chinwag.chat").region_lines(region)[1]:gsub(":$", ""))
end

--- Everything staged in `chat`, in the order it is listed (regions first).
---@param chat chinwag.Chat
---@return chinwag.Staged[]
function M.staged(chat)
  local out = {}
  for _, region in ipairs(chat.context or {}) do
    local staged = region_staged[region]
    if not staged then
      staged = { wire = region, label = region_label(region), region = true }
      region_staged[region] = staged
    end
    out[#out + 1] = staged
  end
  vim.list_extend(out, M.state(chat).items)
  return out
end

-- The list in the chat buffer ---------------------------------------------------------------

--- The user turns' manifests in the order they are shown: a turn sent from this buffer by
--- its message, a saved one by its id, else (turns without ids) by its place among the turns
--- of the `history/get` result the chat last showed.
---@param chat chinwag.Chat
---@return table<integer, table> by row (0-based) of each user heading
local function sent_lines(chat)
  local st = M.state(chat)
  local prompt = chat:prompt_row()
  local users = {}
  for _, message in ipairs(chat.messages or {}) do
    if message.role == "user" then
      users[#users + 1] = message
    end
  end
  if st.loading then
    -- The render of a `history/get` result: its user turns, in order, are these.
    st.loading = nil
    st.loaded = setmetatable({}, { __mode = "k" })
    for i, message in ipairs(users) do
      st.loaded[message] = i
    end
  end
  local out = {}
  local shown = 0
  for row, line in ipairs(api.nvim_buf_get_lines(chat.buf, 0, prompt, false)) do
    if line == "## You" or line:find("^## You ") then
      shown = shown + 1
      local message = users[shown]
      if message then
        local manifest = st.by_message[message]
          or (message.id and st.by_id[message.id])
          or (st.loaded[message] and st.by_ordinal[st.loaded[message]])
          or nil
        if manifest then
          out[row - 1] = manifest
        end
      end
    end
  end
  return out
end

--- Virtual lines of `text`, broken at its " · " to fit `width` (virtual lines do not wrap);
--- the lines after the first are indented by `indent`.
---@param text string
---@param width integer
---@param indent string
---@param hl string
---@return table[]
local function wrapped(text, width, indent, hl)
  local lines, current = {}, nil
  for _, part in ipairs(vim.split(text, " · ", { plain = true })) do
    if current and vim.fn.strdisplaywidth(current .. " · " .. part) > width then
      lines[#lines + 1] = { { current, hl } }
      current = indent .. part
    else
      current = current and (current .. " · " .. part) or part
    end
  end
  lines[#lines + 1] = { { current or "", hl } }
  return lines
end

--- The width virtual lines of `buf` have (its first window's, less a margin).
---@param buf integer
---@return integer
local function text_width(buf)
  local win = vim.fn.win_findbuf(buf)[1]
  local width = win and api.nvim_win_get_width(win) or 80
  return math.max(30, width - 2)
end

--- Show the staged list under the input heading and, under each user heading, what went with
--- that message. Called by the chat after each render (`Chat:_show_context()`).
---@param chat chinwag.Chat
function M.show(chat)
  local buf = chat.buf
  if not api.nvim_buf_is_valid(buf) or not chat.prompt_mark then
    return
  end
  local chat_ns = require("chinwag.chat").ns
  if chat.context_mark then
    pcall(api.nvim_buf_del_extmark, buf, chat_ns, chat.context_mark)
    chat.context_mark = nil
  end
  api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  local width = text_width(buf)
  for row, manifest in pairs(sent_lines(chat)) do
    api.nvim_buf_set_extmark(buf, M.ns, row, 0, {
      virt_lines = wrapped("  " .. M.manifest_line(manifest), width, "    ", "ChinwagSent"),
    })
  end
  local st = M.state(chat)
  local staged = M.staged(chat)
  if #staged == 0 and not st.allow_secrets then
    return
  end
  local virt_lines = {}
  local tokens, known = 0, true
  for i, item in ipairs(staged) do
    if not item.preview and not item.pending and not item.failed then
      M.preview(chat, item)
    end
    if item.preview then
      tokens = tokens + item.preview.tokens
    else
      known = false
    end
    vim.list_extend(
      virt_lines,
      wrapped(("  [%d] %s%s"):format(i, item.label, preview_text(item)), width, "      ", "ChinwagContext")
    )
  end
  if st.allow_secrets then
    virt_lines[#virt_lines + 1] = {
      { "  ! the next message goes without the secret guard (:ChinwagAllowSecrets! to undo)", "ChinwagStopped" },
    }
  end
  if #staged > 0 then
    local total = ("  sent with the next message: %s%d tokens · dc or :ChinwagRemove takes one off"):format(
      known and "~" or "≥ ",
      tokens
    )
    vim.list_extend(virt_lines, wrapped(total, width, "    ", "ChinwagSent"))
  end
  chat.context_mark = api.nvim_buf_set_extmark(buf, chat_ns, chat:prompt_row(), 0, { virt_lines = virt_lines })
end

---@param chat chinwag.Chat
local function redraw(chat)
  if api.nvim_buf_is_valid(chat.buf) and require("chinwag.chat").by_buf[chat.buf] == chat then
    M.show(chat)
  end
end

--- Ask the backend what `staged` would send (size, tokens, redactions); a file the user must
--- confirm is asked about now; an item that cannot be sent is taken off the list.
---@param chat chinwag.Chat
---@param staged chinwag.Staged
function M.preview(chat, staged)
  staged.pending = true
  local root = M.chat_root(chat)
  local params = {
    content = "",
    context = { staged.wire },
    root = root,
    allowFiles = staged.allow,
  }
  backend.request("chat/previewContext", params, function(err, result)
    staged.pending = false
    if err then
      local fatal = ({ [1402] = true, [1404] = true, [1405] = true, [-32602] = true })[err.code]
      if fatal then
        M.remove_item(chat, staged)
        local declined = err.code == util.codes.CONTEXT_REFUSED
          and type(err.data) == "table"
          and err.data.action == "confirmFile"
        util.notify(
          ("%s not attached: %s"):format(staged.label, declined and "not confirmed" or util.error_text(err)),
          vim.log.levels.WARN
        )
      else
        staged.failed = util.error_text(err)
        redraw(chat)
      end
      return
    end
    if params.allowFiles and #params.allowFiles > 0 then
      staged.allow = params.allowFiles
    end
    local manifest = type(result) == "table" and result.manifest or {}
    local p = { bytes = 0, tokens = 0, files = 0, redactions = {}, refused = list(manifest.refused) }
    for _, item in ipairs(list(manifest.items)) do
      p.bytes = p.bytes + (tonumber(item.bytes) or 0)
      p.tokens = p.tokens + (tonumber(item.tokens) or 0)
      p.files = p.files + 1
      vim.list_extend(p.redactions, list(item.redactions))
    end
    staged.preview = p
    redraw(chat)
    require("chinwag.trust").check(root, manifest.instructions)
  end)
end

-- Staging and removing ----------------------------------------------------------------------

--- Stage `staged` in `chat` (shown at once, previewed in the background).
---@param chat chinwag.Chat
---@param staged chinwag.Staged
---@param root string|nil The project root it belongs to.
function M.add(chat, staged, root)
  local st = M.state(chat)
  if root then
    st.root = root
  end
  st.items[#st.items + 1] = staged
  redraw(chat)
end

--- Take `staged` off the list (a region from `chat.context`, else an item).
---@param chat chinwag.Chat
---@param staged chinwag.Staged
---@return boolean removed
function M.remove_item(chat, staged)
  for i, region in ipairs(chat.context or {}) do
    if region == staged.wire then
      table.remove(chat.context, i)
      redraw(chat)
      return true
    end
  end
  local items = M.state(chat).items
  for i, item in ipairs(items) do
    if item == staged then
      table.remove(items, i)
      redraw(chat)
      return true
    end
  end
  return false
end

--- Take item `index` (as listed) off the list, or all of them (`"all"`); without an index, the
--- only one, else pick one.
---@param chat chinwag.Chat|nil
---@param index integer|string|nil
function M.remove(chat, index)
  chat = chat or require("chinwag.chat").current()
  if not chat then
    util.notify("no chat", vim.log.levels.WARN)
    return
  end
  local staged = M.staged(chat)
  if #staged == 0 then
    util.notify("nothing is attached to the next message")
    return
  end
  if index == "all" then
    chat.context = {}
    M.state(chat).items = {}
    redraw(chat)
    util.notify(("took %d item%s off the next message"):format(#staged, #staged == 1 and "" or "s"))
    return
  end
  local function take(item)
    if item and M.remove_item(chat, item) then
      util.notify("took " .. item.label .. " off the next message")
    end
  end
  local n = tonumber(index)
  if n then
    if not staged[n] then
      util.notify(("no item %d (there are %d)"):format(n, #staged), vim.log.levels.ERROR)
      return
    end
    return take(staged[n])
  end
  if #staged == 1 then
    return take(staged[1])
  end
  vim.ui.select(staged, {
    prompt = "chinwag: take off the next message",
    format_item = function(item)
      return item.label .. preview_text(item)
    end,
  }, take)
end

--- `:ChinwagAllowSecrets[!]`: the next message of the current chat goes without the secret
--- guard (with `!`: it does not any more).
---@param off boolean|nil
function M.allow_secrets(off)
  local chat = require("chinwag.chat").current()
  if not chat then
    util.notify("no chat", vim.log.levels.WARN)
    return
  end
  M.state(chat).allow_secrets = not off
  redraw(chat)
  if off then
    util.notify("the secret guard is on for the next message")
  else
    util.notify("the next message of this chat goes without the secret guard (once)", vim.log.levels.WARN)
  end
end

--- Ask whether to send a file the backend refused until confirmed (`1404`, `confirmFile`);
--- `done(true)` to send it this once.
---@param data table The error's data: `path`, `reason`.
---@param done fun(yes: boolean)
function M.confirm_file(data, done)
  local path = tostring(data.path or "?")
  local why = data.reason == "gitIgnored" and ("git ignores %s"):format(path)
    or ("%s is the kind of file that holds secrets"):format(path)
  local yes = "Send " .. path .. " with this message, this once"
  vim.ui.select({ yes, "Do not send it" }, {
    prompt = ("chinwag: %s. Send it?"):format(why),
  }, function(choice)
    done(choice == yes)
  end)
end

-- Commands ----------------------------------------------------------------------------------

local KINDS = { "buffer", "file", "diagnostics", "diff", "url" }

--- `:ChinwagAdd {kind} [arg]`: stage context in the current chat (opening one).
---   buffer           the buffer (from a chat: the file you came from)
---   file {path}      a file or glob, relative to the project root
---   diagnostics      the buffer's diagnostics with their lines
---   diff [staged]    `git diff` (`git diff --cached` with `staged`)
---   url {url}        a web page
---@param args { fargs: string[], bang: boolean|nil }
function M.command(args)
  local kind, arg = args.fargs[1], table.concat(vim.list_slice(args.fargs, 2), " ")
  if not kind or not vim.tbl_contains(KINDS, kind) then
    util.notify("usage: :ChinwagAdd buffer|file {path}|diagnostics|diff [staged]|url {url}", vim.log.levels.ERROR)
    return
  end
  local source = M.source_buffer()
  local root = M.root_of(source)
  local item
  if kind == "buffer" or kind == "diagnostics" then
    if not source then
      util.notify("no buffer to take " .. kind .. " from", vim.log.levels.ERROR)
      return
    end
    if kind == "buffer" then
      item = M.buffer_item(source, root)
    else
      item = M.diagnostics_item(source, root)
      if not item then
        util.notify(("%s has no diagnostics"):format(M.relative(source, root) or "this buffer"), vim.log.levels.WARN)
        return
      end
    end
  elseif kind == "file" then
    if arg == "" then
      util.notify("usage: :ChinwagAdd file {path or glob relative to " .. root .. "}", vim.log.levels.ERROR)
      return
    end
    item = M.file_item(arg)
  elseif kind == "diff" then
    if arg ~= "" and arg ~= "staged" then
      util.notify("usage: :ChinwagAdd diff [staged]", vim.log.levels.ERROR)
      return
    end
    item = M.diff_item(arg == "staged")
  else
    if arg == "" then
      util.notify("usage: :ChinwagAdd url {https://...}", vim.log.levels.ERROR)
      return
    end
    item = M.url_item(arg)
  end
  local chat_mod = require("chinwag.chat")
  local chat = chat_mod.by_buf[api.nvim_get_current_buf()] or chat_mod.target({ focus = false })
  M.add(chat, item, (kind == "file" or kind == "diff") and root or (source and M.root_of(source)))
end

--- Completion for `:ChinwagAdd`: the kinds, then paths relative to the project root.
---@param lead string
---@param line string
---@return string[]
function M.complete(lead, line)
  local words = vim.split(line, "%s+", { trimempty = true })
  local typing_kind = #words == 1 or (#words == 2 and not line:match("%s$"))
  if typing_kind then
    return vim.tbl_filter(function(kind)
      return kind:find(lead, 1, true) == 1
    end, KINDS)
  end
  if words[2] == "diff" then
    return vim.tbl_filter(function(word)
      return word:find(lead, 1, true) == 1
    end, { "staged" })
  end
  if words[2] ~= "file" then
    return {}
  end
  local root = M.root_of(M.source_buffer())
  local out = {}
  for _, path in ipairs(vim.fn.globpath(root, lead .. "*", true, true)) do
    local rel = path:sub(#root + 2)
    if vim.fn.isdirectory(path) == 1 then
      rel = rel .. "/"
    end
    if rel ~= ".git/" then
      out[#out + 1] = rel
    end
  end
  table.sort(out)
  return out
end

--- `:ChinwagRemove [n|all]` completion.
---@param lead string
---@return string[]
function M.complete_remove(lead)
  local chat = require("chinwag.chat").current()
  local out = { "all" }
  for i = 1, chat and #M.staged(chat) or 0 do
    out[#out + 1] = tostring(i)
  end
  return vim.tbl_filter(function(word)
    return word:find(lead, 1, true) == 1
  end, out)
end

-- The chat's turns --------------------------------------------------------------------------

--- Remember the manifests of a `history/get` result (and the chat's preset).
---@param chat chinwag.Chat
---@param saved table
function M.remember(chat, saved)
  local st = M.state(chat)
  st.by_ordinal = {}
  for _, m in ipairs(list(saved.messages)) do
    if m.role == "user" then
      local manifest = type(m.context) == "table" and m.context or nil
      st.by_ordinal[#st.by_ordinal + 1] = manifest or false
      if type(m.id) == "string" and manifest then
        st.by_id[m.id] = manifest
      end
    end
  end
  for i, manifest in ipairs(st.by_ordinal) do
    if manifest == false then
      st.by_ordinal[i] = nil
    end
  end
  chat.preset = type(saved.preset) == "string" and saved.preset or nil
end

--- Called by `Chat:load()` with a `history/get` result, before it renders.
---@param chat chinwag.Chat
---@param saved table
function M.on_load(chat, saved)
  if type(saved) == "table" then
    M.remember(chat, saved)
    M.state(chat).loading = true
  end
end

--- Say what the secret guard held back in a turn, and ask about project instructions that
--- were left out for want of trust.
---@param manifest table
---@param root string|nil
local function report(manifest, root)
  local redacted = M.redactions(manifest)
  if #redacted > 0 and manifest.allowSecrets ~= true then
    util.notify(
      ("%s before sending; :ChinwagAllowSecrets sends the next message as it is"):format(redaction_text(redacted)),
      vim.log.levels.WARN
    )
  end
  if root then
    require("chinwag.trust").check(root, manifest.instructions)
  end
end

---@param saved table A `history/get` result.
---@param id string
---@return table|nil
local function manifest_of(saved, id)
  for _, m in ipairs(list(saved.messages)) do
    if m.id == id and type(m.context) == "table" then
      return m.context
    end
  end
  return nil
end

--- Called by the chat with the `history/get` it asks for after each turn: remember the
--- manifests (the turn's under its message), show them, say what the guard held back.
---@param chat chinwag.Chat
---@param saved table
function M.on_saved(chat, saved)
  if type(saved) ~= "table" then
    return
  end
  local st = M.state(chat)
  local preset = chat.preset
  M.remember(chat, saved)
  local turn = st.turn
  st.turn = nil
  local manifest = turn and manifest_of(saved, turn.id)
  if manifest and turn.user then
    st.by_message[turn.user] = manifest
  end
  if chat.preset ~= preset then
    chat:update_header()
  end
  redraw(chat)
  if manifest then
    report(manifest, turn.root)
  end
end

--- After a turn began: in a chat buffer, the chat's own `history/get` after the turn brings
--- its manifest (`on_saved()`); elsewhere (a chat in any buffer) it is fetched here.
---@param chat_id string
---@param user_id string
---@param root string|nil
---@param user chinwag.Message|nil The user turn as the chat buffer shows it.
function M.turn_began(chat_id, user_id, root, user)
  local chat = require("chinwag.chat").by_id[chat_id]
  if chat and api.nvim_buf_is_valid(chat.buf) then
    M.state(chat).turn = { id = user_id, root = root, user = user }
    return
  end
  backend.request("history/get", { chatId = chat_id }, function(err, saved)
    local manifest = not err and type(saved) == "table" and manifest_of(saved, user_id)
    if manifest then
      report(manifest, root)
    end
  end, { unlock = false })
end

--- Complete the params of a chat turn before it is first sent (`backend.prepare`): the
--- project root, the items staged in its chat (then the list is empty), a confirmed file, a
--- one-send override of the guard, and `/name` at the start of a message as a preset. Returns
--- what to do when the turn ends.
---@param method string
---@param params table
---@return fun(err: table|nil, result: table|nil)|nil
function M.prepare(method, params)
  local chat = params.chatId and require("chinwag.chat").by_id[params.chatId] or nil
  params.root = params.root or M.chat_root(chat)
  if method == "chat/regenerate" then
    return nil
  end
  -- The turn's user message as the chat shows it (rendered before the request goes out).
  local user
  for i = #(chat and chat.messages or {}), 1, -1 do
    if chat.messages[i].role == "user" then
      user = chat.messages[i]
      break
    end
  end
  if chat then
    local st = M.state(chat)
    if #st.items > 0 then
      local context = params.context or {}
      local allow = params.allowFiles or {}
      for _, staged in ipairs(st.items) do
        context[#context + 1] = staged.wire
        for _, path in ipairs(staged.allow or {}) do
          if not vim.tbl_contains(allow, path) then
            allow[#allow + 1] = path
          end
        end
      end
      params.context = context
      params.allowFiles = #allow > 0 and allow or nil
      st.items = {}
    end
    if st.allow_secrets then
      params.allowSecrets = true
      st.allow_secrets = false
    end
    vim.schedule(function()
      redraw(chat)
    end)
  end
  if method == "chat/send" and not params.preset then
    local name, rest = require("chinwag.presets").split(params.content)
    if name then
      params.preset, params.content = name, rest
    end
  end
  local root = params.root
  return function(err, result)
    local ids = result or (err and type(err.data) == "table" and err.data) or nil
    if type(ids) == "table" and type(ids.chatId) == "string" and type(ids.userMessageId) == "string" then
      M.turn_began(ids.chatId, ids.userMessageId, root, user)
    end
  end
end

--- Set up a chat buffer: the key that takes an item off the list, slash completion.
---@param chat chinwag.Chat
function M.setup_buffer(chat)
  local keys = require("chinwag.config").get().keymaps
  util.map(chat.buf, keys.remove_context, function()
    M.remove(chat, vim.v.count > 0 and vim.v.count or nil)
  end, "chinwag: take a context item off the next message ([count]: item count)")
  require("chinwag.presets").setup_buffer(chat.buf)
end

return M
