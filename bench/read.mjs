// The read path (issue 11): rotadb and lmdb-js side by side, in one process and one run.
//
//   npm run build && node --expose-gc bench/read.mjs
//   READ_DIR=/tmp/rb node --expose-gc bench/read.mjs   (keeps the loaded files and reuses them)
//   READ_ONLY=gets,mixed ...                             (a subset of the workloads)
//   READ_PROFILE=gets|mixed|fast|msgpack ...             (rotadb only, one workload, for node --cpu-prof)
//   READ_CHILD=rotadb|lmdb READ_DIR=... ...              (the 32 MiB-cache workload of one store, alone)
//
// Keys are 16-character strings made per get (keyOf), as a server builds them from a request; an
// array of a million key strings read in random order would add a memory miss per get to both.
// Values are 100 random bytes (binary encoding) unless said otherwise.
// Workloads, each timed in rounds that alternate rotadb and lmdb (so noise hits both), the rate
// being the median round:
//   gets      random gets of existing keys, binary values, the whole database cached
//   fast      the same with getBinaryFast (a view valid until the next call, in both stores)
//   msgpack   random gets with the default msgpack encoding (object values) on MSG_N entries
//   mixed     90% gets / 10% puts, the puts committed 100 per transactionSync, noSync, on MIXED_N entries
//   scan      one full ordered scan
//   big       random gets with cacheSize 32 MiB on the N-entry file (lmdb reads through the OS cache);
//             rss sampled every round, cache misses, preads and their time and checksum time per miss
//   threads   random gets in 1 and then 2 worker threads for a fixed time each
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { open as openLmdb } from 'lmdb';
import { open as openRota } from '../dist/index.js';
import { checksum } from '../dist/pages/checksum.js';
import { machineInfo, makeRandom, below, keyOf, makeValues, shuffledOrder, median, gitState } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_N ?? 1_000_000);
const MSG_N = Number(process.env.MSG_N ?? 200_000);
const MIXED_N = 100_000;
const MIXED_OPS = 200_000;
const ROUND = 10_000; // gets per round
const ROUNDS = Number(process.env.READ_ROUNDS ?? 40);
const BIG_CACHE = 32 << 20;
const THREAD_MS = 2000;
const SEED = 0x5eed1234;
const VALUE_POOL = 1024;

const gc = () => globalThis.gc?.();
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const log = (...a) => console.log(...a);
function check(c, m) { if (!c) throw new Error(`check failed: ${m}`); }

function randomIndices(count, n, seed) {
  const out = new Int32Array(count);
  const rand = makeRandom(seed);
  for (let i = 0; i < count; i++) out[i] = below(rand, n);
  return out;
}

const rotaPath = (dir, name) => path.join(dir, `${name}.rdb`);
const lmdbPath = (dir, name) => path.join(dir, `lmdb-${name}`);

/** Loads keys 0..n-1 in a seeded random order in transactions of 10,000 puts, unless the file was loaded before. */
function loaded(dir, name, n, valueOf, encoding, extra = {}) {
  const done = path.join(dir, `${name}.loaded`);
  const fresh = !fs.existsSync(done);
  if (fresh) {
    fs.rmSync(rotaPath(dir, name), { force: true });
    fs.rmSync(lmdbPath(dir, name), { recursive: true, force: true });
  }
  const dbs = { rotadb: openRota(rotaPath(dir, name), { encoding, ...extra }), lmdb: openLmdb({ path: lmdbPath(dir, name), encoding, ...extra }) };
  if (fresh) {
    const order = shuffledOrder(n, SEED);
    for (const db of Object.values(dbs)) {
      for (let s = 0; s < n; s += 10_000) {
        db.transactionSync(() => {
          for (let i = s; i < Math.min(n, s + 10_000); i++) db.putSync(keyOf(order[i]), valueOf(order[i]));
        });
      }
    }
    fs.writeFileSync(done, '');
  }
  return dbs;
}

/**
 * Runs `rounds` timed rounds of `body(db, round)` per store, alternating stores, after 3 warm-up
 * rounds each; returns the median ms per round per store, and calls `each` after every round.
 */
function rounds(dbs, body, count = ROUNDS, each) {
  const ms = { rotadb: [], lmdb: [] };
  const names = Object.keys(dbs);
  for (let r = -3; r < count; r++) {
    for (const name of names) {
      const t0 = now();
      (body[name] ?? body)(dbs[name], r, name);
      const t = now() - t0;
      if (r >= 0) ms[name].push(t);
      each?.(name);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(ms[n])]));
}

/**
 * A fresh copy of `fn` (it must close over nothing): each store gets its own compiled code and
 * type feedback, so neither pays for call sites made polymorphic by the other.
 */
function fresh(fn) {
  return new Function(`return ${fn.toString()}`)();
}

/** A body per store, each its own compiled copy (see fresh). */
function both(make) {
  return { rotadb: make(), lmdb: make() };
}

function getsBody(keys, idx, method, expect) {
  return fresh(function make(keys, idx, method, expect, check, ROUND) {
    let pos = 0;
    return (db) => {
    let bytes = 0;
    for (let i = 0; i < ROUND; i++) {
      const v = db[method](typeof keys === 'function' ? keys(idx[pos]) : keys[idx[pos]]);
      bytes += v.length;
      pos = pos + 1 === idx.length ? 0 : pos + 1;
    }
    check(bytes === ROUND * expect, `${method}: ${bytes} bytes`);
    };
  })(keys, idx, method, expect, check, ROUND);
}

const rows = [];
function row(workload, unit, rota, lmdb, target, extra = '') {
  rows.push({ workload, unit, rotadb: rota, lmdb, ratio: rota / lmdb, target, extra });
  log(`${workload}: rotadb ${rota.toFixed(0)} ${unit}, lmdb ${lmdb.toFixed(0)}, ratio ${(rota / lmdb).toFixed(2)}${extra ? ' ' + extra : ''}`);
}

// ------------------------------------------------------------------ worker threads

async function threadRun(store, file, handle, threads, keys) {
  const sab = new SharedArrayBuffer(8);
  const workers = [];
  for (let t = 0; t < threads; t++) {
    workers.push(new Worker(fileURLToPath(import.meta.url), { workerData: { store, file, handle, seed: SEED ^ (t + 1), n: N, sab, ms: THREAD_MS } }));
  }
  const exited = workers.map((w) => new Promise((r) => { w.once('exit', r); })); // listen now: a worker may exit right after it reports
  const results = workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`a ${store} reader thread exited (code ${code}) before reporting`)));
  }));
  const ready = new Int32Array(sab);
  while (Atomics.load(ready, 0) < threads) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(ready, 1, 1);
  Atomics.notify(ready, 1);
  const counts = await Promise.all(results);
  for (const c of counts) if (typeof c !== 'number') throw new Error(`a ${store} reader thread failed: ${c.error}`);
  await Promise.all(exited);
  return counts.reduce((a, b) => a + b, 0) / (THREAD_MS / 1000);
}

async function workerMain() {
  const { store, file, handle, seed, n, sab, ms } = workerData;
  const db = store === 'rotadb' ? openRota(handle, { encoding: 'binary' }) : openLmdb({ path: file, encoding: 'binary', readOnly: true });
  const idx = randomIndices(200_000, n, seed);
  for (const e of db.getRange()) if (e.value.length !== 100) throw new Error('bad value'); // every page into this thread's cache
  for (let i = 0; i < 50_000; i++) db.get(keyOf(idx[i])); // and the JIT
  const flags = new Int32Array(sab);
  Atomics.add(flags, 0, 1);
  Atomics.wait(flags, 1, 0);
  let count = 0;
  const end = now() + ms;
  let pos = 0;
  while (now() < end) {
    for (let i = 0; i < 1000; i++) {
      if (db.get(keyOf(idx[pos])).length !== 100) throw new Error('bad value');
      pos = pos + 1 === idx.length ? 0 : pos + 1;
    }
    count += 1000;
  }
  db.close();
  parentPort.postMessage(count);
}

// ------------------------------------------------------------------ main

async function main() {
  const only = process.env.READ_ONLY?.split(',');
  const profile = process.env.READ_PROFILE;
  const want = (w) => (profile ? profile === w : !only || only.includes(w));
  const keep = process.env.READ_DIR;
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-read-'));
  fs.mkdirSync(dir, { recursive: true });
  const machine = machineInfo();
  log(`# read path: rotadb vs lmdb-js ${machine.lmdb}; node ${machine.node}, ${machine.cpus} CPUs, load ${machine.loadavgAtStart.join(' ')}; build ${JSON.stringify(gitState())}`);
  const values = makeValues(SEED ^ 0xa5a5a5a5, VALUE_POOL, 100);
  let keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const idx = randomIndices(1_000_000, N, SEED ^ 0x0badf00d);
  const onlyRota = (dbs) => (profile ? { rotadb: dbs.rotadb } : dbs);
  try {
    if (want('gets') || want('fast') || want('scan') || want('big') || want('threads')) {
      const dbs = loaded(dir, 'main', N, (i) => values[i & (VALUE_POOL - 1)], 'binary');
      if (want('gets')) {
        gc();
        const ms = rounds(onlyRota(dbs), both(() => getsBody(keyOf, idx, 'get', 100)), profile ? 300 : ROUNDS);
        if (!profile) row('random gets, binary, all cached', 'gets/s', ROUND / ms.rotadb * 1000, ROUND / ms.lmdb * 1000, 3.0);
      }
      if (want('fast')) {
        gc();
        const ms = rounds(onlyRota(dbs), both(() => getsBody(keyOf, idx, 'getBinaryFast', 100)), profile ? 300 : ROUNDS);
        if (!profile) row('random getBinaryFast, all cached', 'gets/s', ROUND / ms.rotadb * 1000, ROUND / ms.lmdb * 1000, null);
      }
      if (want('scan')) {
        const ms = rounds(dbs, (db) => {
          let c = 0;
          for (const { value } of db.getRange()) c += value.length > 0 ? 1 : 0;
          check(c === N, `scan count ${c}`);
        }, 3);
        row('full ordered scan', 'entries/s', N / ms.rotadb * 1000, N / ms.lmdb * 1000, 2.0);
      }
      if (want('threads') && !profile) {
        const h = dbs.rotadb.handle();
        const r1 = await threadRun('rotadb', null, h, 1, keys);
        const l1 = await threadRun('lmdb', lmdbPath(dir, 'main'), null, 1, keys);
        const r2 = await threadRun('rotadb', null, h, 2, keys);
        const l2 = await threadRun('lmdb', lmdbPath(dir, 'main'), null, 2, keys);
        row('gets in 1 worker thread', 'gets/s', r1, l1, null);
        row('gets in 2 worker threads (total)', 'gets/s', r2, l2, null, `(rotadb 2/1 threads ${(r2 / r1).toFixed(2)}, lmdb ${(l2 / l1).toFixed(2)}; target rotadb 2/1 >= 1.8)`);
      }
      for (const db of Object.values(dbs)) await db.close();
      if (want('big') && !profile) {
        // each store in processes of its own, so that rss is the store's alone; two of each, alternating
        const runs = { rotadb: [], lmdb: [] };
        for (let rep = 0; rep < 2; rep++) {
          for (const store of ['rotadb', 'lmdb']) {
            const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { env: { ...process.env, READ_CHILD: store, READ_DIR: dir }, encoding: 'utf8' });
            runs[store].push(JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT ')).slice(7)));
          }
        }
        const slower = (store) => [...runs[store]].sort((a, b) => a.rate - b.rate)[0];
        const r = slower('rotadb');
        const l = slower('lmdb');
        const cachedUs = rows.find((x) => x.workload.startsWith('random gets, binary'))?.rotadb;
        const missUs = cachedUs ? (1e6 / r.rate - 1e6 / cachedUs) / r.missesPerGet : NaN;
        row('random gets, cacheSize 32 MiB (file several times larger)', 'gets/s', r.rate, l.rate, 1.0,
          `(the slower of two processes each: rotadb ${runs.rotadb.map((x) => x.rate.toFixed(0)).join(' / ')}, lmdb ${runs.lmdb.map((x) => x.rate.toFixed(0)).join(' / ')}. rotadb: ${r.missesPerGet.toFixed(2)} cache misses per get, ${r.preadsPerMiss.toFixed(2)} preads per miss, ${r.preadUs.toFixed(1)} us per pread, ${r.checksumUs.toFixed(1)} us checksum per page, ${missUs.toFixed(1)} us per miss in all (get time over the cached get time, per miss); max rss rotadb ${r.rssMiB} MiB, lmdb ${l.rssMiB} MiB (lmdb's counts the file pages it maps), ${r.rssBaseMiB} MiB before the store opened; rotadb cache ${r.cache.pages} pages of ${r.cache.capacity})`);
      }
    }
    if (want('msgpack')) {
      const obj = (i) => ({ id: i, name: `user ${i}`, email: `user${i}@example.com`, active: (i & 1) === 0, score: i * 1.5, tags: ['a', 'b'] });
      const dbs = loaded(dir, 'msgpack', MSG_N, obj, 'msgpack');
      const midx = randomIndices(200_000, MSG_N, SEED ^ 0x77);
      gc();
      const body = () => fresh(function make(keyOf, midx, check, ROUND) {
        let pos = 0;
        return (db) => {
          let s = 0;
          for (let i = 0; i < ROUND; i++) {
            s += db.get(keyOf(midx[pos])).id;
            pos = pos + 1 === midx.length ? 0 : pos + 1;
          }
          check(s > 0, 'msgpack sum');
        };
      })(keyOf, midx, check, ROUND);
      const ms = rounds(onlyRota(dbs), both(body), profile ? 300 : ROUNDS);
      if (!profile) row('random gets, msgpack objects (default get)', 'gets/s', ROUND / ms.rotadb * 1000, ROUND / ms.lmdb * 1000, 2.0);
      for (const db of Object.values(dbs)) await db.close();
    }
    if (want('mixed')) {
      // fresh files every time: the workload writes
      for (const f of ['mixed.loaded']) fs.rmSync(path.join(dir, f), { force: true });
      const dbs = loaded(dir, 'mixed', MIXED_N, (i) => values[i & (VALUE_POOL - 1)], 'binary', { noSync: true });
      const ops = MIXED_OPS / (ROUNDS + 3);
      // only the keys this workload uses: a heap of a million key strings would make every full GC
      // (which the pages that commits allocate trigger) cost far more than the store's own work
      keys = keys.slice(0, MIXED_N);
      gc();
      const commitMs = { rotadb: 0, lmdb: 0 };
      let commits = 0;
      const body = () => fresh(function make(keys, values, rand, below, ops, n, pool, now, commitMs) {
        let v = 0;
        return (db, r, name) => {
          const pending = [];
          const commit = () => {
            const t0 = now();
            db.transactionSync(() => { for (const p of pending) db.putSync(p, values[v++ & (pool - 1)]); });
            commitMs[name] += now() - t0;
            commitMs[name + 'Count'] = (commitMs[name + 'Count'] ?? 0) + 1;
          };
          for (let i = 0; i < ops; i++) {
            const k = keys[below(rand, n)];
            if (below(rand, 10) === 0) {
              pending.push(k);
              if (pending.length === 100) {
                commit();
                pending.length = 0;
              }
            } else if (db.get(k).length !== 100) throw new Error('bad value');
          }
          if (pending.length > 0) commit();
        };
      })(keys, values, makeRandom(SEED ^ 0x99), below, ops, MIXED_N, VALUE_POOL, now, commitMs);
      const ms = rounds(onlyRota(dbs), both(body), profile ? 200 : ROUNDS);
      const perCommit = (name) => (commitMs[name] / commitMs[name + 'Count'] * 1000).toFixed(0);
      if (!profile) row('mixed 90% gets / 10% puts, 100 puts per commit, noSync', 'ops/s', ops / ms.rotadb * 1000, ops / ms.lmdb * 1000, 2.0,
        `(one transactionSync of 100 puts: rotadb ${perCommit('rotadb')} us, lmdb ${perCommit('lmdb')} us, including warm-up rounds)`);
      else log(`rotadb: ${perCommit('rotadb')} us per commit of 100 puts`);
      const report = dbs.rotadb.check();
      check(report.ok, 'check() after mixed: ' + report.problems.slice(0, 3).join('; '));
      for (const db of Object.values(dbs)) await db.close();
    }
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  if (rows.length > 0) {
    log('');
    log('| workload | rotadb | lmdb-js | rotadb / lmdb-js | target |');
    log('|---|---:|---:|---:|---|');
    for (const r of rows) log(`| ${r.workload} (${r.unit}) | ${r.rotadb.toFixed(0)} | ${r.lmdb.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.target === null ? '—' : `≥ ${r.target.toFixed(1)} (${r.ratio >= r.target ? 'met' : 'missed'})`} |`);
    for (const r of rows) if (r.extra) log(`- ${r.workload}: ${r.extra}`);
    // one file per run (to the second), so that a later run never overwrites one a document cites
    const out = path.join(here, 'results', `read-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, build: gitState(), N, rows }, null, 2) + '\n');
    log(`Wrote ${path.relative(process.cwd(), out)}`);
  }
}

/** One store's random gets with cacheSize 32 MiB, alone in this process (READ_CHILD=rotadb|lmdb). */
function bigChild(store, dir) {
  const idx = randomIndices(1_000_000, N, SEED ^ 0x0badf00d);
  gc();
  const rssBase = process.memoryUsage().rss; // the process before the store opens
  // Keys are made per get here, not held in an array of a million strings: with such a heap each
  // full GC (which rotadb's page buffers, allocated per cache miss, trigger) costs ~100 ms, and it
  // would measure the harness (READ_BIG_KEYS=array keeps the array, to see that cost).
  const keys = process.env.READ_BIG_KEYS === 'array' ? Array.from({ length: N }, (_, i) => keyOf(i)) : keyOf; // as the cached gets
  const db = store === 'rotadb'
    ? openRota(rotaPath(dir, 'main'), { encoding: 'binary', cacheSize: BIG_CACHE })
    : openLmdb({ path: lmdbPath(dir, 'main'), encoding: 'binary' });
  let readMs = 0;
  let preads = 0;
  if (store === 'rotadb') {
    const storage = db.env.storage; // internal: timing the positioned reads of cache misses
    const realRead = storage.read.bind(storage);
    storage.read = (buf, pos) => { const t0 = now(); const n = realRead(buf, pos); readMs += now() - t0; preads++; return n; };
  }
  let rss = 0;
  const before = store === 'rotadb' ? db.stats().cache : null;
  gc();
  const ms = rounds({ [store]: db }, { [store]: getsBody(keyOf, idx, 'get', 100) }, ROUNDS, () => { rss = Math.max(rss, process.memoryUsage().rss); });
  const out = { rate: ROUND / ms[store] * 1000, rssMiB: Math.round(rss / 1048576), rssBaseMiB: Math.round(rssBase / 1048576) };
  if (store === 'rotadb') {
    const after = db.stats().cache;
    const gets = (ROUNDS + 3) * ROUND;
    const misses = after.misses - before.misses;
    const page = Buffer.alloc(db.env.pageSize, 7);
    const t0 = now();
    for (let i = 0; i < 20000; i++) checksum(page, 4, page.length, i);
    Object.assign(out, { missesPerGet: misses / gets, preadsPerMiss: preads / misses, preadUs: (readMs * 1000) / preads, checksumUs: ((now() - t0) / 20000) * 1000, cache: after });
  }
  db.close();
  console.log('RESULT ' + JSON.stringify(out));
}

if (isMainThread && process.env.READ_CHILD) {
  bigChild(process.env.READ_CHILD, process.env.READ_DIR);
} else if (isMainThread) {
  main().catch((e) => { console.error(e?.stack ?? e); process.exitCode = 1; });
} else {
  workerMain().catch((e) => { parentPort.postMessage({ error: String(e?.stack ?? e) }); });
}
