-- Default configuration for `vim.lsp.enable('metaai')` (Neovim 0.11+).
-- Override any field with `vim.lsp.config('metaai', { ... })`.
---@type vim.lsp.Config
return {
  cmd = { 'metaai-ls', '--stdio' },
  -- No `filetypes`: Meta AI helps with any file.
  root_markers = { '.git' },
  init_options = { metaai = {} },
  settings = { metaai = {} },
  handlers = {
    ['workspace/executeCommand'] = function(err, result, ctx)
      require('metaai').on_command_result(err, result, ctx)
    end,
  },
}
