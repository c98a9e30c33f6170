// The write-path benchmarks of issue 10: rotadb against lmdb-js and better-sqlite3, side by side.
//
//   npm run bench:durable                     (full size, 3 rounds)
//   BENCH_QUICK=1 npm run bench:durable       (a quick run: small sizes, 1 round)
//   BENCH_N=200000 npm run bench:durable      (bulk loads of 200,000 entries)
//   BENCH_ROUNDS=5 npm run bench:durable
//   BENCH_ASYNC_PUTS=1000000 ...              (the async workloads with 1,000,000 puts)
//
// Every measurement runs in a child process of its own (one store, one workload, a fresh temp
// dir), so no store inherits another's heap, page cache state of its own process, or threads. The
// parent runs the children interleaved: for each round, each workload, every store in turn (the
// order rotates from round to round), and reports per-round rates, the per-round ratios rotadb/peer
// and their median. One child can be run by hand (for a profiler):
//
//   node --expose-gc bench/durable.mjs --child single rotadb1
//
// with BENCH_CPU_PROF=<dir> (a CPU profile of the timed section only; bench/cpuprofile-top.mjs
// summarises it) or BENCH_MARKS=1 (start and end marks on stderr, to cut an strace to the timed
// section with bench/strace-window.mjs). Stores: rotadb1, rotadb2, rotadb1t (writerThread: true),
// lmdb, sqlite, none (no store: the harness alone).
//
// Workloads (the same seeded keys, values and orders for every store):
//   single   a database of SMALL_N entries (loaded untimed in a seeded random order, 10,000 puts
//            per transaction), SINGLE_WARMUP untimed single-put commits, then SINGLE_PUTS timed
//            ones on random existing keys: putSync (rotadb, lmdb-js), one autocommitted
//            INSERT OR REPLACE (better-sqlite3). Each returns once its commit is durable.
//   async    the same database; ASYNC_PUTS put() promises on random existing keys, ASYNC_CHUNK per
//            event-loop turn (setImmediate between chunks), then all awaited (and, for lmdb-js,
//            db.flushed: its put promise resolves at commit, before its sync). The event-loop
//            delay is recorded during that run only (monitorEventLoopDelay, resolution 1 ms).
//   async-warm the same after ASYNC_WARMUP untimed puts in the same pattern (steady state: rotadb's
//            writer thread started, lmdb-js's write thread too, both caches warm).
//   asc, rnd bulk loads of BENCH_N entries into a fresh file, in ascending and in a seeded
//            random order, 10,000 puts per durable transaction (transactionSync).
//
// Output: a markdown table on stdout, and the rows as JSON in bench/results/durable-<date>.json.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gitState, parseCount, loadEntries, machineInfo, makeKeys, makeValues, median, randomIndices, shuffledOrder } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const thisFile = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ parameters

const QUICK = process.env.BENCH_QUICK === '1';
const N = parseCount(process.env.BENCH_N, QUICK ? 100_000 : 1_000_000, 'BENCH_N');
const ROUNDS = parseCount(process.env.BENCH_ROUNDS, QUICK ? 1 : 3, 'BENCH_ROUNDS');
const SMALL_N = QUICK ? 20_000 : 100_000;
const SINGLE_WARMUP = QUICK ? 100 : 500;
const SINGLE_PUTS = QUICK ? 400 : 2_000;
const ASYNC_PUTS = parseCount(process.env.BENCH_ASYNC_PUTS, QUICK ? 20_000 : 100_000, 'BENCH_ASYNC_PUTS');
const ASYNC_CHUNK = 1_000;
const ASYNC_WARMUP = QUICK ? 20_000 : 100_000;
const TXN_SIZE = 10_000;
const VALUE_SIZE = 100;
const VALUE_POOL = 1024;
const SEED = 0x5eed1234;


function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

function gc() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

function secondsSince(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// For profiling a child: BENCH_CPU_PROF=<dir> writes a CPU profile of the timed section only
// (<dir>/<workload>-<store>.cpuprofile); BENCH_MARKS=1 writes a line to stderr where the timed
// section starts and ends, so that a syscall trace (strace -f -T -e trace=...,write) can be cut to it
// (bench/strace-window.mjs).
let profiler = null;
let childName = '';

async function timedStart() {
  if (process.env.BENCH_MARKS === '1') fs.writeSync(2, `BENCH-MARK start ${childName}\n`);
  if (process.env.BENCH_CPU_PROF) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
}

async function timedEnd() {
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    profiler = null;
    fs.mkdirSync(process.env.BENCH_CPU_PROF, { recursive: true });
    fs.writeFileSync(path.join(process.env.BENCH_CPU_PROF, `${childName}.cpuprofile`), JSON.stringify(profile));
  }
  if (process.env.BENCH_MARKS === '1') fs.writeSync(2, `BENCH-MARK end ${childName}\n`);
}

// ------------------------------------------------------------------ the stores (child side)

// Every store is driven through the same small interface: putSync (returns when durable),
// transactionSync, put (a promise; rotadb and lmdb-js only), get, stats, close. Values are raw
// bytes in every store; keys are 16-byte ASCII strings in each store's default string encoding.
const storeKinds = {
  // rotadb's default commit with nRoots >= 2: pages and root slot, one fdatasync.
  rotadb1: (dir) => openRotadbStore(dir, 1),
  // the same with writerThread: true: async batches applied and committed by a worker thread
  rotadb1t: (dir) => openRotadbStore(dir, 1, true),
  // the two-fsync commit: pages, fdatasync, root slot, fdatasync.
  rotadb2: (dir) => openRotadbStore(dir, 2),
  // lmdb-js 3.5 with its defaults (overlappingSync on Linux).
  lmdb: (dir) => openLmdbStore(dir),
  // SQLite through better-sqlite3: WAL, synchronous=FULL, one B-tree keyed by the key.
  sqlite: (dir) => openSqliteStore(dir),
  // No store: a Map, and put() returns one resolved promise. The async rows' event-loop delay of
  // the harness alone (its key strings, promise arrays and garbage collections).
  none: () => openNoStore(),
};

function openNoStore() {
  const m = new Map();
  const done = Promise.resolve(true);
  return {
    putSync: (k, v) => { m.set(k, v); return true; },
    transactionSync: (fn) => fn(),
    put: (k, v) => { m.set(k, v); return done; },
    get: (k) => m.get(k),
    commits: () => null,
    afterRun: () => ({ entries: m.size }),
    flushed: undefined,
    close: () => {},
  };
}

async function openRotadbStore(dir, fsyncsPerCommit, writerThread = false) {
  const { open } = await import('../dist/index.js');
  const db = open(path.join(dir, 'db.rdb'), { encoding: 'binary', fsyncsPerCommit, writerThread });
  return {
    putSync: (k, v) => db.putSync(k, v),
    transactionSync: (fn) => db.transactionSync(fn),
    put: (k, v) => db.put(k, v),
    get: (k) => db.get(k),
    commits: () => db.stats().txnId,
    afterRun: () => {
      const report = db.check();
      check(report.ok, `rotadb check(): ${report.problems.slice(0, 5).join('; ')}`);
      return { entries: db.stats().entries };
    },
    flushed: undefined,
    close: () => db.close(),
  };
}

async function openLmdbStore(dir) {
  const { open } = await import('lmdb');
  // A path without an extension: lmdb-js makes it a directory holding data.mdb and lock.mdb.
  const db = open({ path: path.join(dir, 'lmdb'), encoding: 'binary' });
  return {
    putSync: (k, v) => db.putSync(k, v),
    transactionSync: (fn) => db.transactionSync(fn),
    put: (k, v) => db.put(k, v),
    get: (k) => db.get(k),
    commits: () => null,
    afterRun: () => ({ entries: db.getStats().entryCount }),
    flushed: () => db.flushed,
    close: () => db.close(),
  };
}

async function openSqliteStore(dir) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(dir, 'db.sqlite'));
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  check(mode === 'wal', `sqlite journal_mode is ${mode}`);
  db.pragma('synchronous = FULL');
  check(db.pragma('synchronous', { simple: true }) === 2, 'sqlite synchronous is not FULL');
  db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID');
  const upsert = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
  const select = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
  return {
    // Outside a transaction the statement is its own (autocommitted) transaction.
    putSync: (k, v) => upsert.run(k, v),
    transactionSync: (fn) => db.transaction(fn)(),
    put: undefined,
    get: (k) => select.get(k),
    commits: () => null,
    afterRun: () => ({ entries: db.prepare('SELECT count(*) FROM kv').pluck().get(), sqlite: db.prepare('SELECT sqlite_version()').pluck().get() }),
    flushed: undefined,
    close: () => db.close(),
  };
}

// ------------------------------------------------------------------ workloads (child side)

function verifySample(db, keys, values, n, label) {
  const idx = randomIndices(500, n, SEED ^ 0x1234);
  for (const i of idx) {
    const v = db.get(keys[i]);
    check(v !== undefined, `${label}: get(${keys[i]}) returned undefined`);
    check(v.length === VALUE_SIZE, `${label}: get(${keys[i]}) returned ${v.length} bytes`);
  }
}

/** The database the single and async workloads run on: SMALL_N entries, random order, untimed. */
function prepareSmall(db, keys, values) {
  const seconds = loadEntries(db, keys, values, shuffledOrder(SMALL_N, SEED ^ 0x77), TXN_SIZE);
  verifySample(db, keys, values, SMALL_N, 'prepared database');
  return seconds;
}

function singlePuts(db, keys, values, idx, salt) {
  gc();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    db.putSync(keys[k], values[(k + salt) % VALUE_POOL]);
  }
  return secondsSince(t0);
}

async function runSingle(db) {
  const keys = makeKeys(SMALL_N);
  const values = makeValues(SEED ^ 0xa5a5a5a5, VALUE_POOL, VALUE_SIZE);
  const prepareSeconds = prepareSmall(db, keys, values);
  const warmupSeconds = singlePuts(db, keys, values, randomIndices(SINGLE_WARMUP, SMALL_N, SEED ^ 0x50), 7);
  const before = db.commits();
  const idx = randomIndices(SINGLE_PUTS, SMALL_N, SEED ^ 0x51);
  await timedStart();
  const seconds = singlePuts(db, keys, values, idx, 11);
  await timedEnd();
  const after = db.commits();
  if (before !== null) check(after - before === SINGLE_PUTS, `${SINGLE_PUTS} putSync calls made ${after - before} commits`);
  // The last put of each key wins: its value must be the one read back.
  const last = new Map();
  for (const k of idx) last.set(k, values[(k + 11) % VALUE_POOL]);
  for (const [k, v] of last) check(Buffer.compare(Buffer.from(db.get(keys[k])), v) === 0, `get(${keys[k]}) after the single puts`);
  return { prepareSeconds, warmupSeconds, seconds, rate: SINGLE_PUTS / seconds };
}

/** ASYNC_CHUNK puts per event-loop turn at `idx`, then all awaited. */
async function asyncPuts(db, keys, values, idx, salt) {
  const promises = new Array(idx.length);
  for (let start = 0; start < idx.length; start += ASYNC_CHUNK) {
    const end = Math.min(idx.length, start + ASYNC_CHUNK);
    for (let i = start; i < end; i++) promises[i] = db.put(keys[idx[i]], values[(idx[i] + salt) % VALUE_POOL]);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(promises);
  if (db.flushed) await db.flushed();
}

async function runAsync(db, warm) {
  check(db.put !== undefined, 'this store has no put()');
  const keys = makeKeys(SMALL_N);
  const values = makeValues(SEED ^ 0xa5a5a5a5, VALUE_POOL, VALUE_SIZE);
  const prepareSeconds = prepareSmall(db, keys, values);
  if (db.flushed) await db.flushed();
  // async-warm: the same pattern, untimed, first (rotadb's writer thread, lmdb-js's write thread
  // and both caches at their steady state); async: the timed puts are the first after the load.
  if (warm) await asyncPuts(db, keys, values, randomIndices(ASYNC_WARMUP, SMALL_N, SEED ^ 0x54), 17);
  const idx = randomIndices(ASYNC_PUTS, SMALL_N, SEED ^ 0x53);
  const promises = new Array(idx.length);
  // The idle event loop's delay as this histogram reports it (about the 1 ms resolution itself).
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, 300));
  idle.disable();
  gc();
  const before = db.commits();
  await timedStart();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < idx.length; start += ASYNC_CHUNK) {
    const end = Math.min(idx.length, start + ASYNC_CHUNK);
    for (let i = start; i < end; i++) {
      const k = idx[i];
      promises[i] = db.put(keys[k], values[(k + 13) % VALUE_POOL]);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(promises);
  const resolvedSeconds = secondsSince(t0);
  // lmdb-js resolves put() at commit and syncs after (overlappingSync): wait for that too, so both
  // figures are for durable puts. rotadb's put resolves after its commit's fdatasync.
  if (db.flushed) await db.flushed();
  const seconds = secondsSince(t0);
  h.disable();
  await timedEnd();
  const after = db.commits();
  const ms = (ns) => ns / 1e6;
  return {
    prepareSeconds,
    seconds,
    resolvedSeconds,
    rate: ASYNC_PUTS / seconds,
    rateResolved: ASYNC_PUTS / resolvedSeconds,
    commits: before === null ? null : after - before,
    eventLoopDelayMs: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), samples: h.count },
    idleEventLoopDelayMs: { p50: ms(idle.percentile(50)), p99: ms(idle.percentile(99)), max: ms(idle.max) },
  };
}

async function runLoad(db, random) {
  const keys = makeKeys(N);
  const values = makeValues(SEED ^ 0xa5a5a5a5, VALUE_POOL, VALUE_SIZE);
  const order = random ? shuffledOrder(N, SEED) : null;
  gc();
  await timedStart();
  const seconds = loadEntries(db, keys, values, order, TXN_SIZE);
  await timedEnd();
  if (db.flushed) await db.flushed();
  verifySample(db, keys, values, N, random ? 'random load' : 'ascending load');
  return { seconds, rate: N / seconds };
}

async function child(workload, kind) {
  check(kind in storeKinds, `unknown store ${kind}`);
  childName = `${workload}-${kind}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rotadb-durable-${kind}-`));
  let db;
  try {
    db = await storeKinds[kind](dir);
    let result;
    if (workload === 'single') result = await runSingle(db);
    else if (workload === 'async') result = await runAsync(db, false);
    else if (workload === 'async-warm') result = await runAsync(db, true);
    else if (workload === 'asc') result = await runLoad(db, false);
    else if (workload === 'rnd') result = await runLoad(db, true);
    else throw new Error(`unknown workload ${workload}`);
    const t = process.hrtime.bigint();
    const after = db.afterRun();
    result.afterRun = { ...after, seconds: secondsSince(t) };
    const expected = workload === 'asc' || workload === 'rnd' ? N : SMALL_N;
    check(after.entries === expected, `${kind} has ${after.entries} entries, expected ${expected}`);
    await db.close();
    db = undefined;
    process.stdout.write(`RESULT ${JSON.stringify({ workload, kind, ...result })}\n`);
  } finally {
    if (db) await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the parent

const workloads = [
  { id: 'single', kinds: ['rotadb1', 'rotadb2', 'lmdb', 'sqlite'] },
  { id: 'async', kinds: ['rotadb1', 'rotadb1t', 'lmdb', 'none'] },
  { id: 'async-warm', kinds: ['rotadb1', 'rotadb1t', 'lmdb', 'none'] },
  { id: 'asc', kinds: ['rotadb1', 'lmdb'] },
  { id: 'rnd', kinds: ['rotadb1', 'lmdb'] },
];

function runChild(workload, kind) {
  const r = spawnSync(process.execPath, ['--expose-gc', thisFile, '--child', workload, kind], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
    env: process.env,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`child ${workload} ${kind} failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}`);
  return JSON.parse(line.slice('RESULT '.length));
}

function fmt(x) {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

async function parent() {
  const started = process.hrtime.bigint();
  const machine = { ...machineInfo(), betterSqlite3: JSON.parse(fs.readFileSync(new URL('../node_modules/better-sqlite3/package.json', import.meta.url), 'utf8')).version };
  const git = gitState();
  console.log(`durable write benchmarks: node ${machine.node} on ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.totalMemMiB} MiB RAM, load average ${machine.loadavgAtStart.join(' ')}`);
  console.log(`lmdb-js ${machine.lmdb}, better-sqlite3 ${machine.betterSqlite3}, temp dir ${os.tmpdir()}, build of ${git ? git.commit + (git.srcChanges.length ? ' + uncommitted src/ changes' : '') : 'unknown commit'}`);
  console.log(`${ROUNDS} rounds${QUICK ? ' (quick mode)' : ''}; single: ${SINGLE_PUTS} commits after ${SINGLE_WARMUP} warm-up on ${SMALL_N} entries; async: ${ASYNC_PUTS} puts, ${ASYNC_CHUNK} per turn on ${SMALL_N} entries; loads: ${N} entries, ${TXN_SIZE} puts per transaction`);
  console.log('');

  // results[workload][kind] = one result per round
  const results = {};
  for (const w of workloads) {
    results[w.id] = {};
    for (const k of w.kinds) results[w.id][k] = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of workloads) {
      // Rotate the order of the stores each round, so that none always runs first.
      const kinds = w.kinds.map((_, i) => w.kinds[(i + round) % w.kinds.length]);
      for (const kind of kinds) {
        const r = runChild(w.id, kind);
        results[w.id][kind].push(r);
        let extra = '';
        if (w.id.startsWith('async')) {
          const d = r.eventLoopDelayMs;
          extra = `; event-loop delay p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms` +
            (r.commits !== null ? `; ${r.commits} commits` : `; put() resolved at ${fmt(r.rateResolved)} puts/s`);
        }
        console.log(`round ${round + 1}  ${w.id.padEnd(6)} ${kind.padEnd(7)} ${r.seconds.toFixed(3)} s  ${fmt(r.rate)} /s${extra}`);
      }
    }
  }

  const rows = [];
  const rates = (w, k, field = 'rate') => results[w][k].map((r) => r[field]);
  function addRow(workload, unit, w, rota, peer, peerName, target, note, peerField = 'rate') {
    const a = rates(w, rota);
    const b = rates(w, peer, peerField);
    const ratios = a.map((x, i) => x / b[i]);
    const med = median(ratios);
    const met = target ? med >= target : null;
    rows.push({ workload, unit, rotadb: rota, peer: peerName, rotadbRates: a, peerRates: b, ratios, medianRatio: med, target, met, note: note ?? null });
  }
  const nf = (x) => x.toLocaleString('en-US');
  const single = `${nf(SINGLE_PUTS)} single-put durable commits`;
  const asyncPuts = `${nf(ASYNC_PUTS)} async puts, ${nf(ASYNC_CHUNK)} per turn`;
  addRow(single, 'commits/s', 'single', 'rotadb1', 'sqlite', 'better-sqlite3', 1.0);
  addRow(single, 'commits/s', 'single', 'rotadb1', 'lmdb', 'lmdb-js', 1.5);
  addRow(`${single}, two-fsync rotadb`, 'commits/s', 'single', 'rotadb2', 'sqlite', 'better-sqlite3', null);
  addRow(`${single}, two-fsync rotadb`, 'commits/s', 'single', 'rotadb2', 'lmdb', 'lmdb-js', null);
  addRow(`${single}: one-fsync / two-fsync rotadb`, 'commits/s', 'single', 'rotadb1', 'rotadb2', 'rotadb (2 fsyncs)', null);
  addRow(`${asyncPuts}, until durable`, 'puts/s', 'async', 'rotadb1', 'lmdb', 'lmdb-js', 1.0,
    'lmdb-js: until db.flushed after the last put() resolved');
  addRow(`${asyncPuts}, lmdb-js until its put() promises resolve`, 'puts/s', 'async', 'rotadb1', 'lmdb', 'lmdb-js (resolved)', null,
    'lmdb-js put() resolves at commit, before its sync', 'rateResolved');
  addRow(`${asyncPuts}, after ${nf(ASYNC_WARMUP)} warm-up puts, until durable`, 'puts/s', 'async-warm', 'rotadb1', 'lmdb', 'lmdb-js', 1.0,
    'lmdb-js: until db.flushed after the last put() resolved');
  addRow(`${asyncPuts}, until durable, writerThread: true`, 'puts/s', 'async', 'rotadb1t', 'lmdb', 'lmdb-js', null);
  addRow(`${asyncPuts}, after ${nf(ASYNC_WARMUP)} warm-up puts, until durable, writerThread: true`, 'puts/s', 'async-warm', 'rotadb1t', 'lmdb', 'lmdb-js', null);
  addRow(`bulk load, ascending, ${nf(N)} entries, ${nf(TXN_SIZE)} puts/txn`, 'puts/s', 'asc', 'rotadb1', 'lmdb', 'lmdb-js', 1.2);
  addRow(`bulk load, random order, ${nf(N)} entries, ${nf(TXN_SIZE)} puts/txn`, 'puts/s', 'rnd', 'rotadb1', 'lmdb', 'lmdb-js', 1.5);

  const delays = {};
  for (const w of ['async', 'async-warm']) {
    delays[w] = {};
    for (const k of ['rotadb1', 'rotadb1t', 'lmdb', 'none']) {
      const ds = results[w][k].map((r) => r.eventLoopDelayMs);
      delays[w][k] = { p50: ds.map((d) => d.p50), p99: ds.map((d) => d.p99), max: ds.map((d) => d.max), idleP99: results[w][k].map((r) => r.idleEventLoopDelayMs.p99) };
    }
  }
  for (const [w, label] of [['async', `${asyncPuts}, until durable`], ['async-warm', `${asyncPuts}, after ${nf(ASYNC_WARMUP)} warm-up puts, until durable`]]) {
    const row = rows.find((r) => r.workload === label);
    row.eventLoopP99Target = 2;
    row.met = row.medianRatio >= 1.0 && median(delays[w].rotadb1.p99) <= 2;
  }

  const slash = (xs, f = fmt) => xs.map(f).join(' / ');
  const lines = [
    `| workload | rotadb (per round) | peer | peer (per round) | rotadb / peer (per round) | median ratio | target |`,
    '|---|---:|---|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const target = r.target === null ? '—' : `≥ ${r.target.toFixed(1)}${r.eventLoopP99Target ? `, p99 ≤ ${r.eventLoopP99Target} ms` : ''} (${r.met ? 'met' : 'missed'})`;
    lines.push(`| ${r.workload} (${r.unit}) | ${slash(r.rotadbRates)} | ${r.peer} | ${slash(r.peerRates)} | ${slash(r.ratios, (x) => x.toFixed(3))} | ${r.medianRatio.toFixed(3)} | ${target} |`);
  }
  const ms = (x) => x.toFixed(2);
  const delayLines = [
    '| event-loop delay during the async puts (ms) | p50 (per round) | p99 (per round) | median p99 | max (per round) | idle p99 (per round) |',
    '|---|---:|---:|---:|---:|---:|',
    ...['async', 'async-warm'].flatMap((w) => [['rotadb', delays[w].rotadb1], ['rotadb, writerThread: true', delays[w].rotadb1t], ['lmdb-js', delays[w].lmdb], ['no store (the harness alone)', delays[w].none]].map(([name, d]) =>
      `| ${name}, ${w} | ${slash(d.p50, ms)} | ${slash(d.p99, ms)} | ${ms(median(d.p99))} | ${slash(d.max, ms)} | ${slash(d.idleP99, ms)} |`)),
  ];
  const commitsPerRun = results.async.rotadb1.map((r) => r.commits);
  const commitsWarm = results['async-warm'].rotadb1.map((r) => r.commits);
  const totalSeconds = secondsSince(started);
  console.log('');
  console.log(lines.join('\n'));
  console.log('');
  console.log(delayLines.join('\n'));
  console.log('');
  console.log(`rotadb commits during the async puts (per round): ${commitsPerRun.join(' / ')}; after the warm-up: ${commitsWarm.join(' / ')}`);
  console.log('rotadb is the default commit (fsyncsPerCommit 1, nRoots 4) except in the two-fsync rows. Single puts: putSync (rotadb, lmdb-js), one autocommitted INSERT OR REPLACE (better-sqlite3, WAL, synchronous=FULL).');
  console.log('The event-loop delay is monitorEventLoopDelay with resolution 1 ms, so an idle loop reads about 1.1 ms (idle column: 300 ms measured just before the run).');
  console.log(`Total run time ${totalSeconds.toFixed(1)} s.`);

  const resultsDir = path.join(here, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  // one file per run (to the second), so that a later run never overwrites one a document cites
  const date = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
  const out = path.join(resultsDir, `durable-${date}${QUICK ? '-quick' : ''}.json`);
  const json = {
    date: new Date().toISOString(),
    command: `${QUICK ? 'BENCH_QUICK=1 ' : ''}${process.env.BENCH_N ? `BENCH_N=${N} ` : ''}npm run bench:durable`,
    git,
    parameters: { quick: QUICK, rounds: ROUNDS, N, smallN: SMALL_N, singleWarmup: SINGLE_WARMUP, singlePuts: SINGLE_PUTS, asyncPuts: ASYNC_PUTS, asyncChunk: ASYNC_CHUNK, asyncWarmup: ASYNC_WARMUP, txnSize: TXN_SIZE, valueSize: VALUE_SIZE, seed: SEED },
    machine,
    totalSeconds,
    rows,
    eventLoopDelayMs: delays,
    rotadbCommitsDuringAsyncPuts: commitsPerRun,
    rotadbCommitsDuringWarmAsyncPuts: commitsWarm,
    raw: results,
  };
  fs.writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`Wrote ${path.relative(process.cwd(), out)}`);
}

const childAt = process.argv.indexOf('--child');
const main = childAt >= 0 ? () => child(process.argv[childAt + 1], process.argv[childAt + 2]) : parent;
main().catch((e) => {
  console.error('benchmark failed:');
  console.error(e && e.stack ? e.stack : e);
  process.exitCode = 1;
});
