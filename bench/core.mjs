// Core benchmark: rotadb and lmdb-js side by side, in one process and one run.
//
//   npm run bench                      (N = 1,000,000)
//   BENCH_N=100000 npm run bench       (a quick run)
//
// Every workload runs rotadb first and lmdb right after it, so that noise on a shared machine
// hits both. One-shot workloads (loads, the full scan, the commit loops) run once per store and
// are timed with process.hrtime.bigint(); random gets are timed with tinybench (median of the
// per-iteration latencies, 10,000 gets per iteration).
//
// Output: a markdown table on stdout, and the same table as JSON in bench/results/core-<date>.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { open as openLmdb } from 'lmdb';
import { open as openRota } from '../dist/index.js';
import { machineInfo, parseCount, makeRandom, below, makeKeys, randomIndices, loadEntries, makeValues as makeValuePool, shuffledOrder } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------ parameters

const N = parseCount(process.env.BENCH_N, 1_000_000, 'BENCH_N');
const TXN_SIZE = 10_000;
const GETS = 1_000_000;
const GETS_PER_ITERATION = 10_000;
const SINGLE_PUTS = 2_000;
const SINGLE_WARMUP = 500;
const BATCHED_PUTS = 100_000;
const BATCH_CHUNK = 1_000;
const VALUE_SIZE = 100;
const VALUE_POOL = 1024; // distinct random 100-byte values, reused by key index
const SEED = 0x5eed1234;


// ------------------------------------------------------------------ deterministic data

/** xorshift32: a small seeded generator; the same seed gives the same sequence for both stores. */

/** Uniform integer in [0, n) for n well below 2^32. */

/** 16-character ASCII key: 'k' and the 15-digit zero-padded index, so string order is index order. */

function makeValues() {
  return makeValuePool(SEED ^ 0xa5a5a5a5, VALUE_POOL, VALUE_SIZE);
}

/** A seeded Fisher-Yates shuffle of 0..n-1. */

// ------------------------------------------------------------------ helpers

function gc() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

function nowNs() {
  return process.hrtime.bigint();
}

function secondsSince(t0) {
  return Number(nowNs() - t0) / 1e9;
}

function yieldTurn() {
  return new Promise((resolve) => setImmediate(resolve));
}

function fileSizes(file) {
  const st = fs.statSync(file);
  return { logical: st.size, allocated: st.blocks * 512 };
}

function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

function log(...args) {
  console.log(...args);
}

// ------------------------------------------------------------------ the stores

// Both stores use their default key encoding (rotadb 'ordered', lmdb-js 'ordered-binary') and
// store values as raw bytes (encoding 'binary'). Everything else is left at its default.
function openRotadb(file) {
  return openRota(file, { encoding: 'binary' });
}

// Opened with a path without an extension, lmdb-js creates a directory holding data.mdb and
// lock.mdb (noSubdir defaults to false then). Its data file is <dir>/data.mdb.
function openLmdbStore(dir) {
  return openLmdb({ path: dir, encoding: 'binary' });
}

const stores = {
  rotadb: {
    open: (dir, name) => openRotadb(path.join(dir, `${name}.rdb`)),
    dataFile: (dir, name) => path.join(dir, `${name}.rdb`),
  },
  lmdb: {
    open: (dir, name) => openLmdbStore(path.join(dir, `lmdb-${name}`)),
    dataFile: (dir, name) => path.join(dir, `lmdb-${name}`, 'data.mdb'),
  },
};

// ------------------------------------------------------------------ workloads

/** Puts keys[order[i]] for i in 0..n-1, in synchronous write transactions of TXN_SIZE puts. */
function load(db, keys, values, order) {
  gc();
  return loadEntries(db, keys, values, order, TXN_SIZE);
}

/** Spot-checks stored values against the expected bytes (untimed). */
function verifySample(db, keys, values, label) {
  const rand = makeRandom(SEED ^ 0x1234);
  for (let s = 0; s < 1000; s++) {
    const i = below(rand, keys.length);
    const v = db.get(keys[i]);
    check(v !== undefined, `${label}: get(${keys[i]}) returned undefined`);
    check(Buffer.compare(v, values[i & (VALUE_POOL - 1)]) === 0, `${label}: get(${keys[i]}) returned the wrong bytes`);
  }
  check(db.get('k' + '9'.repeat(15)) === undefined, `${label}: a missing key was found`);
}

function fullScan(db) {
  gc();
  let count = 0;
  let bytes = 0;
  let prev = '';
  let ordered = true;
  const t0 = nowNs();
  for (const { key, value } of db.getRange()) {
    if (key <= prev) ordered = false;
    prev = key;
    bytes += value.length;
    count++;
  }
  const seconds = secondsSince(t0);
  return { seconds, count, bytes, ordered };
}

/** SINGLE_PUTS puts, each awaited before the next, so each is its own commit. */
async function singlePuts(db, keys, values, idx, awaitFlushed) {
  gc();
  const t0 = nowNs();
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    await db.put(keys[k], values[(k + 7) & (VALUE_POOL - 1)]);
    if (awaitFlushed) await db.flushed;
  }
  return secondsSince(t0);
}

/** BATCHED_PUTS puts issued BATCH_CHUNK per event-loop turn without awaiting, then all awaited. */
async function batchedPuts(db, keys, values, idx, awaitFlushedToo) {
  gc();
  const promises = new Array(idx.length);
  const t0 = nowNs();
  for (let start = 0; start < idx.length; start += BATCH_CHUNK) {
    const end = Math.min(idx.length, start + BATCH_CHUNK);
    for (let i = start; i < end; i++) {
      const k = idx[i];
      promises[i] = db.put(keys[k], values[(k + 13) & (VALUE_POOL - 1)]);
    }
    await yieldTurn();
  }
  const results = await Promise.all(promises);
  const seconds = secondsSince(t0);
  let flushedSeconds;
  if (awaitFlushedToo) {
    await db.flushed;
    flushedSeconds = secondsSince(t0);
  }
  for (let i = 0; i < results.length; i++) check(results[i] === true, `batched put ${i} resolved to ${results[i]}`);
  return { seconds, flushedSeconds };
}

// ------------------------------------------------------------------ table

const rows = [];

function addRow(workload, unit, rota, lmdb, target, note) {
  const ratio = rota / lmdb;
  let met = null;
  if (target) met = target.op === '>=' ? ratio >= target.value : ratio <= target.value;
  rows.push({ workload, unit, rotadb: rota, lmdb, ratio, target: target ?? null, met, note: note ?? null });
}

function fmtNum(x, unit) {
  if (unit === 'bytes') return String(x);
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function fmtTarget(r) {
  if (!r.target) return '—';
  return `${r.target.op === '>=' ? '≥' : '≤'} ${r.target.value.toFixed(1)} (${r.met ? 'met' : 'missed'})`;
}

function markdownTable() {
  const lines = [
    '| workload | rotadb ops/s | lmdb ops/s | ratio rotadb/lmdb | target |',
    '|---|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const name = `${r.workload} (${r.unit})`;
    lines.push(`| ${name} | ${fmtNum(r.rotadb, r.unit)} | ${fmtNum(r.lmdb, r.unit)} | ${r.ratio.toFixed(3)} | ${fmtTarget(r)} |`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

async function main() {
  const started = nowNs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-bench-'));
  const open = [];
  const closeAll = async () => {
    while (open.length > 0) {
      const db = open.pop();
      try { await db.close(); } catch (e) { log(`(close failed: ${e && e.message})`); }
    }
  };
  const machine = machineInfo();
  log('# rotadb vs lmdb-js: core benchmark');
  log(`node ${machine.node} on ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.totalMemMiB} MiB RAM, load average ${machine.loadavgAtStart.join(' ')}`);
  log(`lmdb-js ${machine.lmdb}, tinybench ${machine.tinybench}, temp dir ${dir}`);
  log(`N = ${N} entries, 16-byte string keys, ${VALUE_SIZE}-byte binary values, write transactions of ${TXN_SIZE} puts`);
  log('One-shot workloads (loads, full scan, commit loops) run once per store, timed with process.hrtime.bigint();');
  log(`random gets are timed with tinybench: ${GETS / GETS_PER_ITERATION} iterations of ${GETS_PER_ITERATION} gets per store, median per-iteration latency.`);
  log('Each workload runs rotadb first, then lmdb.');
  log('');

  try {
    const keys = makeKeys(N);
    const values = makeValues();
    const order = shuffledOrder(N, SEED);
    const sizes = {};

    // -------- ascending bulk load
    const asc = {};
    for (const name of ['rotadb', 'lmdb']) {
      const db = stores[name].open(dir, 'asc');
      open.push(db);
      asc[name] = load(db, keys, values, null);
      verifySample(db, keys, values, `${name} ascending load`);
      sizes[`${name}-asc`] = fileSizes(stores[name].dataFile(dir, 'asc'));
      log(`ascending load  ${name.padEnd(6)} ${asc[name].toFixed(3)} s  (${(N / asc[name]).toFixed(0)} puts/s)`);
    }
    await closeAll();
    addRow('bulk load, ascending, 10k puts/txn', 'puts/s', N / asc.rotadb, N / asc.lmdb, { op: '>=', value: 1.0 });

    // -------- random-order bulk load
    const dbs = {};
    const rnd = {};
    for (const name of ['rotadb', 'lmdb']) {
      const db = stores[name].open(dir, 'rnd');
      open.push(db);
      dbs[name] = db;
      rnd[name] = load(db, keys, values, order);
      verifySample(db, keys, values, `${name} random load`);
      sizes[`${name}-rnd`] = fileSizes(stores[name].dataFile(dir, 'rnd'));
      log(`random load     ${name.padEnd(6)} ${rnd[name].toFixed(3)} s  (${(N / rnd[name]).toFixed(0)} puts/s)`);
    }
    addRow('bulk load, random order, 10k puts/txn', 'puts/s', N / rnd.rotadb, N / rnd.lmdb, { op: '>=', value: 1.5 });

    const statsAfterLoad = dbs.rotadb.stats();
    log('');
    log('rotadb stats() after the random load:');
    log(`  entries ${statsAfterLoad.entries}, depth ${statsAfterLoad.depth}, branch pages ${statsAfterLoad.branchPages}, leaf pages ${statsAfterLoad.leafPages}, overflow pages ${statsAfterLoad.overflowPages}`);
    log(`  page size ${statsAfterLoad.pageSize}, root slots ${statsAfterLoad.nRoots}, total pages ${statsAfterLoad.totalPages}, free pages ${statsAfterLoad.freePages}, pending pages ${statsAfterLoad.pendingPages}, file size ${statsAfterLoad.fileSize}`);
    log(`  cache: ${statsAfterLoad.cache.pages} pages of capacity ${statsAfterLoad.cache.capacity}, hits ${statsAfterLoad.cache.hits}, misses ${statsAfterLoad.cache.misses}`);
    check(statsAfterLoad.entries === N, `rotadb stats().entries is ${statsAfterLoad.entries}, expected ${N}`);
    log('');
    for (const [label, s] of Object.entries(sizes)) {
      log(`file size ${label.padEnd(11)} logical ${s.logical} bytes, allocated ${s.allocated} bytes${s.allocated < s.logical ? ' (sparse)' : ''}`);
    }
    log('');

    // -------- random gets (tinybench)
    const getIdx = randomIndices(GETS, N, SEED ^ 0x0badf00d);
    const getBench = new Bench({
      iterations: GETS / GETS_PER_ITERATION,
      time: 0,
      warmup: true,
      warmupIterations: 5,
      warmupTime: 0,
      throws: true,
    });
    const getTask = (db) => {
      let pos = 0;
      let bytes = 0;
      let misses = 0;
      const state = { bytes: 0, misses: 0, gets: 0 };
      return {
        fn() {
          for (let i = 0; i < GETS_PER_ITERATION; i++) {
            const v = db.get(keys[getIdx[pos]]);
            if (v === undefined) misses++;
            else bytes += v.length;
            pos = pos + 1 === GETS ? 0 : pos + 1;
          }
        },
        opts: {
          // The run phase replays the same sequence from the start for both stores.
          beforeAll(mode) {
            pos = 0;
            bytes = 0;
            misses = 0;
            gc();
          },
          afterAll(mode) {
            if (mode === 'run') {
              state.bytes = bytes;
              state.misses = misses;
              state.gets = GETS;
            }
          },
        },
        state,
      };
    };
    const getTasks = { rotadb: getTask(dbs.rotadb), lmdb: getTask(dbs.lmdb) };
    for (const name of ['rotadb', 'lmdb']) getBench.add(`${name} get`, getTasks[name].fn, getTasks[name].opts);
    getBench.runSync();
    const getRate = {};
    for (const name of ['rotadb', 'lmdb']) {
      const task = getBench.tasks.find((t) => t.name === `${name} get`);
      const r = task.result;
      check(r.state === 'completed', `${name} get task ended in state ${r.state}${r.error ? ': ' + r.error.stack : ''}`);
      const st = getTasks[name].state;
      check(st.misses === 0, `${name}: ${st.misses} random gets of existing keys returned undefined`);
      check(st.bytes === st.gets * VALUE_SIZE, `${name}: random gets returned ${st.bytes} bytes, expected ${st.gets * VALUE_SIZE}`);
      getRate[name] = GETS_PER_ITERATION / (r.latency.p50 / 1000);
      log(`random gets     ${name.padEnd(6)} ${task.runs} samples of ${GETS_PER_ITERATION} gets; latency per sample p50 ${r.latency.p50.toFixed(3)} ms, mean ${r.latency.mean.toFixed(3)} ms, min ${r.latency.min.toFixed(3)} ms, max ${r.latency.max.toFixed(3)} ms, rme ${r.latency.rme.toFixed(2)}%  -> ${getRate[name].toFixed(0)} gets/s (median)`);
    }
    addRow('random gets (tinybench median)', 'gets/s', getRate.rotadb, getRate.lmdb, { op: '>=', value: 2.0 });

    // -------- full ordered scan
    const scan = {};
    for (const name of ['rotadb', 'lmdb']) {
      const s = fullScan(dbs[name]);
      check(s.count === N, `${name} full scan returned ${s.count} entries, expected ${N}`);
      check(s.bytes === N * VALUE_SIZE, `${name} full scan returned ${s.bytes} value bytes, expected ${N * VALUE_SIZE}`);
      check(s.ordered, `${name} full scan returned keys out of order`);
      scan[name] = s.seconds;
      log(`full scan       ${name.padEnd(6)} ${s.seconds.toFixed(3)} s  (${(N / s.seconds).toFixed(0)} entries/s)`);
    }
    addRow('full ordered scan', 'entries/s', N / scan.rotadb, N / scan.lmdb, { op: '>=', value: 1.5 });

    const statsAfterReads = dbs.rotadb.stats();
    log(`rotadb cache after gets and scan: ${statsAfterReads.cache.pages} pages of capacity ${statsAfterReads.cache.capacity}, hits ${statsAfterReads.cache.hits}, misses ${statsAfterReads.cache.misses}`);

    // -------- single-put commits
    // An untimed warm-up of SINGLE_WARMUP awaited puts per store comes first: in trial runs
    // lmdb's first few hundred async commits after the random load took several seconds in all
    // (a one-off), which would otherwise dominate this row. The warm-up time is printed.
    const warmIdx = randomIndices(SINGLE_WARMUP, N, SEED ^ 0x50);
    for (const name of ['rotadb', 'lmdb']) {
      const w = await singlePuts(dbs[name], keys, values, warmIdx, false);
      log(`single puts     ${name.padEnd(6)} warm-up (untimed in the table): ${SINGLE_WARMUP} awaited puts in ${w.toFixed(3)} s`);
    }
    const singleIdx = randomIndices(SINGLE_PUTS, N, SEED ^ 0x51);
    const single = {};
    for (const name of ['rotadb', 'lmdb']) {
      const txnBefore = name === 'rotadb' ? dbs.rotadb.stats().txnId : 0;
      single[name] = await singlePuts(dbs[name], keys, values, singleIdx, false);
      if (name === 'rotadb') log(`single puts     rotadb made ${dbs.rotadb.stats().txnId - txnBefore} commits (txnId delta)`);
      log(`single puts     ${name.padEnd(6)} ${SINGLE_PUTS} awaited puts in ${single[name].toFixed(3)} s  (${(SINGLE_PUTS / single[name]).toFixed(1)} commits/s)`);
    }
    // lmdb-js defaults to overlappingSync on Linux: the put promise resolves when the transaction
    // is committed, and the flush to disk completes later (db.flushed). rotadb's put resolves
    // after its fdatasync. So we also time lmdb awaiting db.flushed after each put.
    const singleFlushIdx = randomIndices(SINGLE_PUTS, N, SEED ^ 0x52);
    const lmdbFlushed = await singlePuts(dbs.lmdb, keys, values, singleFlushIdx, true);
    log(`single puts     lmdb   ${SINGLE_PUTS} awaited puts + await db.flushed in ${lmdbFlushed.toFixed(3)} s  (${(SINGLE_PUTS / lmdbFlushed).toFixed(1)} commits/s)`);
    addRow('single-put commits, await put', 'commits/s', SINGLE_PUTS / single.rotadb, SINGLE_PUTS / single.lmdb, { op: '>=', value: 1.0 });
    addRow('single-put commits, lmdb also awaits db.flushed', 'commits/s', SINGLE_PUTS / single.rotadb, SINGLE_PUTS / lmdbFlushed, null,
      'rotadb figure is the same run as the row above');

    // -------- batched async puts
    const batchIdx = randomIndices(BATCHED_PUTS, N, SEED ^ 0x53);
    const batched = {};
    for (const name of ['rotadb', 'lmdb']) {
      const txnBefore = name === 'rotadb' ? dbs.rotadb.stats().txnId : 0;
      batched[name] = await batchedPuts(dbs[name], keys, values, batchIdx, name === 'lmdb');
      if (name === 'rotadb') log(`batched puts    rotadb made ${dbs.rotadb.stats().txnId - txnBefore} commits (txnId delta)`);
      const extra = batched[name].flushedSeconds !== undefined ? `, ${batched[name].flushedSeconds.toFixed(3)} s until db.flushed` : '';
      log(`batched puts    ${name.padEnd(6)} ${BATCHED_PUTS} puts, ${BATCH_CHUNK} per turn, in ${batched[name].seconds.toFixed(3)} s (${(BATCHED_PUTS / batched[name].seconds).toFixed(0)} puts/s)${extra}`);
    }
    addRow(`batched async puts, ${BATCH_CHUNK}/turn, await all`, 'puts/s', BATCHED_PUTS / batched.rotadb.seconds, BATCHED_PUTS / batched.lmdb.seconds, null);
    addRow(`batched async puts, lmdb also awaits db.flushed`, 'puts/s', BATCHED_PUTS / batched.rotadb.seconds, BATCHED_PUTS / batched.lmdb.flushedSeconds, null,
      'rotadb figure is the same run as the row above');

    // -------- file sizes (measured right after the loads)
    addRow('file size after random load, logical', 'bytes', sizes['rotadb-rnd'].logical, sizes['lmdb-rnd'].logical, { op: '<=', value: 1.0 });
    addRow('file size after random load, allocated', 'bytes', sizes['rotadb-rnd'].allocated, sizes['lmdb-rnd'].allocated, { op: '<=', value: 1.0 });
    addRow('file size after ascending load, logical', 'bytes', sizes['rotadb-asc'].logical, sizes['lmdb-asc'].logical, null);
    addRow('file size after ascending load, allocated', 'bytes', sizes['rotadb-asc'].allocated, sizes['lmdb-asc'].allocated, null);

    // -------- integrity check of the rotadb file (untimed, not in the table)
    const tc = nowNs();
    const report = dbs.rotadb.check();
    log(`rotadb check(): ok ${report.ok}, ${report.problems.length} problems, pages total ${report.pages.total} used ${report.pages.used} free ${report.pages.free} space map ${report.pages.spaceMap} (${secondsSince(tc).toFixed(1)} s)`);
    for (const p of report.problems.slice(0, 20)) log(`  problem: ${p}`);
    check(report.ok, 'rotadb check() reported problems');

    await closeAll();

    const table = markdownTable();
    const totalSeconds = secondsSince(started);
    log('');
    log(table);
    log('');
    log('Ratios are rotadb/lmdb: for rates higher is better for rotadb, for file sizes lower is.');
    log(`Single-put rows are measured after an untimed warm-up of ${SINGLE_WARMUP} awaited puts per store (times printed above).`);
    log('Single-put and batched rows: rotadb resolves each put after its commit is durable (fdatasync); lmdb-js (overlappingSync, the default on Linux) resolves at commit, before the flush; the "lmdb also awaits db.flushed" rows include lmdb\'s flush.');
    log(`Total run time ${totalSeconds.toFixed(1)} s.`);

    const resultsDir = path.join(here, 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    const date = new Date().toISOString().slice(0, 10);
    const out = path.join(resultsDir, `core-${date}.json`);
    const json = {
      date: new Date().toISOString(),
      command: 'npm run bench',
      N,
      parameters: { txnSize: TXN_SIZE, gets: GETS, getsPerIteration: GETS_PER_ITERATION, singlePuts: SINGLE_PUTS, singleWarmup: SINGLE_WARMUP, batchedPuts: BATCHED_PUTS, batchChunk: BATCH_CHUNK, valueSize: VALUE_SIZE, seed: SEED },
      machine,
      rotadbStatsAfterRandomLoad: { ...statsAfterLoad, slots: undefined },
      rotadbCacheAfterReads: statsAfterReads.cache,
      fileSizes: sizes,
      totalSeconds,
      rows,
    };
    fs.writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
    log(`Wrote ${path.relative(process.cwd(), out)}`);
  } finally {
    await closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error('benchmark failed:');
  console.error(e && e.stack ? e.stack : e);
  process.exitCode = 1;
});
