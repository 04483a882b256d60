-- After a plugin-manager-style install, as a user would check it: the server attaches to
-- the file, `:help metaai` opens, the commands exist, `:MetaAI --chat` answers. Writes what
-- happened to $METAAI_TEST_RESULT, then quits.
local result = { notified = {} }
local original_notify = vim.notify
vim.notify = function(message, level)
  table.insert(result.notified, { message = message, level = level })
  return original_notify(message, level)
end

local function finish()
  vim.fn.writefile({ vim.json.encode(result) }, vim.env.METAAI_TEST_RESULT)
  vim.cmd('qall!')
end

local bufnr = vim.api.nvim_get_current_buf()
result.attached = vim.wait(15000, function()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'metaai' })[1]
  return client ~= nil and client.initialized
end, 20)

local ok, err = pcall(vim.cmd.help, 'metaai')
result.help = ok and vim.fn.expand('%:t') or tostring(err)
if ok then
  vim.cmd.close()
end
result.commands = {}
for _, command in ipairs({ 'MetaAI', 'MetaAIChat', 'MetaAIChats', 'MetaAILearn', 'MetaAIDoctor' }) do
  result.commands[command] = vim.fn.exists(':' .. command) == 2
end
if not result.attached then
  return finish()
end
vim.cmd('MetaAI --chat what is this file?')
vim.wait(15000, function()
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.bo[b].filetype == 'markdown' then
      result.answer = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, true), '\n')
      return true
    end
  end
end, 20)
finish()
