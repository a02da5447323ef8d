// Latency as a user feels it: the time from sending textDocument/didChange to receiving the
// textDocument/publishDiagnostics of that version, from `pyscope serve` on a real workspace
// (not a ctest: it takes a while, and the numbers are for reading).
//
//   node tests/lsp/latency.mjs PATH/TO/pyscope [ROOT] [--runs N] [--threads N]
//
// ROOT defaults to /usr/lib/python3.11 (Debian's standard library; nothing is written to it).
// Opens a leaf module (imported by no other), os.py and typing.py (widely imported) and a few
// of their importers, waits for their first diagnostics, then N times (default 9) each:
//   leaf:   appends a line to a leaf module's function body;
//   os.py / typing.py:  appends a top-level definition (the module's namespace changes, so
//           every importer's imports are re-checked).
//   typing: 20 keystrokes 5 ms apart appended to typing.py (checks cancelled by the next one).
// Prints, per kind, the median / min / max of: didChange -> publish of the edited document,
// and didChange -> the last open importer re-published (typing: from the last keystroke).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import protocol from 'vscode-languageserver-protocol/node';

const {
  createProtocolConnection, StreamMessageReader, StreamMessageWriter, InitializeRequest,
  InitializedNotification, DidOpenTextDocumentNotification, DidChangeTextDocumentNotification,
  PublishDiagnosticsNotification, ShutdownRequest, ExitNotification, RequestType0,
} = protocol;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const runs = Number(opt('--runs', 9));
const threads = opt('--threads', null);
const [pyscope, root = '/usr/lib/python3.11'] = args;
if (!pyscope) {
  console.error('usage: node latency.mjs PATH/TO/pyscope [ROOT] [--runs N] [--threads N]');
  process.exit(64);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

const server = spawn(pyscope, ['serve', ...(threads ? ['--threads', threads] : [])],
                     { stdio: ['pipe', 'pipe', 'inherit'] });
const conn = createProtocolConnection(new StreamMessageReader(server.stdout),
                                      new StreamMessageWriter(server.stdin));
const events = [];  // {uri, version, at}
const waiters = [];
conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
  const e = { uri: p.uri, version: p.version, at: now(), n: p.diagnostics.length };
  events.push(e);
  for (const w of [...waiters])
    if (w.test(e)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
});
const until = (test) => {
  const e = events.find(test);
  return e ? Promise.resolve(e) : new Promise((resolve) => waiters.push({ test, resolve }));
};
conn.listen();
await conn.sendRequest(InitializeRequest.type,
                       { processId: process.pid, rootUri: pathToFileURL(root).href, capabilities: {} });
conn.sendNotification(InitializedNotification.type, {});

const docs = new Map();
function open(rel) {
  const file = path.join(root, rel);
  const doc = { rel, uri: pathToFileURL(file).href, text: fs.readFileSync(file, 'utf8'), version: 1 };
  docs.set(rel, doc);
  conn.sendNotification(DidOpenTextDocumentNotification.type,
                        { textDocument: { uri: doc.uri, languageId: 'python', version: 1, text: doc.text } });
  return doc;
}
const importersOf = {
  'os.py': ['shutil.py', 'subprocess.py', 'tempfile.py', 'glob.py', 'pathlib.py'],
  'typing.py': ['functools.py', 'dataclasses.py', 'inspect.py'],
};
const leaf = open('colorsys.py');  // imported by no other module of the library
for (const [m, users] of Object.entries(importersOf)) {
  open(m);
  users.forEach(open);
}
const t0 = now();
for (const d of docs.values()) await until((e) => e.uri === d.uri && e.version === 1);
console.log(`${docs.size} documents open; first diagnostics of all after ${(now() - t0).toFixed(0)} ms`);

function append(doc, line, where) {  // one incremental change
  const offset = where(doc.text);
  const before = doc.text.slice(0, offset).split('\n');
  const at = { line: before.length - 1, character: before[before.length - 1].length };
  doc.text = doc.text.slice(0, offset) + line + doc.text.slice(offset);
  doc.version += 1;
  conn.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri: doc.uri, version: doc.version },
    contentChanges: [{ range: { start: at, end: at }, text: line }],
  });
}

const results = {};
async function measure(kind, doc, line, where, users) {
  const own = [], all = [];
  for (let k = 0; k < runs; ++k) {
    await sleep(150);  // the previous round's checks are over
    const mark = events.length;
    const sent = now();
    append(doc, line(k), where);
    const v = doc.version;
    const e = await until((x) => x.uri === doc.uri && x.version === v);
    own.push(e.at - sent);
    let last = e.at;
    for (const u of users) {
      const uri = docs.get(u).uri;
      const x = await until((x) => x.uri === uri && events.indexOf(x) >= mark);
      last = Math.max(last, x.at);
    }
    all.push(last - sent);
  }
  results[kind] = { own, all, users: users.length };
}

// A leaf edit: a new local at the end of the first function of colorsys.py.
await measure('leaf (colorsys.py, a function body)', leaf, (k) => `    pyscope_local_${k} = ${k}\n`,
              (t) => t.indexOf('\n', t.indexOf('    return', t.indexOf('def rgb_to_yiq'))) + 1, []);
for (const [m, users] of Object.entries(importersOf)) {
  await measure(`${m} (a new top-level def), ${users.length} importers open`, docs.get(m),
                (k) => `\ndef pyscope_new_${k}():\n    pass\n`, (t) => t.length, users);
}

// Fast typing: 20 keystrokes 5 ms apart into typing.py (each check takes longer than that, so
// edits cancel checks); from the last keystroke to the publish of the final version.
const bursts = [];
{
  const doc = docs.get('typing.py');
  for (let k = 0; k < runs; ++k) {
    await sleep(150);
    const word = `\npyscope_burst_${String(k).padStart(5, '0')} = 1`;
    let sent = 0;  // when the last keystroke went (not after the pause that follows it)
    for (const ch of word) {
      append(doc, ch, (t) => t.length);
      sent = now();
      await sleep(5);
    }
    const v = doc.version;
    const e = await until((x) => x.uri === doc.uri && x.version === v);
    bursts.push(e.at - sent);
  }
}

const stats = await conn.sendRequest(new RequestType0('pyscope/stats'));
const fmt = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return `median ${s[s.length >> 1].toFixed(1)} ms (min ${s[0].toFixed(1)}, max ${s[s.length - 1].toFixed(1)})`;
};
console.log(`workspace ${root}, ${runs} edits each:`);
for (const [kind, r] of Object.entries(results)) {
  console.log(`  ${kind}`);
  console.log(`    didChange -> its publishDiagnostics:   ${fmt(r.own)}`);
  if (r.users) console.log(`    didChange -> all importers re-published: ${fmt(r.all)}`);
}
console.log('  typing.py, 20 keystrokes 5 ms apart');
console.log(`    last didChange -> its publishDiagnostics: ${fmt(bursts)}`);
console.log(`server stats: ${JSON.stringify(stats)}`);
await conn.sendRequest(ShutdownRequest.type);
conn.sendNotification(ExitNotification.type);
