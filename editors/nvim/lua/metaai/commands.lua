--- The user commands, created once whichever way the plugin was loaded.
local M = {}

local function metaai()
  return require('metaai')
end

local definitions = {
  MetaAI = {
    function(opts) metaai().command(opts) end,
    { nargs = '+', range = true, bang = true, desc = 'Ask Meta AI about the selection' },
  },
  MetaAIChat = {
    function(opts) require('metaai.chat').command(opts) end,
    { nargs = '*', range = true, bang = true, desc = 'Chat with Meta AI (! starts a new chat)' },
  },
  MetaAIChats = {
    function() require('metaai.chat').pick() end,
    { desc = 'Reopen a past Meta AI conversation' },
  },
  MetaAICancel = {
    function() metaai().cancel() end,
    { desc = 'Cancel Meta AI answers being written' },
  },
  MetaAIDoctor = {
    function() metaai().doctor() end,
    { desc = 'Check the Meta AI setup step by step' },
  },
  MetaAILearn = {
    function(opts) metaai().learn(opts.args, opts.bang) end,
    {
      nargs = '?',
      bang = true,
      complete = 'file',
      desc = "Learn Meta's current web client from a browser capture (HAR); ! forgets it",
    },
  },
}

for _, what in ipairs({ 'Keep', 'Discard', 'Retry' }) do
  definitions['MetaAI' .. what] = {
    function() metaai().review(what:lower()) end,
    { desc = what .. ' the latest Meta AI answer written into this buffer' },
  }
end

M.names = vim.tbl_keys(definitions)
table.sort(M.names)

local created = false

--- Create the user commands and the check that the server's command exists (once).
function M.create()
  if created then
    return
  end
  created = true
  for name, definition in pairs(definitions) do
    vim.api.nvim_create_user_command(name, definition[1], definition[2])
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = vim.api.nvim_create_augroup('metaai.missing', { clear = true }),
    callback = function(ev)
      metaai().warn_if_missing(ev.buf)
    end,
  })
end

return M
