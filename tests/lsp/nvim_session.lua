-- Neovim's built-in LSP client against `pyscope serve` (headless; Debian's neovim 0.7):
--
--   cd COPY_OF_tests/lsp/workspace
--   PYSCOPE=path/to/pyscope nvim --headless -u NONE -c 'luafile path/to/nvim_session.lua' app.py
--
-- The client setup between the [editor config] marks is the README's "Point an editor at
-- it". Opens the file given, waits for its diagnostics, types a line (an unresolved name),
-- waits for the new diagnostic, asks for hover and definition, prints what came back and
-- quits (exit code 1 on a failure). Not a ctest (CI has no neovim); run it by hand.
local pyscope = os.getenv('PYSCOPE') or 'pyscope'

-- [editor config]
local client_id
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'python',
  callback = function(args)
    client_id = client_id or vim.lsp.start_client({
      name = 'pyscope',
      cmd = { pyscope, 'serve' },
      root_dir = vim.fn.getcwd(),
    })
    vim.lsp.buf_attach_client(args.buf, client_id)
  end,
})
-- [editor config]

local function out(msg) io.stdout:write(msg .. '\n') end
local function fail(msg)
  out('FAIL: ' .. msg)
  vim.cmd('cquit 1')
end

vim.cmd('filetype on')
vim.cmd('edit ' .. vim.fn.argv(0))
local buf = vim.api.nvim_get_current_buf()
local function diagnostics() return vim.diagnostic.get(buf) end
if not vim.wait(10000, function() return #diagnostics() > 0 end, 20) then
  fail('no diagnostics published for ' .. vim.fn.argv(0))
end
out('diagnostics: ' .. #diagnostics())
for _, d in ipairs(diagnostics()) do out(string.format('  %d: %s', d.lnum + 1, d.message)) end

-- Type a line at the end, as insert mode would (incremental changes).
local before = #diagnostics()
vim.api.nvim_buf_set_lines(buf, -1, -1, false, { 'typed = nvim_undefined_name' })
if not vim.wait(10000, function() return #diagnostics() > before end, 20) then
  fail('the typed unresolved name was not diagnosed')
end
out('after typing: ' .. #diagnostics() .. ' diagnostics')

local function request(method, line, col)
  local params = { textDocument = vim.lsp.util.make_text_document_params(buf),
                   position = { line = line, character = col } }
  local res = vim.lsp.buf_request_sync(buf, method, params, 5000)
  for _, r in pairs(res or {}) do
    if r.result then return r.result end
  end
  return nil
end
-- `value = helper(arg)` is line 10 of app.py: hover on `helper`, go to its definition.
local hover = request('textDocument/hover', 9, 12)
if not hover then fail('no hover') end
out('hover: ' .. hover.contents.value:gsub('\n', ' '))
local def = request('textDocument/definition', 9, 12)
if not def then fail('no definition') end
if vim.tbl_islist(def) then def = def[1] end
out(string.format('definition: %s:%d', def.uri, def.range.start.line + 1))
out('PASS')
vim.lsp.stop_client(client_id)
vim.wait(2000, function() return vim.tbl_isempty(vim.lsp.get_active_clients()) end, 20)
vim.cmd('qall!')
