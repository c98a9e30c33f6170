/**
 * The lingering short-read pin (docs/design.md, "Lingering short-read pin"): a get leaves its pin
 * on the version it read until this thread's synchronous code ends, a newer version is published,
 * or a writer asks for it; a writer never waits for a pin of its own thread, and an expired
 * lingering pin costs the next get nothing but a new pin.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { expectClean, openFile, openMem, tempPath } from '../helpers/db.js';
import type { RootDatabase } from '../../src/index.js';

const slotReaders = (db: RootDatabase, slot: number): number => db.env.locks.readers(slot);
const currentSlot = (db: RootDatabase): number => db.env.locks.publishedSlot();
const endOfTurn = () => new Promise((r) => setImmediate(r));
const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

describe('lingering short-read pin', () => {
  it('stays on the version it read within the synchronous code, and goes when it ends', async () => {
    const db = openMem({ nRoots: 4 });
    db.putSync('a', 1);
    const s = currentSlot(db);
    expect(db.get('a')).toBe(1);
    expect(slotReaders(db, s)).toBe(1);
    expect(db.get('a')).toBe(1);
    expect(db.doesExist('a')).toBe(true);
    expect(slotReaders(db, s)).toBe(1); // the same pin, not one per read
    await Promise.resolve();
    expect(slotReaders(db, s)).toBe(0);
    expect(db.readers()).toEqual([]);
  });

  it('is not kept in serial mode (nRoots 1), where a pin keeps every writer out', () => {
    const db = openMem({ nRoots: 1 });
    db.putSync('a', 1);
    expect(db.get('a')).toBe(1);
    expect(slotReaders(db, 0)).toBe(0);
    db.putSync('a', 2);
    expect(db.get('a')).toBe(2);
  });

  it('a get after a commit of its own thread reads the new version', () => {
    const db = openMem({ nRoots: 2, writeTimeoutMs: 200 });
    db.putSync('a', 0);
    for (let i = 1; i <= 6; i++) {
      expect(db.get('a')).toBe(i - 1);
      db.putSync('a', i);
      expect(db.get('a')).toBe(i);
    }
    expect(slotReaders(db, 0) + slotReaders(db, 1)).toBe(1);
    expectClean(db);
  });

  for (const mode of ['sync', 'async'] as const) it(`${mode === 'sync' ? 'a sync' : 'an async'} writer of the same thread drops the pin instead of waiting for it`, async () => {
    // Another thread commits while this one lingers on the version before: with nRoots 2 the next
    // writer needs exactly the slot of this thread's lingering pin.
    const db = openFile(tempPath(), { nRoots: 2 });
    db.putSync('a', 0);
    expect(db.get('a')).toBe(0);
    const lingering = currentSlot(db);
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(`
      const { workerData } = require('node:worker_threads');
      import(${JSON.stringify(dist)}).then(({ open }) => {
        const db = open(workerData.handle, {});
        db.putSync('a', 1);
        db.close();
        const gate = new Int32Array(workerData.gate);
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
      });`, { eval: true, workerData: { handle: db.handle(), gate: gate.buffer } });
    expect(Atomics.wait(gate, 0, 0, 10_000)).not.toBe('timed-out'); // synchronously: the pin still lingers
    expect(slotReaders(db, lingering)).toBe(1);
    if (mode === 'sync') {
      db.putSync('a', 2); // would be ROTA_WOULD_DEADLOCK if it counted its own lingering pin
    } else {
      let ran = false;
      const key = db.encodeKeyCopy('a');
      const p = db.env.writeAsync((txn) => {
        ran = true;
        db.putIn(txn, key, key.length, db.encodeValue(2));
        txn.commit();
      });
      expect(ran).toBe(true); // acquired in the same tick: it did not wait for its own pin
      await p;
    }
    await new Promise((r) => w.once('exit', r));
    expect(db.get('a')).toBe(2);
    expectClean(db);
  });

  it('a request from a writer makes the next get pin anew; an expiry while lingering does not fail it', () => {
    const db = openMem({ nRoots: 4 });
    db.putSync('a', 1);
    const locks = db.env.locks;
    const entry = (db.env as unknown as { pins: { shortEntry: number } }).pins.shortEntry;
    const seq = () => Atomics.load(locks.i32, 0) === 0 && locks.snapshotShortReads(currentSlot(db)).get(entry);
    expect(db.get('a')).toBe(1);
    const first = seq();
    expect(db.get('a')).toBe(1);
    expect(seq()).toBe(first); // reused
    locks.askToDrop(currentSlot(db));
    expect(db.get('a')).toBe(1);
    expect(seq()).not.toBe(first); // dropped and pinned again
    expect(slotReaders(db, currentSlot(db))).toBe(1);
    // a writer expires the lingering pin (as maxReaderAgeMs does): the next get just pins again
    const s = currentSlot(db);
    const expired = locks.expire(s, 1, Date.now(), locks.snapshotShortReads(s));
    expect(expired).toHaveLength(1);
    expect(slotReaders(db, s)).toBe(0);
    expect(db.get('a')).toBe(1);
    expect(slotReaders(db, s)).toBe(1);
  });

  it('close() drops it, and the microtask scheduled before touches nothing afterwards', async () => {
    const db = openFile(tempPath());
    db.putSync('a', 1);
    const locks = db.env.locks;
    const s = currentSlot(db);
    expect(db.get('a')).toBe(1);
    db.closeSync();
    expect(locks.readers(s)).toBe(0);
    await endOfTurn();
    expect(locks.readers(s)).toBe(0);
    expect(locks.list()).toEqual([]);
  });

  for (const maxReaderAgeMs of [0, 50]) {
    it(`another thread blocked after a get: the writer waits for its pin ${maxReaderAgeMs ? 'until it expires it' : 'until its next get'}`, async () => {
      const file = tempPath();
      const db = openFile(file, { nRoots: 2, maxReaderAgeMs, writeTimeoutMs: 5000 });
      db.putSync('a', 0);
      const gate = new Int32Array(new SharedArrayBuffer(4));
      const w = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads');
        import(${JSON.stringify(dist)}).then(({ open }) => {
          const db = open(workerData.handle, {});
          const gate = new Int32Array(workerData.gate);
          const seen = [db.get('a')];
          parentPort.postMessage('pinned');
          Atomics.wait(gate, 0, 0); // blocked, holding the lingering pin
          seen.push(db.get('a'));
          parentPort.postMessage(seen);
          Atomics.wait(gate, 0, 1);
          db.close();
        });`, { eval: true, workerData: { handle: db.handle(), gate: gate.buffer } });
      const messages: unknown[] = [];
      let wake: () => void = () => {};
      w.on('message', (m) => { messages.push(m); wake(); });
      const next = () => new Promise<void>((r) => { wake = r; });
      await next();
      expect(messages[0]).toBe('pinned');
      const pinnedSlot = currentSlot(db);
      expect(slotReaders(db, pinnedSlot)).toBe(1);
      db.putSync('a', 1); // the other slot
      let done = false;
      const p = db.put('a', 2).then(() => (done = true)); // needs the slot the worker pins
      await new Promise((r) => setTimeout(r, 150));
      if (maxReaderAgeMs === 0) {
        expect(done).toBe(false);
        expect(db.stats().slots[pinnedSlot]!.writerWaiting).toBe(true);
      } else {
        expect(done).toBe(true); // expired while it lingered
      }
      const got = next();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await got;
      await p;
      // its next get dropped the old pin and read the newest version; it never threw
      expect(messages[1]).toEqual([0, maxReaderAgeMs === 0 ? 1 : 2]);
      Atomics.store(gate, 0, 2);
      Atomics.notify(gate, 0);
      await new Promise((r) => w.once('exit', r));
      expect(db.get('a')).toBe(2);
      expectClean(db);
    });
  }
});
