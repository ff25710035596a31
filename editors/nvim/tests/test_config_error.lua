-- A config error is shown prominently when the backend starts (a warning naming the key and
-- line), not only in :checkhealth.
local H = require("helpers")

H.run("test_config_error", function()
  H.setup()
  vim.cmd("Chinwag")
  H.wait(function()
    return #H.notes_with("config error") == 1
  end, "the config error at start")
  local note = H.notes_with("config error")[1]
  H.eq(note.level, vim.log.levels.WARN, "a warning")
  H.contains(note.msg, "colour", "it names the key")
  H.contains(note.msg, "running on defaults", "and says what happens")
end)
