-- init.lua of a Neovim with a real terminal UI (tmux): the plugin set up against the fake,
-- <F5> asks about lines 2-3, <F6> asks in a chat; writes $METAAI_TEST_RESULT.attached when the server is there and
-- $METAAI_TEST_RESULT with the buffer's text when the answer has ended.
local config = vim.json.decode(vim.env.METAAI_TEST_CONFIG)
vim.opt.rtp:prepend(vim.env.METAAI_TEST_PLUGIN)
vim.cmd('runtime! plugin/metaai.lua')
vim.o.swapfile = false
require('metaai').setup({ cmd = config.cmd, settings = config.settings })
vim.keymap.set('n', '<F5>', '<Cmd>2,3MetaAI make it clearer<CR>')
vim.keymap.set('n', '<F6>', '<Cmd>MetaAIChat explain this file<CR>')
vim.api.nvim_create_autocmd('LspAttach', {
  callback = function()
    vim.fn.writefile({ 'attached' }, vim.env.METAAI_TEST_RESULT .. '.attached')
  end,
})
vim.api.nvim_create_autocmd('LspProgress', {
  pattern = 'end',
  callback = function()
    vim.defer_fn(function()
      local lines = vim.api.nvim_buf_get_lines(0, 0, -1, true)
      vim.fn.writefile({ vim.json.encode({ text = table.concat(lines, '\n') }) }, vim.env.METAAI_TEST_RESULT)
    end, 300)
  end,
})
