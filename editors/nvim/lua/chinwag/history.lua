---@mod chinwag.history `:ChinwagHistory` and `:ChinwagSearch`: saved chats.

local api = vim.api
local backend = require("chinwag.backend")
local util = require("chinwag.util")

local M = {}

---@param iso string|nil RFC 3339
---@return string
local function day(iso)
  if not iso then
    return ""
  end
  return (iso:gsub("T", " "):gsub("%..*$", ""):gsub("Z$", ""):sub(1, 16))
end

---@param summary table
---@return string
local function title_of(summary)
  return (summary.title and summary.title ~= "") and summary.title or "(untitled)"
end

---@param summary table
---@return string
function M.format_summary(summary)
  return ("%s  (%s · %s · %d messages · %s)"):format(
    title_of(summary),
    summary.provider,
    summary.model,
    summary.messageCount or 0,
    day(summary.updatedAt)
  )
end

--- Open a saved chat (continue it).
---@param summary table
---@param callback fun(ok: boolean)|nil
function M.open(summary, callback)
  require("chinwag.chat").open_saved(summary.id, function(chat)
    return callback and callback(chat ~= nil)
  end)
end

---@param summary table
---@param callback fun(ok: boolean)|nil
function M.rename(summary, callback)
  vim.ui.input({ prompt = "New title: ", default = summary.title or "" }, function(title)
    if not title or vim.trim(title) == "" then
      return callback and callback(false)
    end
    backend.request("history/rename", { chatId = summary.id, title = vim.trim(title) }, function(err, result)
      if err then
        util.notify("rename failed: " .. util.error_text(err), vim.log.levels.ERROR)
        return callback and callback(false)
      end
      local open = require("chinwag.chat").by_id[summary.id]
      if open then
        open.title = result.title
        open:_rename_buffer()
      end
      util.notify(("renamed to %q"):format(result.title))
      return callback and callback(true)
    end)
  end)
end

---@param summary table
---@param callback fun(ok: boolean)|nil
function M.delete(summary, callback)
  vim.ui.select({ "Delete", "Keep" }, {
    prompt = ("Delete %q for good?"):format(title_of(summary)),
  }, function(choice)
    if choice ~= "Delete" then
      return callback and callback(false)
    end
    backend.request("history/delete", { chatId = summary.id }, function(err)
      if err then
        util.notify("delete failed: " .. util.error_text(err), vim.log.levels.ERROR)
        return callback and callback(false)
      end
      local chat_mod = require("chinwag.chat")
      local open = chat_mod.by_id[summary.id]
      if open and api.nvim_buf_is_valid(open.buf) then
        if open.busy then
          open:stop()
        end
        api.nvim_buf_delete(open.buf, { force = true })
      end
      util.notify(("deleted %q"):format(title_of(summary)))
      return callback and callback(true)
    end)
  end)
end

---@param title string
---@return string
local function slug(title)
  local s = title:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  if s == "" then
    s = "chat"
  end
  return s:sub(1, 40)
end

---@param summary table
---@param callback fun(ok: boolean)|nil
function M.export(summary, callback)
  vim.ui.input({
    prompt = "Export to (.md or .json, inside your home): ",
    default = ("~/chinwag-%s.md"):format(slug(summary.title or "")),
  }, function(path)
    if not path or vim.trim(path) == "" then
      return callback and callback(false)
    end
    path = vim.trim(path)
    if not (path:sub(1, 1) == "/" or path:sub(1, 2) == "~/") then
      path = vim.fn.fnamemodify(path, ":p")
    end
    local format = path:match("%.json$") and "json" or "markdown"
    local function export(overwrite)
      backend.request("history/export", {
        chatId = summary.id,
        format = format,
        path = path,
        overwrite = overwrite,
      }, function(err, result)
        -- Of the 1402 refusals, only `exists` is answered by overwriting.
        local exists = err
          and err.code == util.codes.PATH_REFUSED
          and type(err.data) == "table"
          and err.data.kind == "exists"
        if exists and not overwrite then
          vim.ui.select({ "Overwrite", "Cancel" }, { prompt = path .. " exists." }, function(choice)
            if choice == "Overwrite" then
              export(true)
            elseif callback then
              callback(false)
            end
          end)
          return
        end
        if err then
          util.notify("export failed: " .. util.error_text(err), vim.log.levels.ERROR)
          return callback and callback(false)
        end
        util.notify(("exported to %s"):format(result.path))
        return callback and callback(true)
      end)
    end
    export(false)
  end)
end

M.actions = {
  { name = "Open", run = M.open },
  { name = "Rename", run = M.rename },
  { name = "Delete", run = M.delete },
  { name = "Export", run = M.export },
}

--- What to do with one chat.
---@param summary table
---@param callback fun(ok: boolean)|nil
function M.act(summary, callback)
  vim.ui.select(M.actions, {
    prompt = title_of(summary),
    format_item = function(action)
      return action.name
    end,
  }, function(action)
    if action then
      action.run(summary, callback)
    elseif callback then
      callback(false)
    end
  end)
end

--- `:ChinwagHistory`: saved chats, newest first, then what to do with the one picked.
---@param callback fun(ok: boolean)|nil
function M.list(callback)
  backend.request("history/list", { limit = 500 }, function(err, result)
    if err then
      util.notify("cannot list chats: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    if #result.chats == 0 then
      util.notify("no saved chats yet")
      return callback and callback(false)
    end
    vim.ui.select(result.chats, {
      prompt = ("Chats (%d)"):format(result.total),
      format_item = M.format_summary,
    }, function(summary)
      if summary then
        M.act(summary, callback)
      elseif callback then
        callback(false)
      end
    end)
  end)
end

--- `:ChinwagSearch {text}`: chats whose title or messages contain `text`; the one picked opens.
---@param text string
---@param callback fun(ok: boolean)|nil
function M.search(text, callback)
  text = vim.trim(text or "")
  if text == "" then
    util.notify("usage: :ChinwagSearch {text}", vim.log.levels.ERROR)
    return callback and callback(false)
  end
  backend.request("history/search", { query = text }, function(err, result)
    if err then
      util.notify("search failed: " .. util.error_text(err), vim.log.levels.ERROR)
      return callback and callback(false)
    end
    if #result.results == 0 then
      util.notify(("no chat mentions %q"):format(text))
      return callback and callback(false)
    end
    vim.ui.select(result.results, {
      prompt = ("Chats mentioning %q"):format(text),
      format_item = function(hit)
        return ("%s: %s"):format(title_of(hit), ((hit.snippet or ""):gsub("%s+", " ")))
      end,
    }, function(hit)
      if not hit then
        return callback and callback(false)
      end
      require("chinwag.chat").open_saved(hit.chatId, function(chat)
        if not (chat and type(hit.messageId) == "string") then
          return callback and callback(chat ~= nil)
        end
        -- The message found, on whichever branch it is.
        require("chinwag.tree").reveal(chat, hit.messageId, function()
          return callback and callback(true)
        end)
      end)
    end)
  end)
end

return M
