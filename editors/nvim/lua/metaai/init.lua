--- metaai-ls for Neovim 0.11+: `require('metaai').setup(opts)`, `:MetaAI`, progress in the
--- message area. Keymaps are suggested in the README, not imposed.
local M = {}

M.name = 'metaai'

local defaults = {
  -- Command that starts the server.
  cmd = nil,
  -- The server's `metaai` settings: cookiesFile, proxy, url, gatewayUrl, graphUrl, protocol,
  -- backend, apiUrl, apiKeyFile, model, contextLines, actions, progressDeltas.
  settings = {},
  -- 'account' (your meta.ai login) or 'api' (the Meta Model API; the key comes from
  -- MODEL_API_KEY in Neovim's environment, or `settings.apiKeyFile`). Shorthand for
  -- `settings.backend`.
  backend = nil,
  -- Show the streamed answer's tail in the message area while Meta AI writes.
  progress = true,
}

-- What the plugin needs from the server whatever the user sets: progress reports that
-- join to the answer (the chat buffer and the message area build the text from them).
M.server_settings = { progressDeltas = true }

M.options = vim.deepcopy(defaults)

-- Progress tokens of chat buffers, which show their answer themselves.
M.chat_tokens = {}

--- Configure and enable the `metaai` language server.
---@param opts? table
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if M.options.backend then
    M.options.settings.backend = M.options.backend
  end
  local settings = vim.tbl_extend('force', M.server_settings, M.options.settings)
  local config = {
    init_options = { metaai = settings },
    settings = { metaai = settings },
  }
  if M.options.cmd then
    config.cmd = M.options.cmd
  end
  vim.lsp.config(M.name, config)
  vim.lsp.enable(M.name)
  require('metaai.commands').create()
end

--- The command that starts the server, when it cannot be found: a sentence saying so
--- and how to set `cmd`; nil when it is there.
function M.missing_command()
  local cmd = (vim.lsp.config[M.name] or {}).cmd
  if type(cmd) ~= 'table' or vim.fn.executable(cmd[1]) == 1 then
    return nil
  end
  return ("Meta AI: the command '%s' was not found (it is not on PATH). Install metaai-ls, "
    .. "or give its full path: require('metaai').setup({ cmd = { '/path/to/metaai-ls', '--stdio' } }) "
    .. "or vim.lsp.config('metaai', { cmd = { ... } }). :checkhealth metaai checks the setup."):format(cmd[1])
end

local warned_missing = false

--- When a file buffer would start the server and its command is missing, say so once
--- (Neovim itself only writes it to the LSP log).
function M.warn_if_missing(bufnr)
  if warned_missing or vim.bo[bufnr].buftype ~= '' or not vim.lsp.is_enabled(M.name) then
    return
  end
  local missing = M.missing_command()
  if missing then
    warned_missing = true
    vim.schedule(function()
      vim.notify(missing, vim.log.levels.ERROR)
    end)
  end
end

--- The metaai client of `bufnr` (any metaai client when `bufnr` is nil), or nil after
--- saying why there is none.
function M.client(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = M.name })[1]
  if client then
    return client
  end
  local why = M.missing_command()
  if not why and not vim.lsp.is_enabled(M.name) then
    why = "Meta AI: the server is not enabled: call require('metaai').setup() or vim.lsp.enable('metaai')"
  end
  why = why or (bufnr and 'Meta AI: metaai-ls is not attached to this buffer (it starts in file buffers; see :LspLog)'
    or 'Meta AI: metaai-ls is not running: open a file first')
  vim.notify(why, vim.log.levels.ERROR)
  return nil
end

--- Run a server command on the current buffer, its one argument built by `argument`.
local function run_in_buffer(title, command, argument)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    return
  end
  local arguments = { argument(bufnr, client) }
  client:exec_cmd({ title = title, command = command, arguments = arguments }, { bufnr = bufnr })
end

--- An LSP position for a 0-based row and a byte column, in the client's encoding.
local function position(bufnr, row, col, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  col = math.min(col, #line)
  return { line = row, character = vim.str_utfindex(line, encoding, col, false) }
end

--- The LSP range of lines `line1`..`line2` (1-based), or of the last visual selection when
--- it covered them. Whole lines end at the start of the next line.
function M.range(bufnr, line1, line2, encoding)
  local start_mark = vim.api.nvim_buf_get_mark(bufnr, '<')
  local end_mark = vim.api.nvim_buf_get_mark(bufnr, '>')
  local line_count = vim.api.nvim_buf_line_count(bufnr)
  local charwise = vim.fn.visualmode() == 'v' and start_mark[1] == line1 and end_mark[1] == line2
  if charwise then
    local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
    -- The mark sits on the last character: include all of its bytes.
    local after = end_mark[2] + 1
    if after <= #last then
      after = vim.str_utf_end(last, after) + after
    end
    return {
      start = position(bufnr, line1 - 1, start_mark[2], encoding),
      ['end'] = position(bufnr, line2 - 1, after, encoding),
    }
  end
  local finish = line2 < line_count and { line = line2, character = 0 }
    or position(bufnr, line2 - 1, math.huge, encoding)
  return { start = { line = line1 - 1, character = 0 }, ['end'] = finish }
end

--- Ask Meta AI about lines `line1`..`line2` of the current buffer.
---@param prompt string
---@param mode 'replace'|'insert'|'chat'
function M.ask(prompt, mode, line1, line2)
  run_in_buffer('Meta AI', 'metaai.ask', function(bufnr, client)
    return {
      uri = vim.uri_from_bufnr(bufnr),
      range = M.range(bufnr, line1, line2, client.offset_encoding),
      prompt = prompt,
      mode = mode,
    }
  end)
end

--- Cancel every running ask.
function M.cancel()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client:exec_cmd({ title = 'Meta AI: Cancel', command = 'metaai.cancel', arguments = {} })
  end
end

--- Run a server command that answers `{ok, report}` and show the report in a split.
local function run_report(command, argument, name, failed, on_done)
  local client = M.client()
  if not client then
    return
  end
  client:request('workspace/executeCommand', { command = command, arguments = { argument } },
    function(err, result)
      if err or type(result) ~= 'table' then
        vim.notify('Meta AI: ' .. (err and err.message or 'no report'), vim.log.levels.ERROR)
      else
        M.show_text(name, result.report or '', 'text')
        if not result.ok then
          vim.notify('Meta AI: ' .. failed .. ' (see the report)', vim.log.levels.WARN)
        end
      end
      if on_done then
        on_done(result)
      end
    end)
  return true
end

--- Check the setup step by step (the server's `metaai.doctor`) and show the report.
---@param on_done? fun(result: table|nil)
function M.doctor(on_done)
  if run_report('metaai.doctor', {}, 'Meta AI setup', 'a setup check failed', on_done) then
    vim.notify('Meta AI: checking the setup…')
  end
end

--- Run a code action's or lens's `metaai.ask` waiting for the answer (the request's
--- default), so that a chat answer opens in a split like `:MetaAI --chat`.
function M.run_waiting(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  local arguments = vim.deepcopy(command.arguments or {})
  for _, argument in ipairs(arguments) do
    if type(argument) == 'table' then
      argument.wait = nil
    end
  end
  local params = { command = command.command, arguments = arguments }
  client:request('workspace/executeCommand', params, nil, ctx.bufnr)
end

local review_commands = { ['metaai.keep'] = true, ['metaai.discard'] = true, ['metaai.retry'] = true }

--- After a command: show a chat answer (and only a chat answer that is one) in a
--- Markdown split; refresh the Keep · Discard · Retry lenses after an answer was written.
function M.on_command_result(err, result, ctx)
  if err then
    vim.notify('Meta AI: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
    return
  end
  local params = ctx.params or {}
  local argument = params.arguments and params.arguments[1]
  if type(result) ~= 'table' or type(argument) ~= 'table' then
    return
  end
  local writes = argument.mode == 'replace' or argument.mode == 'insert'
  if writes or review_commands[params.command] then
    local bufnr = argument.uri and vim.uri_to_bufnr(argument.uri)
    if bufnr and vim.api.nvim_buf_is_loaded(bufnr) then
      vim.lsp.codelens.refresh({ bufnr = bufnr })
    end
  end
  if argument.mode ~= 'chat' or params.command ~= 'metaai.ask' or result.error or result.cancelled or result.started then
    return -- errors and cancels were reported by the server
  end
  M.show_answer(result.text)
end

local last_label = {}

--- `workspace/applyEdit`, with the edits of one answer (same label) joined into one undo
--- block, as gp.nvim does: one `u` takes the whole answer back. Applied here rather than by
--- Neovim's handler, which prints "Workspace edit <label>" for every edit (a hit-enter
--- prompt in a narrow window, and it hides the answer's tail).
function M.apply_edit(err, params, ctx)
  local default = vim.lsp.handlers['workspace/applyEdit']
  local label = params and params.label
  local change = params and params.edit and params.edit.documentChanges and params.edit.documentChanges[1]
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if type(label) ~= 'string' or not label:match('^Meta AI') or not change or not change.textDocument or not client then
    return default(err, params, ctx)
  end
  local bufnr = vim.uri_to_bufnr(change.textDocument.uri)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return default(err, params, ctx)
  end
  local ok, failure
  vim.api.nvim_buf_call(bufnr, function()
    if last_label[bufnr] == label then
      pcall(vim.cmd.undojoin) -- fails right after an undo: then a new block starts
    end
    ok, failure = pcall(vim.lsp.util.apply_workspace_edit, params.edit, client.offset_encoding)
  end)
  last_label[bufnr] = label
  return { applied = ok, failureReason = not ok and tostring(failure) or nil }
end

--- Keep, discard or retry the latest answer written into the current buffer.
---@param what 'keep'|'discard'|'retry'
function M.review(what)
  run_in_buffer('Meta AI: ' .. what, 'metaai.' .. what, function(bufnr)
    return { uri = vim.uri_from_bufnr(bufnr) }
  end)
end

function M.show_answer(text)
  M.show_text('Meta AI answer', text, 'markdown')
end

function M.show_text(name, text, filetype)
  vim.cmd('botright new')
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].filetype = filetype
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(text, '\n', { plain = true }))
  vim.api.nvim_buf_set_name(bufnr, name .. ' ' .. bufnr)
end

--- The answer streams as `$/progress` reports: show its tail in the message area. Set
--- `progress = false` in `setup()` to leave the message area alone.
function M.show_progress()
  if not M.options.progress or M.progress_group then
    return
  end
  M.progress_group = require('metaai.progress').follow(M.name, M.chat_tokens)
end

local modes = { replace = true, insert = true, chat = true }
local usage = 'Usage: :[range]MetaAI[!] [--replace|--insert|--chat] {prompt}'

--- `:[range]MetaAI[!] [--replace|--insert|--chat] {prompt}`: with a range the default is
--- `replace`, without one `chat`; `!` means `insert`. `--` ends the flags.
function M.command(opts)
  local words = vim.split(opts.args, '%s+', { trimempty = true })
  local mode = opts.range > 0 and 'replace' or 'chat'
  if opts.bang then
    mode = 'insert'
  end
  while words[1] and words[1]:match('^%-%-') do
    local flag = table.remove(words, 1)
    if flag == '--' then
      break
    end
    local name = flag:sub(3)
    if not modes[name] then
      vim.notify(('Meta AI: unknown flag %s (the flags are --replace, --insert and --chat; '
        .. 'put -- before a prompt that starts with --)'):format(flag), vim.log.levels.ERROR)
      return
    end
    mode = name
  end
  local prompt = table.concat(words, ' ')
  if prompt == '' then
    vim.notify(usage, vim.log.levels.WARN)
    return
  end
  local line1, line2 = opts.line1, opts.line2
  if opts.range == 0 then
    line1 = vim.fn.line('.')
    line2 = line1
  end
  M.ask(prompt, mode, line1, line2)
end

--- Learn Meta's current web client from a browser capture (`metaai.learn`, as
--- `metaai-ls learn FILE`), or forget what was learnt.
---@param file string
---@param forget? boolean
function M.learn(file, forget)
  local argument
  if forget then
    argument = { forget = true }
  elseif file ~= nil and file ~= '' then
    argument = { file = vim.fn.fnamemodify(vim.fn.expand(file), ':p') }
  else
    vim.notify('Usage: :MetaAILearn {capture.har}, or :MetaAILearn! to forget what was learnt',
      vim.log.levels.WARN)
    return
  end
  run_report('metaai.learn', argument, 'Meta AI learn', 'learning failed')
end

return M
