-- :ChinwagKey stores a key read with inputsecret; :ChinwagPassword, :ChinwagLock; a chat on a
-- locked vault asks for the password once (for every request waiting) and retries;
-- :ChinwagUnlock with a wrong then the right password.
local H = require("helpers")
local api = vim.api
local backend = require("chinwag.backend")

local KEY = "mock-key-7f3a9e1c-CANARY"
local PASSWORD = "correct horse battery"

local function vault_state()
  return H.ok(backend.request_sync("vault/status"), "vault/status").state
end

H.run("test_vault", function()
  H.setup()

  -- The key, typed as a user would: the command line, then the key at the real inputsecret().
  local stub = vim.fn.inputsecret
  vim.fn.inputsecret = H.real_inputsecret
  vim.api.nvim_feedkeys(":ChinwagKey mock\r" .. KEY .. "\r", "tx", false)
  vim.fn.inputsecret = stub
  H.wait(function()
    return #H.notes_with("key stored for mock") == 1
  end, "the key to be stored")
  local keys = H.ok(backend.request_sync("vault/listKeys"), "vault/listKeys").keys
  H.eq(#keys, 1, "one key")
  H.eq(keys[1].provider, "mock", "the key's provider")
  H.eq(keys[1].source, "vault", "the key's source")
  for _, note in ipairs(H.notes) do
    H.ok(not note.msg:find(KEY, 1, true), "no message shows the key")
  end
  H.eq(vim.fn.histget(":", -1), "ChinwagKey mock", "the command line history has the command only")
  H.eq(vim.fn.histget("@", -1), "", "the input history has nothing")
  local screen = {}
  for row = 1, vim.o.lines do
    local line = {}
    for col = 1, vim.o.columns do
      line[#line + 1] = vim.fn.screenstring(row, col)
    end
    screen[#screen + 1] = table.concat(line)
  end
  H.ok(not table.concat(screen, "\n"):find(KEY, 1, true), "the key is not on the screen")
  -- An invalid key (blanks) is refused with the backend's reason.
  H.will_secret("not a key")
  vim.cmd("ChinwagKey mock")
  H.wait(function()
    return #H.notes_with("the key was not stored") == 1
  end, "the refusal")

  -- A password, then lock.
  H.will_secret(PASSWORD)
  H.will_secret(PASSWORD)
  vim.cmd("ChinwagPassword")
  H.wait(function()
    return #H.notes_with("vault password set") == 1
  end, "the password")
  vim.cmd("ChinwagLock")
  H.wait(function()
    return #H.notes_with("vault locked") == 1
  end, "the lock")
  H.eq(vault_state(), "locked", "locked")
  H.contains(require("chinwag").status(), "(locked)", "the statusline shows the lock")

  -- A chat and a history listing at once on the locked vault: one prompt, both retried.
  local prompts = #H.secret_prompts
  H.will_secret(PASSWORD)
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "hi" })
  chat:send()
  local listed
  backend.request("history/list", nil, function(err, result)
    listed = err or result
  end)
  H.wait(function()
    return not chat.busy and listed ~= nil
  end, "the answer after unlocking")
  H.eq(#H.secret_prompts, prompts + 1, "asked for the password once")
  H.contains(H.secret_prompts[#H.secret_prompts], "password", "the prompt")
  H.eq(H.answer(chat.buf, 1), "unlocked answer", "the chat was retried")
  H.ok(listed.total ~= nil, "the listing was retried: " .. vim.inspect(listed))
  H.eq(vault_state(), "unlocked", "unlocked")

  -- :ChinwagUnlock: a wrong password is refused, the right one opens.
  vim.cmd("ChinwagLock")
  H.wait(function()
    return #H.notes_with("vault locked") == 2
  end, "the second lock")
  H.will_secret("wrong password")
  vim.cmd("ChinwagUnlock")
  H.wait(function()
    return #H.notes_with("unlock failed") == 1
  end, "the refusal")
  H.eq(vault_state(), "locked", "still locked")
  H.will_secret(PASSWORD)
  vim.cmd("ChinwagUnlock")
  H.wait(function()
    return #H.notes_with("vault unlocked") == 1
  end, "the unlock")
  H.eq(vault_state(), "unlocked", "unlocked")

  -- Giving up at the prompt: the request fails with the vault error, nothing is retried.
  vim.cmd("ChinwagLock")
  H.wait(function()
    return #H.notes_with("vault locked") == 3
  end, "the third lock")
  H.will_secret("")
  api.nvim_buf_set_lines(chat.buf, -2, -1, false, { "again" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the failed request")
  H.ok(#H.notes_with("the vault stays locked") == 1, "the user is told")
  H.contains(H.virt_texts(chat.buf)[2], "locked", "the chat shows why")
end)
