if vim.g.loaded_metaai then
  return
end
vim.g.loaded_metaai = true

vim.api.nvim_create_user_command('MetaAI', function(opts)
  require('metaai').command(opts)
end, { nargs = '+', range = true, bang = true, desc = 'Ask Meta AI about the selection' })

vim.api.nvim_create_user_command('MetaAICancel', function()
  require('metaai').cancel()
end, { desc = 'Cancel Meta AI answers being written' })

vim.api.nvim_create_user_command('MetaAIDoctor', function()
  require('metaai').doctor()
end, { desc = 'Check the Meta AI setup step by step' })

for _, what in ipairs({ 'Keep', 'Discard', 'Retry' }) do
  vim.api.nvim_create_user_command('MetaAI' .. what, function()
    require('metaai').review(what:lower())
  end, { desc = what .. ' the latest Meta AI answer written into this buffer' })
end
