-- :ChinwagModel with typed names (and a typed model when listing fails); <C-c> in insert mode
-- leaves insert mode when nothing streams and stops the stream when one runs; :ChinwagKey
-- without an argument offers a picker and refuses an unknown provider before asking for the
-- key; errors carrying `data.action` tell the user which command to run; config errors at start.
local H = require("helpers")
local api = vim.api
local backend = require("chinwag.backend")
local util = require("chinwag.util")

local KEY = "mock-key-7f3a9e1c-CANARY"

local function mode()
  return api.nvim_get_mode().mode
end

H.run("test_commands", function()
  H.setup()
  vim.cmd("Chinwag")
  local chat = require("chinwag.chat").current()
  local buf = chat.buf
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · mock-model"
  end, "the header")

  -- 6. :ChinwagModel {provider} {model}: a typed model name applies at once.
  vim.cmd("ChinwagModel mock typed-model")
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · typed-model"
  end, "the typed model in the header")
  -- An unknown provider is refused with the known ones.
  vim.cmd("ChinwagModel nosuch")
  H.wait(function()
    return #H.notes_with('no provider "nosuch"') == 1
  end, "the refusal")
  H.contains(H.notes_with('no provider "nosuch"')[1].msg, "mock", "the known providers are named")
  -- Listing fails (no key for faraway): the user is told why and asked for a typed name.
  H.will_input("far-typed")
  vim.cmd("ChinwagModel faraway")
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · faraway · far-typed"
  end, "the model typed after the listing failed")
  local why = H.notes_with("cannot list the models of faraway")
  H.eq(#why, 1, "the failure is reported")
  H.contains(why[1].msg, "Type the model's name", "and says what to do")
  vim.cmd("ChinwagModel mock mock-model")
  H.wait(function()
    return H.lines(buf)[1] == "# chinwag · mock · mock-model"
  end, "back to the mock model")

  -- 7. <C-c> in insert mode with nothing streaming leaves insert mode. (Keys fed with "x!"
  -- return once insert mode ends; a timer ends it with <Esc> when <C-c> did not.)
  local function insert_then_ctrl_c(keys, after_ms)
    local at_timer
    local timer = vim.defer_fn(function()
      at_timer = { mode = mode(), busy = chat.busy }
      if mode():sub(1, 1) == "i" then
        api.nvim_feedkeys(vim.keycode("<Esc>"), "n", false)
      end
    end, after_ms)
    api.nvim_feedkeys(vim.keycode(keys), "mx!", false)
    local returned = { mode = mode(), fired = at_timer ~= nil }
    vim.wait(after_ms + 200, function()
      return at_timer ~= nil
    end)
    pcall(function()
      timer:close()
    end)
    return returned, at_timer
  end
  H.eq(api.nvim_get_current_buf(), buf, "in the chat")
  local returned = insert_then_ctrl_c("Gihello<C-c>", 500)
  H.eq(returned, { mode = "n", fired = false }, "<C-c> left insert mode by itself")
  H.eq(#H.notes_with("nothing to stop"), 0, "no 'nothing to stop' in insert mode")
  -- While a stream runs, <C-c> in insert mode stops it (and insert mode goes on).
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "count" })
  chat:send()
  H.wait(function()
    return (H.answer(buf, 1) or ""):find("tok1 ", 1, true) ~= nil
  end, "the stream")
  local _, at_timer = insert_then_ctrl_c("Goin the draft<C-c>", 500)
  H.eq(at_timer and at_timer.mode, "i", "still in insert mode after <C-c> stopped the stream")
  H.wait(function()
    return not chat.busy
  end, "the stop by <C-c>")
  H.ok(vim.tbl_contains(H.lines(buf), "_(stopped)_"), "stopped")

  -- 8. :ChinwagKey {unknown}: refused before the key is asked for.
  local prompts = #H.secret_prompts
  vim.cmd("ChinwagKey nosuch")
  H.eq(#H.secret_prompts, prompts, "no key asked for an unknown provider")
  H.eq(#H.notes_with('no provider "nosuch"'), 2, "the refusal names it")
  -- :ChinwagKey: pick the provider, then the key.
  local offered
  H.will_select(function(items, opts)
    offered = vim.tbl_map(opts.format_item, items)
    for _, p in ipairs(items) do
      if p.name == "mock" then
        return p
      end
    end
  end)
  H.will_secret(KEY)
  vim.cmd("ChinwagKey")
  H.wait(function()
    return #H.notes_with("key stored for mock") == 1
  end, "the key stored for the picked provider")
  H.ok(vim.tbl_contains(offered, "faraway  (no key)"), "providers with their key state: " .. vim.inspect(offered))
  H.contains(H.secret_prompts[#H.secret_prompts], "mock", "the key prompt names the provider")

  -- 9. data.action: each maps to what to do in Neovim.
  local function hint(data)
    return util.action_hint({ code = 1, message = "m", data = data })
  end
  H.eq(hint({ action = "setKey", provider = "mock" }), "run :ChinwagKey mock", "setKey")
  H.eq(
    hint({ action = "setKey", provider = "groq", env = "GROQ_API_KEY" }),
    "run :ChinwagKey groq or set $GROQ_API_KEY",
    "setKey with env"
  )
  H.eq(hint({ action = "unlock" }), "run :ChinwagUnlock", "unlock")
  H.eq(hint({ action = "setPassword" }), "run :ChinwagPassword", "setPassword")
  local config_file = vim.fn.fnamemodify(backend.info.config.file, ":~")
  H.eq(
    hint({ action = "fixConfig", key = "colour", line = 3 }),
    ("edit %s line 3 (key `colour`)"):format(config_file),
    "fixConfig"
  )
  H.eq(
    hint({ action = "startLocalServer", provider = "ollama", url = "http://127.0.0.1:11434" }),
    "start the ollama server at http://127.0.0.1:11434 (`ollama serve`)",
    "startLocalServer"
  )
  H.contains(hint({ action = "restoreOrReset" }), "restore the data from a backup or reset it", "restoreOrReset")
  H.eq(hint({ action = "somethingNew" }), nil, "an unknown action adds nothing")
  H.eq(hint(nil), nil, "no data")
  H.eq(
    util.error_text({ code = 1005, message = "no API key for mock", data = { action = "setKey", provider = "mock" } }),
    "no API key for mock: run :ChinwagKey mock",
    "the error text carries the hint"
  )
  -- A chat/send answered with such an error (a stubbed response): the hint is in the
  -- notification and in the transcript.
  local real_request = backend.request
  backend.request = function(method, params, callback, opts, ticket)
    if method == "chat/send" then
      vim.schedule(function()
        callback({ code = 1001, message = "the vault is locked", data = { action = "unlock" } }, nil)
      end)
      return ticket or {}
    end
    return real_request(method, params, callback, opts, ticket)
  end
  api.nvim_buf_set_lines(buf, chat:prompt_row() + 1, -1, false, { "locked?" })
  chat:send()
  H.wait(function()
    return not chat.busy
  end, "the stubbed error")
  backend.request = real_request
  H.ok(
    #H.notes_with("the vault is locked: run :ChinwagUnlock") == 1,
    "notified with the hint: " .. vim.inspect(H.notes)
  )
  H.ok(
    vim.tbl_contains(H.lines(buf), "> [!error] the vault is locked: run :ChinwagUnlock"),
    "the transcript says what to do: " .. H.text(buf)
  )

  -- Config errors of `initialize` (a list, and the single message of today's backends).
  local problems = backend.config_problems({
    config = {
      file = "/home/u/.config/chinwag/config.toml",
      error = "unknown key `colour` at line 3",
      errors = {
        { message = "unknown key `colour`", key = "colour", line = 3 },
        "bad value for `log_level`",
      },
    },
  })
  H.eq(problems, {
    "unknown key `colour` (key `colour`, edit /home/u/.config/chinwag/config.toml line 3)",
    "bad value for `log_level`",
  }, "config.errors")
  H.eq(
    backend.config_problems({ config = { file = "/c.toml", error = "unknown key `x` at line 1" } }),
    { "unknown key `x` at line 1 (in /c.toml)" },
    "config.error"
  )
  H.eq(backend.config_problems({ config = { error = vim.NIL } }), {}, "no error")
end)
