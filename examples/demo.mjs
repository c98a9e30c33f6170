// A tour of rotadb on a temporary database: run with `npm run demo` (builds first).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from '../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rotadb-demo-'));
const path = join(dir, 'demo.rdb');
try {
  const db = open(path, { nRoots: 4 });

  // Durable single writes, and ordered keys of mixed types.
  db.putSync('greeting', { text: 'hello', at: new Date(0) });
  db.putSync(['user', 1], { name: 'Ada' });
  db.putSync(['user', 2], { name: 'Grace' });
  db.putSync(['user', 10], { name: 'Barbara' });
  console.log('get greeting        ', db.get('greeting'));

  // Asynchronous writes issued in one event-loop turn share one durable commit.
  const before = db.stats().txnId;
  await Promise.all(Array.from({ length: 1000 }, (_, i) => db.put(['item', i], { i, square: i * i })));
  console.log('1000 puts, commits  ', db.stats().txnId - before);

  // Range over array keys: numbers order numerically inside arrays.
  console.log('users               ', db.getRange({ start: ['user'], end: ['user', Infinity] }).map(({ key, value }) => `${key[1]}:${value.name}`).asArray);
  console.log('last 3 items        ', db.getRange({ start: ['item', Infinity], end: ['item'], reverse: true, limit: 3 }).map((e) => e.key).asArray);

  // A read transaction keeps its snapshot while writers go on. (From TypeScript, or Node 24+,
  // write `using snapshot = db.beginRead();` and drop the finally.)
  const snapshot = db.beginRead();
  try {
    db.putSync('greeting', { text: 'changed' });
    console.log('snapshot sees       ', snapshot.get('greeting').text, '| current:', db.get('greeting').text);
  } finally {
    snapshot.end();
  }

  // Transactions: all or nothing.
  try {
    db.transactionSync(() => {
      db.putSync('a', 1);
      throw new Error('changed my mind');
    });
  } catch (e) {
    console.log('aborted transaction ', e.message, '| a =', db.get('a'));
  }

  // Named databases live in the same file and commit together.
  const logs = db.openDB('logs', { encoding: 'string' });
  await logs.put(Date.now(), 'started');
  console.log('named db entries    ', logs.stats().entries);

  // A 10 MiB value goes to overflow pages.
  db.putSync('blob', Buffer.alloc(10 * 1024 * 1024, 7));
  console.log('blob length         ', db.get('blob').length);

  // Typed errors with stable codes.
  try {
    db.putSync({ not: 'a key' }, 1);
  } catch (e) {
    console.log('bad key             ', e.code, '-', e.message);
  }

  const s = db.stats();
  console.log('stats               ', { entries: s.entries, depth: s.depth, txnId: s.txnId, fileSize: s.fileSize, freePages: s.freePages, pendingPages: s.pendingPages, nRoots: s.nRoots });
  const report = db.check();
  console.log('check               ', report.ok ? 'ok' : report.problems, report.pages);
  await db.close();

  const again = open(path);
  console.log('after reopen        ', again.get(['user', 2]), again.stats().entries, 'entries');
  await again.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
