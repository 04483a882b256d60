-- Default configuration for `vim.lsp.enable('metaai')` (Neovim 0.11+).
-- Override any field with `vim.lsp.config('metaai', { ... })`.
---@type vim.lsp.Config
return {
  cmd = { 'metaai-ls', '--stdio' },
  -- No `filetypes`: Meta AI helps with any file.
  root_markers = { '.git' },
  -- progressDeltas: the plugin builds the streamed text from reports that join to the answer.
  init_options = { metaai = { progressDeltas = true } },
  settings = { metaai = { progressDeltas = true } },
  -- Code actions and lenses carry `"wait": false` (for clients that give up on a request
  -- after 10 s); Neovim has no such time-out, so it waits and can show a chat answer.
  commands = {
    ['metaai.ask'] = function(command, ctx)
      require('metaai').run_waiting(command, ctx)
    end,
  },
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
