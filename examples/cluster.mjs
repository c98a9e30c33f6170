// Node cluster workers sharing one rotadb database: `npm run build && node examples/cluster.mjs`.
//
//   node examples/cluster.mjs [file] [--json]      (default: a temporary file, removed at the end)
//   WORKERS=4 ITEMS=200 INCREMENTS=50 node examples/cluster.mjs
//
// The primary opens the database too (any process may open it, in any order), forks WORKERS
// workers, and waits for them. Each worker opens the same path and
//   - writes ITEMS entries of its own, ['item', worker, i], with put() (the puts issued in one
//     event-loop turn share one commit);
//   - increments one shared counter INCREMENTS times, each a read-modify-write in its own
//     transactionSync: the writer lock is held across processes, so no increment is lost;
//   - reads while the others write: the counter never goes backwards for it, and its own entries
//     are all there.
// The primary then checks that every worker's entries are present, that the counter is exactly
// WORKERS * INCREMENTS, and that check() finds the file clean; with --json it prints the summary
// as one JSON line (test/procs/cluster.test.ts runs it so).
import cluster from 'node:cluster';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from '../dist/index.js';

const WORKERS = Number(process.env.WORKERS ?? 4);
const ITEMS = Number(process.env.ITEMS ?? 200);
const INCREMENTS = Number(process.env.INCREMENTS ?? 50);

if (cluster.isPrimary) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const given = args.find((a) => !a.startsWith('--'));
  const dir = given === undefined ? mkdtempSync(join(tmpdir(), 'rotadb-cluster-')) : null;
  const path = given ?? join(dir, 'cluster.rdb');
  try {
    const db = open(path);
    db.putSync('counter', 0);

    const reports = new Map();
    const exits = [];
    for (let w = 0; w < WORKERS; w++) {
      const worker = cluster.fork({ ROTADB_EXAMPLE_PATH: path, ROTADB_EXAMPLE_WORKER: String(w) });
      worker.on('message', (m) => reports.set(w, m));
      exits.push(new Promise((resolve) => worker.on('exit', (code, signal) => resolve({ w, code, signal }))));
    }
    const ended = await Promise.all(exits);
    const failed = ended.filter((e) => e.code !== 0 || !reports.has(e.w));

    // What the workers wrote, as this process sees it now.
    const missing = [];
    for (let w = 0; w < WORKERS; w++) {
      for (let i = 0; i < ITEMS; i++) {
        const v = db.get(['item', w, i]);
        if (v?.worker !== w || v.i !== i) missing.push([w, i]);
      }
    }
    const items = db.getCount({ start: ['item'], end: ['item', Infinity] });
    const counter = db.get('counter');
    const report = db.check();
    const summary = {
      workers: WORKERS,
      exited: ended.map((e) => e.code ?? e.signal),
      failed: failed.map((e) => e.w),
      items,
      expectedItems: WORKERS * ITEMS,
      missing: missing.length,
      counter,
      expectedCounter: WORKERS * INCREMENTS,
      backwards: [...reports.values()].reduce((s, r) => s + r.backwards, 0),
      checkOk: report.ok,
      problems: report.ok ? [] : report.problems,
    };
    await db.close();
    summary.lockDirRemoved = !existsSync(`${path}-lock`); // the last process to close removes it
    if (json) {
      console.log(JSON.stringify(summary));
    } else {
      console.log(`${WORKERS} workers wrote ${summary.items} of ${summary.expectedItems} items; counter ${counter} of ${summary.expectedCounter}`);
      console.log(`counter reads that went backwards: ${summary.backwards}; check: ${report.ok ? 'ok' : JSON.stringify(report.problems)}`);
    }
    const ok = failed.length === 0 && missing.length === 0 && items === summary.expectedItems
      && counter === summary.expectedCounter && summary.backwards === 0 && report.ok;
    process.exitCode = ok ? 0 : 1;
  } finally {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
} else {
  const w = Number(process.env.ROTADB_EXAMPLE_WORKER);
  const db = open(process.env.ROTADB_EXAMPLE_PATH);

  // Its own entries: issued in one turn, committed together (durably) before the promises resolve.
  await Promise.all(Array.from({ length: ITEMS }, (_, i) => db.put(['item', w, i], { worker: w, i })));

  // The shared counter: each increment reads and writes under the writer lock, across processes.
  let last = -1;
  let backwards = 0;
  for (let k = 0; k < INCREMENTS; k++) {
    const seen = db.get('counter');
    if (seen < last) backwards++;
    last = seen;
    db.transactionSync(() => {
      const n = db.get('counter');
      if (n < last) backwards++;
      db.putSync('counter', n + 1);
      last = n + 1;
    });
    // give the other workers a turn between increments
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (let i = 0; i < ITEMS; i++) {
    if (db.get(['item', w, i])?.i !== i) throw new Error(`worker ${w}: its own item ${i} is missing`);
  }
  process.send({ backwards });
  await db.close();
  process.disconnect();
}
