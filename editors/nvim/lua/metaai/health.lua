--- `:checkhealth metaai`: the server, the login or key, Neovim, and the server's own
--- step-by-step report (`metaai-ls doctor`). Never shows a cookie or key value.
local M = {}

local function readable(path)
  path = vim.fn.expand(path)
  local stat = vim.uv.fs_stat(path)
  return stat ~= nil and stat.type == 'file' and vim.uv.fs_access(path, 'R'), path, stat
end

function M.check()
  local health = vim.health
  local metaai = require('metaai')
  health.start('metaai: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed (vim.lsp.config / vim.lsp.enable)')
  end

  health.start('metaai: server')
  local config = vim.lsp.config[metaai.name] or {}
  local cmd = type(config.cmd) == 'table' and config.cmd or { 'metaai-ls', '--stdio' }
  if vim.fn.executable(cmd[1]) == 1 then
    -- The same command with --version in place of --stdio.
    local probe = vim.tbl_filter(function(word) return word ~= '--stdio' end, cmd)
    table.insert(probe, '--version')
    local done = vim.system(probe, { text = true }):wait(10000)
    if done.code == 0 then
      health.ok(('%s: %s'):format(vim.fn.exepath(cmd[1]), vim.trim(done.stdout or '')))
    else
      health.error(table.concat(probe, ' ') .. ' failed: ' .. vim.trim(done.stderr or ''))
    end
  else
    health.error(cmd[1] .. ' is not executable (not found on PATH)', {
      'install it: bash scripts/install.sh in a clone of https://github.com/metaai-ls/metaai-ls',
      "or give its full path: require('metaai').setup({ cmd = { '/path/to/metaai-ls', '--stdio' } })",
    })
  end

  health.start('metaai: login')
  local settings = (config.settings or {}).metaai or metaai.options.settings or {}
  if settings.backend == 'api' then
    if settings.apiKeyFile then
      local ok, path = readable(settings.apiKeyFile)
      if ok then health.ok('API key file ' .. path .. ' is readable') else health.error('API key file ' .. path .. ' cannot be read') end
    elseif (vim.env.MODEL_API_KEY or vim.env.METAAI_API_KEY or '') ~= '' then
      health.ok('API key in the environment (' .. (vim.env.MODEL_API_KEY and 'MODEL_API_KEY' or 'METAAI_API_KEY') .. ')')
    else
      health.error('no API key', { 'export MODEL_API_KEY=...', 'or settings.apiKeyFile' })
    end
  else
    local file = settings.cookiesFile or vim.env.METAAI_COOKIES
    if file then
      local ok, path, stat = readable(file)
      if not ok then
        health.error('cookie file ' .. path .. ' cannot be read')
      elseif stat and bit.band(stat.mode, tonumber('044', 8)) ~= 0 then
        health.warn('cookie file ' .. path .. ' is readable by other users', { 'chmod 600 ' .. path })
      else
        health.ok('cookie file ' .. path .. ' is readable')
      end
    else
      health.info('no cookie file: the cookies are read from your browsers (log in at https://www.meta.ai)')
    end
  end

  health.start('metaai: doctor')
  local client = vim.lsp.get_clients({ name = metaai.name })[1]
  if not client then
    health.warn('metaai-ls is not running: open a file and run :checkhealth metaai again')
    return
  end
  local response = client:request_sync('workspace/executeCommand',
    { command = 'metaai.doctor', arguments = { {} } }, 60000)
  local result = response and response.result
  if type(result) ~= 'table' then
    health.error('no report from the server: ' .. vim.inspect(response and response.err))
    return
  end
  for _, step in ipairs(result.steps or {}) do
    local line = step.name .. ': ' .. step.detail
    if step.ok then health.ok(line) else health.error(line, step.help ~= '' and { step.help } or nil) end
  end
end

return M
