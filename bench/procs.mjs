// Several processes on one file (issue 14, "Performance"): read transactions, random gets and
// single-put commits with 1, 2 and 4 processes, and the single-process case against the build
// before multi-process support.
//
//   npm run build && node bench/procs.mjs
//   BASE=/work/wt/mpbase node bench/procs.mjs      (the build to compare with: <BASE>/dist)
//   BENCH_N=200000 BENCH_ROUNDS=3 BENCH_MS=1500 node bench/procs.mjs
//   BENCH_DATA=/tmp/procs-data ...   (keep the loaded files there and reuse them on the next run)
//   FIX=<tree> ...                   (also run the commit cases on <tree>/dist, a prototype)
//   BENCH_ONLY='^puts' ...           (only the cases whose "section label" matches)
//
// Every measurement runs in child processes (this script with --child, forked with IPC), so
// that each one imports the build it names: `cur` (../dist, this tree), `base` (<BASE>/dist,
// the parent commit of multi-process support; absent when BASE is unset or not built) and
// `lmdb` (lmdb-js, for reference ratios on the single-process rows). A case is a set of
// children on one file: the measuring ones open it, warm up, say ready, and run for BENCH_MS
// from the same 'go'; idle holders open it and wait. The rate of a case is the sum of its
// measuring children's counts over their own elapsed time. Each round runs every case once,
// in the same order, so that noise on the shared machine hits every case of a round; the table
// gives the median over BENCH_ROUNDS rounds and the spread (min-max) across rounds.
//
// Two builds never have one file open at once: `base` locks with a plain file `<path>-lock`,
// `cur` with a directory of that name. Each build and lmdb-js gets its own files, loaded by a
// child of that build.
//
// Output: markdown tables on stdout, and the same as JSON in bench/results/procs-<date>.json.

import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { below, gitState, keyOf, loadEntries, machineInfo, makeRandom, makeValues, median, parseCount, shuffledOrder } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = parseCount(process.env.BENCH_N, 1_000_000, 'BENCH_N');
/** Entries of the files the commit workloads write to (each put replaces one of them). */
const NW = Math.min(N, 100_000);
const ROUNDS = parseCount(process.env.BENCH_ROUNDS, 3, 'BENCH_ROUNDS');
const MS = parseCount(process.env.BENCH_MS, 1500, 'BENCH_MS');
const VALUE_SIZE = 100;
const VALUE_POOL = 1024;
const SEED = 0x5eed1234;
/** Gets per synchronous run (then the child yields to the event loop, as a server between requests would). */
const GETS_PER_TURN = 10_000;

// ================================================================== child

async function openStore(job) {
  if (job.store === 'lmdb') {
    const { open } = await import('lmdb');
    return open({ path: job.file, encoding: 'binary', noSync: job.noSync === true });
  }
  const { open } = await import(pathToFileURL(path.join(job.dist, 'index.js')).href);
  return open(job.file, { encoding: 'binary', noSync: job.noSync === true });
}

const turn = () => new Promise((r) => setImmediate(r));

/**
 * Runs `step` (which does some operations and returns how many) until `ms` have passed; returns
 * { ops, ns, cpuUs }: cpuUs is the process's CPU time meanwhile (user + system, every thread),
 * which a loaded machine inflates less than the elapsed time.
 */
async function timed(ms, step) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  let ops = 0;
  let now = t0;
  while (now < end) {
    ops += await step();
    now = process.hrtime.bigint();
  }
  const c = process.cpuUsage(c0);
  return { ops, ns: Number(now - t0), cpuUs: c.user + c.system };
}

async function child() {
  const job = await new Promise((r) => process.once('message', r));
  const values = makeValues(SEED ^ 0xa5a5a5a5, VALUE_POOL, VALUE_SIZE);
  const db = await openStore(job);
  const rand = makeRandom(job.seed);
  let step = null;
  if (job.kind === 'load') {
    const keys = Array.from({ length: job.n }, (_, i) => keyOf(i));
    loadEntries(db, keys, values, shuffledOrder(job.n, SEED), 10_000);
  }
  if (job.kind === 'gets' || job.kind === 'txn') {
    // warm-up: every page into this process's cache
    let seen = 0;
    for (const { key } of db.getRange()) if (key !== undefined) seen++;
    if (seen !== job.n) throw new Error(`found ${seen} entries, expected ${job.n}`);
  }
  if (job.kind === 'gets') {
    const keys = Array.from({ length: job.n }, (_, i) => keyOf(i));
    step = () => {
      for (let i = 0; i < GETS_PER_TURN; i++) {
        const k = below(rand, job.n);
        if (db.get(keys[k]) === undefined) throw new Error(`get(${keys[k]}) found nothing`);
      }
      return turn().then(() => GETS_PER_TURN);
    };
    for (let i = 0; i < 3; i++) await step();
  } else if (job.kind === 'txn') {
    // a read transaction per get: useReadTransaction + get + done, 1,000 per synchronous run
    const keys = Array.from({ length: job.n }, (_, i) => keyOf(i));
    step = () => {
      for (let i = 0; i < 1000; i++) {
        const t = db.useReadTransaction();
        const k = below(rand, job.n);
        if (db.get(keys[k], { transaction: t }) === undefined) throw new Error(`get(${keys[k]}) found nothing`);
        t.done();
      }
      return turn().then(() => 1000);
    };
    for (let i = 0; i < 20; i++) await step();
  } else if (job.kind === 'puts') {
    // Single-put commits. noSync: putSync, a synchronous commit (no thread-pool round trip, so
    // what is left is the commit's own work and its coordination), 100 per synchronous run.
    // Durable: put, awaited (and for lmdb-js, flushed) before the next.
    const flush = job.store === 'lmdb';
    step = job.noSync === true
      ? () => {
        for (let i = 0; i < 100; i++) {
          const k = below(rand, job.n);
          db.putSync(keyOf(k), values[(k + job.seed) & (VALUE_POOL - 1)]);
        }
        return turn().then(() => 100);
      }
      : async () => {
        const k = below(rand, job.n);
        await db.put(keyOf(k), values[(k + job.seed) & (VALUE_POOL - 1)]);
        if (flush) await db.flushed;
        return 1;
      };
    for (let i = 0; i < 20; i++) await step();
  }
  process.send({ ready: true });
  let result = null;
  for (;;) {
    const m = await new Promise((r) => process.once('message', r));
    if (m === 'go' && step !== null) {
      result = await timed(job.ms, step);
      process.send({ result });
    } else if (m === 'close') {
      break;
    }
  }
  if (job.kind === 'check') {
    const report = db.check();
    if (!report.ok) throw new Error(`check(): ${JSON.stringify(report.problems)}`);
  }
  await db.close();
  process.send({ closed: true });
}

// ================================================================== parent

function spawnChild(job) {
  const c = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages = [];
  const waiters = [];
  let exited = null;
  c.on('message', (m) => { messages.push(m); waiters.splice(0).forEach((w) => w()); });
  c.on('exit', (code, sig) => { exited = { code, sig }; waiters.splice(0).forEach((w) => w()); });
  const next = async (what) => {
    for (;;) {
      const i = messages.findIndex((m) => m[what] !== undefined);
      if (i >= 0) return messages.splice(i, 1)[0][what];
      if (exited !== null) throw new Error(`child ${job.kind} (${job.store}) exited (${exited.code ?? exited.sig}) before sending ${what}`);
      await new Promise((r) => waiters.push(r));
    }
  };
  c.send(job);
  return { c, next, done: () => new Promise((r) => (exited !== null ? r() : c.once('exit', r))) };
}

/**
 * One case: `holders` idle processes open `file` first, then `measure` processes of `kind`
 * warm up, start together, and run for MS. Returns the aggregate rate (operations per second).
 */
async function runCase({ store, dist, file, kind, measure, holders, noSync, n }) {
  const base = { store, dist, file, n, ms: MS, noSync };
  const hold = [];
  for (let i = 0; i < holders; i++) {
    const h = spawnChild({ ...base, kind: 'hold', seed: 1 + i });
    await h.next('ready');
    hold.push(h);
  }
  const ms = [];
  for (let i = 0; i < measure; i++) ms.push(spawnChild({ ...base, kind, seed: 0x9e3779b9 ^ (i * 7919 + Date.now()) }));
  for (const m of ms) await m.next('ready');
  for (const m of ms) m.c.send('go');
  const results = [];
  let failed = 0;
  // A child that fails (its error went to stderr) is counted, and the case goes on without it.
  for (const m of ms) {
    try { results.push(await m.next('result')); } catch (e) { failed++; console.log(`  (${e.message})`); }
  }
  for (const m of [...ms, ...hold]) if (m.c.connected) m.c.send('close');
  for (const m of [...ms, ...hold]) { try { await m.next('closed'); } catch { /* counted above */ } await m.done(); }
  if (failed > 0) return { rate: NaN, cpuPerOp: NaN, failed };
  // processes run side by side: the aggregate is the sum of each one's own rate
  return { rate: results.reduce((s, r) => s + r.ops / (r.ns / 1e9), 0), cpuPerOp: results.reduce((s, r) => s + r.cpuUs, 0) / results.reduce((s, r) => s + r.ops, 0) };
}

async function loadFile(store, dist, file, n) {
  const c = spawnChild({ store, dist, file, n, kind: 'load', seed: 1 });
  await c.next('ready');
  c.c.send('close');
  await c.next('closed');
  await c.done();
}

async function checkFile(dist, file) {
  const c = spawnChild({ store: 'rotadb', dist, file, n: 0, kind: 'check', seed: 1 });
  await c.next('ready');
  c.c.send('close');
  await c.next('closed');
  await c.done();
}

async function main() {
  const curDist = path.join(here, '..', 'dist');
  const baseDist = process.env.BASE ? path.join(process.env.BASE, 'dist') : null;
  if (baseDist !== null && !fs.existsSync(path.join(baseDist, 'index.js'))) throw new Error(`${baseDist}/index.js not found: build BASE first`);
  const fixDist = process.env.FIX ? path.join(process.env.FIX, 'dist') : null;
  const builds = { cur: curDist, ...(baseDist ? { base: baseDist } : {}), ...(fixDist ? { fix: fixDist } : {}) };
  const keep = process.env.BENCH_DATA !== undefined && process.env.BENCH_DATA !== '';
  const dir = keep ? process.env.BENCH_DATA : fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-procs-'));
  if (keep) fs.mkdirSync(dir, { recursive: true });
  const loaded = (f) => fs.existsSync(f) && (fs.statSync(f).isFile() || fs.existsSync(path.join(f, 'data.mdb')));
  const m = machineInfo();
  const log = (...a) => console.log(...a);
  log('# rotadb: several processes on one file');
  log(`node ${m.node} on ${m.platform}, ${m.cpus} CPUs (${m.cpuModel}), load average ${m.loadavgAtStart.join(' ')}`);
  log(`cur = ${curDist} (${JSON.stringify(gitState())})${baseDist ? `; base = ${baseDist}` : ''}; lmdb-js ${m.lmdb}`);
  log(`N = ${N} entries for reads, ${NW} for commits; ${ROUNDS} rounds of ${MS} ms per case; temp dir ${dir}`);
  const started = Date.now();
  try {
    const files = {};
    for (const [b, dist] of Object.entries(builds)) {
      files[`${b}-r`] = path.join(dir, `${b}-r.rdb`);
      files[`${b}-w`] = path.join(dir, `${b}-w.rdb`);
      files[`${b}-ws`] = path.join(dir, `${b}-ws.rdb`);
      // the fix build (a prototype, FIX=<tree>) runs the commit cases only
      if (b !== 'fix' && !loaded(files[`${b}-r`])) await loadFile('rotadb', dist, files[`${b}-r`], N);
      if (!loaded(files[`${b}-w`])) await loadFile('rotadb', dist, files[`${b}-w`], NW);
      if (!loaded(files[`${b}-ws`])) await loadFile('rotadb', dist, files[`${b}-ws`], NW);
    }
    for (const f of ['r', 'w', 'ws']) {
      files[`lmdb-${f}`] = path.join(dir, `lmdb-${f}`);
      if (!loaded(files[`lmdb-${f}`])) await loadFile('lmdb', null, files[`lmdb-${f}`], f === 'r' ? N : NW);
    }
    log(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // [section, label, case]; the order within a round is the order here
    const cases = [];
    const add = (section, label, c) => cases.push({ section, label, c });
    const R = (b) => ({ store: 'rotadb', dist: builds[b] });
    const L = { store: 'lmdb', dist: null };
    for (const [b, s] of [['cur', R('cur')], ...(baseDist ? [['base', R('base')]] : []), ['lmdb', L]]) {
      add('txn', `${b}, 1 process`, { ...s, file: files[`${b}-r`], kind: 'txn', measure: 1, holders: 0, n: N });
    }
    add('txn', 'cur, 1 process + 2 idle holders', { ...R('cur'), file: files['cur-r'], kind: 'txn', measure: 1, holders: 2, n: N });
    for (const [b, s] of [['cur', R('cur')], ...(baseDist ? [['base', R('base')]] : []), ['lmdb', L]]) {
      add('gets', `${b}, 1 reader`, { ...s, file: files[`${b}-r`], kind: 'gets', measure: 1, holders: 0, n: N });
    }
    add('gets', 'cur, 2 readers', { ...R('cur'), file: files['cur-r'], kind: 'gets', measure: 2, holders: 0, n: N });
    add('gets', 'cur, 4 readers', { ...R('cur'), file: files['cur-r'], kind: 'gets', measure: 4, holders: 0, n: N });
    add('gets', 'cur, 1 reader + 2 idle holders', { ...R('cur'), file: files['cur-r'], kind: 'gets', measure: 1, holders: 2, n: N });
    for (const [noSync, f, tag] of [[true, 'w', 'noSync'], [false, 'ws', 'durable']]) {
      for (const [b, s] of [['cur', R('cur')], ...(baseDist ? [['base', R('base')]] : []), ['lmdb', L]]) {
        add(`puts-${tag}`, `${b}, 1 writer`, { ...s, file: files[`${b}-${f}`], kind: 'puts', measure: 1, holders: 0, noSync, n: NW });
      }
      for (const b of fixDist ? ['cur', 'fix'] : ['cur']) {
        if (b === 'fix') add(`puts-${tag}`, 'fix, 1 writer', { ...R('fix'), file: files[`fix-${f}`], kind: 'puts', measure: 1, holders: 0, noSync, n: NW });
        add(`puts-${tag}`, `${b}, 2 writers`, { ...R(b), file: files[`${b}-${f}`], kind: 'puts', measure: 2, holders: 0, noSync, n: NW });
        add(`puts-${tag}`, `${b}, 4 writers`, { ...R(b), file: files[`${b}-${f}`], kind: 'puts', measure: 4, holders: 0, noSync, n: NW });
      }
    }

    // BENCH_ONLY=<regex>: only the cases whose "section label" matches (the others' rows show —)
    if (process.env.BENCH_ONLY) {
      const only = new RegExp(process.env.BENCH_ONLY);
      for (let i = cases.length - 1; i >= 0; i--) if (!only.test(`${cases[i].section} ${cases[i].label}`)) cases.splice(i, 1);
    }
    const rates = cases.map(() => []);
    const cpus = cases.map(() => []);
    const failures = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < cases.length; i++) {
        const { rate: r, cpuPerOp, failed } = await runCase(cases[i].c);
        if (failed !== undefined) {
          failures.push({ round: round + 1, section: cases[i].section, label: cases[i].label, failed });
          log(`round ${round + 1}  ${cases[i].section.padEnd(13)} ${cases[i].label.padEnd(34)} FAILED: ${failed} of ${cases[i].c.measure} children`);
          continue;
        }
        rates[i].push(r);
        cpus[i].push(cpuPerOp);
        log(`round ${round + 1}  ${cases[i].section.padEnd(13)} ${cases[i].label.padEnd(34)} ${r.toFixed(0).padStart(9)} /s  ${cpuPerOp.toFixed(2).padStart(8)} µs CPU/op  load ${os.loadavg()[0].toFixed(1)}`);
      }
    }
    for (const b of Object.keys(builds)) for (const f of ['r', 'w', 'ws']) if (loaded(files[`${b}-${f}`])) await checkFile(builds[b], files[`${b}-${f}`]);
    log('check(): every rotadb file clean');

    const med = (section, label) => {
      const i = cases.findIndex((c) => c.section === section && c.label === label);
      return i < 0 ? null : median(rates[i]);
    };
    const medCpu = (section, label) => {
      const i = cases.findIndex((c) => c.section === section && c.label === label);
      return i < 0 ? null : median(cpus[i]);
    };
    const fmt = (x) => (x === null ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
    const spread = (i) => {
      const lo = Math.min(...rates[i]);
      const hi = Math.max(...rates[i]);
      return `${(((hi - lo) / median(rates[i])) * 100).toFixed(0)}%`;
    };
    const tables = {};
    const unitOf = { txn: 'txns/s', gets: 'gets/s', 'puts-noSync': 'commits/s', 'puts-durable': 'commits/s' };
    for (const section of Object.keys(unitOf)) {
      if (!cases.some((c) => c.section === section)) continue;
      const one = med(section, section.startsWith('puts') ? 'cur, 1 writer' : section === 'gets' ? 'cur, 1 reader' : 'cur, 1 process');
      const lines = [`| ${section} | median ${unitOf[section]} | µs per op (elapsed) | µs CPU per op | vs cur 1 process | spread (max-min)/median |`, '|---|---:|---:|---:|---:|---:|'];
      cases.forEach((c, i) => {
        if (c.section !== section) return;
        const v = median(rates[i]);
        const perOp = section === 'txn' || section.startsWith('puts') ? (1e6 / v).toFixed(2) : (1e6 / v).toFixed(3);
        lines.push(`| ${c.label} | ${fmt(v)} | ${perOp} | ${median(cpus[i]).toFixed(2)} | ${(v / one).toFixed(3)} | ${spread(i)} |`);
      });
      tables[section] = lines.join('\n');
    }
    const us = (x) => 1e6 / x;
    const targets = [];
    const t = (name, value, ok) => targets.push(`- ${name}: ${value} (${ok ? 'met' : 'missed'})`);
    const tx1 = med('txn', 'cur, 1 process');
    const tx3 = med('txn', 'cur, 1 process + 2 idle holders');
    const txb = med('txn', 'base, 1 process');
    if (txb !== null && tx1 !== null) {
      t('read transaction, added cost over base (1 process)', `${(us(tx1) - us(txb)).toFixed(2)} µs, target ≤ 10`, us(tx1) - us(txb) <= 10);
      t('read transaction, added cost over base (2 other processes open)', `${(us(tx3) - us(txb)).toFixed(2)} µs, target ≤ 10`, us(tx3) - us(txb) <= 10);
    }
    const g1 = med('gets', 'cur, 1 reader');
    if (g1 !== null) t('gets, 4 readers / 1 reader', `${(med('gets', 'cur, 4 readers') / g1).toFixed(2)}x, target ≥ 1.8`, med('gets', 'cur, 4 readers') / g1 >= 1.8);
    if (g1 !== null) t('gets, 1 reader with 2 idle holders / 1 reader alone', `${(med('gets', 'cur, 1 reader + 2 idle holders') / g1).toFixed(2)}x, target ≥ 0.8`, med('gets', 'cur, 1 reader + 2 idle holders') / g1 >= 0.8);
    if (g1 !== null && med('gets', 'base, 1 reader') !== null) {
      const r = g1 / med('gets', 'base, 1 reader');
      t('gets, 1 reader, cur / base', `${r.toFixed(2)}x (single process pays nothing: ≈ 1)`, r >= 0.95);
    }
    for (const tag of ['noSync', 'durable']) {
      for (const b of fixDist ? ['cur', 'fix'] : ['cur']) {
        const w1 = med(`puts-${tag}`, `${b}, 1 writer`);
        if (w1 === null) continue;
        for (const n of [2, 4]) {
          const r = med(`puts-${tag}`, `${b}, ${n} writers`) / w1;
          t(`${b}: commits ${tag}, ${n} writers / 1 writer`, `${r.toFixed(2)}x, target ≥ 0.8`, r >= 0.8);
        }
        const wb = med(`puts-${tag}`, 'base, 1 writer');
        if (wb !== null) {
          t(`${b}: commit ${tag}, coordination cost (${b} - base, 1 process, elapsed)`, `${(us(w1) - us(wb)).toFixed(1)} µs per commit, target ≤ 50`, us(w1) - us(wb) <= 50);
          const dc = medCpu(`puts-${tag}`, `${b}, 1 writer`) - medCpu(`puts-${tag}`, 'base, 1 writer');
          t(`${b}: commit ${tag}, coordination cost (${b} - base, 1 process, CPU time)`, `${dc.toFixed(1)} µs per commit, target ≤ 50`, dc <= 50);
        }
      }
    }
    if (txb !== null && tx1 !== null) {
      for (const label of ['cur, 1 process', 'cur, 1 process + 2 idle holders']) {
        const dc = medCpu('txn', label) - medCpu('txn', 'base, 1 process');
        t(`read transaction, added CPU time over base (${label})`, `${dc.toFixed(2)} µs, target ≤ 10`, dc <= 10);
      }
    }
    log('');
    for (const s of Object.keys(tables)) { log(tables[s]); log(''); }
    log(targets.join('\n'));
    if (failures.length > 0) log(`FAILED cases (left out of the medians): ${JSON.stringify(failures)}`);
    log(`load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
    const out = path.join(here, 'results', `procs-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({ machine: m, git: gitState(), base: baseDist, parameters: { N, NW, ROUNDS, MS, GETS_PER_TURN, VALUE_SIZE }, cases: cases.map((c, i) => ({ section: c.section, label: c.label, rates: rates[i], median: median(rates[i]), cpuUsPerOp: cpus[i] })), targets, failures, loadavgAtEnd: os.loadavg() }, null, 2) + '\n');
    log(`results: ${path.relative(process.cwd(), out)}`);
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  child().catch((e) => { console.error(e); process.exit(1); });
} else {
  main().catch((e) => { console.error(e); process.exit(1); });
}
