-- Runs one scenario in a real headless Neovim, the way a user would, then writes what
-- happened to a JSON file.  Usage: nvim -l case.lua CASE PLUGIN_DIR FILE RESULT CONFIG_JSON
local case, plugin_dir, file, result_path, config_json = unpack(arg)
local config = vim.json.decode(config_json)

vim.opt.rtp:prepend(plugin_dir)
vim.cmd('runtime! plugin/metaai.lua')
vim.o.swapfile = false

local notified = {}
vim.notify = function(message, level)
  table.insert(notified, { message = message, level = level })
end

local progress_ends = 0
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function(ev)
    if ev.data.params.value.kind == 'end' then
      progress_ends = progress_ends + 1
    end
  end,
})

if case == 'enable_only' then
  -- No setup(): only the runtime config of lsp/metaai.lua, as `vim.lsp.enable` users have.
  vim.lsp.config('metaai', { cmd = config.cmd, init_options = { metaai = config.settings } })
  vim.lsp.enable('metaai')
else
  require('metaai').setup({ cmd = config.cmd, settings = config.settings })
end
vim.cmd.edit(file)
local bufnr = vim.api.nvim_get_current_buf()
local original = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), '\n')

local function fail(message)
  vim.fn.writefile({ vim.json.encode({ error = message, notified = notified }) }, result_path)
  os.exit(1)
end

-- Cases that run whether or not the server starts.
local early = {}

function early.missing_command()
  -- The first file opened says which command is missing; :MetaAI says it again.
  vim.wait(500, function() return #notified > 0 end, 20)
  vim.cmd('MetaAI --chat hello')
  vim.fn.writefile({ vim.json.encode({ notified = notified }) }, result_path)
  os.exit(0)
end

if early[case] then
  early[case]()
end

if not vim.wait(15000, function()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'metaai' })[1]
  return client ~= nil and client.initialized
end, 20) then
  fail('metaai-ls did not attach')
end
local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'metaai' })[1]

local function select_lines(first, last, charwise_from, charwise_to)
  if charwise_from then
    vim.api.nvim_win_set_cursor(0, { first, charwise_from })
    vim.cmd('normal! v')
    vim.api.nvim_win_set_cursor(0, { last, charwise_to })
  else
    vim.api.nvim_win_set_cursor(0, { first, 0 })
    vim.cmd('normal! V')
    vim.api.nvim_win_set_cursor(0, { last, 0 })
  end
  vim.cmd('normal! \27') -- leave visual mode: sets '< and '>
end

local cases = {}

--- The code action `title` on lines 2-3, in visual line mode as a user would: the range
--- comes from the selection.
local function run_code_action(title)
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd('normal! V')
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  vim.lsp.buf.code_action({
    filter = function(action)
      return action.title == title
    end,
    apply = true,
  })
end

function cases.code_action()
  run_code_action('Meta AI: Refactor / Improve')
end

function cases.code_action_chat()
  run_code_action('Meta AI: Write tests')
end

function cases.metaai_command()
  select_lines(2, 3)
  vim.cmd("'<,'>MetaAI make it clearer")
end

function cases.metaai_insert()
  select_lines(3, 3)
  vim.cmd("'<,'>MetaAI! explain this")
end

function cases.metaai_charwise()
  -- Select `x+x` on line 3 (bytes 11..13), after a multi-byte line above.
  select_lines(3, 3, 11, 13)
  vim.cmd("'<,'>MetaAI --replace better")
end

function cases.metaai_chat()
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.cmd('MetaAI what is this file?')
end

function cases.mistyped_flag()
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.cmd('MetaAI --chatt what is this file?') -- refused: nothing is sent
  vim.cmd('MetaAI -- --chatt is what?') -- after --, part of the prompt
end

function cases.doctor()
  -- :MetaAIDoctor, then :checkhealth metaai, as a user would.
  vim.cmd('MetaAIDoctor')
  local report
  if not vim.wait(20000, function()
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_get_name(b):match('Meta AI setup') then
        report = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, true), '\n')
        return true
      end
    end
  end, 20) then
    fail('no doctor report')
  end
  vim.cmd('checkhealth metaai')
  local health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, true), '\n')
  vim.fn.writefile({ vim.json.encode({ report = report, health = health, notified = notified }) }, result_path)
  os.exit(0)
end

-- Run after the answer was written; their fields join the result.
local after = {}

local function lens_titles()
  local titles = {}
  for _, lens in ipairs(vim.lsp.codelens.get(bufnr)) do
    table.insert(titles, lens.command and lens.command.title or '?')
  end
  return titles
end

local function wait_for_lenses(count)
  vim.wait(5000, function()
    return #vim.lsp.codelens.get(bufnr) == count
  end, 20)
end

function cases.undo()
  select_lines(2, 3)
  -- As Neovim's main loop does between events when a user is there (a headless script
  -- never does): close the undo block every few milliseconds while the answer streams.
  local timer = vim.uv.new_timer()
  timer:start(5, 5, vim.schedule_wrap(function()
    vim.api.nvim_buf_call(bufnr, function()
      vim.bo[bufnr].undolevels = vim.bo[bufnr].undolevels
    end)
  end))
  vim.cmd("'<,'>MetaAI make it clearer")
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      if ev.data.params.value.kind == 'end' then
        timer:stop()
      end
    end,
  })
end

function after.undo()
  wait_for_lenses(3)
  local fields = {
    lenses = lens_titles(),
    written = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), '\n'),
  }
  vim.cmd('normal! u') -- once
  fields.after_undo = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), '\n')
  return fields
end

cases.discard = cases.undo

function after.discard()
  wait_for_lenses(3)
  vim.api.nvim_buf_set_lines(bufnr, 0, 0, true, { '# added above' }) -- the user edits elsewhere
  vim.cmd('MetaAIDiscard')
  local restored = vim.wait(5000, function()
    return #vim.lsp.codelens.get(bufnr) == 0
      and vim.api.nvim_buf_get_lines(bufnr, 2, 3, true)[1] == 'def double(x):'
  end, 20)
  return { restored = restored, lenses_after = lens_titles() }
end

cases.retry_keep = cases.undo

function after.retry_keep()
  wait_for_lenses(3)
  vim.cmd('MetaAIRetry') -- discards, then asks again with the same prompt
  local retried = vim.wait(10000, function()
    local line = vim.api.nvim_buf_get_lines(bufnr, 2, 3, true)[1]
    return line == '    return x << 1' and progress_ends >= 2
  end, 20)
  wait_for_lenses(3)
  vim.cmd('MetaAIKeep')
  local kept = vim.wait(5000, function()
    return #vim.lsp.codelens.get(bufnr) == 0
  end, 20)
  return { retried = retried, kept = kept }
end

function cases.enable_only()
  select_lines(2, 3)
  vim.cmd("'<,'>MetaAI make it clearer")
end

function after.enable_only()
  return { progress_shown = #vim.api.nvim_get_autocmds({ group = 'metaai.progress' }) }
end

-- The chat buffer (:MetaAIChat), driven with keys as a user drives it.
local learned_report
local chat_module = function() return require('metaai.chat') end
local source_win = vim.api.nvim_get_current_win()

local function keys(text, remap)
  vim.api.nvim_feedkeys(vim.keycode(text), remap and 'mx' or 'nx', false)
end

local function buffer_text(b)
  return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, true), '\n')
end

local function answered(chat_buf)
  return vim.wait(20000, function()
    local chat = chat_module().chats[chat_buf]
    return chat and not chat.running
  end, 20)
end

local streamed_states = {}
vim.api.nvim_create_autocmd('LspProgress', {
  pattern = 'report',
  callback = function()
    local b = vim.api.nvim_get_current_buf()
    if vim.api.nvim_buf_get_name(b):match('^metaai://chat/') then
      streamed_states[buffer_text(b)] = true
    end
  end,
})

function cases.chat_context()
  local ns = vim.api.nvim_create_namespace('a linter')
  vim.diagnostic.set(ns, bufnr, {
    { lnum = 2, col = 11, message = 'x+x could be 2 * x', severity = vim.diagnostic.severity.WARN, source = 'lint' },
  })
  vim.cmd('MetaAIChat what is wrong in #buffer, given #diagnostics?')
end

-- :MetaAILearn {capture}, an ask, then :MetaAILearn! (forget).
local function report_split(name)
  local report
  vim.wait(20000, function()
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_get_name(b):match(name) and vim.api.nvim_buf_is_loaded(b) then
        report = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, true), '\n')
        vim.api.nvim_buf_delete(b, { force = true })
        return true
      end
    end
  end, 20)
  return report
end

function cases.learn()
  vim.cmd('MetaAILearn ' .. vim.fn.fnameescape(vim.env.METAAI_TEST_CAPTURE))
  learned_report = report_split('Meta AI learn')
  vim.cmd('MetaAI --chat hi')
end

function after.learn()
  vim.cmd('MetaAILearn!')
  return { learned = learned_report, forgot = report_split('Meta AI learn') }
end

function cases.chat()
  vim.cmd('MetaAIChat')
  keys('GAwhat does #file:other.py do?<Esc>')
  keys('<CR>', true) -- sends
  return true -- after.chat waits for its answers itself
end

function after.chat()
  local fields = {}
  local chat_buf = vim.api.nvim_get_current_buf()
  fields.chat_name = vim.api.nvim_buf_get_name(chat_buf)
  fields.filetype = vim.bo[chat_buf].filetype
  answered(chat_buf)
  fields.streamed = vim.tbl_count(streamed_states)
  fields.first = buffer_text(chat_buf)
  -- A follow-up, sent with :w; the user moves to the top while it streams.
  keys('GAand then?<Esc>')
  vim.cmd.write()
  keys('gg')
  answered(chat_buf)
  fields.cursor = vim.api.nvim_win_get_cursor(0)
  fields.second = buffer_text(chat_buf)
  fields.modified = vim.bo[chat_buf].modified
  -- Wipe the buffer (as a restart would), then reopen it from the history, as a picker would.
  vim.cmd('bwipeout! ' .. chat_buf)
  vim.ui.select = function(items, opts, on_choice)
    fields.picked = opts.format_item(items[1])
    on_choice(items[1])
  end
  vim.cmd('MetaAIChats')
  vim.wait(5000, function()
    return vim.api.nvim_buf_get_name(0):match('^metaai://chat/') ~= nil
  end, 20)
  fields.reopened = buffer_text(vim.api.nvim_get_current_buf())
  -- A chat about a selection; `ga` applies the answer's code block to it.
  vim.api.nvim_set_current_win(source_win)
  select_lines(2, 3)
  vim.cmd("'<,'>MetaAIChat! rewrite it")
  local code_chat = vim.api.nvim_get_current_buf()
  answered(code_chat)
  fields.code_chat = buffer_text(code_chat)
  local row = vim.fn.search('return 2', 'w')
  if row == 0 then
    return fields -- no code block came: the test says what did
  end
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  keys('ga', true)
  vim.wait(5000, function()
    return vim.api.nvim_buf_get_lines(bufnr, 2, 3, true)[1] == '    return 2 * x'
  end, 20)
  fields.applied = buffer_text(bufnr)
  -- A slow answer, stopped with <C-c>.
  keys('GAtell me a long story<Esc>')
  keys('<CR>', true)
  vim.wait(10000, function()
    return buffer_text(code_chat):match('Once upon') ~= nil
  end, 20)
  keys('<C-c>', true)
  answered(code_chat)
  fields.stopped = buffer_text(code_chat)
  return fields
end

--- The function `def f` (two lines) wherever it is: the file holds line separators.
function cases.separators()
  local line = vim.fn.search('^def f', 'w')
  select_lines(line, line + 1)
  vim.cmd("'<,'>MetaAI --replace better")
end

function after.separators()
  wait_for_lenses(3)
  return { lenses = lens_titles() }
end

--- :LspStop while the answer streams: the server puts the region back, then stops.
function cases.stop_mid_answer()
  select_lines(2, 3)
  vim.cmd("'<,'>MetaAI make it clearer")
  if not vim.wait(10000, function()
    return buffer_text(bufnr) ~= original
  end, 5) then
    fail('no part of the answer came')
  end
  vim.lsp.stop_client(client.id) -- what :LspStop does
  -- (is_stopped() is true at once; the client goes once the server has exited)
  local stopped = vim.wait(8000, function()
    return vim.lsp.get_client_by_id(client.id) == nil
  end, 10)
  vim.fn.writefile({ vim.json.encode({
    text = buffer_text(bufnr),
    stopped = stopped,
    notified = notified,
  }) }, result_path)
  os.exit(0)
end

local waits_itself = cases[case]()

if not waits_itself and not vim.wait(20000, function()
  return progress_ends >= 1
end, 10) then
  fail('no progress end')
end
-- Let the last didChange and any chat window settle.
vim.wait(300)
local chat = nil
for _, b in ipairs(vim.api.nvim_list_bufs()) do
  if vim.bo[b].filetype == 'markdown' then
    chat = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, true), '\n')
  end
end
local data = {
  original = original,
  text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), '\n'),
  encoding = client.offset_encoding,
  notified = notified,
  chat = chat,
}
if after[case] then
  for key, value in pairs(after[case]()) do
    data[key] = value
  end
  data.text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), '\n')
end
vim.fn.writefile({ vim.json.encode(data) }, result_path)
vim.lsp.stop_client(client.id)
vim.wait(2000, function()
  return client:is_stopped()
end)
os.exit(0)
