-- :ChinwagHistory: open (and continue), rename, delete, export; :ChinwagSearch finds and opens.
local H = require("helpers")
local api = vim.api
local backend = require("chinwag.backend")

local function send_in(chat, text)
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { text })
  H.ok(chat:send(), "sent " .. text)
  H.wait(function()
    return not chat.busy
  end, "the answer to " .. text)
end

local function titles()
  local list = H.ok(backend.request_sync("history/list"), "history/list")
  return vim.tbl_map(function(c)
    return c.title
  end, list.chats)
end

H.run("test_history", function()
  H.setup()
  local chat_mod = require("chinwag.chat")

  -- Two chats.
  vim.cmd("Chinwag")
  local a = chat_mod.current()
  send_in(a, "Say hello")
  vim.cmd("ChinwagNew")
  local b = chat_mod.current()
  H.ok(a ~= b, "a second chat")
  send_in(b, "Tell me about bees")
  H.eq(titles(), { "Tell me about bees", "Say hello" }, "both saved, newest first")

  -- Rename A.
  H.will_select_text("Say hello")
  H.will_select_text("Rename")
  H.will_input("Greetings")
  vim.cmd("ChinwagHistory")
  H.wait(function()
    return #H.notes_with('renamed to "Greetings"') == 1
  end, "the rename")
  H.eq(titles(), { "Greetings", "Tell me about bees" }, "renamed")
  H.contains(api.nvim_buf_get_name(a.buf), "Greetings", "the open chat's name follows")

  -- Open A after closing its buffer: the saved chat comes back and continues.
  local a_id = a.id
  api.nvim_buf_delete(a.buf, { force = true })
  H.will_select_text("Greetings")
  H.will_select_text("Open")
  vim.cmd("ChinwagHistory")
  H.wait(function()
    return chat_mod.by_id[a_id] ~= nil
  end, "the reopened chat")
  local reopened = chat_mod.by_id[a_id]
  H.eq(api.nvim_get_current_buf(), reopened.buf, "the reopened chat is focused")
  H.eq(H.lines(reopened.buf)[1], "# chinwag · mock · mock-model", "its header")
  H.eq(H.sections(reopened.buf), {
    { role = "user", text = "Say hello" },
    { role = "assistant", text = "Hello there." },
    { role = "user", text = "" },
  }, "its turns")
  H.contains(H.virt_texts(reopened.buf)[1], "11 → 1 tokens", "the saved usage")
  send_in(reopened, "And again?")
  H.eq(H.answer(reopened.buf, 2), "Hello again.", "it continues")

  -- Delete B (after confirming).
  H.will_select_text("bees")
  H.will_select_text("Delete")
  H.will_select_text("Delete")
  vim.cmd("ChinwagHistory")
  H.wait(function()
    return #H.notes_with('deleted "Tell me about bees"') == 1
  end, "the delete")
  H.eq(titles(), { "Greetings" }, "deleted")
  H.ok(not api.nvim_buf_is_valid(b.buf), "its buffer is gone")

  -- Export A as Markdown, then again to the same path (overwrite asked).
  H.will_select_text("Greetings")
  H.will_select_text("Export")
  H.will_input("~/greetings.md")
  vim.cmd("ChinwagHistory")
  H.wait(function()
    return #H.notes_with("exported to") == 1
  end, "the export")
  local path = vim.env.CHINWAG_TEST_HOME .. "/greetings.md"
  H.contains(table.concat(vim.fn.readfile(path), "\n"), "Hello again.", "the exported file")
  H.will_select_text("Greetings")
  H.will_select_text("Export")
  H.will_input("~/greetings.md")
  H.will_select_text("Overwrite")
  vim.cmd("ChinwagHistory")
  H.wait(function()
    return #H.notes_with("exported to") == 2
  end, "the second export")

  -- Search: found and opened (the open buffer is focused, not duplicated).
  vim.cmd("new")
  H.will_select_text("Greetings")
  vim.cmd("ChinwagSearch hello AGAIN")
  H.wait(function()
    return H.pending_prompts() == 0 and api.nvim_get_current_buf() == reopened.buf
  end, "the search result opened")
  H.eq(vim.tbl_count(require("chinwag.chat").by_buf), 1, "the open chat was focused, not opened twice")
  vim.cmd("ChinwagSearch nowhere-to-be-found")
  H.wait(function()
    return #H.notes_with("no chat mentions") == 1
  end, "no results")
end)
