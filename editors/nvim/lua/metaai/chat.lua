--- `:MetaAIChat`: a Markdown buffer holding one conversation as `## You` / `## Meta AI`
--- sections. The server keeps the history (`metaai.chat`, `metaai.conversations`,
--- `metaai.conversation`); this buffer only shows it and streams the answer in.
local M = {}

local YOU, META = '## You', '## Meta AI'
-- A `## You` section as the chat offers it: the header, a blank line, the line to write on.
local INPUT = { YOU, '', '' }
local ns = vim.api.nvim_create_namespace('metaai.chat')

---@class metaai.Chat
---@field bufnr integer
---@field conversation? string the server's conversation id, once there is one
---@field source? {bufnr: integer, start: integer, finish?: integer, whole_lines?: boolean} the buffer (and selection) the chat is about, as extmarks
---@field running? {client: vim.lsp.Client, token: string, request: integer, start: integer, finish: integer}

---@type table<integer, metaai.Chat>
M.chats = {}
M.last = nil ---@type integer? the chat buffer `:MetaAIChat` reopens
local sequence = 0

local function metaai()
  return require('metaai')
end

--- Remember the buffer (and the lines or characters of a selection) the chat is about, as
--- extmarks so that it follows the edits made there meanwhile.
local function set_source(chat, bufnr, opts)
  if vim.bo[bufnr].buftype ~= '' then
    return -- a chat or another special buffer: keep the previous source
  end
  local old = chat.source
  if old and vim.api.nvim_buf_is_valid(old.bufnr) then -- only this chat's marks: others may share the buffer
    vim.api.nvim_buf_del_extmark(old.bufnr, ns, old.start)
    if old.finish then
      vim.api.nvim_buf_del_extmark(old.bufnr, ns, old.finish)
    end
  end
  local source = { bufnr = bufnr }
  if opts and opts.range > 0 then
    local start_row, finish_row = opts.line1 - 1, opts.line2 -- whole lines, end exclusive
    local line_count = vim.api.nvim_buf_line_count(bufnr)
    local finish_col = 0
    if finish_row >= line_count then
      finish_row = line_count - 1
      finish_col = #(vim.api.nvim_buf_get_lines(bufnr, finish_row, finish_row + 1, true)[1])
    end
    source.start = vim.api.nvim_buf_set_extmark(bufnr, ns, start_row, 0, { right_gravity = false })
    source.finish = vim.api.nvim_buf_set_extmark(bufnr, ns, finish_row, finish_col, {})
    source.whole_lines = finish_col == 0
  else -- code goes above the cursor's line
    local row = vim.api.nvim_win_get_cursor(0)[1] - 1
    source.start = vim.api.nvim_buf_set_extmark(bufnr, ns, row, 0, { right_gravity = false })
  end
  chat.source = source
end

--- The source's selection (or insertion point) as an LSP range in `encoding`.
local function source_range(chat, encoding)
  local source = chat.source
  local function at(mark)
    local pos = vim.api.nvim_buf_get_extmark_by_id(source.bufnr, ns, mark, {})
    local line = vim.api.nvim_buf_get_lines(source.bufnr, pos[1], pos[1] + 1, false)[1] or ''
    return { line = pos[1], character = vim.str_utfindex(line, encoding, math.min(pos[2], #line), false) }
  end
  local start = at(source.start)
  return { start = start, ['end'] = source.finish and at(source.finish) or start }
end

--- The metaai client of `bufnr`, else any metaai client (the history is the server's).
local function client_for(bufnr)
  local name = metaai().name
  return bufnr and vim.lsp.get_clients({ bufnr = bufnr, name = name })[1] or metaai().client()
end

local function lines_of(text)
  return vim.split(text, '\n', { plain = true })
end

--- Append `lines` at the end of the chat buffer.
local function append(chat, lines)
  vim.api.nvim_buf_set_lines(chat.bufnr, -1, -1, true, lines)
end

--- The last `## You` section: its first row (0-based, after the header) and its text.
local function last_question(bufnr)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  for row = #lines, 1, -1 do
    if lines[row]:match('^## You%s*$') then
      return row, vim.trim(table.concat(lines, '\n', row + 1, #lines))
    end
  end
end

local function set_keymaps(chat)
  local function map(lhs, fn, desc)
    vim.keymap.set('n', lhs, fn, { buffer = chat.bufnr, desc = desc, nowait = true })
  end
  map('<CR>', function() M.send(chat.bufnr) end, 'Send the message under the last ## You')
  map('q', function() M.close(chat.bufnr) end, 'Close the Meta AI chat')
  map('<C-c>', function() M.stop(chat.bufnr) end, 'Stop the Meta AI answer')
  map('ga', function() M.apply(chat.bufnr) end, 'Apply the code block under the cursor to the selection')
  vim.api.nvim_create_autocmd('BufWriteCmd', {
    buffer = chat.bufnr,
    callback = function()
      M.send(chat.bufnr)
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = chat.bufnr,
    callback = function()
      M.stop(chat.bufnr)
      M.chats[chat.bufnr] = nil
    end,
  })
end

--- A new, empty chat buffer (not shown yet).
local function new_chat()
  sequence = sequence + 1
  local bufnr = vim.api.nvim_create_buf(true, false)
  vim.api.nvim_buf_set_name(bufnr, 'metaai://chat/' .. sequence)
  vim.bo[bufnr].buftype = 'acwrite' -- `:w` sends
  vim.bo[bufnr].bufhidden = 'hide'
  vim.bo[bufnr].swapfile = false
  vim.bo[bufnr].filetype = 'markdown'
  local chat = { bufnr = bufnr }
  M.chats[bufnr] = chat
  set_keymaps(chat)
  return chat
end

--- Show the chat buffer in a window on the right (or go to the one showing it).
local function show(chat)
  local win = vim.fn.bufwinid(chat.bufnr)
  if win == -1 then
    vim.cmd('botright vsplit')
    win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, chat.bufnr)
    vim.api.nvim_win_set_width(win, math.max(40, math.floor(vim.o.columns * 0.4)))
    vim.wo[win].wrap = true
    vim.wo[win].linebreak = true
  else
    vim.api.nvim_set_current_win(win)
  end
  M.last = chat.bufnr
end

--- Put `lines` (the start of a message) in the last `## You` section, adding one when the
--- buffer has none yet, and leave the cursor at its end.
local function prefill(chat, lines)
  local row, message = last_question(chat.bufnr)
  if not row then
    local empty = vim.api.nvim_buf_line_count(chat.bufnr) == 1
      and vim.api.nvim_buf_get_lines(chat.bufnr, 0, 1, true)[1] == ''
    vim.api.nvim_buf_set_lines(chat.bufnr, empty and 0 or -1, -1, true, INPUT)
  end
  if lines and (message or '') == '' then -- never over what the user already wrote
    vim.api.nvim_buf_set_lines(chat.bufnr, -2, -1, true, lines)
  end
  vim.bo[chat.bufnr].modified = false
  local win = vim.fn.bufwinid(chat.bufnr)
  if win ~= -1 then
    local last = vim.api.nvim_buf_line_count(chat.bufnr)
    vim.api.nvim_win_set_cursor(win, { last, #vim.api.nvim_buf_get_lines(chat.bufnr, last - 1, last, true)[1] })
  end
end

--- `:[range]MetaAIChat[!] [message]`: open the chat (a new one with `!`); a range starts
--- the message with `#selection`; a message is sent at once.
function M.command(opts)
  local from = vim.api.nvim_get_current_buf()
  local chat = M.chats[from] or not opts.bang and M.last and M.chats[M.last]
  if opts.bang or not chat then
    chat = new_chat()
  end
  set_source(chat, from, opts)
  show(chat)
  local start = opts.range > 0 and '#selection ' or ''
  if start .. opts.args ~= '' then
    prefill(chat, { start .. opts.args })
  else
    prefill(chat)
  end
  if opts.args ~= '' then
    M.send(chat.bufnr)
  end
end

--- What goes with a message besides its text: the buffer the chat is about (`uri`, for
--- `#buffer` and `#diagnostics`), its selection only when the message names `#selection`
--- (the server adds a selection it is given to every message), and the diagnostics Neovim
--- holds for it when the message names `#diagnostics` (the server sees only those that
--- came with code actions).
local function context(chat, message, client)
  local source = chat.source
  if not (source and vim.api.nvim_buf_is_valid(source.bufnr)) then
    return {}
  end
  local uri = vim.uri_from_bufnr(source.bufnr)
  local extra = { uri = uri }
  if message:find('#selection', 1, true) and source.finish then
    extra.range = source_range(chat, client.offset_encoding)
  end
  if message:find('#diagnostics', 1, true) then
    local items = vim.lsp.diagnostic.from(vim.diagnostic.get(source.bufnr))
    extra.references = { { diagnostics = uri, items = items } }
  end
  return extra
end

--- Where the streamed answer is: between the two extmarks of the running answer.
local function answer_span(chat)
  local run = chat.running
  local a = vim.api.nvim_buf_get_extmark_by_id(chat.bufnr, ns, run.start, {})
  local b = vim.api.nvim_buf_get_extmark_by_id(chat.bufnr, ns, run.finish, {})
  return a, b
end

--- Write `text` at the end of the streaming answer.
local function stream_in(chat, text)
  local _, finish = answer_span(chat)
  vim.api.nvim_buf_set_text(chat.bufnr, finish[1], finish[2], finish[1], finish[2], lines_of(text))
end

--- Replace the streamed answer with `text` (the server's final answer, exact).
local function settle(chat, text)
  local start, finish = answer_span(chat)
  vim.api.nvim_buf_set_text(chat.bufnr, start[1], start[2], finish[1], finish[2], lines_of(text))
end

--- Send the text under the last `## You` as the next message of the conversation.
function M.send(bufnr)
  local chat = M.chats[bufnr or vim.api.nvim_get_current_buf()]
  if not chat then
    return
  end
  vim.bo[chat.bufnr].modified = false
  if chat.running then
    vim.notify('Meta AI is still answering: <C-c> stops it', vim.log.levels.WARN)
    return
  end
  local _, message = last_question(chat.bufnr)
  if not message or message == '' then
    vim.notify('Meta AI: write your message under the last "## You", then <CR> or :w',
      vim.log.levels.WARN)
    return
  end
  local source_buf = chat.source and chat.source.bufnr
  if source_buf and not vim.api.nvim_buf_is_valid(source_buf) then
    source_buf = nil
  end
  local client = client_for(source_buf)
  if not client then
    return
  end
  local argument = vim.tbl_extend('force', context(chat, message, client), {
    message = message,
    conversation = chat.conversation,
  })
  -- The answer goes between two extmarks, then a new `## You` for the next message.
  append(chat, { '', META, '', '' })
  local answer_row = vim.api.nvim_buf_line_count(chat.bufnr) - 1
  append(chat, { '', unpack(INPUT) })
  vim.bo[chat.bufnr].modified = false -- what is written there now is sent
  local win = vim.fn.bufwinid(chat.bufnr)
  if win ~= -1 and vim.api.nvim_get_current_win() == win then
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(chat.bufnr), 0 })
  end
  sequence = sequence + 1
  local token = ('metaai-chat-%d-%d'):format(chat.bufnr, sequence)
  local run = {
    client = client,
    token = token,
    start = vim.api.nvim_buf_set_extmark(chat.bufnr, ns, answer_row, 0, { right_gravity = false }),
    finish = vim.api.nvim_buf_set_extmark(chat.bufnr, ns, answer_row, 0, {}),
  }
  chat.running = run
  metaai().chat_tokens[token] = true
  local ok, request = client:request('workspace/executeCommand', {
    command = 'metaai.chat',
    arguments = { argument },
    workDoneToken = token,
  }, function(err, result)
    M.finished(chat, run, err, result)
  end, source_buf)
  run.request = ok and request or nil
  if not ok then
    M.finished(chat, run, { message = 'the server is not running' }, nil)
  end
end

--- The request's answer: the exact text replaces what streamed; an error or a stop is said
--- in the section.
function M.finished(chat, run, err, result)
  if chat.running ~= run or not vim.api.nvim_buf_is_valid(chat.bufnr) then
    return
  end
  local modified = vim.bo[chat.bufnr].modified
  local note
  if err or type(result) ~= 'table' then
    note = err and (err.message or tostring(err)) or 'no answer'
  else
    chat.conversation = result.conversation or chat.conversation
    note = result.error or result.cancelled and '(stopped)'
    if not note then
      settle(chat, result.text or '') -- the exact answer over what streamed
    end
  end
  if note then -- what streamed stays, the reason below it
    local start, finish = answer_span(chat)
    local empty = start[1] == finish[1] and start[2] == finish[2]
    stream_in(chat, (empty and '' or '\n\n') .. '_' .. note .. '_')
  end
  vim.api.nvim_buf_del_extmark(chat.bufnr, ns, run.start)
  vim.api.nvim_buf_del_extmark(chat.bufnr, ns, run.finish)
  metaai().chat_tokens[run.token] = nil -- (its progress end came first)
  chat.running = nil
  vim.bo[chat.bufnr].modified = modified
end

--- `$/progress` reports of a chat's answer: the deltas stream into its section.
function M.on_progress(ev)
  local params = ev.data.params
  local value = params.value
  if type(value) ~= 'table' or value.kind ~= 'report' or not value.message then
    return
  end
  for _, chat in pairs(M.chats) do
    local run = chat.running
    if run and run.token == params.token and run.client.id == ev.data.client_id then
      local modified = vim.bo[chat.bufnr].modified
      stream_in(chat, value.message)
      vim.bo[chat.bufnr].modified = modified
      return
    end
  end
end

vim.api.nvim_create_autocmd('LspProgress', {
  group = vim.api.nvim_create_augroup('metaai.chat', { clear = true }),
  pattern = 'report',
  callback = M.on_progress,
})

--- Stop the answer being streamed into this chat.
function M.stop(bufnr)
  local chat = M.chats[bufnr or vim.api.nvim_get_current_buf()]
  local run = chat and chat.running
  if not run then
    return
  end
  run.client:notify('window/workDoneProgress/cancel', { token = run.token })
end

function M.close(bufnr)
  local win = vim.fn.bufwinid(bufnr)
  if win ~= -1 and #vim.api.nvim_list_wins() > 1 then
    vim.api.nvim_win_close(win, false)
  elseif win ~= -1 then
    vim.cmd('bprevious')
  end
end

--- The fenced code block around the cursor: its lines, or nil.
local function code_block_at(bufnr, row)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  local open
  for i, line in ipairs(lines) do
    if line:match('^%s*```') or line:match('^%s*~~~') then
      if open then
        if row >= open and row <= i then
          return vim.list_slice(lines, open + 1, i - 1)
        end
        open = nil
      else
        open = i
      end
    end
  end
end

--- `ga`: the code block under the cursor replaces the selection the chat started with (or
--- goes above the line the cursor was on), through the server's versioned edits (one undo).
function M.apply(bufnr)
  local chat = M.chats[bufnr or vim.api.nvim_get_current_buf()]
  local block = chat and code_block_at(chat.bufnr, vim.api.nvim_win_get_cursor(0)[1])
  if not block then
    vim.notify('Meta AI: put the cursor in a code block of an answer, then ga', vim.log.levels.WARN)
    return
  end
  local source = chat.source
  if not (source and vim.api.nvim_buf_is_valid(source.bufnr)) then
    vim.notify('Meta AI: the buffer this chat is about is gone', vim.log.levels.ERROR)
    return
  end
  local client = metaai().client(source.bufnr)
  if not client then
    return
  end
  local text = table.concat(block, '\n')
  if not source.finish or source.whole_lines then
    text = text .. '\n'
  end
  local argument = { uri = vim.uri_from_bufnr(source.bufnr), range = source_range(chat, client.offset_encoding), text = text }
  client:request('workspace/executeCommand', { command = 'metaai.applyCode', arguments = { argument } },
    function(err, result)
      if err or type(result) ~= 'table' or not result.applied then
        local why = err and err.message or type(result) == 'table' and result.error or 'not applied'
        vim.notify('Meta AI: ' .. why, vim.log.levels.ERROR)
      end
    end, source.bufnr)
end

--- Render a conversation from the server (`metaai.conversation`) into a new chat buffer.
local function render(conversation)
  local chat = new_chat()
  chat.conversation = conversation.id
  local lines = {}
  for _, turn in ipairs(conversation.turns or {}) do
    vim.list_extend(lines, { turn.role == 'user' and YOU or META, '' })
    vim.list_extend(lines, lines_of(turn.text or ''))
    table.insert(lines, '')
  end
  vim.list_extend(lines, INPUT)
  vim.api.nvim_buf_set_lines(chat.bufnr, 0, -1, true, lines)
  vim.bo[chat.bufnr].modified = false
  return chat
end

local function describe(item)
  local updated = item.updated
  if type(updated) == 'number' then
    updated = os.date('%Y-%m-%d %H:%M', updated)
  end
  return ('%s  (%d turns, %s)'):format(item.title or item.id, item.turns or 0, tostring(updated or ''))
end

--- `:MetaAIChats`: pick a past conversation (`vim.ui.select`) and reopen it.
function M.pick()
  local from = vim.api.nvim_get_current_buf()
  local client = client_for(from)
  if not client then
    return
  end
  client:request('workspace/executeCommand', { command = 'metaai.conversations', arguments = { {} } },
    function(err, items)
      if err or type(items) ~= 'table' or #items == 0 then
        vim.notify('Meta AI: ' .. (err and err.message or 'no conversations yet'), vim.log.levels.INFO)
        return
      end
      vim.ui.select(items, { prompt = 'Meta AI conversations', format_item = describe }, function(item)
        if not item then
          return
        end
        for _, open in pairs(M.chats) do
          if open.conversation == item.id then -- already in a buffer: go there
            show(open)
            return
          end
        end
        client:request('workspace/executeCommand',
          { command = 'metaai.conversation', arguments = { { id = item.id } } },
          function(error, conversation)
            if error or type(conversation) ~= 'table' then
              vim.notify('Meta AI: ' .. (error and error.message or 'no such conversation'), vim.log.levels.ERROR)
              return
            end
            local chat = render(conversation)
            set_source(chat, from)
            show(chat)
            prefill(chat)
          end)
      end)
    end)
end

return M
