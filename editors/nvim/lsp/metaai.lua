-- Default configuration for `vim.lsp.enable('metaai')` (Neovim 0.11+).
-- Override any field with `vim.lsp.config('metaai', { ... })`.
---@type vim.lsp.Config
return {
  cmd = { 'metaai-ls', '--stdio' },
  -- No `filetypes`: Meta AI helps with any file.
  root_markers = { '.git' },
  -- progressDeltas: the reports join to the answer (the message area shows its tail).
  init_options = { metaai = { progressDeltas = true } },
  settings = { metaai = { progressDeltas = true } },
  handlers = {
    ['workspace/executeCommand'] = function(err, result, ctx)
      require('metaai').on_command_result(err, result, ctx)
    end,
    -- One answer, one undo: the edits of one answer are joined into one undo block.
    ['workspace/applyEdit'] = function(err, params, ctx)
      return require('metaai').apply_edit(err, params, ctx)
    end,
  },
  on_init = function()
    -- The streamed answer's tail in the message area, also without `setup()`.
    require('metaai').show_progress()
  end,
}
