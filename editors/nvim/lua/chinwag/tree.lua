---@mod chinwag.tree Conversations are trees: new answers, edited messages, other versions.
---
--- Every regenerated answer and edited message is a sibling of the one it replaces in the
--- backend's tree; the buffer shows one branch (the current one) and says "2/3" on a message
--- that has siblings. These act on the message at the cursor (the heading at or above it, in
--- the transcript), else on the last one that fits:
---
--- - `regenerate()`: a new answer to a user turn (`chat/regenerate`), optionally from another
---   provider/model; on a failed answer it is a retry.
--- - `edit()`: the user turn goes to the draft; sending it makes a new version (`chat/edit`).
--- - `switch()`: show the previous/next version of a message (`chat/switch`).
---
--- After each, the branch is fetched again (`history/get`) so the sibling counts are right;
--- the windows keep their place and the draft is not touched.

local api = vim.api
local backend = require("chinwag.backend")
local util = require("chinwag.util")

local M = {}

---@param chat chinwag.Chat
---@return integer|nil row 0-based cursor row in a window showing the chat (the current one first)
local function cursor_row(chat)
  local win = api.nvim_get_current_buf() == chat.buf and api.nvim_get_current_win()
    or require("chinwag.chat").window(chat)
  return win and api.nvim_win_get_cursor(win)[1] - 1 or nil
end

--- The message whose section holds the cursor (nil when the cursor is in the draft, or above
--- the first message), and its index in the model.
---@param chat chinwag.Chat
---@return chinwag.Message|nil, integer|nil
function M.message_at_cursor(chat)
  local row = cursor_row(chat)
  if not row or not chat.prompt_mark or row >= chat:prompt_row() then
    return nil, nil
  end
  local best, best_row
  for id, message in pairs(chat.heading_marks or {}) do
    local pos = api.nvim_buf_get_extmark_by_id(chat.buf, require("chinwag.chat").ns, id, {})
    if pos[1] and pos[1] <= row and (not best_row or pos[1] > best_row) then
      best, best_row = message, pos[1]
    end
  end
  for i, message in ipairs(chat.messages) do
    if message == best then
      return message, i
    end
  end
  return nil, nil
end

--- The user turn at or above `index` (the turn an answer answers).
---@param chat chinwag.Chat
---@param index integer
---@return chinwag.Message|nil, integer|nil
local function user_turn(chat, index)
  for i = index, 1, -1 do
    if chat.messages[i].role == "user" then
      return chat.messages[i], i
    end
  end
  return nil, nil
end

--- The 0-based row of the heading of `message`, if it is shown.
---@param chat chinwag.Chat
---@param message chinwag.Message
---@return integer|nil
local function heading_row(chat, message)
  for id, m in pairs(chat.heading_marks or {}) do
    if m.id == message.id and m.role == message.role then
      return api.nvim_buf_get_extmark_by_id(chat.buf, require("chinwag.chat").ns, id, {})[1]
    end
  end
  return nil
end

---@param chat chinwag.Chat
---@return boolean
local function idle(chat)
  if chat.busy then
    util.notify("an answer is still coming; stop it with :ChinwagStop first", vim.log.levels.WARN)
    return false
  end
  return true
end

---@param chat chinwag.Chat|nil
---@return chinwag.Chat|nil
local function chat_or_current(chat)
  chat = chat or require("chinwag.chat").current()
  if not chat then
    util.notify("no chat", vim.log.levels.WARN)
  end
  return chat
end

---@class chinwag.RegenerateTarget
---@field user chinwag.Message The user turn to answer again.
---@field index integer Its index in the model.

--- The turn a new answer is for: the one at the cursor (a user turn, or the turn an answer
--- answers), else the last user turn.
---@param chat chinwag.Chat
---@return chinwag.RegenerateTarget|nil
function M.regenerate_target(chat)
  local _, index = M.message_at_cursor(chat)
  local user, at = user_turn(chat, index or #chat.messages)
  if not user then
    util.notify("no message to answer again", vim.log.levels.WARN)
    return nil
  end
  return { user = user, index = at }
end

--- A new answer to the user turn at the cursor (else the last), from `provider`/`model` when
--- given (the chat's own stay as they are), else from the chat's. The earlier answers stay as
--- its siblings. A turn the backend never saved (refused before anything was sent) is sent
--- again instead.
---@param chat chinwag.Chat|nil
---@param provider string|nil
---@param model string|nil
---@param target chinwag.RegenerateTarget|nil Default: `regenerate_target()`.
---@return boolean started
function M.regenerate(chat, provider, model, target)
  chat = chat_or_current(chat)
  if not chat or not idle(chat) then
    return false
  end
  target = target or M.regenerate_target(chat)
  if not target then
    return false
  end
  local user, index = target.user, target.index
  local answer = {
    role = "assistant",
    provider = provider or chat.provider,
    model = model or (not provider and chat.model) or nil,
  }
  if not user.id then
    -- Never saved: send it again, after the last message the backend has.
    local parent
    for i = index - 1, 1, -1 do
      parent = parent or chat.messages[i].id
    end
    local again = { role = "user", content = user.content, context = user.context }
    return chat:_run_turn("chat/send", {
      content = user.content,
      context = user.context,
      parentId = parent,
    }, index - 1, again, answer)
  end
  return chat:_run_turn("chat/regenerate", {
    messageId = user.id,
    provider = provider,
    model = model,
  }, index, nil, answer)
end

--- `regenerate()` from a provider and model picked as `:ChinwagModel` picks them.
---@param chat chinwag.Chat|nil
---@param callback fun(ok: boolean)|nil
function M.regenerate_with(chat, callback)
  chat = chat_or_current(chat)
  if not chat or not idle(chat) then
    return callback and callback(false)
  end
  local target = M.regenerate_target(chat)
  if not target then
    return callback and callback(false)
  end
  require("chinwag.model").pick(callback, function(provider, model, done)
    local ok = M.regenerate(chat, provider, model, target)
    return done and done(ok)
  end)
end

--- Retry a failed answer: the one at the cursor, else the last failed one shown.
---@param chat chinwag.Chat|nil
---@return boolean started
function M.retry(chat)
  chat = chat_or_current(chat)
  if not chat or not idle(chat) then
    return false
  end
  local message, index = M.message_at_cursor(chat)
  if not (message and message.role == "assistant" and message.status == "error") then
    message, index = nil, nil
    for i = #chat.messages, 1, -1 do
      local m = chat.messages[i]
      if m.role == "assistant" and m.status == "error" then
        message, index = m, i
        break
      end
    end
  end
  if not message or not index then
    util.notify("no failed answer to retry")
    return false
  end
  local user, at = user_turn(chat, index)
  if not user or not at then
    return false
  end
  return M.regenerate(chat, nil, nil, { user = user, index = at })
end

--- Edit the user turn at the cursor (for an answer: the turn it answers; else the last user
--- turn): its text goes to the draft, where sending makes a new version of it.
---@param chat chinwag.Chat|nil
---@return boolean
function M.edit(chat)
  chat = chat_or_current(chat)
  if not chat or not idle(chat) then
    return false
  end
  local _, index = M.message_at_cursor(chat)
  local user, at = user_turn(chat, index or #chat.messages)
  if not user or not at then
    util.notify("no message of yours to edit", vim.log.levels.WARN)
    return false
  end
  if not chat:edit(user, at) then
    return false
  end
  local win = api.nvim_get_current_buf() == chat.buf and api.nvim_get_current_win()
    or require("chinwag.chat").window(chat)
  if win then
    local last = api.nvim_buf_line_count(chat.buf)
    api.nvim_win_set_cursor(win, { last, #api.nvim_buf_get_lines(chat.buf, last - 1, last, false)[1] })
  end
  return true
end

--- Stop editing: the draft from before comes back.
---@param chat chinwag.Chat|nil
---@return boolean
function M.edit_cancel(chat)
  chat = chat_or_current(chat)
  if chat and chat:abandon_edit() then
    return true
  end
  util.notify("no message is being edited")
  return false
end

--- Show the next (`direction` 1) or previous (-1) version of the message at the cursor (else
--- of the last message): the branch through it, down to where it was last continued.
---@param chat chinwag.Chat|nil
---@param direction 1|-1
---@param callback fun(ok: boolean)|nil
function M.switch(chat, direction, callback)
  chat = chat_or_current(chat)
  if not chat or not idle(chat) then
    return callback and callback(false)
  end
  local message = M.message_at_cursor(chat) or chat.messages[#chat.messages]
  local index, count = nil, 0
  if message and message.id then
    index, count = require("chinwag.chat").sibling_position(message)
  end
  if not index or count < 2 then
    util.notify("this message has no other version")
    return callback and callback(false)
  end
  local wanted = index + direction
  if wanted < 1 or wanted > count then
    util.notify(("this is the %s version (%d/%d)"):format(direction > 0 and "last" or "first", index, count))
    return callback and callback(false)
  end
  local row = cursor_row(chat)
  local in_transcript = row and row < chat:prompt_row()
  local sibling = message.siblings[wanted]
  backend.request("chat/switch", { chatId = chat.id, messageId = sibling }, function(err, result)
    if err or not result then
      util.report("cannot switch: ", err)
      return callback and callback(false)
    end
    if not api.nvim_buf_is_valid(chat.buf) then
      return callback and callback(false)
    end
    chat:load(result)
    -- A reader stays on the message they switched.
    if in_transcript then
      local win = require("chinwag.chat").window(chat)
      local target = heading_row(chat, { id = sibling, role = message.role })
      if win and target then
        api.nvim_win_set_cursor(win, { target + 1, 0 })
      end
    end
    return callback and callback(true)
  end)
end

--- Show the message `id` of `chat` with the cursor on its heading: on another branch, switch
--- to it first (a search may find a message of any branch).
---@param chat chinwag.Chat
---@param id string
---@param callback fun(ok: boolean)|nil
function M.reveal(chat, id, callback)
  local function place()
    local win = require("chinwag.chat").window(chat)
    for _, message in ipairs(chat.messages) do
      if message.id == id then
        local row = heading_row(chat, message)
        if win and row then
          api.nvim_win_set_cursor(win, { row + 1, 0 })
          api.nvim_win_call(win, function()
            vim.cmd("normal! zt")
          end)
          return true
        end
      end
    end
    return false
  end
  if place() then
    return callback and callback(true)
  end
  if chat.busy or not chat.id then
    return callback and callback(false)
  end
  backend.request("chat/switch", { chatId = chat.id, messageId = id }, function(err, result)
    if err or not result or not api.nvim_buf_is_valid(chat.buf) then
      return callback and callback(false)
    end
    chat:load(result)
    return callback and callback(place())
  end)
end

return M
