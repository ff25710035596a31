-- Context beyond the selection: :ChinwagAdd stages the buffer, a glob, diagnostics, the git
-- diff, a web page and a sensitive file (asked about at once) in the chat, each listed under
-- the input heading with its size and tokens; items are taken off with :ChinwagRemove and
-- with `dc`; they go with the next message, then the list is empty and a line under the
-- message says what was sent. A file that becomes git-ignored before the send is asked about
-- then and sent again with it confirmed; a declined one is not attached; :ChinwagAllowSecrets
-- lets one message go unredacted; a reopened chat shows what went with each message.
local H = require("helpers")
local api = vim.api

local scenario = vim.json.decode(table.concat(vim.fn.readfile(vim.env.CHINWAG_TEST_HOME .. "/scenario.json"), "\n"))

--- Virtual lines as strings, a line broken to fit the window joined again (the lines that go
--- on are indented deeper than the first).
local function joined(virt_lines)
  local out = {}
  for _, line in ipairs(virt_lines or {}) do
    local parts = {}
    for _, chunk in ipairs(line) do
      parts[#parts + 1] = chunk[1]
    end
    local text = table.concat(parts)
    if text:find("^   ") and #out > 0 then
      out[#out] = out[#out] .. " · " .. vim.trim(text)
    else
      out[#out + 1] = text
    end
  end
  return out
end

--- The "sent:" lines under the user headings (namespace chinwag.context), in order.
local function sent_lines(buf)
  local ns = api.nvim_create_namespace("chinwag.context")
  local out = {}
  for _, mark in ipairs(api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    for _, text in ipairs(joined(mark[4].virt_lines)) do
      out[#out + 1] = { row = mark[2], text = text }
    end
  end
  return out
end

--- The staged list (virtual lines on the input heading), as strings.
local function staged(chat)
  if not chat.context_mark then
    return {}
  end
  local ns = require("chinwag.chat").ns
  local mark = api.nvim_buf_get_extmark_by_id(chat.buf, ns, chat.context_mark, { details = true })
  return joined(mark[3] and mark[3].virt_lines)
end

local function previewed(chat)
  for _, item in ipairs(require("chinwag.context").staged(chat)) do
    if not item.preview then
      return false
    end
  end
  return true
end

H.run("test_context", function()
  H.setup()
  local context = require("chinwag.context")
  vim.cmd("edit src/lib.rs")
  local source = api.nvim_get_current_buf()
  local source_win = api.nvim_get_current_win()
  local dns = api.nvim_create_namespace("test.diagnostics")
  vim.diagnostic.set(dns, source, {
    {
      lnum = 0,
      col = 0,
      end_lnum = 0,
      end_col = 6,
      severity = vim.diagnostic.severity.ERROR,
      message = "mismatched types",
      source = "rustc",
    },
  })
  H.eq(context.root_of(source), vim.fn.getcwd(), "the project root is the git root")

  -- Completion of the kinds, then of paths relative to the project root.
  H.eq(context.complete("d", "ChinwagAdd d"), { "diagnostics", "diff" }, "kinds")
  H.eq(context.complete("src/", "ChinwagAdd file src/"), { "src/lib.rs", "src/main.rs" }, "paths")
  H.eq(context.complete("", "ChinwagAdd diff "), { "staged" }, "diff staged")

  -- Staged from the file: the chat opens beside it, the focus stays.
  vim.cmd("ChinwagAdd buffer")
  local chat = require("chinwag.chat").current()
  H.eq(api.nvim_get_current_win(), source_win, "the focus stays in the file")
  vim.cmd("ChinwagAdd file src/*.rs")
  vim.cmd("ChinwagAdd diagnostics")
  vim.cmd("ChinwagAdd diff")
  vim.cmd("ChinwagAdd url " .. scenario.url)
  vim.cmd("ChinwagAdd file README.md")
  -- A file that holds secrets is asked about as it is staged.
  H.will_select_text("Send .env")
  vim.cmd("ChinwagAdd file .env")
  H.wait(function()
    return previewed(chat) and #context.staged(chat) == 7
  end, "the previews")
  local list = staged(chat)
  H.contains(list[1], "[1] buffer src/lib.rs · ", "the buffer")
  H.contains(list[1], "tokens", "its tokens")
  H.contains(list[2], "[2] file src/*.rs · 2 files · ", "the glob")
  H.contains(list[3], "[3] diagnostics src/lib.rs (1)", "the diagnostics")
  H.contains(list[4], "[4] git diff · ", "the diff")
  H.contains(list[5], "[5] url " .. scenario.url, "the page")
  H.contains(list[6], "[6] file README.md", "the readme")
  H.contains(list[7], "[7] file .env · ", "the confirmed file")
  H.contains(list[7], "1 redacted (assignment)", "what the guard holds back")
  H.contains(list[7], "confirmed for this send", "confirmed")
  H.contains(list[8], "sent with the next message: ~", "the total")
  local item_tokens = context.staged(chat)[1].preview.tokens
  H.ok(item_tokens > 0 and list[1]:find("~" .. item_tokens .. " tokens", 1, true), "the buffer's tokens")

  -- Taken off: by number, then with `dc` and a count in the chat.
  H.eq(
    require("chinwag.context").complete_remove(""),
    { "all", "1", "2", "3", "4", "5", "6", "7" },
    ":ChinwagRemove completion"
  )
  vim.cmd("ChinwagRemove 2")
  H.eq(#context.staged(chat), 6, "the glob is off")
  H.contains(staged(chat)[2], "[2] diagnostics", "renumbered")
  api.nvim_set_current_win(require("chinwag.chat").window(chat))
  H.keys("5dc")
  H.eq(#context.staged(chat), 5, "the readme is off")
  H.ok(not table.concat(staged(chat), "\n"):find("README", 1, true), "the readme is not listed")

  -- Sent with the message typed in the draft; the list is empty after.
  H.keys("GiLook at this<C-s><Esc>")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 1) == "Seen."
  end, "the first answer")
  H.eq(#context.staged(chat), 0, "nothing staged any more")
  H.eq(staged(chat), {}, "no list")
  H.wait(function()
    return #sent_lines(chat.buf) == 1
  end, "the line saying what was sent")
  local sent = sent_lines(chat.buf)[1]
  H.eq(H.lines(chat.buf)[sent.row + 1], "## You", "under the user heading")
  H.contains(sent.text, "sent: buffer src/lib.rs (", "the kinds, labels and sizes")
  H.contains(sent.text, " · diagnostics: src/lib.rs (", "the diagnostics")
  H.contains(sent.text, " · git diff (", "the diff")
  H.contains(sent.text, " · +1 more · ~", "more items, then the tokens")
  H.contains(sent.text, "1 redacted (assignment)", "the redaction")
  H.contains(sent.text, "confirmed .env", "the confirmed file")
  H.eq(#H.notes_with("1 redacted (assignment) before sending"), 1, "the redaction was said")

  -- A file git ignores since it was staged: asked about at the send, then sent again.
  api.nvim_set_current_win(source_win)
  vim.cmd("ChinwagAdd file notes.txt")
  H.wait(function()
    return previewed(chat)
  end, "the notes' preview")
  vim.fn.writefile({ "notes.txt" }, ".gitignore")
  H.will_select_text("Send notes.txt")
  chat:send("And these notes?")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 2) == "Noted."
  end, "the answer with the notes")

  -- Declined: not attached.
  H.will_select_text("Do not send it")
  vim.cmd("ChinwagAdd file .env")
  H.wait(function()
    return #H.notes_with(".env not attached") == 1
  end, "the declined file")
  H.eq(#context.staged(chat), 0, "the declined file is not staged")

  -- Declined at the send: the message is not sent and says why.
  vim.cmd("ChinwagAdd file draft.txt")
  H.wait(function()
    return previewed(chat) and #context.staged(chat) == 1
  end, "the draft's preview")
  vim.fn.writefile({ "notes.txt", "draft.txt" }, ".gitignore")
  H.will_select_text("Do not send it")
  chat:send("With the draft")
  H.wait(function()
    return not chat.busy and (H.answer(chat.buf, 3) or ""):find("confirm draft.txt", 1, true) ~= nil
  end, "the refused turn")

  -- One message without the secret guard.
  vim.cmd("ChinwagAllowSecrets")
  H.contains(staged(chat)[1], "without the secret guard", "the override is shown")
  chat:send("my key is " .. scenario.key)
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 4) == "Careful."
  end, "the unguarded answer")
  H.wait(function()
    local lines = sent_lines(chat.buf)
    return #lines == 3 and lines[3].text:find("secrets sent as they were", 1, true) ~= nil
  end, "the override recorded")
  local headings = vim.tbl_filter(
    function(row)
      return H.lines(chat.buf)[row + 1] == "## You"
    end,
    vim.tbl_map(function(line)
      return line.row
    end, sent_lines(chat.buf))
  )
  H.eq(#headings, 3, "each line under a heading")
  H.ok(
    H.lines(chat.buf)[sent_lines(chat.buf)[3].row + 2]:find("my key is", 1, true),
    "the third line under the fourth message (the refused one has none)"
  )
  H.eq(staged(chat), {}, "the override is spent")

  -- Reopened: each message shows what went with it.
  local id = chat.id
  vim.cmd("bwipeout! " .. chat.buf)
  local reopened
  require("chinwag.chat").open_saved(id, function(c)
    reopened = c
  end)
  H.wait(function()
    return reopened ~= nil
  end, "the reopened chat")
  local again = sent_lines(reopened.buf)
  H.eq(#again, 3, "three lines")
  H.eq(again[1].text, sent.text, "the same first line")
  H.contains(again[2].text, "file notes.txt", "the notes")
  H.contains(again[2].text, "confirmed notes.txt", "confirmed at the send")
end)
