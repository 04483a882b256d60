-- What lazy.nvim (lua/lazy/core/loader.lua) does with a plugin spec, and nothing more: the
-- clone at stdpath('data')/lazy/NAME, `:helptags` of its top-level doc/ and `build` at
-- install; when loaded, the clone itself on 'runtimepath', its plugin/ files sourced, then
-- `config(plugin, opts)`, or with `opts` and no `config` require(<the Lua module found at the
-- top of the clone>).setup(opts). A spec with `event`/`cmd`/`keys`/`ft` (and no
-- `lazy = false`) loads only when that happens.
-- Usage, in init.lua: dofile('lazy.lua')('plugins.metaai')
return function(module)
  local spec = require(module)
  local name = spec.name or spec[1]:match('[^/]+$')
  local plugin = vim.tbl_extend('force', spec, { name = name, dir = vim.fn.stdpath('data') .. '/lazy/' .. name })

  local function load()
    if plugin.loaded then
      return
    end
    plugin.loaded = true
    vim.opt.rtp:append(plugin.dir)
    for _, file in ipairs(vim.fn.glob(plugin.dir .. '/plugin/**/*.{lua,vim}', false, true)) do
      vim.cmd.source(file)
    end
    if type(plugin.config) == 'function' then
      plugin.config(plugin, plugin.opts or {})
    elseif plugin.opts or plugin.config == true then
      local modules = vim.fn.glob(plugin.dir .. '/lua/*', false, true)
      if #modules ~= 1 then
        error('Lua module not found for config of ' .. name .. '. Please use a `config()` function instead')
      end
      require(vim.fn.fnamemodify(modules[1], ':t:r')).setup(plugin.opts or {})
    end
  end

  if vim.fn.isdirectory(plugin.dir .. '/doc') == 1 then
    vim.cmd.helptags(plugin.dir .. '/doc')
  end
  if type(plugin.build) == 'function' then
    plugin.build(plugin)
  end
  local triggers = plugin.event or plugin.cmd or plugin.keys or plugin.ft
  if plugin.lazy == false or not triggers then
    load()
    return
  end
  if plugin.event then
    vim.api.nvim_create_autocmd(plugin.event, { once = true, callback = load })
  end
  for _, command in ipairs(type(plugin.cmd) == 'table' and plugin.cmd or { plugin.cmd }) do
    vim.api.nvim_create_user_command(command, function(opts)
      vim.api.nvim_del_user_command(command)
      load()
      vim.cmd(command .. ' ' .. opts.args)
    end, { nargs = '*', range = true, bang = true })
  end
end
