/**
 * Crash at every I/O operation of asynchronous commits (put() batches: txn/commit.ts
 * commitAsync, with the one-fsync commit's slot and page writes issued together), on a storage
 * whose asynchronous calls run on later turns of the event loop. Every crash image must hold the
 * last version whose promises resolved, or the one being committed; never anything else.
 */
import { describe, expect, it } from 'vitest';
import { open, type RootDatabase } from '../../src/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { FaultyStorage, type CrashMode } from '../../src/storage/faulty.js';
import { initialImage, keyOf, optsFor, valueOf, verifyImage, type Model } from './harness.js';

const MODES: CrashMode[] = ['lose-unsynced', 'random-subset', 'reorder-prefix'];
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** FaultyStorage with asynchronous writes and fdatasync that happen on a later turn. */
class AsyncFaulty implements Storage {
  constructor(readonly inner: FaultyStorage) {}
  read(buf: Uint8Array, position: number): number { return this.inner.read(buf, position); }
  write(buf: Uint8Array, position: number): void { this.inner.write(buf, position); }
  sync(): void { this.inner.sync(); }
  size(): number { return this.inner.size(); }
  truncate(size: number): void { this.inner.truncate(size); }
  close(): void { this.inner.close(); }
  async writeAsync(buf: Uint8Array, position: number): Promise<void> {
    await turn();
    this.inner.write(buf, position);
  }
  async syncAsync(): Promise<void> {
    await turn();
    this.inner.sync();
  }
}

/** Batch b: puts and removes issued in one turn, committed by one asynchronous commit. */
function batch(b: number): Array<{ k: number; size: number } | { k: number; remove: true }> {
  const out: Array<{ k: number; size: number } | { k: number; remove: true }> = [];
  for (let i = 0; i < 24; i++) {
    const k = (b * 37 + i * 11) % 120;
    out.push(i % 7 === 3 ? { k, remove: true } : { k, size: 20 + ((b * 13 + i * 29) % 260) });
  }
  return out;
}

const BATCHES = 6;

function models(preload: number): Model[] {
  let m: Model = new Map();
  for (let k = 0; k < preload; k++) m.set(keyOf(k), valueOf(k, 40 + (k % 90), 0).toString('hex'));
  const out = [m];
  for (let b = 1; b <= BATCHES; b++) {
    m = new Map(m);
    for (const op of batch(b)) {
      if ('remove' in op) m.delete(keyOf(op.k));
      else m.set(keyOf(op.k), valueOf(op.k, op.size, b).toString('hex'));
    }
    out.push(m);
  }
  return out;
}

/** Runs the batches over `storage`; returns how many batches' promises resolved before a crash. */
async function run(storage: Storage, nRoots: number): Promise<{ resolved: number; crashed: boolean }> {
  let db: RootDatabase<Buffer>;
  try {
    db = open<Buffer>({ storage, ...optsFor(nRoots) });
  } catch {
    return { resolved: 0, crashed: true };
  }
  let resolved = 0;
  try {
    for (let b = 1; b <= BATCHES; b++) {
      await Promise.all(batch(b).map((op) => ('remove' in op ? db.remove(keyOf(op.k)) : db.put(keyOf(op.k), valueOf(op.k, op.size, b)))));
      resolved = b;
    }
    db.closeSync();
    return { resolved, crashed: false };
  } catch {
    return { resolved, crashed: true };
  }
}

describe('crash at every I/O operation of asynchronous commits', () => {
  for (const nRoots of [2, 4]) {
    it(`nRoots ${nRoots}`, { timeout: 60_000 }, async () => {
      const preload = 30;
      const init = initialImage({ preload, txns: [] }, nRoots);
      const ms = models(preload);
      const probe = new FaultyStorage(init);
      const clean = await run(new AsyncFaulty(probe), nRoots);
      expect(clean).toEqual({ resolved: BATCHES, crashed: false });
      const total = probe.ops;
      let checks = 0;
      for (let k = 1; k <= total; k++) {
        const faulty = new FaultyStorage(init, { seed: 100 + k });
        faulty.crashAtOp(k);
        const r = await run(new AsyncFaulty(faulty), nRoots);
        expect(r.crashed, `crash at op ${k}/${total}`).toBe(true);
        // wait for writes still queued on later turns (they throw: the storage has crashed)
        for (let i = 0; i < 4; i++) await turn();
        const allowed = [ms[r.resolved]!, ...(r.resolved < BATCHES ? [ms[r.resolved + 1]!] : [])];
        for (const mode of MODES) {
          verifyImage(faulty.afterCrash(mode), optsFor(nRoots), mode === 'lose-unsynced' ? [ms[r.resolved]!] : allowed, `nRoots ${nRoots}, crash at op ${k}/${total}, ${mode}`);
          checks++;
        }
      }
      expect(checks).toBeGreaterThan(3 * BATCHES);
    });
  }
});
