// The child process of test/crash/kill.test.ts: commits transactions on one database file until
// it is killed with SIGKILL.
//
//   node kill-writer.mjs <database file> <state file>
//
// The state file (JSON, written by the parent) holds { next, live, seed, dist }: the first
// transaction number to use, the committed transactions as [n, key count] pairs (they may be
// removed), the seed of this run's choices, and the URL of the built rotadb module.
//
// Transaction n writes the keys ['tx', n, i] for i < count with the values valueFor(n, i), and
// may remove every key of some earlier committed transactions. The root database holds nothing
// else. Protocol on stdout, one line each, written synchronously:
//
//   ready                               the database is open
//   begin <n> <count> <sync|async> removed <m,m,...|->   before transaction n starts writing
//   ack <n> removed <m,m,...|->         after transaction n committed (transactionSync returned,
//                                       or every put/remove promise of its batch resolved)
//
// On anything unexpected it prints `error <message>` and exits with code 2, so that the parent
// can tell a failure of the writer from the kill.
//
// This module also exports the value generator, which the parent imports: both sides must
// compute the same bytes for (n, i).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rng, say } from '../helpers/child-lines.mjs';

/** A 32-bit hash of two non-negative integers (integer mixing, no state). */
function hash2(a, b) {
  let h = Math.imul(a ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Size of the value of key i of transaction n: usually 0..3000 bytes, about 3% of them 20 KB. */
export function valueSize(n, i) {
  const h = hash2(n, i);
  if (h % 100 < 3) return 20_000 + (h >>> 8) % 1_000;
  return (h >>> 8) % 3_001;
}

/** The value of key ['tx', n, i]: deterministic bytes, different for every (n, i). */
export function valueFor(n, i) {
  const size = valueSize(n, i);
  const out = Buffer.allocUnsafe(size);
  let x = hash2(i, n) | 1;
  let at = 0;
  for (; at + 4 <= size; at += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, at);
  }
  for (; at < size; at++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[at] = x & 0xff;
  }
  return out;
}

// the parent uses rng too (kill.test.ts imports it from here)
export { rng };

function fail(message) {
  say(`error ${message}`);
  process.exit(2);
}

/** Above this many live transactions every transaction removes two; below it, one now and then. */
const LIVE_TARGET = 100;

async function main() {
  const [file, stateFile] = process.argv.slice(2);
  if (!file || !stateFile) fail('usage: kill-writer.mjs <database file> <state file>');
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  const { open } = await import(state.dist);
  const random = rng(state.seed);
  const live = new Map(state.live); // n -> key count, committed and not removed
  const db = open(file, { encoding: 'binary' });
  say('ready');

  for (let n = state.next; ; n++) {
    const count = 1 + Math.floor(random() * 50);
    const removals = live.size > LIVE_TARGET ? 2 : random() < 0.3 ? 1 : 0;
    const removed = [];
    const candidates = [...live.keys()];
    for (let r = 0; r < removals && candidates.length > 0; r++) {
      const at = Math.floor(random() * candidates.length);
      removed.push(candidates[at]);
      candidates.splice(at, 1);
    }
    const mode = random() < 0.5 ? 'sync' : 'async';
    const removedText = removed.length > 0 ? removed.join(',') : '-';
    say(`begin ${n} ${count} ${mode} removed ${removedText}`);

    let results;
    if (mode === 'sync') {
      results = db.transactionSync(() => {
        const out = [];
        for (let i = 0; i < count; i++) out.push(['put', n, i, db.putSync(['tx', n, i], valueFor(n, i))]);
        for (const m of removed) {
          for (let i = 0; i < live.get(m); i++) out.push(['remove', m, i, db.removeSync(['tx', m, i])]);
        }
        return out;
      });
    } else {
      // Everything issued in this turn joins one batch: one transaction, one commit.
      const ops = [];
      const promises = [];
      for (let i = 0; i < count; i++) {
        ops.push(['put', n, i]);
        promises.push(db.put(['tx', n, i], valueFor(n, i)));
      }
      for (const m of removed) {
        for (let i = 0; i < live.get(m); i++) {
          ops.push(['remove', m, i]);
          promises.push(db.remove(['tx', m, i]));
        }
      }
      const got = await Promise.all(promises);
      results = ops.map((op, k) => [...op, got[k]]);
    }
    say(`ack ${n} removed ${removedText}`);

    // Every put creates a new key and every remove finds its key: anything else is a bug.
    for (const [what, t, i, result] of results) {
      if (result !== true) fail(`${what} of ['tx', ${t}, ${i}] in transaction ${n} returned ${result}`);
    }
    for (const m of removed) live.delete(m);
    live.set(n, count);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((e) => fail(String(e?.stack ?? e).replace(/\n/g, ' | ')));
}
