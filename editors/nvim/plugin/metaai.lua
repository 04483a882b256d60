if vim.g.loaded_metaai then
  return
end
vim.g.loaded_metaai = true

-- The user commands; `require('metaai').setup()` creates them too, for plugin managers that
-- add `editors/nvim` to 'runtimepath' after start-up (when this file is never sourced).
require('metaai.commands').create()
