/**
 * Another process on a shared database file, driven by the tests in test/procs/: it runs the
 * BUILT module (dist/), executes the commands given as a JSON array in argv[2] first (for a
 * process whose stdin is not ours, such as a background job of sh), then one JSON command per
 * line of stdin, and answers each with one JSON line: { ok: true, value } or { ok: false, code }.
 * A transaction it begins stays open until told otherwise or until it is killed, which is the
 * point: the tests SIGKILL it while it holds one. It exits on stdin's end (unless started with a
 * script) and after 60 s in any case, so a test that dies leaves nothing running for long.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const rota = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);

let db = null;
let read = null;
let write = null;

const ops = {
  open: (c) => { db = rota.open(c.path, c.options ?? {}); return process.pid; },
  get: (c) => db.get(c.key),
  put: (c) => db.putSync(c.key, c.value),
  // a read transaction that pins its snapshot until this process ends
  beginRead: (c) => { read = db.beginRead(); return read.get(c.key); },
  // the writer lock, held (with a change in it) until this process ends
  beginWrite: (c) => { write = db.beginWrite(); write.put(c.key, c.value); return process.pid; },
  close: async () => { await db.close(); db = null; return null; },
  sleep: (c) => new Promise((r) => setTimeout(r, c.ms)),
  // several commands one after the other, answered once: [{ op, ... }, ...] -> their values
  seq: async (c) => { const out = []; for (const x of c.ops) out.push(await ops[x.op](x)); return out; },
  exit: () => process.exit(0),
};

async function run(c) {
  try {
    return { ok: true, value: (await ops[c.op](c)) ?? null };
  } catch (e) {
    return { ok: false, code: e?.code ?? String(e), message: String(e?.message ?? e) };
  }
}

const say = (x) => process.stdout.write(JSON.stringify(x) + '\n');
setTimeout(() => process.exit(3), 60_000);

const script = process.argv[2] === undefined ? [] : JSON.parse(process.argv[2]);
for (const c of script) say(await run(c));
if (script.length > 0) setInterval(() => {}, 1000); // stay, holding whatever the script took
say({ ok: true, value: 'ready', pid: process.pid });
const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => say(await run(JSON.parse(line))));
if (script.length === 0) lines.on('close', () => process.exit(0));
