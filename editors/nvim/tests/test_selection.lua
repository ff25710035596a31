-- :ChinwagSend with a line range and an instruction, with a charwise visual selection and no
-- instruction (staged, then asked from the chat), and :ChinwagAsk about the whole buffer.
local H = require("helpers")
local api = vim.api

H.run("test_selection", function()
  H.setup()
  vim.fn.writefile({ "use std::io;", "", "fn main() {", '    println!("hi");', "}" }, "src/main.rs")
  vim.cmd("edit src/main.rs")
  local source = api.nvim_get_current_buf()
  local source_win = api.nvim_get_current_win()
  H.eq(vim.bo[source].filetype, "rust", "filetype")

  -- Lines 3-5 with an instruction: sent at once; the focus stays in the file.
  vim.cmd("3,5ChinwagSend Explain this")
  local chat = require("chinwag.chat").current()
  H.eq(api.nvim_get_current_win(), source_win, "the focus stays in the file")
  H.ok(require("chinwag.chat").window(chat), "the chat is shown")
  H.wait(function()
    return not chat.busy
  end, "the first answer")
  local sections = H.sections(chat.buf)
  H.eq(
    sections[1].text,
    table.concat(
      { "Explain this", "", "`src/main.rs` lines 3-5:", "```rust", "fn main() {", '    println!("hi");', "}", "```" },
      "\n"
    ),
    "the user's turn shows the context"
  )
  H.eq(sections[2].text, "It is the entry point.", "the answer")

  -- A charwise selection without an instruction: staged, then sent with the question typed.
  api.nvim_set_current_win(source_win)
  vim.cmd("normal! 4G^vf(\27")
  vim.cmd("'<,'>ChinwagSend")
  H.eq(api.nvim_get_current_buf(), chat.buf, "the chat is focused for the question")
  H.eq(#chat.context, 1, "one region staged")
  H.eq(chat.context[1].text, "println!(", "the characters selected")
  H.contains(H.virt_lines(chat.buf)[1], "`src/main.rs` line 4", "the staged region is shown")
  vim.cmd("stopinsert")
  H.keys("GiWhat is this?<C-s><Esc>")
  H.wait(function()
    return not chat.busy
  end, "the second answer")
  H.eq(#chat.context, 0, "nothing staged any more")
  H.eq(H.answer(chat.buf, 2), "A macro.", "the second answer")

  -- :ChinwagAsk without a range: the whole buffer.
  api.nvim_set_current_win(source_win)
  vim.cmd("ChinwagAsk What does this file do?")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 3) == "It prints hi."
  end, "the third answer")
  -- The chat buffer itself has no code to attach.
  api.nvim_set_current_win(require("chinwag.chat").window(chat))
  vim.cmd("ChinwagAsk Thanks!")
  H.wait(function()
    return not chat.busy and H.answer(chat.buf, 4) == "You're welcome."
  end, "the fourth answer")
  H.eq(api.nvim_buf_get_lines(source, 0, -1, false)[4], '    println!("hi");', "the file is untouched")
end)
