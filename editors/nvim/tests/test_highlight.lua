-- chinwag-test: own-provider
-- The chat buffer is highlighted as markdown: the headings and a streamed code fence carry
-- highlight groups (the regex `syntax` by default, or tree-sitter captures when the user's
-- config starts it), during the stream and after it.
local H = require("helpers")
local P = require("provider")
local api = vim.api

--- Highlight groups at (row, col), 0-based, from syntax and tree-sitter.
local function groups(buf, row, col)
  local pos =
    vim.inspect_pos(buf, row, col, { syntax = true, treesitter = true, extmarks = false, semantic_tokens = false })
  local names = {}
  for _, item in ipairs(pos.syntax) do
    names[#names + 1] = item.hl_group
  end
  for _, item in ipairs(pos.treesitter) do
    names[#names + 1] = item.capture
  end
  return table.concat(names, " ")
end

local function row_of(buf, text)
  for i, line in ipairs(H.lines(buf)) do
    if line == text or line:find(text .. " ", 1, true) == 1 then
      return i - 1
    end
  end
  error("no line " .. text)
end

H.run("test_highlight", function()
  local server = P.start()
  P.write_config(server)
  server:push(
    P.sse({ "Here:\n\n", "```lua\n", "local x = 1\n", "```\n", "\nDone with `x`." }, { piece = 40, pause = 5 })
  )
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  H.eq(vim.bo[buf].filetype, "markdown", "filetype")
  H.keys("ishow code<C-s><Esc>")
  H.wait(function()
    return not chat.busy
  end, "the answer")
  vim.cmd("redraw")
  local heading = groups(buf, row_of(buf, "## Assistant"), 3)
  H.ok(
    heading:find("markdownH2", 1, true) or heading:find("markup.heading", 1, true),
    "a heading group on ## Assistant: " .. heading
  )
  local fence = groups(buf, row_of(buf, "```lua"), 0)
  H.ok(fence:find("markdownCode", 1, true) or fence:find("markup.raw", 1, true), "a code group on the fence: " .. fence)
  local code = groups(buf, row_of(buf, "local x = 1"), 2)
  H.ok(
    code:find("markdownCode", 1, true) or code:find("markup.raw", 1, true),
    "a code group inside the block: " .. code
  )
  local plain = groups(buf, row_of(buf, "Here:"), 1)
  H.ok(
    not plain:find("markdownCode", 1, true) and not plain:find("markup.raw", 1, true),
    "prose is not code: " .. plain
  )
  server:stop()
end)
