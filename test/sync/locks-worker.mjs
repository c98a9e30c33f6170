// Run by locks.test.ts in a worker thread: joins the lock table through its SharedArrayBuffer
// (the built module, dist/), takes the writer mutex and two pins, flags an async writer waiting,
// logs two reused pages, reports, and then stays alive until it is terminated.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { KIND_THREAD, KIND_TXN, LockTable } from '../../dist/sync/locks.js';

const { sab, shape } = workerData;
const t = new LockTable(shape, sab);
const locked = t.tryLockWriter();
const short = t.claim(KIND_THREAD, Date.now());
const txn = t.claim(KIND_TXN, Date.now());
t.bumpSeq(short);
const pins = [t.tryPin(short), t.tryPin(txn)];
t.setAsyncWaiting(short, true);
t.appendLog([42, 0xfffffffe]);
t.addOpener();
parentPort.postMessage({ threadId, locked, pins });
setInterval(() => {}, 1000); // keep the thread alive: the test terminates it, as a crash would
