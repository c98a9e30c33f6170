// The commit of 100 random puts alone (issue 11, the mixed row's commit), one store per process:
// a 100,000-entry file (16-byte keys, 100-byte values, loaded in random order), then COMMITS
// transactionSync commits of 100 puts of random existing keys, noSync. Prints the median of 10
// rounds in microseconds per commit, and for rotadb the pages written per commit.
//
//   npm run build && node --expose-gc bench/commit.mjs            (rotadb)
//   STORE=lmdb node --expose-gc bench/commit.mjs                  (lmdb-js)
//   node --expose-gc --cpu-prof --cpu-prof-dir=/tmp/p bench/commit.mjs && node bench/cpuprofile-top.mjs /tmp/p/*.cpuprofile
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open as openLmdb } from 'lmdb';
import { open as openRota } from '../dist/index.js';
import { makeRandom, below, keyOf, makeValues, shuffledOrder, median } from './common.mjs';

const N = 100_000;
const COMMITS = Number(process.env.COMMITS ?? 3000);
const ROUNDS = 10;
const store = process.env.STORE ?? 'rotadb';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-commit-'));
try {
  const values = makeValues(1, 1024, 100);
  const db = store === 'lmdb'
    ? openLmdb({ path: path.join(dir, 'lmdb'), encoding: 'binary', noSync: true })
    : openRota(path.join(dir, 'db.rdb'), { encoding: 'binary', noSync: true });
  const order = shuffledOrder(N, 7);
  for (let s = 0; s < N; s += 10_000) {
    db.transactionSync(() => { for (let i = s; i < s + 10_000; i++) db.putSync(keyOf(order[i]), values[order[i] & 1023]); });
  }
  const keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const rand = makeRandom(99);
  const written = store === 'rotadb' ? db.env.pager.pagesWritten : 0; // internal: pages the commits write
  let v = 0;
  const perCommitUs = [];
  globalThis.gc?.();
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let c = 0; c < COMMITS / ROUNDS; c++) {
      const batch = [];
      for (let i = 0; i < 100; i++) batch.push(keys[below(rand, N)]);
      db.transactionSync(() => { for (const k of batch) db.putSync(k, values[v++ & 1023]); });
    }
    perCommitUs.push(((performance.now() - t0) / (COMMITS / ROUNDS)) * 1000);
  }
  const extra = store === 'rotadb' ? `, ${((db.env.pager.pagesWritten - written) / COMMITS).toFixed(1)} pages written per commit` : '';
  console.log(`${store}: ${median(perCommitUs).toFixed(0)} us per commit of 100 puts (rounds ${perCommitUs.map((x) => x.toFixed(0)).join(' ')})${extra}`);
  if (store === 'rotadb') {
    const report = db.check();
    if (!report.ok) throw new Error('check() after the commits: ' + report.problems.slice(0, 3).join('; '));
  }
  await db.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
