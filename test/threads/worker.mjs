// Scenarios run in worker threads by threads.test.ts. Loads the built module (dist/).
import { parentPort, workerData } from 'node:worker_threads';
import { open } from '../../dist/index.js';

const { handle, scenario, args } = workerData;
const db = open(handle, { encoding: 'json', maxReaderAgeMs: args.maxReaderAgeMs });
const stop = args.stop ? new Int32Array(args.stop) : null;
const stopped = () => stop !== null && Atomics.load(stop, 0) !== 0;
const post = (m) => parentPort.postMessage(m);
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function rand(seed) {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

const scenarios = {
  /** Moves amounts between accounts in write transactions until told to stop. */
  bankWriter() {
    const r = rand(args.seed);
    let commits = 0;
    while (!stopped()) {
      db.transactionSync(() => {
        const a = r(args.accounts);
        const b = (a + 1 + r(args.accounts - 1)) % args.accounts;
        const amount = r(50);
        db.putSync(['acct', a], db.get(['acct', a]) - amount);
        db.putSync(['acct', b], db.get(['acct', b]) + amount);
      });
      commits++;
    }
    post({ commits });
  },
  /** Sums all accounts in one snapshot, again and again; reports any wrong total. */
  bankReader() {
    let snapshots = 0;
    let wrong = 0;
    const versions = new Set();
    while (!stopped()) {
      const txn = db.beginRead();
      try {
        let total = 0;
        let n = 0;
        for (const { value } of txn.getRange({ start: ['acct'], end: ['acct', Infinity] })) { total += value; n++; }
        if (total !== args.total || n !== args.accounts) wrong++;
        versions.add(txn.txnId);
      } finally {
        txn.end();
      }
      // short reads too: a get of every account is not a snapshot, but each value must be sane
      if (typeof db.get(['acct', snapshots % args.accounts]) !== 'number') wrong++;
      snapshots++;
    }
    post({ snapshots, wrong, versions: versions.size });
  },
  /** Pins a version until the parent says 'end'. */
  pin() {
    const txn = db.beginRead();
    post({ pinned: txn.txnId, value: txn.get('x') });
    parentPort.once('message', () => {
      const value = txn.get('x');
      txn.end();
      post({ ended: true, value });
    });
  },
  /** Reads, sleeps past maxReaderAgeMs while writers go on, then reads again. */
  sleepyReader() {
    const txn = db.beginRead();
    const before = txn.get('x');
    post({ pinned: txn.txnId, before });
    sleep(args.sleepMs);
    const out = { before, pinned: txn.txnId };
    try {
      out.after = txn.get('x');
      out.error = null;
    } catch (e) {
      out.error = e.code;
    }
    try {
      // an iterator over the expired snapshot fails as well
      for (const _ of txn.getRange()) { /* */ }
      out.rangeError = null;
    } catch (e) {
      out.rangeError = e.code;
    }
    txn.end();
    post(out);
  },
  /** Holds a read transaction and never ends it (to be terminated). */
  holdForever() {
    const txn = db.beginRead();
    post({ pinned: txn.txnId });
    setInterval(() => {}, 1000);
  },
  /** Gets in a tight loop (to be terminated, likely in the middle of one). */
  getLoop() {
    post({ started: true });
    for (;;) db.get('x');
  },
};

scenarios[scenario]();
if (scenario !== 'pin' && scenario !== 'holdForever' && scenario !== 'getLoop') await db.close();
