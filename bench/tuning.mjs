// How long the writer is blocked by a slow reader, as a function of the slot policy, nRoots, the
// reader's lifetime L and the write rate R.
//
//   npm run build && node bench/tuning.mjs        (full run, both policies, about 5 minutes)
//   TUNING_QUICK=1 node bench/tuning.mjs          (short run, about 1 minute)
//
// Overrides: TUNING_SECONDS (per configuration), TUNING_WARMUP_MS, TUNING_READERS (reader
// threads, default 1), and comma-separated lists TUNING_POLICIES ('rotate', 'oldest-unpinned'),
// TUNING_NROOTS, TUNING_LIVES (ms), TUNING_RATES (commits/s).
//
// Setup, per policy and nRoots in {1, 2, 3, 4, 8, 16}: a fresh file (noSync: true, encoding
// 'binary', slotPolicy) with 10,000 keys. 'oldest-unpinned' with nRoots 1 or 2 is the rotating
// rule (there is only one slot other than the current one), so those are run for 'rotate' only. noSync keeps fsync latency (milliseconds, and very noisy on a shared machine) out
// of the measurement: what is measured is waiting for readers, not waiting for the disk.
//
// Per configuration (nRoots, L, R):
// - one worker thread (TUNING_READERS: that many, each on its own) joins the file
//   (open(db.handle())) and runs read transactions back to back: beginRead(), one get, hold the
//   snapshot for L ms (Atomics.wait), end();
// - the main thread is the only writer: single putSync commits (one random key, 100 bytes) paced
//   at R commits/s by a deadline loop. A commit that finishes after the next deadline is followed
//   at once by the next one and the schedule restarts from there (missed deadlines are dropped,
//   not made up later), so the achieved rate shows how much the readers held the writer back;
// - before every commit the writer reads stats(); the increase of the sum of
//   stats().slots[*].writerWaitedMs over a commit is that commit's wait for readers (rotadb
//   accumulates it in whole milliseconds, from Date.now()). A commit "was blocked" when its wait
//   was >= 1 ms. As a cross-check the writer also notes whether the commit had to wait by the
//   rule of its policy just before it ('rotate': slot (txnId + 1) mod nRoots had readers;
//   'oldest-unpinned': every slot but the current one had readers), and times each putSync.
// A warm-up of TUNING_WARMUP_MS commits precedes each timed run. Before the configurations of an
// nRoots, a baseline without any reader gives the plain putSync time.
//
// Two models are printed next to the measurements:
// - simple: P(block) = min(1, R*L / nRoots) (writes during a reader's life, spread over the slots);
// - slot rule, for back-to-back readers and an evenly paced writer. A reader pins version p; the
//   commit that must wait for it is p + nRoots, the next one to write p's slot. Once one commit
//   has waited, the next reader starts while that commit is still finishing, so it pins the
//   version just before it, and the following wait comes nRoots - 1 commits later: each reader
//   life then lets nRoots - 1 commits through, the last of which waits for the reader's end.
//   With x = R*L commits per reader life: nRoots 1: every commit waits; nRoots >= 2: nothing
//   waits while x < nRoots - 1; from there on one commit in nRoots - 1 waits, the writer is
//   blocked 1 - (nRoots-2)/x of the time and makes at most (nRoots-1)/L commits per second.
//   'oldest-unpinned' (nRoots >= 3): one reader thread pins at most one slot at any moment, and
//   the writer has nRoots - 1 to choose from, so nothing waits (with TUNING_READERS = k, waits
//   begin once k >= nRoots - 1 readers can hold distinct versions at once; not modelled).
//
// Output: a markdown table on stdout and JSON in bench/results/tuning-<date>.json.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { gitState, makeRandom, keyOf } from './common.mjs';

const self = fileURLToPath(import.meta.url);
const here = path.dirname(self);

// rotadb as built into dist/ by `npm run build`, or another build named by ROTADB_DIST (a path to
// its index.js), e.g. a build of a given commit made outside this working tree.
// ROTADB_BUILD describes that build in the output (e.g. the commit it was built from).
const rotadbModule = process.env.ROTADB_DIST ? pathToFileURL(path.resolve(process.env.ROTADB_DIST)).href : new URL('../dist/index.js', import.meta.url).href;
const rotadbBuild = process.env.ROTADB_BUILD || (process.env.ROTADB_DIST ? 'unlabelled build' : 'dist/ of this working tree');
const { open } = await import(rotadbModule);

const KEYS = 10_000;
const VALUE_SIZE = 100;
const QUICK = !!process.env.TUNING_QUICK && process.env.TUNING_QUICK !== '0';
const POLICIES = (process.env.TUNING_POLICIES || 'rotate,oldest-unpinned').split(',').map((t) => t.trim());
for (const p of POLICIES) if (p !== 'rotate' && p !== 'oldest-unpinned') throw new Error(`unknown slot policy ${JSON.stringify(p)}`);
const NROOTS = list(process.env.TUNING_NROOTS, [1, 2, 3, 4, 8, 16]);
const READERS = num(process.env.TUNING_READERS, 1);
const LIVES = list(process.env.TUNING_LIVES, QUICK ? [5, 50] : [5, 20, 50]); // ms
const RATES = list(process.env.TUNING_RATES, [200, 1000]); // commits/s
const CUSTOM = ['TUNING_POLICIES', 'TUNING_READERS', 'TUNING_NROOTS', 'TUNING_LIVES', 'TUNING_RATES', 'TUNING_SECONDS', 'TUNING_WARMUP_MS'].filter((k) => process.env[k]);
const RUN_MS = num(process.env.TUNING_SECONDS, QUICK ? 1 : 4) * 1000;
const WARMUP_MS = num(process.env.TUNING_WARMUP_MS, QUICK ? 150 : 300);
const BASELINE_MS = QUICK ? 300 : 1000;
const BASELINE_RATE = 1000;
const SEED = 0x70de;

function num(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!(n > 0)) throw new Error(`expected a positive number, not ${JSON.stringify(text)}`);
  return n;
}

function list(text, fallback) {
  if (text === undefined || text === '') return fallback;
  return text.split(',').map((t) => num(t.trim(), NaN));
}



const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms) {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

// ------------------------------------------------------------------ reader worker

async function readerMain() {
  const { handle, lifeMs, ctl } = workerData;
  const flags = new Int32Array(ctl); // [0] go, [1] stop
  const db = open(handle, { encoding: 'binary' });
  const rand = makeRandom(SEED ^ 0x5151);
  parentPort.postMessage({ ready: true });
  while (Atomics.load(flags, 0) === 0) Atomics.wait(flags, 0, 0, 100);
  let readers = 0;
  let beginWaitMs = 0;
  let beginWaitMax = 0;
  let heldMs = 0;
  let heldMax = 0;
  let bad = 0;
  const t0 = performance.now();
  while (Atomics.load(flags, 1) === 0) {
    const a = performance.now();
    const txn = db.beginRead();
    const b = performance.now();
    let c;
    try {
      const v = txn.get(keyOf(Math.floor((rand() / 4294967296) * KEYS)));
      if (v === undefined || v.length !== VALUE_SIZE) bad++;
      sleepMs(lifeMs);
    } finally {
      c = performance.now();
      txn.end();
    }
    readers++;
    beginWaitMs += b - a;
    if (b - a > beginWaitMax) beginWaitMax = b - a;
    heldMs += c - b;
    if (c - b > heldMax) heldMax = c - b;
  }
  const seconds = (performance.now() - t0) / 1000;
  await db.close();
  parentPort.postMessage({ done: true, readers, seconds, beginWaitMs, beginWaitMax, heldMs, heldMax, bad });
}

// ------------------------------------------------------------------ writer (main thread)

/** Whether the next commit must wait for readers by the rule of `policy`, judged from stats(). */
function mustWait(st, policy) {
  const n = st.nRoots;
  if (policy === 'rotate' || n <= 2) return st.slots[(st.txnId + 1) % n].readers > 0;
  return st.slots.every((s) => s.txnId === st.txnId || s.readers > 0);
}

function waitedSum(st) {
  let s = 0;
  for (const slot of st.slots) s += slot.writerWaitedMs;
  return s;
}

/**
 * Paced single-put commits for `ms` milliseconds at `rate` per second. Returns per-commit
 * records when `record` is set.
 */
function writeLoop(db, policy, rate, ms, rand, values, record) {
  const interval = 1000 / rate;
  const durations = [];
  const waited = [];
  const pinned = [];
  let pendingMax = 0;
  let dropped = 0;
  let st = db.stats();
  let prevWaited = waitedSum(st);
  const start = performance.now();
  const end = start + ms;
  let next = start;
  for (;;) {
    let now = performance.now();
    if (now >= end) break;
    if (now < next) {
      if (next - now > 1.5) sleepMs(Math.floor(next - now - 1));
      while ((now = performance.now()) < next) { /* spin the last millisecond */ }
    }
    if (now >= end) break;
    const hadReaders = mustWait(st, policy);
    const i = Math.floor((rand() / 4294967296) * KEYS);
    const t0 = performance.now();
    db.putSync(keyOf(i), values[i & 63]);
    const t1 = performance.now();
    st = db.stats();
    const w = waitedSum(st);
    if (record) {
      durations.push(t1 - t0);
      waited.push(w - prevWaited);
      pinned.push(hadReaders);
    }
    prevWaited = w;
    if (st.pendingPages > pendingMax) pendingMax = st.pendingPages;
    next += interval;
    if (next < t1) {
      dropped += Math.floor((t1 - next) / interval);
      next = t1;
    }
  }
  const elapsed = performance.now() - start;
  return { durations, waited, pinned, pendingMax, dropped, elapsedMs: elapsed, stats: st };
}

function startReader(db, lifeMs) {
  const ctl = new SharedArrayBuffer(8);
  const w = new Worker(self, { workerData: { handle: db.handle(), lifeMs, ctl } });
  const msgs = [];
  const waiters = [];
  let err = null;
  const flush = () => {
    while (waiters.length && (msgs.length || err)) {
      const { resolve, reject } = waiters.shift();
      if (msgs.length) resolve(msgs.shift());
      else reject(err);
    }
  };
  w.on('message', (m) => { msgs.push(m); flush(); });
  w.on('error', (e) => { err = e; flush(); });
  w.on('exit', (code) => { if (code !== 0 && !err) { err = new Error(`reader worker exited with ${code}`); flush(); } });
  const exited = new Promise((r) => w.once('exit', r));
  return {
    flags: new Int32Array(ctl),
    next: () => new Promise((resolve, reject) => { waiters.push({ resolve, reject }); flush(); }),
    exited,
    terminate: () => w.terminate(),
  };
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function modelSimple(n, L, R) {
  return Math.min(1, (R * L) / 1000 / n);
}

function modelSlotRule(policy, n, L, R) {
  const x = (R * L) / 1000;
  if (policy === 'oldest-unpinned' && n >= 3) {
    // several reader threads: not modelled (NaN, printed as a dash)
    return READERS === 1 ? { p: 0, blockedMsPerS: 0, achieved: R } : { p: NaN, blockedMsPerS: NaN, achieved: NaN };
  }
  if (READERS > 1) return { p: NaN, blockedMsPerS: NaN, achieved: NaN };
  if (n === 1) return { p: 1, blockedMsPerS: 1000, achieved: Math.min(R, 1000 / L) };
  if (x < n - 1) return { p: 0, blockedMsPerS: 0, achieved: R };
  return { p: 1 / (n - 1), blockedMsPerS: 1000 * Math.max(0, 1 - (n - 2) / x), achieved: Math.min(R, ((n - 1) * 1000) / L) };
}

async function runConfig(db, policy, n, L, R, rand, values) {
  const readers = Array.from({ length: READERS }, () => startReader(db, L));
  try {
    for (const reader of readers) {
      const ready = await reader.next();
      if (!ready.ready) throw new Error('reader: unexpected message');
    }
    for (const [i, reader] of readers.entries()) {
      Atomics.store(reader.flags, 0, 1);
      Atomics.notify(reader.flags, 0);
      if (i + 1 < READERS) sleepMs(L / READERS); // stagger several readers over one life
    }
    sleepMs(Math.min(L, 20)); // let the first reader pin a version
    writeLoop(db, policy, R, WARMUP_MS, rand, values, false);
    const cpu0 = process.cpuUsage();
    const w = writeLoop(db, policy, R, RUN_MS, rand, values, true);
    const cpu = process.cpuUsage(cpu0);
    for (const reader of readers) Atomics.store(reader.flags, 1, 1);
    const rs = [];
    for (const reader of readers) {
      const m = await reader.next();
      if (!m.done) throw new Error('reader: unexpected message');
      await reader.exited;
      rs.push(m);
    }
    // the readers' figures, summed over the reader threads (seconds and maxima: the largest)
    const r = { readers: 0, seconds: 0, beginWaitMs: 0, beginWaitMax: 0, heldMs: 0, heldMax: 0, bad: 0 };
    for (const m of rs) {
      for (const k of ['readers', 'beginWaitMs', 'heldMs', 'bad']) r[k] += m[k];
      for (const k of ['seconds', 'beginWaitMax', 'heldMax']) r[k] = Math.max(r[k], m[k]);
    }
    if (r.bad > 0) throw new Error(`reader saw ${r.bad} missing or wrong-sized values`);
    const commits = w.durations.length;
    const blocked = w.waited.filter((x) => x >= 1).length;
    const blockedMs = w.waited.reduce((a, b) => a + b, 0);
    const pinned = w.pinned.filter(Boolean).length;
    const sorted = [...w.durations].sort((a, b) => a - b);
    const sec = w.elapsedMs / 1000;
    const slot = modelSlotRule(policy, n, L, R);
    return {
      policy,
      readerThreads: READERS,
      nRoots: n,
      lifeMs: L,
      rate: R,
      commitsPerReaderLife: (R * L) / 1000,
      seconds: sec,
      commits,
      achievedPerSecond: commits / sec,
      droppedDeadlines: w.dropped,
      blockedCommits: blocked,
      blockedFraction: commits ? blocked / commits : 0,
      blockedMsPerSecond: blockedMs / sec,
      meanWaitPerBlockedCommitMs: blocked ? blockedMs / blocked : 0,
      maxWaitMs: w.waited.reduce((a, b) => Math.max(a, b), 0),
      waitsLongerThan2L: w.waited.filter((x) => x > 2 * L).length,
      targetSlotHadReadersFraction: commits ? pinned / commits : 0,
      putSyncMs: { mean: w.durations.reduce((a, b) => a + b, 0) / Math.max(1, commits), p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN },
      modelSimple: modelSimple(n, L, R),
      modelSlotRule: slot.p,
      modelSlotRuleBlockedMsPerSecond: slot.blockedMsPerS,
      modelSlotRuleAchieved: slot.achieved,
      readers: {
        count: r.readers,
        perSecond: r.readers / r.seconds,
        meanLifeMs: r.heldMs / Math.max(1, r.readers),
        beginReadWaitMsPerSecond: r.beginWaitMs / r.seconds,
        beginReadWaitMaxMs: r.beginWaitMax,
        maxLifeMs: r.heldMax,
      },
      pendingPagesMax: w.pendingMax,
      fileSize: w.stats.fileSize,
      totalPages: w.stats.totalPages,
      writerThreadCpus: (cpu.user + cpu.system) / 1000 / w.elapsedMs, // whole process, in CPUs
      loadavg1: os.loadavg()[0],
    };
  } catch (e) {
    for (const reader of readers) await reader.terminate();
    throw e;
  }
}


const pct = (x) => (Number.isNaN(x) ? '—' : `${(100 * x).toFixed(1)}%`);

async function main() {
  const started = performance.now();
  const log = (...a) => console.log(...a);
  const git = gitState();
  const machine = {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadavgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
  log('# Writer blocked by a slow reader: slot policy x nRoots x reader life x write rate');
  log(`node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs, load average ${machine.loadavgAtStart.join(' ')}${git ? `, git ${git.commit}` : ''}${git?.srcChanges.length ? ` (uncommitted in src/: ${git.srcChanges.join('; ')})` : ''}`);
  log(`rotadb module: ${rotadbModule} (${rotadbBuild})`);
  log(`${QUICK ? 'QUICK run: ' : ''}policies ${POLICIES.join(', ')}; ${KEYS} keys, noSync: true; reader lives L = ${LIVES.join(', ')} ms (${READERS === 1 ? 'one worker' : `${READERS} workers, staggered`}, back to back); writer R = ${RATES.join(', ')} commits/s (main thread, single putSync); ${RUN_MS / 1000} s per configuration after ${WARMUP_MS} ms warm-up`);
  log('');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-tuning-'));
  const values = [];
  const vr = makeRandom(SEED);
  for (let i = 0; i < 64; i++) values.push(Buffer.from(Array.from({ length: VALUE_SIZE }, () => vr() & 0xff)));
  const results = [];
  const baselines = [];
  try {
    for (const [policy, n] of POLICIES.flatMap((p) => NROOTS.filter((n) => p === 'rotate' || n >= 3).map((n) => [p, n]))) {
      const file = path.join(dir, `${policy}-n${n}.rdb`);
      const db = open(file, { nRoots: n, noSync: true, encoding: 'binary', slotPolicy: policy });
      try {
        db.transactionSync(() => {
          for (let i = 0; i < KEYS; i++) db.putSync(keyOf(i), values[i & 63]);
        });
        const rand = makeRandom(SEED + n);
        // baseline: no reader
        writeLoop(db, policy, BASELINE_RATE, WARMUP_MS, rand, values, false);
        const b = writeLoop(db, policy, BASELINE_RATE, BASELINE_MS, rand, values, true);
        const bs = [...b.durations].sort((x, y) => x - y);
        const base = {
          policy,
          nRoots: n,
          commits: b.durations.length,
          achievedPerSecond: b.durations.length / (b.elapsedMs / 1000),
          putSyncMs: { p50: quantile(bs, 0.5), p99: quantile(bs, 0.99), max: bs[bs.length - 1] },
          waitedMs: b.waited.reduce((x, y) => x + y, 0),
          pendingPagesMax: b.pendingMax,
          fileSize: b.stats.fileSize,
        };
        baselines.push(base);
        log(`${policy} nRoots ${String(n).padStart(2)} baseline (no reader, ${BASELINE_RATE}/s): ${base.achievedPerSecond.toFixed(0)} commits/s, putSync p50 ${base.putSyncMs.p50.toFixed(3)} ms, p99 ${base.putSyncMs.p99.toFixed(3)} ms, waited ${base.waitedMs} ms, pending pages max ${base.pendingPagesMax}`);
        for (const L of LIVES) {
          for (const R of RATES) {
            const r = await runConfig(db, policy, n, L, R, rand, values);
            results.push(r);
            log(`${policy} nRoots ${String(n).padStart(2)} L ${String(L).padStart(2)} ms R ${String(R).padStart(4)}/s: ${r.achievedPerSecond.toFixed(0).padStart(4)} commits/s, blocked ${pct(r.blockedFraction).padStart(6)} (model ${pct(r.modelSimple)}, slot rule ${pct(r.modelSlotRule)}; had to wait by the rule just before ${pct(r.targetSlotHadReadersFraction)}), ${r.blockedMsPerSecond.toFixed(0)} ms/s blocked (longest wait ${r.maxWaitMs} ms), putSync p50 ${r.putSyncMs.p50.toFixed(2)} max ${r.putSyncMs.max.toFixed(1)} ms, readers ${r.readers.perSecond.toFixed(0)}/s life mean ${r.readers.meanLifeMs.toFixed(1)} max ${r.readers.maxLifeMs.toFixed(1)} ms, reader beginRead wait ${r.readers.beginReadWaitMsPerSecond.toFixed(0)} ms/s, pending max ${r.pendingPagesMax}`);
          }
        }
      } finally {
        await db.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const seconds = (performance.now() - started) / 1000;
  const f0 = (x) => (Number.isNaN(x) ? '—' : x.toFixed(0));
  const table = [
    '| policy | nRoots | L ms | R /s | R·L | commits/s | blocked | model R·L/nRoots | slot-rule model | blocked ms/s | slot-rule ms/s | reader wait ms/s | pending pages max | file bytes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.policy} | ${r.nRoots} | ${r.lifeMs} | ${r.rate} | ${r.commitsPerReaderLife} | ${f0(r.achievedPerSecond)} | ${pct(r.blockedFraction)} | ${pct(r.modelSimple)} | ${pct(r.modelSlotRule)} | ${f0(r.blockedMsPerSecond)} | ${f0(r.modelSlotRuleBlockedMsPerSecond)} | ${f0(r.readers.beginReadWaitMsPerSecond)} | ${r.pendingPagesMax} | ${r.fileSize} |`),
  ].join('\n');
  const baseTable = [
    '| policy | nRoots | commits/s (target 1000) | putSync p50 ms | putSync p99 ms | pending pages max | file bytes |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...baselines.map((b) => `| ${b.policy} | ${b.nRoots} | ${f0(b.achievedPerSecond)} | ${b.putSyncMs.p50.toFixed(3)} | ${b.putSyncMs.p99.toFixed(3)} | ${b.pendingPagesMax} | ${b.fileSize} |`),
  ].join('\n');
  log('');
  log('Baselines (no reader):');
  log('');
  log(baseTable);
  log('');
  log('"blocked": commits whose writerWaitedMs increase was >= 1 ms. "blocked ms/s": total writerWaitedMs increase per second.');
  log('"reader wait": time the reader thread spent inside beginRead() per second (serial mode, nRoots 1, makes readers wait for the writer).');
  log('');
  log(table);
  log('');
  log(`Total run time ${seconds.toFixed(1)} s.`);

  const resultsDir = path.join(here, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const out = path.join(resultsDir, `tuning-${new Date().toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}${CUSTOM.length ? '-custom' : ''}.json`);
  fs.writeFileSync(out, JSON.stringify({
    date: new Date().toISOString(),
    command: `${[process.env.ROTADB_DIST ? `ROTADB_DIST=${process.env.ROTADB_DIST}` : '', QUICK ? 'TUNING_QUICK=1' : '', ...CUSTOM.map((k) => `${k}=${process.env[k]}`)].filter(Boolean).map((x) => `${x} `).join('')}node bench/tuning.mjs`,
    quick: QUICK,
    parameters: { policies: POLICIES, readerThreads: READERS, keys: KEYS, valueSize: VALUE_SIZE, nRoots: NROOTS, lifeMs: LIVES, rates: RATES, runMs: RUN_MS, warmupMs: WARMUP_MS, baselineMs: BASELINE_MS, baselineRate: BASELINE_RATE, noSync: true, blockedThresholdMs: 1 },
    machine,
    git,
    rotadbModule,
    rotadbBuild,
    baselines,
    results,
    table,
    baseTable,
    totalSeconds: seconds,
  }, null, 2) + '\n');
  log(`Wrote ${path.relative(process.cwd(), out)}`);
}

if (isMainThread) {
  await main();
} else {
  await readerMain();
}
