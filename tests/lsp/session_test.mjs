// A language-server session against `pyscope serve`, driven by the protocol libraries VS Code
// itself uses (vscode-jsonrpc, vscode-languageserver-protocol; `npm ci` in this folder):
//
//   node tests/lsp/session_test.mjs PATH/TO/pyscope [--keep]
//
// 1. Copies tests/lsp/workspace to a temporary directory (plus a generated 18,000-line big.py,
//    so that a check takes longer than the 5 ms between keystrokes, and cold*.py, never
//    opened), opens documents, types into them with incremental and full changes 5 ms apart,
//    hovers, goes to definitions, cancels requests. 2. The same on a copy of Debian's standard
//    library (/usr/lib/python3.11) as the workspace: typing into os.py and argparse.py, a
//    definition that tomllib/_parser.py imports renamed in tomllib/_types.py.
//    3. /usr/lib/python3.11/json itself (a workspace inside the standard library, not edited):
//    no unresolved imports.
// Checks that:
//   - the diagnostics published last for each open document (for its final version) equal a
//     from-scratch `pyscope diagnose` of the same text written to disk;
//   - an open importer of an edited module is re-published;
//   - hover gives types, definition gives locations;
//   - $/cancelRequest interrupts a hover that is running (one in a cold 60,000-line file that
//     nobody has parsed yet): RequestCancelled, and the same hover asked again answers;
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
  console.error('usage: node session_test.mjs PATH/TO/pyscope [--keep]');
  process.exit(64);
}
const keep = process.argv.includes('--keep');
const stdlib = '/usr/lib/python3.11';

const timer = setTimeout(() => fail('timed out after 45 s'), 45000);
const servers = [];
function fail(message) {
  console.error(`FAIL: ${message}`);
  for (const s of servers) s.kill('SIGKILL');
  process.exit(1);
}
function check(cond, message) {
  if (!cond) fail(message);
  console.log(`ok: ${message}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function position(text, offset) {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, character: before[before.length - 1].length };
}

// One server on one workspace, with the documents the client has open.
class Session {
  constructor(root) {
    this.root = root;
    this.docs = new Map();  // rel -> {uri, text, version}
    this.published = new Map();  // uri -> the latest publishDiagnostics
    this.waiters = [];
    this.listeners = [];  // called with every publishDiagnostics
    this.shuttingDown = false;
    this.log = '';
    this.server = spawn(pyscope, ['serve', '--verbose'], { stdio: ['pipe', 'pipe', 'pipe'] });
    servers.push(this.server);
    this.server.stderr.on('data', (d) => { this.log += d; });
    this.server.on('exit', (code, signal) => {
      if (!this.shuttingDown) fail(`server exited early (code ${code}, signal ${signal})\n${this.log}`);
    });
    this.conn = createProtocolConnection(new StreamMessageReader(this.server.stdout),
                                         new StreamMessageWriter(this.server.stdin));
    this.conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
        this.published.set(p.uri, p);
      for (const w of [...this.waiters])
        if (w.uri === p.uri && p.version === w.version) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(p);
        }
      for (const l of this.listeners) l(p);
    });
    this.conn.listen();
  }
  uriOf(rel) { return pathToFileURL(path.join(this.root, rel)).href; }
  relOf(uri) { return path.relative(this.root, fileURLToPath(uri)); }
  async initialize() {
    const init = await this.conn.sendRequest(InitializeRequest.type, {
      processId: process.pid, rootUri: pathToFileURL(this.root).href, capabilities: {},
      workspaceFolders: [{ uri: pathToFileURL(this.root).href, name: 'ws' }],
    });
    this.conn.sendNotification(InitializedNotification.type, {});
    return init;
  }
  diagnosticsFor(uri, version) {
    const p = this.published.get(uri);
    if (p && p.version === version) return Promise.resolve(p);
    return new Promise((resolve) => this.waiters.push({ uri, version, resolve }));
  }
  open(rel) {
    const doc = { uri: this.uriOf(rel), text: fs.readFileSync(path.join(this.root, rel), 'utf8'), version: 1 };
    this.docs.set(rel, doc);
    this.conn.sendNotification(DidOpenTextDocumentNotification.type,
                               { textDocument: { uri: doc.uri, languageId: 'python', version: 1, text: doc.text } });
    return doc;
  }
  // Types `insert` at `offset` one character at a time, an incremental change every 5 ms.
  async type(doc, offset, insert) {
    for (const ch of insert) {
      const at = position(doc.text, offset);
      doc.text = doc.text.slice(0, offset) + ch + doc.text.slice(offset);
      offset += 1;
      doc.version += 1;
      this.conn.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri: doc.uri, version: doc.version },
        contentChanges: [{ range: { start: at, end: at }, text: ch }],
      });
      await sleep(5);
    }
  }
  // Deletes `count` characters at `offset` (one incremental change).
  erase(doc, offset, count) {
    const start = position(doc.text, offset), end = position(doc.text, offset + count);
    doc.text = doc.text.slice(0, offset) + doc.text.slice(offset + count);
    doc.version += 1;
    this.conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, version: doc.version },
      contentChanges: [{ range: { start, end }, text: '' }],
    });
  }
  replaceAll(doc, text) {  // a full-text change
    doc.text = text;
    doc.version += 1;
    this.conn.sendNotification(DidChangeTextDocumentNotification.type,
                               { textDocument: { uri: doc.uri, version: doc.version }, contentChanges: [{ text }] });
  }
  // Until every document's final version is published and the server is idle (nothing queued
  // or running: the re-checks of importers, which keep their version, are published too).
  async settle() {
    for (const d of this.docs.values()) await this.diagnosticsFor(d.uri, d.version);
    while (!(await this.stats()).idle) await sleep(20);
  }
  stats() { return this.conn.sendRequest(new RequestType0('pyscope/stats')); }
  // The last published diagnostics of every open document against a from-scratch
  // `pyscope diagnose` of their texts written to disk; then shutdown and exit.
  // (`write`: false for a workspace the session did not edit, and may not write to).
  async compareAndShutdown(label, write = true) {
    const lines = [];
    for (const [rel, doc] of this.docs) {
      const p = this.published.get(doc.uri);
      check(p.version === doc.version, `${label}: ${rel}: last publish is for the final version ${doc.version}`);
      for (const d of p.diagnostics) lines.push(`${rel}:${d.range.start.line + 1}: [${d.code}] ${d.message}`);
      if (write) fs.writeFileSync(path.join(this.root, rel), doc.text);
    }
    this.shuttingDown = true;
    await this.conn.sendRequest(ShutdownRequest.type);
    this.conn.sendNotification(ExitNotification.type);
    const expected = execFileSync(pyscope, ['diagnose', this.root, ...this.docs.keys()], { encoding: 'utf8' })
      .split('\n').filter((l) => l).sort();
    lines.sort();
    const missing = expected.filter((l) => !lines.includes(l));
    const extra = lines.filter((l) => !expected.includes(l));
    if (missing.length || extra.length)
      fail(`${label}: published diagnostics differ from a from-scratch run:\n  missing: ${missing.join('\n  ')}\n  extra: ${extra.join('\n  ')}`);
    console.log(`ok: ${label}: published diagnostics equal a from-scratch run (${expected.length})`);
    await new Promise((r) => (this.server.exitCode !== null ? r() : this.server.on('exit', r)));
    check(this.server.exitCode === 0, `${label}: server exited 0 after shutdown/exit`);
    return expected;
  }
}

// ==== 1. The test workspace, with a generated 18,000-line big.py ===========================
{
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pyscope-lsp-'));
  fs.cpSync(path.join(here, 'workspace'), root, { recursive: true });
  const out = ['from pkg.util import helper', 'import os', ''];
  for (let i = 0; i < 3000; ++i)
    out.push(`def f${i}(a, b):`, `    c = a + b + ${i}`, '    if c > 3:', '        return helper(c)',
             `    return os.sep + str(f${Math.max(i - 1, 0)}(c, a))`, '');
  fs.writeFileSync(path.join(root, 'big.py'), out.join('\n'));
  // cold0.py..cold3.py: never opened, so the first request in one parses and indexes its
  // 60,000 lines itself (what $/cancelRequest can interrupt).
  const cold = ['from pkg.util import helper', ''];
  for (let i = 0; i < 10000; ++i)
    cold.push(`def g${i}(a, b):`, `    c = a * b - ${i}`, '    if c:', '        return helper(c)',
              `    return g${Math.max(i - 1, 0)}(c, b)`, '');
  cold.push('result = g9999(1, 2)', '');
  for (let k = 0; k < 4; ++k) fs.writeFileSync(path.join(root, `cold${k}.py`), cold.join('\n'));
  const coldResult = { line: cold.length - 2, character: 1 };

  const s = new Session(root);
  const init = await s.initialize();
  check(init.capabilities.hoverProvider && init.capabilities.definitionProvider,
        'initialize: hover and definition capabilities');
  const app = s.open('app.py');
  const util = s.open('pkg/util.py');
  const big = s.open('big.py');
  const leaf = s.open('leaf.py');
  for (const d of s.docs.values()) await s.diagnosticsFor(d.uri, 1);
  check(s.published.get(app.uri).diagnostics.some((d) => d.code === 'unresolved-reference'),
        'app.py: the unresolved reference is published');

  const t0 = Date.now();
  // In the big file (each check re-parses 18,000 lines: edits land while checks run).
  await s.type(big, big.text.length, '\nresult = f10(1, 2) + missing_in_big\n');
  await s.type(big, big.text.indexOf('    c = a + b + 7\n') + '    c = a + b + 7'.length, ' + undefined_7');
  // In the widely imported module: a new function (a full change), then a member typed.
  s.replaceAll(util, util.text + '\n\ndef extra(n):\n    return n * CONSTANT\n');
  await s.type(app, app.text.length, 'total = util.extra(count)\n');
  s.erase(app, app.text.indexOf(', missing_name'), ', missing_name'.length);
  await s.type(leaf, leaf.text.length, 'again = helper_not_imported(payload)\n');
  s.conn.sendNotification(DidSaveTextDocumentNotification.type, { textDocument: { uri: leaf.uri } });
  // Last, the imported module again: leaf.py's `from pkg.util import CONSTANT` breaks, and
  // leaf.py (not edited) is re-published.
  s.replaceAll(util, util.text.replace('CONSTANT = 42', 'RENAMED = 42').replace('n * CONSTANT', 'n * RENAMED'));
  const typed = Date.now() - t0;
  await s.settle();
  console.log(`typing session: ${typed} ms of edits; settled ${Date.now() - t0 - typed} ms after the last`);

  // ---- hover and definition ----
  const at = (doc, needle, delta = 0) => position(doc.text, doc.text.indexOf(needle) + delta);
  const hover = async (doc, needle, delta = 0) => {
    const h = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: doc.uri }, position: at(doc, needle, delta) });
    return h ? h.contents.value : null;
  };
  let h = await hover(app, 'count)', 1);
  check(h && h.includes('count: int'), `hover on count: ${JSON.stringify(h)}`);
  h = await hover(app, 'value = helper', 10);
  check(h && h.includes('def helper'), `hover on helper: ${JSON.stringify(h)}`);
  h = await hover(app, 'util.extra', 7);
  check(h && h.includes('def extra'), `hover on util.extra (a member typed this session): ${JSON.stringify(h)}`);
  h = await hover(big, 'result = ', 1);
  check(h && h.includes('result:'), `hover in big.py: ${JSON.stringify(h)}`);

  const definition = async (doc, needle, delta = 0) => {
    const d = await s.conn.sendRequest(DefinitionRequest.type, { textDocument: { uri: doc.uri }, position: at(doc, needle, delta) });
    return Array.isArray(d) ? d[0] : d;
  };
  let loc = await definition(app, 'value = helper', 10);
  check(loc && s.relOf(loc.uri) === path.join('pkg', 'util.py') && loc.range.start.line === 6,
        `definition of helper: ${JSON.stringify(loc)}`);
  loc = await definition(app, 'util.extra', 7);
  check(loc && s.relOf(loc.uri) === path.join('pkg', 'util.py') &&
        util.text.split('\n')[loc.range.start.line].startsWith('def extra'),
        `definition of util.extra: ${JSON.stringify(loc)}`);
  loc = await definition(app, 'print(value', 7);
  check(loc && s.relOf(loc.uri) === 'app.py' && loc.range.start.line === 9 && loc.range.start.character === 4,
        `definition of a local: ${JSON.stringify(loc)}`);

  // $/cancelRequest: a request cancelled at once gets an answer or RequestCancelled, never silence.
  {
    const source = new CancellationTokenSource();
    const p = s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: big.uri }, position: at(big, 'result = ', 1) },
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
  // $/cancelRequest while the request runs: a hover in a cold file, cancelled a few ms after
  // it was sent, is interrupted through its worker's relish::CancellationToken and answers
  // RequestCancelled (the server's requests_cancelled_running counter says it was running).
  {
    let running = 0, outcome;
    for (let k = 0; k < 3 && !running; ++k) {
      const before = (await s.stats()).requests_cancelled_running;
      const source = new CancellationTokenSource();
      const p = s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: s.uriOf(`cold${k}.py`) }, position: coldResult },
                                   source.token);
      await sleep(3 + 4 * k);
      source.cancel();
      try {
        outcome = (await p) ? 'answered' : 'null';
      } catch (e) {
        outcome = `error ${e.code}`;
      }
      running = (await s.stats()).requests_cancelled_running - before;
      console.log(`hover in cold${k}.py cancelled after ${3 + 4 * k} ms: ${outcome}${running ? ', while running' : ''}`);
    }
    check(running === 1 && outcome === 'error -32800', 'a running hover is cancelled by $/cancelRequest: RequestCancelled');
    // The worker goes on with a fresh token: the same hover answers, and so does a cold one.
    const t = Date.now();
    let h = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: s.uriOf('cold0.py') }, position: coldResult });
    check(h && h.contents.value.includes('result:'), `the cancelled hover asked again answers: ${JSON.stringify(h && h.contents.value)}`);
    h = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: s.uriOf('cold3.py') }, position: coldResult });
    check(h && h.contents.value.includes('result:'), `a hover in an untouched cold file answers (${Date.now() - t} ms for both)`);
  }

  // didClose: the document's diagnostics are withdrawn (an empty publish), its file is read
  // from disk again.
  {
    const rel = path.join('pkg', '__init__.py');
    const doc = { uri: s.uriOf(rel), version: 1 };
    s.conn.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, languageId: 'python', version: 1, text: 'from .util import nonexistent\n' },
    });
    const p = await s.diagnosticsFor(doc.uri, 1);
    check(p.diagnostics.some((d) => d.message.includes('nonexistent')), 'an opened __init__.py is diagnosed');
    const closed = new Promise((resolve) => s.listeners.push((q) => {
      if (q.uri === doc.uri && q.diagnostics.length === 0) resolve(q);
    }));
    s.conn.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri: doc.uri } });
    await closed;
    console.log('ok: didClose withdraws the document\'s diagnostics');
    await s.settle();
  }

  const stats = await s.stats();
  console.log(`server stats: ${JSON.stringify(stats)}`);
  check(stats.cancelled >= 1, `checks cancelled by edits: ${stats.cancelled}`);
  const expected = await s.compareAndShutdown('test workspace');
  for (const needle of ['missing_in_big', 'undefined_7', 'helper_not_imported', 'no member `CONSTANT`'])
    check(expected.some((l) => l.includes(needle)), `the typed ${needle} is diagnosed`);
  if (!keep) fs.rmSync(root, { recursive: true, force: true });
}

// ==== 2. Debian's standard library as the workspace (its .py files, copied) ================
{
  check(fs.existsSync(path.join(stdlib, 'os.py')), `${stdlib} is there`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pyscope-lsp-stdlib-'));
  fs.cpSync(stdlib, root, {
    recursive: true,
    filter: (src) => {
      const name = path.basename(src);
      if (name === '__pycache__' || name === 'site-packages' || name === 'dist-packages') return false;
      // lib-dynload/*.so: the extension modules, found as pyscope finds them in a stdlib
      return src === stdlib || name.endsWith('.py') || fs.statSync(src).isDirectory() ||
             (path.basename(path.dirname(src)) === 'lib-dynload' && name.endsWith('.so'));
    },
  });
  const t0 = Date.now();
  const s = new Session(root);
  await s.initialize();
  s.open('typing.py');
  const types = s.open('tomllib/_types.py');
  const parser = s.open('tomllib/_parser.py');  // from ._types import Key, ParseFloat, Pos
  const osmod = s.open('os.py');
  s.open('shutil.py');
  const argparse = s.open('argparse.py');
  for (const d of s.docs.values()) await s.diagnosticsFor(d.uri, 1);
  console.log(`stdlib workspace: ${s.docs.size} documents checked ${Date.now() - t0} ms after the server started`);
  await s.type(argparse, argparse.text.length, 'pyscope_typed = undefined_in_argparse\n');
  await s.type(osmod, osmod.text.length, '\ndef pyscope_typed_in_os():\n    import pyscope_no_such_module\n');
  // A definition an importer uses goes away: tomllib/_parser.py's import of Pos breaks.
  await s.type(types, types.text.indexOf('Pos = int') + 3, 'ition');
  await s.settle();
  check(s.published.get(parser.uri).diagnostics.some((d) => d.message.includes('no member `Pos`')),
        'tomllib/_parser.py (not edited) is re-published with the broken import');
  console.log(`stdlib server stats: ${JSON.stringify(await s.stats())}`);
  const expected = await s.compareAndShutdown('stdlib workspace');
  for (const needle of ['undefined_in_argparse', 'pyscope_no_such_module'])
    check(expected.some((l) => l.includes(needle)), `the typed ${needle} is diagnosed`);
  fs.rmSync(root, { recursive: true, force: true });
}

// ==== 3. A package of the standard library as the workspace (/usr/lib/python3.11/json) ====
// The project is inside the stdlib: its modules are json.*, and `from json import decoder`,
// `from .scanner import ...` resolve (no false unresolved imports), as in `pyscope diagnose`.
{
  const root = path.join(stdlib, 'json');
  const s = new Session(root);
  await s.initialize();
  for (const rel of ['__init__.py', 'decoder.py', 'encoder.py', 'tool.py']) s.open(rel);
  await s.settle();
  const unresolved = [...s.docs.values()].flatMap((d) => s.published.get(d.uri).diagnostics)
    .filter((d) => d.code === 'unresolved-import');
  check(unresolved.length === 0, `json package workspace: no unresolved imports (${JSON.stringify(unresolved)})`);
  await s.compareAndShutdown('json package workspace', false);
}

clearTimeout(timer);
console.log('PASS');
process.exit(0);
