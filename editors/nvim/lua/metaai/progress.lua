--- The streamed answer's tail in the message area, always shorter than `v:echospace` so
--- that it never raises a hit-enter prompt, at any window width and with wide characters.
local M = {}

local PREFIX = 'Meta AI: '

--- The end of `text` that fits in `width` screen cells (wide characters count twice).
function M.fit_tail(text, width)
  local cells, start = 0, #text + 1
  while start > 1 do
    local first = start - 1 + vim.str_utf_start(text, start - 1)
    local char_cells = vim.fn.strdisplaywidth(text:sub(first, start - 1))
    if cells + char_cells > width then
      break
    end
    cells, start = cells + char_cells, first
  end
  return text:sub(start)
end

--- Echo `text` as one line that fits (without the prefix in a narrow message area), or
--- nothing when there is no room.
function M.echo(text)
  local room = vim.v.echospace - 1
  if vim.o.cmdheight == 0 or room < 4 then
    return
  end
  local prefix = room >= #PREFIX + 10 and PREFIX or ''
  vim.api.nvim_echo({ { prefix .. M.fit_tail(text, room - #prefix) } }, false, {})
end

-- Bytes of tail kept per answer: enough for the widest screen, so a long answer costs
-- nothing per report.
local function kept_bytes()
  return math.max(vim.o.columns, 80) * 4
end

--- Follow `$/progress` of metaai clients (except tokens in `skip`, which a chat buffer
--- shows itself) and echo the answer's tail.
---@param name string the client's name
---@param skip table<any, boolean>
function M.follow(name, skip)
  local tails = {}
  return vim.api.nvim_create_autocmd('LspProgress', {
    group = vim.api.nvim_create_augroup('metaai.progress', { clear = true }),
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      local token, value = ev.data.params.token, ev.data.params.value
      if not client or client.name ~= name or type(value) ~= 'table' then
        return
      elseif skip[token] then
        skip[token] = value.kind ~= 'end' or nil -- shown by its owner until its end
        return
      end
      if value.kind == 'begin' then
        tails[token] = ''
        return
      elseif value.kind == 'end' then
        tails[token] = nil
        M.echo((value.message or 'done'):gsub('%s+', ' ')) -- (gsub's count is ignored)
        return
      end
      -- progressDeltas: the reports join to the answer; otherwise each is a line alone.
      local deltas = vim.tbl_get(client.settings or {}, 'metaai', 'progressDeltas') ~= false
      local tail = ((deltas and tails[token] or '') .. (value.message or '')):gsub('%s+', ' ')
      tail = tail:sub(-kept_bytes()):gsub('^[\128-\191]+', '')
      tails[token] = tail
      M.echo(tail)
    end,
  })
end

return M
