// A language-server session against `pyscope serve`, driven by the protocol libraries VS Code
// itself uses (vscode-jsonrpc, vscode-languageserver-protocol; `npm ci` in this folder):
//
//   node tests/lsp/session_test.mjs PATH/TO/pyscope [--keep]
//
// Copies tests/lsp/workspace to a temporary directory (plus a generated 18,000-line big.py, so
// that a check takes longer than the 5 ms between keystrokes), opens documents, types into
// them with incremental and full changes 5 ms apart, hovers, goes to definitions, cancels a
// request, then checks that:
//   - the diagnostics published last for each open document (for its final version) equal a
//     from-scratch `pyscope diagnose` of the same text written to disk;
//   - hover gives types, definition gives locations;
//   - at least one check was cancelled by an edit (the server's pyscope/stats counters).
// Exits non-zero on the first failure; bounded by a 45 s timer.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import rpc from 'vscode-jsonrpc/node';
import protocol from 'vscode-languageserver-protocol/node';

const {
  createProtocolConnection, StreamMessageReader, StreamMessageWriter, InitializeRequest,
  InitializedNotification, DidOpenTextDocumentNotification, DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification, DidSaveTextDocumentNotification,
  PublishDiagnosticsNotification, HoverRequest, DefinitionRequest, ShutdownRequest,
  ExitNotification, RequestType0,
} = protocol;
const { CancellationTokenSource } = rpc;

const here = path.dirname(fileURLToPath(import.meta.url));
const pyscope = process.argv[2];
if (!pyscope) {
  console.error('usage: node session_test.mjs PATH/TO/pyscope');
  process.exit(64);
}
const keep = process.argv.includes('--keep');

const timer = setTimeout(() => fail('timed out after 45 s'), 45000);
let server;
function fail(message) {
  console.error(`FAIL: ${message}`);
  if (server) server.kill('SIGKILL');
  process.exit(1);
}
function check(cond, message) {
  if (!cond) fail(message);
  console.log(`ok: ${message}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the workspace ----
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pyscope-lsp-'));
fs.cpSync(path.join(here, 'workspace'), root, { recursive: true });
{
  const out = ['from pkg.util import helper', 'import os', ''];
  for (let i = 0; i < 3000; ++i)
    out.push(`def f${i}(a, b):`, `    c = a + b + ${i}`, '    if c > 3:', '        return helper(c)',
             `    return os.sep + str(f${Math.max(i - 1, 0)}(c, a))`, '');
  fs.writeFileSync(path.join(root, 'big.py'), out.join('\n'));
}
const uriOf = (rel) => pathToFileURL(path.join(root, rel)).href;
const relOf = (uri) => path.relative(root, fileURLToPath(uri));

// ---- the server ----
server = spawn(pyscope, ['serve', '--verbose'], { stdio: ['pipe', 'pipe', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
server.on('exit', (code, signal) => {
  if (!shuttingDown) fail(`server exited early (code ${code}, signal ${signal})\n${serverLog}`);
});
let shuttingDown = false;
const conn = createProtocolConnection(new StreamMessageReader(server.stdout),
                                      new StreamMessageWriter(server.stdin));

// The latest publish per document, and waiters for a version.
const published = new Map();  // uri -> {version, diagnostics}
const waiters = [];
let lastPublish = Date.now();
conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
  lastPublish = Date.now();
  published.set(p.uri, p);
  for (const w of [...waiters])
    if (w.uri === p.uri && p.version === w.version) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(p);
    }
});
function diagnosticsFor(uri, version) {
  const p = published.get(uri);
  if (p && p.version === version) return Promise.resolve(p);
  return new Promise((resolve) => waiters.push({ uri, version, resolve }));
}
conn.listen();

const init = await conn.sendRequest(InitializeRequest.type, {
  processId: process.pid, rootUri: pathToFileURL(root).href, capabilities: {},
  workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'ws' }],
});
check(init.capabilities.hoverProvider && init.capabilities.definitionProvider,
      'initialize: hover and definition capabilities');
conn.sendNotification(InitializedNotification.type, {});

// ---- open documents ----
const docs = new Map();  // rel -> {uri, text, version}
function open(rel) {
  const doc = { uri: uriOf(rel), text: fs.readFileSync(path.join(root, rel), 'utf8'), version: 1 };
  docs.set(rel, doc);
  conn.sendNotification(DidOpenTextDocumentNotification.type,
                        { textDocument: { uri: doc.uri, languageId: 'python', version: 1, text: doc.text } });
  return doc;
}
const app = open('app.py');
const util = open('pkg/util.py');
const big = open('big.py');
const leaf = open('leaf.py');
for (const d of docs.values()) await diagnosticsFor(d.uri, 1);
check(published.get(app.uri).diagnostics.some((d) => d.code === 'unresolved-reference'),
      'app.py: the unresolved reference is published');

// ---- typing ----
function position(text, offset) {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, character: before[before.length - 1].length };
}
// Types `insert` at `offset` one character at a time, an incremental change every 5 ms.
async function type(doc, offset, insert) {
  for (const ch of insert) {
    const at = position(doc.text, offset);
    doc.text = doc.text.slice(0, offset) + ch + doc.text.slice(offset);
    offset += 1;
    doc.version += 1;
    conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, version: doc.version },
      contentChanges: [{ range: { start: at, end: at }, text: ch }],
    });
    await sleep(5);
  }
}
// Deletes `count` characters at `offset` (one incremental change).
function erase(doc, offset, count) {
  const start = position(doc.text, offset), end = position(doc.text, offset + count);
  doc.text = doc.text.slice(0, offset) + doc.text.slice(offset + count);
  doc.version += 1;
  conn.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri: doc.uri, version: doc.version },
    contentChanges: [{ range: { start, end }, text: '' }],
  });
}
function replaceAll(doc, text) {  // a full-text change
  doc.text = text;
  doc.version += 1;
  conn.sendNotification(DidChangeTextDocumentNotification.type,
                        { textDocument: { uri: doc.uri, version: doc.version }, contentChanges: [{ text }] });
}

const t0 = Date.now();
// In the big file (each check re-parses 18,000 lines: edits land while checks run).
await type(big, big.text.length, '\nresult = f10(1, 2) + missing_in_big\n');
await type(big, big.text.indexOf('    c = a + b + 7\n') + '    c = a + b + 7'.length, ' + undefined_7');
// In the widely imported module: a new function (a full change), then a member typed.
replaceAll(util, util.text + '\n\ndef extra(n):\n    return n * CONSTANT\n');
await type(app, app.text.length, 'total = util.extra(count)\n');
erase(app, app.text.indexOf(', missing_name'), ', missing_name'.length);
await type(leaf, leaf.text.length, 'again = helper_not_imported(payload)\n');
conn.sendNotification(DidSaveTextDocumentNotification.type, { textDocument: { uri: leaf.uri } });
// Last, the imported module again: leaf.py's `from pkg.util import CONSTANT` breaks, and leaf.py
// (not edited) is re-published.
replaceAll(util, util.text.replace('CONSTANT = 42', 'RENAMED = 42').replace('n * CONSTANT', 'n * RENAMED'));
const typed = Date.now() - t0;
for (const d of docs.values()) await diagnosticsFor(d.uri, d.version);
// Then until 300 ms pass without a publish (re-checks of importers keep their version).
while (Date.now() - lastPublish < 300) await sleep(50);
console.log(`typing session: ${typed} ms of edits; every final version published ${Date.now() - t0 - typed} ms after the last`);

// ---- hover and definition ----
const at = (doc, needle, delta = 0) => position(doc.text, doc.text.indexOf(needle) + delta);
async function hover(doc, needle, delta = 0) {
  const h = await conn.sendRequest(HoverRequest.type, { textDocument: { uri: doc.uri }, position: at(doc, needle, delta) });
  return h ? h.contents.value : null;
}
let h = await hover(app, 'count)', 1);
check(h && h.includes('count: int'), `hover on count: ${JSON.stringify(h)}`);
h = await hover(app, 'value = helper', 10);
check(h && h.includes('def helper'), `hover on helper: ${JSON.stringify(h)}`);
h = await hover(app, 'util.extra', 7);
check(h && h.includes('def extra'), `hover on util.extra (a member typed this session): ${JSON.stringify(h)}`);
h = await hover(big, 'result = ', 1);
check(h && h.includes('result:'), `hover in big.py: ${JSON.stringify(h)}`);

async function definition(doc, needle, delta = 0) {
  const d = await conn.sendRequest(DefinitionRequest.type, { textDocument: { uri: doc.uri }, position: at(doc, needle, delta) });
  return Array.isArray(d) ? d[0] : d;
}
let loc = await definition(app, 'value = helper', 10);
check(loc && relOf(loc.uri) === path.join('pkg', 'util.py') && loc.range.start.line === 6,
      `definition of helper: ${JSON.stringify(loc)}`);
loc = await definition(app, 'util.extra', 7);
check(loc && relOf(loc.uri) === path.join('pkg', 'util.py') &&
      util.text.split('\n')[loc.range.start.line].startsWith('def extra'),
      `definition of util.extra: ${JSON.stringify(loc)}`);
loc = await definition(app, 'print(value', 7);
check(loc && relOf(loc.uri) === 'app.py' && loc.range.start.line === 9 && loc.range.start.character === 4,
      `definition of a local: ${JSON.stringify(loc)}`);

// $/cancelRequest: a request cancelled at once gets an answer or RequestCancelled, never silence.
{
  const source = new CancellationTokenSource();
  const p = conn.sendRequest(HoverRequest.type, { textDocument: { uri: big.uri }, position: at(big, 'result = ', 1) },
                             source.token);
  source.cancel();
  let outcome;
  try {
    outcome = (await p) ? 'answered' : 'null';
  } catch (e) {
    outcome = `error ${e.code}`;
  }
  check(outcome === 'answered' || outcome === 'error -32800', `cancelled hover: ${outcome}`);
}

// ---- the published diagnostics against a from-scratch run ----
const stats = await conn.sendRequest(new RequestType0('pyscope/stats'));
console.log(`server stats: ${JSON.stringify(stats)}`);
check(stats.cancelled >= 1, `checks cancelled by edits: ${stats.cancelled}`);

const lines = [];
for (const [rel, doc] of docs) {
  const p = published.get(doc.uri);
  check(p.version === doc.version, `${rel}: last publish is for the final version ${doc.version}`);
  for (const d of p.diagnostics) lines.push(`${rel}:${d.range.start.line + 1}: [${d.code}] ${d.message}`);
  fs.writeFileSync(path.join(root, rel), doc.text);
}
conn.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri: leaf.uri } });
shuttingDown = true;
await conn.sendRequest(ShutdownRequest.type);
conn.sendNotification(ExitNotification.type);
const expected = execFileSync(pyscope, ['diagnose', root, ...docs.keys()], { encoding: 'utf8' })
  .split('\n').filter((l) => l).sort();
lines.sort();
const missing = expected.filter((l) => !lines.includes(l));
const extra = lines.filter((l) => !expected.includes(l));
if (missing.length || extra.length)
  fail(`published diagnostics differ from a from-scratch run:\n  missing: ${missing.join('\n  ')}\n  extra: ${extra.join('\n  ')}`);
check(expected.length >= 4, `published diagnostics equal a from-scratch run (${expected.length}):\n  ${expected.join('\n  ')}`);
for (const needle of ['missing_in_big', 'undefined_7', 'helper_not_imported', 'no member `CONSTANT`'])
  check(expected.some((l) => l.includes(needle)), `the typed ${needle} is diagnosed`);

await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
check(server.exitCode === 0, 'server exited 0 after shutdown/exit');
clearTimeout(timer);
if (!keep) fs.rmSync(root, { recursive: true, force: true });
console.log('PASS');
process.exit(0);
