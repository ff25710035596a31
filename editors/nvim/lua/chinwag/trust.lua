---@mod chinwag.trust Project instructions (`.chinwag.md`, else `AGENTS.md`): shown, then trusted.
---
--- The backend adds a project's instructions to the system prompt only once the user trusted
--- that exact content. Until then a turn's manifest says `instructions.included = false`; the
--- file is then shown in a float and the user asked (once per content and session; `:ChinwagTrust`
--- asks again). Yes calls `project/trust {root, fingerprint}`.

local api = vim.api
local backend = require("chinwag.backend")
local util = require("chinwag.util")

local M = {}

--- Fingerprints already asked about in this session.
---@type table<string, boolean>
M.asked = {}

--- The float showing the file while the user is asked.
---@param root string
---@param path string
---@return integer|nil win
local function show(root, path)
  local full = root .. "/" .. path
  local ok, lines = pcall(vim.fn.readfile, full, "", 500)
  if not ok or type(lines) ~= "table" then
    lines = { "(" .. full .. " cannot be read)" }
  end
  local buf = api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = "wipe"
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = "markdown"
  pcall(api.nvim_buf_set_name, buf, "chinwag://instructions/" .. path)
  local width = math.max(20, math.min(100, vim.o.columns - 8))
  local height = math.max(1, math.min(#lines, math.floor((vim.o.lines - 4) * 0.6)))
  local opened, win = pcall(api.nvim_open_win, buf, false, {
    relative = "editor",
    row = 1,
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    width = width,
    height = height,
    border = "rounded",
    title = (" %s: project instructions (%s) "):format(path, vim.fn.fnamemodify(root, ":~")),
    title_pos = "center",
    style = "minimal",
  })
  return opened and win or nil
end

--- Show the instructions file of `root` and ask whether to trust it; `done(trusted)`.
---@param root string
---@param instructions table A manifest's `instructions`: `path`, `fingerprint`, `bytes`.
---@param done fun(trusted: boolean)|nil
function M.ask(root, instructions, done)
  local path = tostring(instructions.path)
  local win = show(root, path)
  local yes = ("Trust %s: it joins the system prompt of chats sent from this project"):format(path)
  vim.ui.select({ yes, "Not now (sent without it)" }, {
    prompt = ("chinwag: %s (%s) would steer the model. Trust it?"):format(path, vim.fn.fnamemodify(root, ":~")),
  }, function(choice)
    if win and api.nvim_win_is_valid(win) then
      api.nvim_win_close(win, true)
    end
    if choice ~= yes then
      util.notify(("%s not trusted: messages go without it (:ChinwagTrust asks again)"):format(path))
      return done and done(false)
    end
    backend.request("project/trust", { root = root, fingerprint = instructions.fingerprint }, function(err, result)
      if err then
        M.asked[instructions.fingerprint] = nil
        util.report(("%s not trusted (it may have changed since it was shown; :ChinwagTrust): "):format(path), err)
        return done and done(false)
      end
      util.notify(
        ("%s trusted: it joins the system prompt from the next message on"):format(
          type(result) == "table" and result.path or path
        )
      )
      return done and done(true)
    end)
  end)
end

--- Ask about a manifest's `instructions` when they were left out for want of trust (once per
--- content and session).
---@param root string|nil
---@param instructions table|nil
function M.check(root, instructions)
  if
    not root
    or type(instructions) ~= "table"
    or instructions.included ~= false
    or type(instructions.fingerprint) ~= "string"
    or M.asked[instructions.fingerprint]
  then
    return
  end
  M.asked[instructions.fingerprint] = true
  M.ask(root, instructions)
end

--- `:ChinwagTrust`: show the project's instructions and ask whether to trust them.
function M.command()
  local context = require("chinwag.context")
  local chat = require("chinwag.chat").by_buf[api.nvim_get_current_buf()]
  local root = chat and context.chat_root(chat) or context.root_of(context.source_buffer())
  backend.request("chat/previewContext", { content = "", root = root }, function(err, result)
    if err then
      util.report("cannot read the project's instructions: ", err)
      return
    end
    local instructions = type(result) == "table" and type(result.manifest) == "table" and result.manifest.instructions
    if type(instructions) ~= "table" then
      util.notify(("no .chinwag.md or AGENTS.md in %s"):format(vim.fn.fnamemodify(root, ":~")))
    elseif instructions.included then
      util.notify(("%s is trusted: it joins the system prompt"):format(instructions.path))
    else
      M.asked[instructions.fingerprint] = true
      M.ask(root, instructions)
    end
  end)
end

return M
