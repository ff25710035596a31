-- :checkhealth chinwag reports Neovim, the backend and its version, the vault, and each
-- provider with whether it has a key; a missing backend is reported as an error.
local H = require("helpers")
local api = vim.api

local function health_text()
  vim.cmd("checkhealth chinwag")
  local text = H.text(api.nvim_get_current_buf())
  vim.cmd("bwipeout!")
  return text
end

H.run("test_health", function()
  H.setup({ cmd = { "/nonexistent/chinwag" } })
  local missing = health_text()
  H.contains(missing, "ERROR", "an error")
  H.contains(missing, '"/nonexistent/chinwag" not found', "the missing backend")

  H.setup()
  H.will_secret("mock-key-7f3a9e1c-CANARY")
  vim.cmd("ChinwagKey mock")
  H.wait(function()
    return #H.notes_with("key stored") == 1
  end, "the key")
  local text = health_text()
  H.log(text)
  local v = vim.version()
  H.contains(text, ("OK Neovim %d.%d.%d"):format(v.major, v.minor, v.patch), "the Neovim version")
  H.contains(text, "OK backend " .. vim.env.CHINWAG_BIN .. ": chinwag 0.1.0", "the backend and its version")
  H.contains(text, "protocol 1.0", "the protocol")
  H.contains(text, "config: " .. vim.env.CHINWAG_TEST_HOME .. "/config/chinwag/config.toml", "the config file")
  H.contains(text, "log: " .. vim.env.CHINWAG_TEST_HOME .. "/data/chinwag/logs", "the log folder")
  H.contains(text, "WARNING vault unlocked, protection: localKey", "the vault state")
  H.contains(text, "OK mock (openai-compatible, http://127.0.0.1:", "the mock provider")
  H.contains(text, "default: key: from vault", "the mock provider's key")
  H.contains(text, "faraway (openai-compatible, https://llm.example.invalid/v1): key: MISSING", "a provider without a key")
  H.contains(text, "OK ollama (ollama, http://localhost:11434/): key: none needed", "a local provider")
  H.ok(not text:find("CANARY", 1, true), "the key is not shown")
end)
