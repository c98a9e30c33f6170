import { open as openRota } from '../dist/index.js';
import { open as openLmdb } from 'lmdb';
import { keyOf, makeRandom, below } from './common.mjs';
const N = 1_000_000;
const dbs = { rotadb: openRota('/tmp/rb/main.rdb', { encoding: 'binary' }), lmdb: openLmdb({ path: '/tmp/rb/lmdb-main', encoding: 'binary' }) };
const keys = Array.from({ length: N }, (_, i) => keyOf(i));
const rand = makeRandom(5);
const rnd = Int32Array.from({ length: 1_000_000 }, () => below(rand, N));
const hot = Int32Array.from({ length: 1_000_000 }, () => below(rand, 2000)); // 2000 keys: ~100 leaves, CPU-cache resident
const seq = Int32Array.from({ length: 1_000_000 }, (_, i) => i);
const method = process.argv[2] ?? 'get';
for (const name of ['rotadb','lmdb']) for (let i = 0; i < N; i++) dbs[name].get(keys[i]);
for (let rep = 0; rep < 3; rep++) for (const [label, idx] of [['random', rnd], ['hot 2000', hot], ['sequential', seq]]) {
  const out = [];
  for (const name of ['rotadb', 'lmdb']) {
    const db = dbs[name];
    const f = db[method] ? method : 'get';
    const t = process.hrtime.bigint();
    let b = 0;
    for (let i = 0; i < 300_000; i++) b += db[f](keys[idx[i]]).length;
    out.push(`${name} ${(300_000 / (Number(process.hrtime.bigint() - t) / 1e9) / 1000).toFixed(0)}K/s`);
  }
  console.log(label.padEnd(11), out.join('  '));
}
