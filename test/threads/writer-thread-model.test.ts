/**
 * The writer thread against a model, with every cache hit of every thread checked against the
 * disk (ROTADB_VERIFY_CACHE, as in threads.test.ts): asynchronous batches committed by the writer
 * thread alternate with synchronous commits and reads of the main thread, on a file small enough
 * that pages are reused all the time. A stale page in either thread's cache, a batch applied out
 * of order, or a lost write shows as a wrong value or a failed verification.
 */
import { describe, expect, it } from 'vitest';
import { openFile, expectClean, tempPath } from '../helpers/db.js';
import { rng } from '../helpers/rng.mjs';

process.env.ROTADB_VERIFY_CACHE = '1';

describe('the writer thread and the main thread writing one file', () => {
  for (const nRoots of [2, 4]) {
    it(`nRoots ${nRoots}: async batches, sync commits and reads interleaved agree with a model`, async () => {
      const db = openFile(tempPath(), { nRoots, encoding: 'json', cacheSize: 64 * 4096, writerThread: true });
      const model = new Map<number, number>();
      const random = rng(0x5eed + nRoots);
      const keys = 400;
      // start the thread: writes queued behind unfinished ones
      const first = [db.put(-1, 0)];
      await new Promise((r) => setImmediate(r));
      first.push(db.put(-2, 0));
      await Promise.all(first);
      expect(await db.queue.writerThreadStarted()).toBe(true);
      model.set(-1, 0).set(-2, 0);
      let pending: Array<Promise<boolean>> = [];
      for (let round = 0; round < 60; round++) {
        // a turn of async writes (the thread's), then either a sync commit or reads here
        for (let i = 0; i < 40; i++) {
          const k = random(keys);
          if (random(5) === 0) {
            pending.push(db.remove(k));
            model.delete(k);
          } else {
            const v = round * 1000 + i;
            pending.push(db.put(k, v));
            model.set(k, v);
          }
        }
        if (round % 3 === 0) {
          await Promise.all(pending); // a sync commit orders after everything before it only once that settled
          pending = [];
          const k = random(keys);
          db.putSync(k, -round - 1);
          model.set(k, -round - 1);
        }
        if (round % 5 === 0) {
          await Promise.all(pending);
          pending = [];
          for (const [k, v] of model) expect(db.get(k)).toBe(v);
        }
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(pending);
      const seen = new Map(db.getRange().asArray.map(({ key, value }) => [key as number, value as number]));
      expect(seen).toEqual(model);
      expectClean(db);
    }, 60_000);
  }
});
