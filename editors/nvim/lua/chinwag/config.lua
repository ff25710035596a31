---@mod chinwag.config Options and their defaults

---@alias chinwag.Modes string[] Modes a key is mapped in, e.g. `{ "n", "i" }`; `false` unmaps it.

---@class chinwag.WindowOptions
---@field layout "vertical"|"horizontal"|"float"|"current" Where `:Chinwag` opens the chat.
---@field width number Split width (columns, or a fraction of the editor when below 1).
---@field height number Split height (lines, or a fraction of the editor when below 1).
---@field float_width number Float width (columns, or a fraction when below 1).
---@field float_height number Float height (lines, or a fraction when below 1).
---@field border string|string[] Float border (see `nvim_open_win()`).

---@class chinwag.Keymaps
---@field send table<string, chinwag.Modes|false> Send the message under the last `## You`.
---@field stop table<string, chinwag.Modes|false> Stop the answer.
---@field close table<string, chinwag.Modes|false> Close the chat window.
---@field yank_block table<string, chinwag.Modes|false> Yank the code block at the cursor (else the last).
---@field next_block table<string, chinwag.Modes|false> Jump to the next code block.
---@field prev_block table<string, chinwag.Modes|false> Jump to the previous code block.
---@field apply_block table<string, chinwag.Modes|false> Apply the block at the cursor (else the last) to the code sent.
---@field regenerate table<string, chinwag.Modes|false> A new answer to the turn at the cursor (else the last).
---@field regenerate_with table<string, chinwag.Modes|false> The same, from a provider/model picked.
---@field edit table<string, chinwag.Modes|false> Edit your message at the cursor (else the last) as a new version.
---@field next_sibling table<string, chinwag.Modes|false> Show the next version of the message at the cursor.
---@field prev_sibling table<string, chinwag.Modes|false> Show the previous version of the message at the cursor.
---@field accept table<string, chinwag.Modes|false> Rewrite diff: apply the proposal.
---@field reject table<string, chinwag.Modes|false> Rewrite diff: discard the proposal.
---@field remove_context table<string, chinwag.Modes|false> Take a staged context item off the next message ([count]: that item).
---@field presets table<string, chinwag.Modes|false> Typed at the start of a message: offer the presets (`/name`).

---@class chinwag.InlineOptions
---@field marker string A prompt at the cursor starts after this marker (`:ChinwagInline`, `gzz`).
---@field style "auto"|"markdown"|"comment"|"plain" How answers are written into a buffer.

---@class chinwag.Options
---@field cmd string[] The backend command (the `chinwag` binary and its arguments).
---@field env table<string, string> Extra environment for the backend (e.g. `CHINWAG_LOG`).
---@field provider string|nil Provider for new chats; nil: the backend's `default_provider`.
---@field model string|nil Model for new chats; nil: the provider's default model.
---@field system_prompt string|nil System prompt for new chats.
---@field window chinwag.WindowOptions
---@field keymaps chinwag.Keymaps
---@field spinner string[] Frames of the "working" indicator.
---@field shutdown_timeout integer Milliseconds to wait for the backend at exit.
---@field inline chinwag.InlineOptions Chat in any buffer.

local M = {}

---@type chinwag.Options
M.defaults = {
  cmd = { "chinwag" },
  env = {},
  provider = nil,
  model = nil,
  system_prompt = nil,
  window = {
    layout = "vertical",
    width = 0.4,
    height = 0.4,
    float_width = 0.8,
    float_height = 0.8,
    border = "rounded",
  },
  keymaps = {
    send = { ["<C-s>"] = { "n", "i" }, ["<CR>"] = { "n" } },
    stop = { ["<C-c>"] = { "n", "i" } },
    close = { ["q"] = { "n" } },
    yank_block = { ["gy"] = { "n" } },
    next_block = { ["]C"] = { "n" } },
    prev_block = { ["[C"] = { "n" } },
    apply_block = { ["gA"] = { "n" } },
    regenerate = { ["gR"] = { "n" } },
    regenerate_with = { ["gM"] = { "n" } },
    edit = { ["gC"] = { "n" } },
    next_sibling = { ["]v"] = { "n" } },
    prev_sibling = { ["[v"] = { "n" } },
    accept = { ["ga"] = { "n" } },
    reject = { ["gr"] = { "n" }, ["q"] = { "n" } },
    remove_context = { ["dc"] = { "n" } },
    presets = { ["/"] = { "i" } },
  },
  spinner = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" },
  shutdown_timeout = 1000,
  inline = { marker = ">>>", style = "auto" },
}

---@type chinwag.Options
M.options = vim.deepcopy(M.defaults)

--- The provider and model picked with `:ChinwagModel` in this session (they win over options).
---@type { provider: string|nil, model: string|nil }
M.session = {}

---@param opts chinwag.Options|nil
function M.setup(opts)
  opts = opts or {}
  local expected = {
    cmd = { "table", "string" },
    env = { "table" },
    provider = { "string" },
    model = { "string" },
    system_prompt = { "string" },
    window = { "table" },
    keymaps = { "table" },
    spinner = { "table" },
    shutdown_timeout = { "number" },
    inline = { "table" },
  }
  for key, value in pairs(opts) do
    local types = expected[key]
    if not types then
      error(("chinwag: unknown option %q"):format(tostring(key)))
    end
    if not vim.tbl_contains(types, type(value)) then
      error(("chinwag: option %s must be a %s, not a %s"):format(key, table.concat(types, " or "), type(value)))
    end
  end
  if type(opts.cmd) == "string" then
    opts = vim.tbl_extend("force", opts, { cmd = { opts.cmd } })
  end
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  -- A list given by the user replaces the default list rather than merging index by index.
  if opts.cmd then
    merged.cmd = vim.deepcopy(opts.cmd)
  end
  if opts.spinner then
    merged.spinner = vim.deepcopy(opts.spinner)
  end
  local layouts = { vertical = true, horizontal = true, float = true, current = true }
  if not layouts[merged.window.layout] then
    error(
      ("chinwag: window.layout must be vertical, horizontal, float or current, not %q"):format(
        tostring(merged.window.layout)
      )
    )
  end
  local styles = { auto = true, markdown = true, comment = true, plain = true }
  if not styles[merged.inline.style] then
    error(
      ("chinwag: inline.style must be auto, markdown, comment or plain, not %q"):format(tostring(merged.inline.style))
    )
  end
  M.options = merged
  M.session = {}
end

---@return chinwag.Options
function M.get()
  return M.options
end

--- The provider for new chats and rewrites: the session pick, else the option (nil: backend default).
---@return string|nil provider, string|nil model
function M.provider_model()
  if M.session.provider then
    return M.session.provider, M.session.model
  end
  return M.options.provider, M.options.model
end

return M
