// Scan micro-benchmark: full ordered scans, `for (const { key, value } of db.getRange())`, over the
// data set of bench/core.mjs (N entries, 16-character string keys 'k' + 15 digits, 100-byte binary
// values, loaded in random order in write transactions of 10,000 puts).
//
//   npm run build && node --expose-gc bench/scan.mjs                   (rotadb from dist/)
//   node --expose-gc bench/scan.mjs /tmp/before/dist dist              (compare builds in one run)
//   SCAN_LMDB=1 node --expose-gc bench/scan.mjs                        (lmdb-js in the same run)
//
// Arguments: directories holding a build of rotadb (each with index.js); default: dist. The file is
// loaded once (with the first build); then, for SCAN_ROUNDS rounds, each build (and lmdb) in turn
// opens the file, scans it once untimed (to fill its page cache), times SCAN_REPS scans, and
// closes it. Alternating keeps the noise of a shared machine spread over all of them. Reported:
// the median, min and max entries/s over all timed scans of each.
//
// Environment: SCAN_N (entries, default 1,000,000), SCAN_ROUNDS (default 3), SCAN_REPS (default 3),
// SCAN_LMDB=1, SCAN_DIR (keep the loaded files in this directory and reuse them on the next run).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeRandom, keyOf, makeValues as makeValuePool, shuffledOrder } from './common.mjs';

const N = count(process.env.SCAN_N, 1_000_000, 'SCAN_N');
const ROUNDS = count(process.env.SCAN_ROUNDS, 3, 'SCAN_ROUNDS');
const REPS = count(process.env.SCAN_REPS, 3, 'SCAN_REPS');
const WITH_LMDB = process.env.SCAN_LMDB === '1';
const TXN_SIZE = 10_000;
const VALUE_SIZE = 100;
const VALUE_POOL = 1024;
const SEED = 0x5eed1234;

function count(text, fallback, name) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return n;
}



function makeValues() {
  return makeValuePool(SEED ^ 0xa5a5a5a5, VALUE_POOL, VALUE_SIZE);
}


function load(db) {
  const values = makeValues();
  const order = shuffledOrder(N, SEED);
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < N; start += TXN_SIZE) {
    const end = Math.min(N, start + TXN_SIZE);
    db.transactionSync(() => {
      for (let i = start; i < end; i++) db.putSync(keyOf(order[i]), values[order[i] & (VALUE_POOL - 1)]);
    });
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The scan of bench/core.mjs: counts, sums value lengths, checks that keys ascend. */
function scan(db) {
  globalThis.gc?.();
  let n = 0;
  let bytes = 0;
  let prev = '';
  let ordered = true;
  const t0 = process.hrtime.bigint();
  for (const { key, value } of db.getRange()) {
    if (key <= prev) ordered = false;
    prev = key;
    bytes += value.length;
    n++;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (n !== N || bytes !== N * VALUE_SIZE || !ordered) {
    throw new Error(`scan: ${n} entries, ${bytes} value bytes, ordered ${ordered}; expected ${N}, ${N * VALUE_SIZE}, true`);
  }
  return n / seconds;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const builds = (process.argv.length > 2 ? process.argv.slice(2) : ['dist']).map((d) => path.resolve(d));
const impls = [];
for (const dir of builds) {
  const mod = await import(pathToFileURL(path.join(dir, 'index.js')).href);
  impls.push({ label: `rotadb ${path.relative(process.cwd(), dir) || '.'}`, open: (file) => mod.open(file, { encoding: 'binary' }), file: 'scan.rdb', rates: [] });
}
if (WITH_LMDB) {
  const { open } = await import('lmdb');
  impls.push({ label: 'lmdb-js', open: (dir) => open({ path: dir, encoding: 'binary' }), file: 'lmdb-scan', rates: [] });
}

const keep = process.env.SCAN_DIR;
const dir = keep ? path.resolve(keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-scan-'));
fs.mkdirSync(dir, { recursive: true });
console.log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`N = ${N}, ${ROUNDS} rounds x ${REPS} timed scans per store (after 1 untimed scan per open), dir ${dir}`);
try {
  const loaded = new Set();
  for (const impl of impls) {
    const file = path.join(dir, `${impl.file}-${N}`);
    const stamp = `${file}.loaded`;
    if (loaded.has(impl.file) || fs.existsSync(stamp)) continue;
    const db = impl.open(file);
    const seconds = load(db);
    await db.close();
    fs.writeFileSync(stamp, '');
    loaded.add(impl.file);
    console.log(`loaded ${impl.label}: ${N} puts in ${seconds.toFixed(1)} s`);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const impl of impls) {
      const db = impl.open(path.join(dir, `${impl.file}-${N}`));
      scan(db);
      const rates = [];
      for (let r = 0; r < REPS; r++) rates.push(scan(db));
      await db.close();
      impl.rates.push(...rates);
      console.log(`round ${round + 1} ${impl.label.padEnd(32)} ${rates.map((x) => Math.round(x)).join(' ')} entries/s`);
    }
  }
  console.log('\n| store | median entries/s | min | max | scans |\n|---|---:|---:|---:|---:|');
  for (const impl of impls) {
    const r = impl.rates;
    console.log(`| ${impl.label} | ${Math.round(median(r))} | ${Math.round(Math.min(...r))} | ${Math.round(Math.max(...r))} | ${r.length} |`);
  }
  const rota = impls.filter((i) => i.label !== 'lmdb-js');
  const lmdb = impls.find((i) => i.label === 'lmdb-js');
  for (const impl of rota.slice(1)) {
    console.log(`${impl.label} / ${rota[0].label}: ${(median(impl.rates) / median(rota[0].rates)).toFixed(3)}`);
  }
  if (lmdb) for (const impl of rota) console.log(`${impl.label} / lmdb-js: ${(median(impl.rates) / median(lmdb.rates)).toFixed(3)}`);
} finally {
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}
