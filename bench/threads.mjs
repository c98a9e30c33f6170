// Random-get throughput with 1 and 2 reader threads: rotadb and lmdb-js side by side, one run.
//
//   npm run build && node bench/threads.mjs            (N = 1,000,000)
//   BENCH_N=300000 node bench/threads.mjs              (a smaller database)
//
// Other knobs: BENCH_SECONDS (timed window per measurement, default 3), BENCH_WARMUP_MS (random
// gets before the window, default 500), BENCH_ROUNDS (default 5).
//
// Each store gets a fresh file loaded with N entries (16-character string keys, 100-byte binary
// values, encoding 'binary' in both), in key order, in write transactions of 10,000 puts. Then,
// for every round and every T in {1, 2}, for each store: T worker threads are started; each one
// opens the store (rotadb: open(db.handle(), { encoding: 'binary' }); lmdb-js: open({ path,
// encoding: 'binary' }) on the same path, which lmdb-js shares within the process), builds its key
// array, scans the whole store once (untimed: it fills rotadb's per-thread page cache, which a new
// thread starts without) and reports ready. The main thread then names a common start time; every
// worker does random gets for BENCH_WARMUP_MS, then counts gets for BENCH_SECONDS. The main thread
// only waits (its event loop is idle) while the workers run.
//
// Every get is checked: the value must exist and be 100 bytes; every 64th get is compared byte by
// byte with the value that was loaded. Each worker has its own seeded sequence of keys (worker i
// uses the same seed for both stores).
//
// Output: a markdown table on stdout, and JSON in bench/results/threads-<date>.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { open as openLmdb } from 'lmdb';
import { gitState, machineInfo, makeRandom, keyOf, makeValues as makeValuePool } from './common.mjs';

const self = fileURLToPath(import.meta.url);
const here = path.dirname(self);

// rotadb as built into dist/ by `npm run build`, or another build named by ROTADB_DIST (a path to
// its index.js), e.g. a build of a given commit made outside this working tree.
// ROTADB_BUILD describes that build in the output (e.g. the commit it was built from).
const rotadbModule = process.env.ROTADB_DIST ? pathToFileURL(path.resolve(process.env.ROTADB_DIST)).href : new URL('../dist/index.js', import.meta.url).href;
const rotadbBuild = process.env.ROTADB_BUILD || (process.env.ROTADB_DIST ? 'unlabelled build' : 'dist/ of this working tree');
const { open: openRota } = await import(rotadbModule);

const VALUE_SIZE = 100;
const VALUE_POOL = 1024; // distinct random values, chosen by key index & (VALUE_POOL - 1)
const TXN_SIZE = 10_000;
const SEED = 0x7e4d5eed;
const CHECK_EVERY = 64; // byte-compare one get in CHECK_EVERY
const CLOCK_EVERY = 256; // read the clock once every CLOCK_EVERY gets
const TARGET_SCALING = 1.7;
const CLEAN_CPU = 0.9; // a run is "clean" when every worker was on a CPU at least this share of the window

// ------------------------------------------------------------------ shared helpers

/** xorshift32, seeded; the same seed gives the same sequence in every thread. */

/** 'k' and the zero-padded 15-digit index: 16 characters, string order = index order. */

function makeValues() {
  return makeValuePool(SEED ^ 0x3c3c3c3c, VALUE_POOL, VALUE_SIZE);
}

/** Wall-clock milliseconds comparable across the threads of this process. */
function wallMs() {
  return performance.timeOrigin + performance.now();
}

/** On-CPU and run-queue-wait nanoseconds of the calling thread (Linux), or null. */
function threadSchedNs() {
  try {
    const [run, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    return { run, wait };
  } catch {
    return null;
  }
}

function sleepSync(ms) {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function parsePositive(text, fallback, name, integer = true) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(text)}`);
  return n;
}

// ------------------------------------------------------------------ worker

async function workerMain() {
  const { store, target, n, seed, warmupMs, durationMs, ctl } = workerData;
  const startAt = new Float64Array(ctl); // [0]: common start time (wall ms), 0 until set
  const db = store === 'rotadb'
    ? openRota(target, { encoding: 'binary' })
    : openLmdb({ path: target, encoding: 'binary' });
  const keys = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = keyOf(i);
  const values = makeValues();

  // Untimed full scan: warms rotadb's per-thread cache (and the OS cache for both).
  let scanned = 0;
  for (const { value } of db.getRange()) {
    if (value.length !== VALUE_SIZE) throw new Error(`${store}: scan found a value of ${value.length} bytes`);
    scanned++;
  }
  if (scanned !== n) throw new Error(`${store}: scan found ${scanned} entries, expected ${n}`);
  parentPort.postMessage({ ready: true });

  while (startAt[0] === 0) sleepSync(1);
  const t0 = startAt[0];
  while (wallMs() < t0) { /* spin the last millisecond */ }

  const rand = makeRandom(seed);
  let misses = 0;
  let badLength = 0;
  let badBytes = 0;
  const getOne = (count) => {
    const i = Math.floor((rand() / 4294967296) * n);
    const v = db.get(keys[i]);
    if (v === undefined) misses++;
    else if (v.length !== VALUE_SIZE) badLength++;
    else if ((count & (CHECK_EVERY - 1)) === 0 && !v.equals(values[i & (VALUE_POOL - 1)])) badBytes++;
  };

  // warm-up
  const windowStart = t0 + warmupMs;
  let warm = 0;
  while (wallMs() < windowStart) {
    for (let k = 0; k < CLOCK_EVERY; k++) getOne(warm++);
  }
  const cacheBefore = store === 'rotadb' ? db.stats().cache : null;
  const sched0 = threadSchedNs();

  // timed window
  const windowEnd = windowStart + durationMs;
  const w0 = wallMs();
  let gets = 0;
  let w1;
  for (;;) {
    for (let k = 0; k < CLOCK_EVERY; k++) getOne(gets++);
    w1 = wallMs();
    if (w1 >= windowEnd) break;
  }
  const sched1 = threadSchedNs();
  const cacheAfter = store === 'rotadb' ? db.stats().cache : null;
  const cache = cacheBefore && { hits: cacheAfter.hits - cacheBefore.hits, misses: cacheAfter.misses - cacheBefore.misses, pages: cacheAfter.pages, capacity: cacheAfter.capacity };
  await db.close();
  parentPort.postMessage({
    done: true,
    gets,
    seconds: (w1 - w0) / 1000,
    startLagMs: w0 - windowStart,
    warmupGets: warm,
    misses,
    badLength,
    badBytes,
    cache,
    cpuMs: sched0 && sched1 ? (sched1.run - sched0.run) / 1e6 : null,
    runQueueMs: sched0 && sched1 ? (sched1.wait - sched0.wait) / 1e6 : null,
  });
}

// ------------------------------------------------------------------ main thread

function runWorker(data) {
  const w = new Worker(self, { workerData: data });
  const messages = [];
  const waiting = [];
  let failure = null;
  const deliver = () => {
    while (waiting.length > 0 && (messages.length > 0 || failure)) {
      const { resolve, reject } = waiting.shift();
      if (messages.length > 0) resolve(messages.shift());
      else reject(failure);
    }
  };
  w.on('message', (m) => { messages.push(m); deliver(); });
  w.on('error', (e) => { failure = e; deliver(); });
  w.on('exit', (code) => { if (code !== 0 && !failure) { failure = new Error(`worker exited with code ${code}`); deliver(); } });
  const exited = new Promise((r) => w.once('exit', r));
  return { w, exited, next: () => new Promise((resolve, reject) => { waiting.push({ resolve, reject }); deliver(); }) };
}

async function measure(store, target, n, T, opts) {
  const ctl = new SharedArrayBuffer(8);
  const workers = [];
  for (let t = 0; t < T; t++) {
    workers.push(runWorker({ store, target: target(), n, seed: (SEED ^ Math.imul(t + 1, 0x9e3779b1)) >>> 0, warmupMs: opts.warmupMs, durationMs: opts.durationMs, ctl }));
  }
  try {
    for (const w of workers) {
      const m = await w.next();
      if (!m.ready) throw new Error(`${store}: unexpected message ${JSON.stringify(m)}`);
    }
    const startAt = wallMs() + 50;
    new Float64Array(ctl)[0] = startAt;
    // The main thread sleeps (event loop idle) until the window, samples CPU time, then waits.
    const windowStart = startAt + opts.warmupMs;
    await new Promise((r) => setTimeout(r, Math.max(0, windowStart - wallMs())));
    const cpu0 = process.cpuUsage();
    const c0 = wallMs();
    await new Promise((r) => setTimeout(r, Math.max(0, windowStart + opts.durationMs - wallMs())));
    const cpu = process.cpuUsage(cpu0);
    const cpuWallMs = wallMs() - c0;
    const results = [];
    for (const w of workers) {
      const m = await w.next();
      if (!m.done) throw new Error(`${store}: unexpected message ${JSON.stringify(m)}`);
      results.push(m);
    }
    await Promise.all(workers.map((w) => w.exited));
    const rate = results.reduce((a, r) => a + r.gets / r.seconds, 0);
    const problems = results.reduce((a, r) => a + r.misses + r.badLength + r.badBytes, 0);
    if (problems > 0) throw new Error(`${store} T=${T}: ${JSON.stringify(results.map(({ misses, badLength, badBytes }) => ({ misses, badLength, badBytes })))}`);
    return {
      store,
      threads: T,
      getsPerSecond: rate,
      // Gets per second of on-CPU time, summed over threads: the rate had every thread had a CPU
      // to itself (null when /proc/thread-self/schedstat is not available).
      getsPerCpuSecond: results.every((r) => r.cpuMs) ? results.reduce((a, r) => a + r.gets / (r.cpuMs / 1000), 0) : null,
      perThread: results.map((r) => ({ gets: r.gets, seconds: r.seconds, getsPerSecond: r.gets / r.seconds, cpuMs: r.cpuMs, runQueueMs: r.runQueueMs, startLagMs: r.startLagMs, warmupGets: r.warmupGets, cache: r.cache })),
      // CPU time of the whole process (all threads) over the window, in CPUs.
      cpusBusy: (cpu.user + cpu.system) / 1000 / cpuWallMs,
      loadavg1: os.loadavg()[0],
    };
  } catch (e) {
    await Promise.all(workers.map((w) => w.w.terminate()));
    throw e;
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function loadStore(db, n, values) {
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < n; start += TXN_SIZE) {
    const end = Math.min(n, start + TXN_SIZE);
    db.transactionSync(() => {
      for (let i = start; i < end; i++) db.putSync(keyOf(i), values[i & (VALUE_POOL - 1)]);
    });
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}


async function main() {
  const N = parsePositive(process.env.BENCH_N, 1_000_000, 'BENCH_N');
  const durationMs = parsePositive(process.env.BENCH_SECONDS, 3, 'BENCH_SECONDS', false) * 1000;
  const warmupMs = parsePositive(process.env.BENCH_WARMUP_MS, 500, 'BENCH_WARMUP_MS');
  const rounds = parsePositive(process.env.BENCH_ROUNDS, 5, 'BENCH_ROUNDS');
  const started = process.hrtime.bigint();
  const machine = machineInfo();
  const git = gitState();
  const log = (...a) => console.log(...a);
  log('# Random gets from worker threads: rotadb vs lmdb-js');
  log(`node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadavgAtStart.join(' ')}, lmdb-js ${machine.lmdb}`);
  log(`rotadb module: ${rotadbModule} (${rotadbBuild})`);
  if (git) log(`git ${git.commit}${git.srcChanges.length ? `, uncommitted changes in src/: ${git.srcChanges.join('; ')}` : ''}`);
  log(`N = ${N}, 16-char string keys, ${VALUE_SIZE}-byte binary values; per measurement ${warmupMs} ms warm-up + ${durationMs / 1000} s timed; ${rounds} rounds`);
  if (machine.cpus <= 2) log(`This machine has ${machine.cpus} CPUs: with T = 2 the workers use both; the main thread is idle (awaiting) while they run.`);
  log('');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-threads-'));
  const rotaFile = path.join(dir, 'db.rdb');
  const lmdbDir = path.join(dir, 'lmdb');
  const values = makeValues();
  let rota = null;
  let lmdb = null;
  try {
    rota = openRota(rotaFile, { encoding: 'binary' });
    const rotaLoad = loadStore(rota, N, values);
    log(`load rotadb ${rotaLoad.toFixed(2)} s`);
    lmdb = openLmdb({ path: lmdbDir, encoding: 'binary' });
    const lmdbLoad = loadStore(lmdb, N, values);
    log(`load lmdb   ${lmdbLoad.toFixed(2)} s`);
    const st = rota.stats();
    if (st.entries !== N) throw new Error(`rotadb has ${st.entries} entries after the load, expected ${N}`);
    log(`rotadb: depth ${st.depth}, ${st.leafPages} leaf pages, file ${st.fileSize} bytes, nRoots ${st.nRoots}`);
    log('');

    const handle = rota.handle();
    const targets = { rotadb: () => handle, lmdb: () => lmdbDir };
    const runs = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate which store goes first, so a slow patch of the machine does not always hit one.
      const order = r % 2 === 0 ? ['rotadb', 'lmdb'] : ['lmdb', 'rotadb'];
      for (const T of [1, 2]) {
        for (const store of order) {
          const m = await measure(store, targets[store], N, T, { warmupMs, durationMs });
          m.round = r + 1;
          runs.push(m);
          const per = m.perThread.map((p) => `${p.getsPerSecond.toFixed(0)} on ${p.cpuMs === null ? '?' : (p.cpuMs / 1000 / p.seconds).toFixed(2)} CPU`).join(' + ');
          const cache = store === 'rotadb' ? `, cache misses in window ${m.perThread.map((p) => p.cache.misses).join('/')}` : '';
          log(`round ${r + 1} ${store.padEnd(6)} T=${T}: ${m.getsPerSecond.toFixed(0).padStart(8)} gets/s (${per}), process ${m.cpusBusy.toFixed(2)} CPUs, load ${m.loadavg1.toFixed(2)}${cache}`);
        }
      }
    }

    const pick = (store, T, f) => runs.filter((m) => m.store === store && m.threads === T).map(f);
    const summary = {};
    for (const store of ['rotadb', 'lmdb']) {
      const row = {};
      for (const T of [1, 2]) {
        const wall = pick(store, T, (m) => m.getsPerSecond);
        const cpu = pick(store, T, (m) => m.getsPerCpuSecond);
        const cpus = pick(store, T, (m) => m.perThread.reduce((a, p) => a + (p.cpuMs ?? NaN) / 1000 / p.seconds, 0));
        row[`t${T}`] = median(wall);
        row[`t${T}Best`] = Math.max(...wall);
        row[`t${T}Worst`] = Math.min(...wall);
        row[`t${T}PerCpuSecond`] = cpu.every((x) => x !== null) ? median(cpu) : null;
        row[`t${T}CpusGot`] = median(cpus);
        // Runs in which every worker had at least 90% of a CPU: the machine's other load hardly
        // touched them.
        const clean = pick(store, T, (m) => m).filter((m) => m.perThread.every((p) => p.cpuMs !== null && p.cpuMs / 1000 / p.seconds >= CLEAN_CPU));
        row[`t${T}CleanRuns`] = clean.length;
        row[`t${T}Clean`] = clean.length ? median(clean.map((m) => m.getsPerSecond)) : null;
      }
      row.scalingClean = row.t1Clean && row.t2Clean ? row.t2Clean / row.t1Clean : null;
      row.scaling = row.t2 / row.t1;
      row.scalingBest = row.t2Best / row.t1Best;
      row.scalingPerCpu = row.t1PerCpuSecond ? row.t2PerCpuSecond / row.t1PerCpuSecond : null;
      summary[store] = row;
    }
    const k = (x) => x.toFixed(0);
    const f2 = (x) => (x === null || Number.isNaN(x) ? '—' : x.toFixed(2));
    const table = [
      '| store | T=1 gets/s | T=2 gets/s | scaling T=2/T=1 | best T=1 | best T=2 | best scaling |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...['rotadb', 'lmdb'].map((s) => { const r = summary[s]; return `| ${s} | ${k(r.t1)} | ${k(r.t2)} | ${f2(r.scaling)} | ${k(r.t1Best)} | ${k(r.t2Best)} | ${f2(r.scalingBest)} |`; }),
      `| ratio rotadb/lmdb | ${(summary.rotadb.t1 / summary.lmdb.t1).toFixed(3)} | ${(summary.rotadb.t2 / summary.lmdb.t2).toFixed(3)} | | ${(summary.rotadb.t1Best / summary.lmdb.t1Best).toFixed(3)} | ${(summary.rotadb.t2Best / summary.lmdb.t2Best).toFixed(3)} | |`,
    ].join('\n');
    const cpuTable = [
      '| store | T=1 CPUs the workers got | T=2 CPUs the workers got | T=1 gets per CPU-second | T=2 gets per CPU-second (summed over threads) | scaling per CPU-second |',
      '|---|---:|---:|---:|---:|---:|',
      ...['rotadb', 'lmdb'].map((s) => { const r = summary[s]; return `| ${s} | ${f2(r.t1CpusGot)} | ${f2(r.t2CpusGot)} | ${r.t1PerCpuSecond ? k(r.t1PerCpuSecond) : '—'} | ${r.t2PerCpuSecond ? k(r.t2PerCpuSecond) : '—'} | ${f2(r.scalingPerCpu)} |`; }),
    ].join('\n');
    const cleanTable = [
      `| store | T=1 clean runs | T=1 gets/s (median of clean) | T=2 clean runs | T=2 gets/s (median of clean) | scaling |`,
      '|---|---:|---:|---:|---:|---:|',
      ...['rotadb', 'lmdb'].map((s) => { const r = summary[s]; return `| ${s} | ${r.t1CleanRuns} | ${r.t1Clean ? k(r.t1Clean) : '—'} | ${r.t2CleanRuns} | ${r.t2Clean ? k(r.t2Clean) : '—'} | ${f2(r.scalingClean)} |`; }),
    ].join('\n');
    const met = summary.rotadb.scaling >= TARGET_SCALING;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    log('');
    log(`Wall-clock gets/s summed over the T threads: median and best of ${rounds} rounds (N = ${N}).`);
    log('');
    log(table);
    log('');
    log('On-CPU time of the worker threads in the timed window (/proc/thread-self/schedstat), medians over rounds.');
    log('"CPUs the workers got" is on-CPU time / wall time summed over the threads (T at most). Gets per CPU-second is each');
    log("thread's gets divided by its own on-CPU time, summed: the rate had each thread had a CPU to itself.");
    log('');
    log(cpuTable);
    log('');
    log(`Runs in which every worker thread was on a CPU for at least ${CLEAN_CPU * 100}% of the window ("clean" runs):`);
    log('');
    log(cleanTable);
    log('');
    log(`Target: rotadb T=2 >= ${TARGET_SCALING} x T=1: ${summary.rotadb.scaling.toFixed(2)} (${met ? 'met' : 'missed'}).`);
    log(`Every get returned a 100-byte value (1 in ${CHECK_EVERY} compared byte for byte); no misses. Total run time ${seconds.toFixed(1)} s.`);

    const resultsDir = path.join(here, 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    // Runs with other settings than the defaults (other than BENCH_N) get their own file name.
    const custom = ['BENCH_SECONDS', 'BENCH_WARMUP_MS', 'BENCH_ROUNDS'].filter((e) => process.env[e]);
    const out = path.join(resultsDir, `threads-${new Date().toISOString().slice(0, 10)}${N !== 1_000_000 ? `-n${N}` : ''}${custom.length ? '-custom' : ''}.json`);
    fs.writeFileSync(out, JSON.stringify({
      date: new Date().toISOString(),
      command: `${['ROTADB_DIST', 'BENCH_N', ...custom].filter((e) => process.env[e]).map((e) => `${e}=${process.env[e]} `).join('')}node bench/threads.mjs`,
      N,
      parameters: { valueSize: VALUE_SIZE, txnSize: TXN_SIZE, loadOrder: 'ascending', warmupMs, durationMs, rounds, checkEvery: CHECK_EVERY, seed: SEED },
      machine,
      git,
      rotadbModule,
      rotadbBuild,
      loadSeconds: { rotadb: rotaLoad, lmdb: lmdbLoad },
      summary,
      ratio: { t1: summary.rotadb.t1 / summary.lmdb.t1, t2: summary.rotadb.t2 / summary.lmdb.t2 },
      cpuTable,
      cleanTable,
      target: { rotadbScaling: TARGET_SCALING, met },
      table,
      runs,
      totalSeconds: seconds,
    }, null, 2) + '\n');
    log(`Wrote ${path.relative(process.cwd(), out)}`);
  } finally {
    if (rota) await rota.close();
    if (lmdb) await lmdb.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainThread) {
  await main();
} else {
  await workerMain();
}
