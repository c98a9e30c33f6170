// Churn benchmark: does the file reach a steady size under random updates, deletes and re-inserts?
//
//   npm run build && node bench/churn.mjs
//   CHURN_ROUNDS=20 node bench/churn.mjs        (a quick run)
//
// Workload, the same for both stores (one seeded random sequence):
//   - load CHURN_KEYS keys (default 100,000; 16-character ASCII) with 100-byte random values,
//     ascending, in write transactions of 10,000 puts;
//   - then CHURN_ROUNDS rounds (default 200), each ONE write transaction that updates 20% of the
//     keys (random live keys, new random values), re-inserts the keys deleted in the previous
//     round, and deletes 5% (random live keys);
//   - once with no long reader, once with a reader that lives across several commits: a read
//     transaction is begun, kept for READER_ROUNDS rounds (default 3 = nRoots - 1, the longest a
//     reader of this thread can span with rotadb's default 4 root slots before the synchronous
//     writer would wait for it), then ended and a new one begun. The reader checks that it still
//     sees its snapshot.
// The data-file size (fs.statSync().size; lmdb: <dir>/data.mdb) is recorded after the load and
// after every round. Output: a table of sizes every 20 rounds, and for each run the ratios
// final / after round 1 and rotadb / lmdb. Targets from the issue: rotadb's final size within
// 1.2x of its size after round 1, and no larger than lmdb's.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open as openLmdb } from 'lmdb';
import { open as openRota } from '../dist/index.js';
import { machineInfo, makeRandom, keyOf } from './common.mjs';

const KEYS = count('CHURN_KEYS', 100_000);
const ROUNDS = count('CHURN_ROUNDS', 200);
const READER_ROUNDS = count('CHURN_READER_ROUNDS', 3);
const TXN_SIZE = 10_000;
const VALUE_SIZE = 100;
const UPDATE = 0.2;
const DELETE = 0.05;
const SEED = 0xc4a7e5;
const EVERY = 20;

function count(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return n;
}

/** xorshift32, seeded: the same sequence for both stores. */


function randomValue(rand) {
  const b = Buffer.allocUnsafe(VALUE_SIZE);
  for (let j = 0; j < VALUE_SIZE; j += 4) b.writeUInt32LE(rand(), j);
  return b;
}

// ------------------------------------------------------------------ the two stores, one interface

const stores = {
  rotadb: {
    open(dir) {
      const file = path.join(dir, 'churn.rdb');
      const db = openRota(file, { encoding: 'binary' }); // defaults otherwise: 4 KiB pages, nRoots 4
      return {
        dataFile: file,
        transaction: (fn) => db.transactionSync(fn),
        put: (k, v) => db.putSync(k, v),
        remove: (k) => db.removeSync(k),
        beginRead() {
          const txn = db.beginRead();
          return { get: (k) => txn.get(k), end: () => txn.end() };
        },
        check: () => db.check(),
        close: () => db.close(),
      };
    },
  },
  lmdb: {
    open(dir) {
      // A path without an extension: lmdb-js makes a directory holding data.mdb and lock.mdb.
      const db = openLmdb({ path: path.join(dir, 'lmdb-churn'), encoding: 'binary' });
      return {
        dataFile: path.join(dir, 'lmdb-churn', 'data.mdb'),
        transaction: (fn) => db.transactionSync(fn),
        put: (k, v) => db.putSync(k, v),
        remove: (k) => db.removeSync(k),
        beginRead() {
          const txn = db.useReadTransaction();
          return { get: (k) => db.get(k, { transaction: txn }), end: () => txn.done() };
        },
        check: () => null,
        close: () => db.close(),
      };
    },
  },
};

// ------------------------------------------------------------------ one run

async function runOnce(storeName, withReader, dir) {
  const store = stores[storeName].open(dir);
  const rand = makeRandom(SEED);
  const below = (n) => Math.floor((rand() / 4294967296) * n);
  const size = () => fs.statSync(store.dataFile).size;
  const t0 = process.hrtime.bigint();

  for (let start = 0; start < KEYS; start += TXN_SIZE) {
    store.transaction(() => {
      for (let i = start; i < Math.min(KEYS, start + TXN_SIZE); i++) store.put(keyOf(i), randomValue(rand));
    });
  }
  const sizes = [size()];

  // live keys: a dense array with positions, for O(1) random pick, delete and insert
  const live = Array.from({ length: KEYS }, (_, i) => i);
  const pos = new Int32Array(KEYS).map((_, i) => i);
  const removeLive = (i) => {
    const p = pos[i];
    const last = live.pop();
    if (last !== i) { live[p] = last; pos[last] = p; }
    pos[i] = -1;
  };
  const addLive = (i) => { pos[i] = live.length; live.push(i); };

  let deleted = [];
  let reader = null;
  let probe = null;
  const endReader = () => {
    if (reader === null) return;
    const now = reader.get(keyOf(probe.key));
    if (now === undefined || Buffer.compare(now, probe.value) !== 0) throw new Error(`${storeName}: the long reader lost its snapshot`);
    reader.end();
    reader = null;
  };
  for (let round = 1; round <= ROUNDS; round++) {
    if (withReader && (round - 1) % READER_ROUNDS === 0) {
      endReader();
      reader = store.beginRead();
      const key = live[0];
      probe = { key, value: Buffer.from(reader.get(keyOf(key))) };
    }
    store.transaction(() => {
      const updates = Math.round(KEYS * UPDATE);
      for (let n = 0; n < updates; n++) store.put(keyOf(live[below(live.length)]), randomValue(rand));
      for (const i of deleted) {
        store.put(keyOf(i), randomValue(rand));
        addLive(i);
      }
      const next = [];
      const deletes = Math.round(KEYS * DELETE);
      for (let n = 0; n < deletes; n++) {
        const i = live[below(live.length)];
        if (probe !== null && i === probe.key) continue; // keep the reader's probe key alive
        store.remove(keyOf(i));
        removeLive(i);
        next.push(i);
      }
      deleted = next;
    });
    sizes.push(size());
  }
  endReader();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const report = store.check();
  if (report && !report.ok) throw new Error(`${storeName}: check() failed:\n${report.problems.join('\n')}`);
  await store.close();
  return { sizes, seconds };
}

// ------------------------------------------------------------------ main

const mib = (b) => (b / 1048576).toFixed(2);

async function main() {
  const machine = machineInfo();
  console.log('# churn: file size over time, rotadb vs lmdb-js');
  console.log(`node ${machine.node} on ${machine.platform}, ${machine.cpus} CPUs, lmdb-js ${machine.lmdb}`);
  console.log(`${KEYS} keys, ${VALUE_SIZE}-byte values, ${ROUNDS} rounds of one transaction each: update ${UPDATE * 100}%, re-insert the previous round's deletes, delete ${DELETE * 100}%`);
  console.log(`"+ reader": a read transaction kept for ${READER_ROUNDS} rounds (commits), then replaced. Sizes in MiB (data file, st.size).`);
  console.log('');

  const runs = [];
  for (const withReader of [false, true]) {
    for (const name of ['rotadb', 'lmdb']) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-churn-'));
      try {
        const label = `${name}${withReader ? ' + reader' : ''}`;
        const r = await runOnce(name, withReader, dir);
        runs.push({ label, name, withReader, ...r });
        console.log(`ran ${label.padEnd(16)} ${r.seconds.toFixed(1)} s`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  console.log('');

  const rows = [0, 1];
  for (let r = EVERY; r <= ROUNDS; r += EVERY) rows.push(r);
  if (rows.at(-1) !== ROUNDS) rows.push(ROUNDS);
  console.log(`| after round | ${runs.map((r) => r.label).join(' | ')} |`);
  console.log(`|---:|${runs.map(() => '---:').join('|')}|`);
  for (const round of rows) {
    console.log(`| ${round === 0 ? '0 (load)' : round} | ${runs.map((r) => mib(r.sizes[round])).join(' | ')} |`);
  }
  console.log('');
  console.log('| run | after round 1 (MiB) | final (MiB) | final / round 1 | final rotadb / final lmdb |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of runs) {
    const first = r.sizes[1];
    const last = r.sizes[ROUNDS];
    const other = runs.find((x) => x.withReader === r.withReader && x.name === 'lmdb');
    const vs = r.name === 'rotadb' ? (last / other.sizes[ROUNDS]).toFixed(3) : '—';
    console.log(`| ${r.label} | ${mib(first)} | ${mib(last)} | ${(last / first).toFixed(3)} | ${vs} |`);
  }
  console.log('');
  for (const withReader of [false, true]) {
    const rota = runs.find((x) => x.name === 'rotadb' && x.withReader === withReader);
    const lmdb = runs.find((x) => x.name === 'lmdb' && x.withReader === withReader);
    const ratio = rota.sizes[ROUNDS] / rota.sizes[1];
    const vs = rota.sizes[ROUNDS] / lmdb.sizes[ROUNDS];
    console.log(`target ${withReader ? '(with reader)   ' : '(without reader)'}: rotadb final/round1 ${ratio.toFixed(3)} <= 1.2 ${ratio <= 1.2 ? 'met' : 'missed'}; rotadb final ${vs <= 1 ? '<=' : '>'} lmdb final (${vs.toFixed(3)}) ${vs <= 1 ? 'met' : 'missed'}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
