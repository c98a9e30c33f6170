// Shared by the benchmark scripts: the same seeded data for every store and every script.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** xorshift32: a small seeded generator; the same seed gives the same sequence everywhere. */
export function makeRandom(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Uniform integer in [0, n) for n well below 2^32. */
export function below(rand, n) {
  return Math.floor((rand() / 4294967296) * n);
}

/** The 16-byte ASCII key of index i: 'k' and 15 zero-padded digits. */
export function keyOf(i) {
  return 'k' + String(i).padStart(15, '0');
}

/** `count` distinct random values of `size` bytes. */
export function makeValues(seed, count, size) {
  const rand = makeRandom(seed);
  const pool = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j++) b[j] = rand() & 0xff;
    pool.push(b);
  }
  return pool;
}

/** 0 .. n-1 in a seeded Fisher-Yates order. */
export function shuffledOrder(n, seed) {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = makeRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = below(rand, i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** keyOf(0) .. keyOf(n - 1). */
export function makeKeys(n) {
  const keys = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = keyOf(i);
  return keys;
}

/** `count` seeded uniform indices in [0, n). */
export function randomIndices(count, n, seed) {
  const out = new Int32Array(count);
  const rand = makeRandom(seed);
  for (let i = 0; i < count; i++) out[i] = below(rand, n);
  return out;
}

/**
 * Puts keys[order[i]] (keys[i] when order is null) for every i, in synchronous write transactions
 * of `txnSize` puts through the store's transactionSync and putSync; the value of key k is
 * values[k mod values.length]. Returns the seconds taken (process.hrtime.bigint()).
 */
export function loadEntries(db, keys, values, order, txnSize) {
  const n = order === null ? keys.length : order.length;
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < n; start += txnSize) {
    const end = Math.min(n, start + txnSize);
    db.transactionSync(() => {
      for (let i = start; i < end; i++) {
        const k = order === null ? i : order[i];
        db.putSync(keys[k], values[k % values.length]);
      }
    });
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The commit measured, and any uncommitted change under src/ (so a result names its build). */
export function gitState() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: path.join(here, '..'), encoding: 'utf8' }).trim().split('\n').filter(Boolean)
      // compiler output left in src/ is not a source change
      .filter((l) => !/^\?\? .*\.(js|d\.ts|js\.map)$/.test(l));
    return { commit, srcChanges: dirty };
  } catch {
    return null;
  }
}

/** The machine and library versions a result was measured with. */
export function machineInfo() {
  const version = (pkg) => JSON.parse(fs.readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version;
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemMiB: Math.round(os.totalmem() / 1048576),
    loadavgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
    tmpdir: os.tmpdir(),
    lmdb: version('lmdb'),
    tinybench: version('tinybench'),
  };
}

/** A positive integer from an environment variable's text, or `fallback` when it is unset. */
export function parseCount(text, fallback, name) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return n;
}
