-- chinwag-test: own-provider
-- Code blocks of a chat: `gy` yanks the block at the cursor (else the last one) to the unnamed
-- register and to `+` with 'clipboard' unnamedplus; `]C`/`[C` jump between blocks (with a
-- count); `gA` shows the block against the lines last sent from a file (tracked through edits
-- above them) in the rewrite diff, applied by `ga`; with no such lines, or their buffer gone,
-- it says so and changes nothing.
local H = require("helpers")
local P = require("provider")
local api = vim.api

local ANSWER = table.concat({
  "Use i32:\n\n",
  "```rust\n",
  "fn add(a: i32, b: i32) -> i32 { a + b }\n",
  "fn sub(a: i32, b: i32) -> i32 { a - b }\n",
  "```\n\n",
  "Or leave it:\n\n",
  "~~~text\n",
  "nothing else\n",
  "~~~\n",
})

local function cursor_line()
  return api.nvim_get_current_line()
end

H.run("test_blocks", function()
  -- The fences as markdown has them: longer fences hold shorter ones, a block in a list item
  -- loses the item's indent, an unclosed block runs to the end.
  local parsed = require("chinwag.blocks").parse({
    "````md",
    "```lua",
    "x()",
    "```",
    "````",
    "1. step",
    "   ```sh",
    "   make",
    "     indented",
    "   ```",
    "~~~",
    "open",
  })
  H.eq(#parsed, 3, "three blocks")
  H.eq({ parsed[1].first, parsed[1].last, parsed[1].language }, { 0, 4, "md" }, "the outer fence")
  H.eq(parsed[1].lines, { "```lua", "x()", "```" }, "holds the inner one")
  H.eq(parsed[2].lines, { "make", "  indented" }, "a list item's block")
  H.eq({ parsed[3].first, parsed[3].last, parsed[3].lines }, { 10, 11, { "open" } }, "unclosed")

  local server = P.start()
  P.write_config(server)
  server:push(P.sse({ ANSWER }))
  server:push(P.sse({ "Here:\n```lua\nprint(1)\n```" }))
  H.setup()
  vim.fn.writefile({
    "// header",
    "fn add(a: u8, b: u8) -> u8 { a + b }",
    "fn sub(a: u8, b: u8) -> u8 { a - b }",
    "// footer",
  }, "src/lib.rs")
  vim.cmd("edit src/lib.rs")
  local source = api.nvim_get_current_buf()

  vim.cmd("2,3ChinwagSend use i32")
  local chat = require("chinwag.chat").current()
  H.wait(function()
    return not chat.busy
  end, "the answer")
  H.eq(api.nvim_get_current_buf(), source, "the cursor stayed in the file")
  H.contains(server:last_user(1), "fn add(a: u8", "the lines were sent")

  -- Yank: the cursor in the draft is in no block: the last one.
  vim.cmd("Chinwag")
  H.eq(api.nvim_get_current_buf(), chat.buf, "in the chat")
  H.keys("gy")
  H.eq(vim.fn.getreg('"', 1, true), { "nothing else" }, "gy outside a block yanks the last block")
  H.eq(vim.fn.getregtype('"'), "V", "linewise")

  -- Jumps: the block sent with the question comes first, then the answer's two.
  H.keys("gg]C")
  H.eq(cursor_line(), "```rust", "]C: the fence of the code sent")
  H.ok(api.nvim_win_get_cursor(0)[1] < chat:prompt_row(), "in the transcript")
  local sent_fence = api.nvim_win_get_cursor(0)[1]
  H.keys("]C")
  local answer_fence = api.nvim_win_get_cursor(0)[1]
  H.ok(answer_fence > sent_fence and cursor_line() == "```rust", "]C: the answer's first block")
  H.keys("]C")
  H.eq(cursor_line(), "~~~text", "]C: the answer's second block")
  H.keys("]C")
  H.eq(cursor_line(), "~~~text", "]C at the last block stays")
  H.ok(#H.notes_with("no code block below") > 0, "and says so")
  H.keys("[C")
  H.eq(api.nvim_win_get_cursor(0)[1], answer_fence, "[C: back")
  H.keys("gg2]C")
  H.eq(api.nvim_win_get_cursor(0)[1], answer_fence, "2]C: a count")
  H.keys("j[C")
  H.eq(api.nvim_win_get_cursor(0)[1], answer_fence, "[C inside a block: its own fence")

  -- Yank the block at the cursor, and to + with clipboard=unnamedplus.
  local clipboard = {}
  vim.g.clipboard = {
    name = "test",
    copy = {
      ["+"] = function(lines)
        clipboard["+"] = lines
      end,
      ["*"] = function(lines)
        clipboard["*"] = lines
      end,
    },
    paste = {
      ["+"] = function()
        return clipboard["+"] or {}
      end,
      ["*"] = function()
        return clipboard["*"] or {}
      end,
    },
  }
  vim.o.clipboard = "unnamedplus"
  H.keys("j")
  H.keys("gy")
  local code = { "fn add(a: i32, b: i32) -> i32 { a + b }", "fn sub(a: i32, b: i32) -> i32 { a - b }" }
  H.eq(vim.fn.getreg('"', 1, true), code, "gy in a block yanks that block")
  -- (A linewise register reaches the clipboard provider with a last empty line.)
  H.eq(clipboard["+"], { code[1], code[2], "" }, "and to + with clipboard=unnamedplus")
  H.eq(clipboard["*"], nil, "not to *")
  vim.o.clipboard = ""

  -- Apply: two lines inserted above the sent lines meanwhile; the block goes where they are now.
  api.nvim_buf_set_lines(source, 0, 0, false, { "// added 1", "// added 2" })
  local tabs = #api.nvim_list_tabpages()
  H.keys("gA")
  H.eq(#api.nvim_list_tabpages(), tabs + 1, "the diff opens in a tab")
  local rewrite = require("chinwag.rewrite").current()
  H.ok(rewrite, "through the rewrite diff")
  H.eq({ rewrite.line1, rewrite.line2 }, { 4, 5 }, "the lines sent, where they are now")
  H.eq(H.lines(api.nvim_get_current_buf()), code, "the proposal is the block")
  H.eq(
    rewrite.original,
    { "fn add(a: u8, b: u8) -> u8 { a + b }", "fn sub(a: u8, b: u8) -> u8 { a - b }" },
    "against the sent lines"
  )
  H.contains(vim.wo.winbar, "ga accept", "the diff's keys")
  H.keys("ga")
  H.eq(#api.nvim_list_tabpages(), tabs, "the diff closed")
  H.eq(H.lines(source), {
    "// added 1",
    "// added 2",
    "// header",
    code[1],
    code[2],
    "// footer",
  }, "the block replaced exactly the lines sent")

  -- Apply in a chat never sent code: nothing to apply to.
  vim.cmd("ChinwagNew")
  local fresh = require("chinwag.chat").current()
  H.ok(fresh ~= chat, "a new chat")
  fresh:send("print one")
  H.wait(function()
    return not fresh.busy
  end, "the second answer")
  tabs = #api.nvim_list_tabpages()
  H.keys("gA")
  H.eq(#api.nvim_list_tabpages(), tabs, "no diff")
  H.ok(#H.notes_with("no code to apply it to") > 0, "says there is nothing to apply to")

  -- The first chat's file buffer wiped: says so.
  require("chinwag.chat").show(chat, { focus = true })
  vim.cmd("bwipeout! " .. source)
  H.keys("gA")
  H.eq(#api.nvim_list_tabpages(), tabs, "still no diff")
  H.ok(
    #H.notes_with("src/lib.rs, the code this chat was asked about, is no longer open") > 0,
    "says the buffer is gone"
  )

  -- :ChinwagYank from another window: the block at the cursor of the chat's window.
  vim.fn.setreg('"', "")
  vim.cmd("new")
  vim.cmd("ChinwagYank")
  H.eq(vim.fn.getreg('"', 1, true), code, ":ChinwagYank")

  -- Editing the turn sent with code stages its lines again for the new version; abandoning
  -- the edit unstages them.
  require("chinwag.chat").show(chat, { focus = true })
  api.nvim_win_set_cursor(0, { 3, 0 })
  H.eq(api.nvim_get_current_line(), "## You", "on the turn sent with code")
  H.keys("gC")
  H.eq(api.nvim_buf_get_lines(chat.buf, chat:prompt_row() + 1, -1, false), { "use i32" }, "its text in the draft")
  H.eq(#chat.context, 1, "its lines staged again")
  H.contains(H.virt_lines(chat.buf)[1], "`src/lib.rs` lines 2-3", "and shown")
  H.keys("<C-c>")
  H.eq(#chat.context, 0, "abandoned: nothing staged")
  H.eq(#H.virt_lines(chat.buf), 0, "nor shown")
  server:stop()
end)
