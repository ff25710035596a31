-- :ChinwagRewrite shows the proposal as a diff; accept replaces exactly the selected lines,
-- reject changes nothing, and an accept after the lines changed is refused.
local H = require("helpers")
local api = vim.api

local ORIGINAL = {
  "// header",
  "fn add(a: u8, b: u8) -> u8 { a + b }",
  "// footer",
}

H.run("test_rewrite", function()
  H.setup()
  vim.fn.writefile(ORIGINAL, "src/lib.rs")
  vim.cmd("edit src/lib.rs")
  local source = api.nvim_get_current_buf()
  local events = {}
  api.nvim_create_autocmd("User", {
    pattern = "ChinwagRequestFinished",
    callback = function(ev)
      events[#events + 1] = ev.data
    end,
  })
  local rewrite = require("chinwag.rewrite")

  -- Accept.
  vim.cmd("2ChinwagRewrite use i32")
  H.wait(function()
    return rewrite.current() ~= nil
  end, "the diff")
  local r = rewrite.current()
  H.eq(api.nvim_buf_get_lines(r.orig_buf, 0, -1, false), { ORIGINAL[2] }, "the original side")
  H.eq(
    api.nvim_buf_get_lines(r.prop_buf, 0, -1, false),
    { "fn add(a: i32, b: i32) -> i32 { a + b }" },
    "the proposal side"
  )
  H.ok(vim.wo.diff, "diff mode")
  H.eq(#api.nvim_list_tabpages(), 2, "the diff has its own tab")
  H.eq(api.nvim_buf_get_lines(source, 0, -1, false), ORIGINAL, "nothing changed before the accept")
  H.eq(vim.bo[source].modified, false, "the file is not modified before the accept")
  H.eq(events[1].kind, "rewrite", "finished event kind")
  H.eq(events[1].status, "complete", "finished event status")
  H.keys("ga")
  H.eq(#api.nvim_list_tabpages(), 1, "the diff tab is closed")
  H.eq(api.nvim_get_current_buf(), source, "back in the file")
  H.eq(api.nvim_buf_get_lines(source, 0, -1, false), {
    "// header",
    "fn add(a: i32, b: i32) -> i32 { a + b }",
    "// footer",
  }, "exactly the selected line was replaced")

  -- Reject: two lines, a two-line proposal, nothing changes.
  local before = api.nvim_buf_get_lines(source, 0, -1, false)
  vim.cmd("1,2ChinwagRewrite use i64")
  H.wait(function()
    return rewrite.current() ~= nil
  end, "the second diff")
  H.eq(
    api.nvim_buf_get_lines(rewrite.current().prop_buf, 0, -1, false),
    { "// header (i64)", "fn add(a: i64, b: i64) -> i64 { a + b }" },
    "the second proposal"
  )
  H.keys("gr")
  H.eq(#api.nvim_list_tabpages(), 1, "the diff tab is closed")
  H.eq(api.nvim_buf_get_lines(source, 0, -1, false), before, "reject changes nothing")

  -- Lines changed under the proposal: the accept is refused, the file keeps the new edit.
  vim.cmd("3ChinwagRewrite shout")
  H.wait(function()
    return rewrite.current() ~= nil
  end, "the third diff")
  local third = rewrite.current()
  api.nvim_buf_set_lines(source, 2, 3, false, { "// edited meanwhile" })
  H.eq(rewrite.accept(third), false, "the accept is refused")
  H.ok(#H.notes_with("changed since the rewrite was asked") == 1, "the user is told why")
  H.eq(api.nvim_buf_get_lines(source, 2, 3, false), { "// edited meanwhile" }, "the edit is kept")
  H.keys("q")
  H.eq(#api.nvim_list_tabpages(), 1, "q rejects too")
  H.eq(#rewrite.pending, 0, "no rewrite left pending")
end)
