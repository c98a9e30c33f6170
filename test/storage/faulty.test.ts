import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RotaError, StorageError } from '../../src/errors.js';
import { FaultyStorage, SimulatedCrash } from '../../src/storage/faulty.js';
import type { MemoryStorage } from '../../src/storage/memory.js';
import { thrown } from '../helpers/thrown.js';

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

function readAll(s: FaultyStorage | MemoryStorage): Uint8Array {
  const out = new Uint8Array(s.size());
  s.read(out, 0);
  return out;
}

describe('FaultyStorage: durable vs pending', () => {
  it('reads see pending writes; the durable image only changes on sync', () => {
    const s = new FaultyStorage(fill(8, 1));
    s.write(fill(4, 2), 6);
    expect(s.size()).toBe(10);
    expect(Array.from(readAll(s))).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(s.durableSnapshot()).toEqual(fill(8, 1));
    expect(s.pendingWrites).toBe(1);
    s.sync();
    expect(s.pendingWrites).toBe(0);
    expect(s.durableSnapshot()).toEqual(readAll(s));
  });

  it("'lose-unsynced' keeps synced writes and drops unsynced ones", () => {
    const s = new FaultyStorage();
    s.write(fill(100, 7), 0);
    s.sync();
    s.write(fill(50, 9), 80);
    s.truncate(60); // pending truncate: also lost
    const after = s.afterCrash('lose-unsynced');
    expect(after.size()).toBe(100);
    expect(readAll(after).every((x) => x === 7)).toBe(true);
    // The live storage is unaffected by taking a crash image.
    expect(s.size()).toBe(60);
    expect(s.crashed).toBe(false);
  });

  it('a synced truncate is durable', () => {
    const s = new FaultyStorage(fill(100, 3));
    s.truncate(10);
    s.sync();
    expect(s.afterCrash('lose-unsynced').size()).toBe(10);
  });

  it("'random-subset' keeps issue order; 'reorder-prefix' can invert it", () => {
    // A = 4 bytes of 1 at 0, B = 8 bytes of 2 at 0. In order, B covers A entirely, so
    // 1111 2222 is only reachable by applying B before A.
    const inverted = '1,1,1,1,2,2,2,2';
    const subsetOutcomes = new Set<string>();
    const reorderOutcomes = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const s = new FaultyStorage(undefined, { seed });
      s.write(fill(4, 1), 0);
      s.write(fill(8, 2), 0);
      subsetOutcomes.add(Array.from(readAll(s.afterCrash('random-subset'))).join(','));
      reorderOutcomes.add(Array.from(readAll(s.afterCrash('reorder-prefix'))).join(','));
    }
    expect([...subsetOutcomes].sort()).toEqual(['', '1,1,1,1', '2,2,2,2,2,2,2,2'].sort());
    expect(reorderOutcomes.has(inverted)).toBe(true);
    expect(reorderOutcomes.has('')).toBe(true);
  });

  it('is deterministic for a given seed', () => {
    const run = (seed: number) => {
      const s = new FaultyStorage(undefined, { seed });
      for (let i = 0; i < 10; i++) s.write(fill(3, i + 1), i * 2);
      return [s.afterCrash('random-subset'), s.afterCrash('reorder-prefix')].map((m) => Array.from(m.snapshot()).join(','));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });
});

describe('FaultyStorage: crashes', () => {
  it('crashAtOp(n) lets n-1 operations through and stops exactly at op n', () => {
    const s = new FaultyStorage();
    s.crashAtOp(4);
    s.write(fill(4, 1), 0); // op 1
    s.sync(); // op 2
    expect(s.size()).toBe(4); // op 3
    expect(s.ops).toBe(3);
    expect(s.crashed).toBe(false);
    const err = thrown(() => s.write(fill(4, 2), 0)); // op 4
    expect(err).toBeInstanceOf(SimulatedCrash);
    expect(err).not.toBeInstanceOf(RotaError);
    expect(s.crashed).toBe(true);
    expect(s.ops).toBe(4);
    // The crashing write had no effect, and everything after it fails too.
    expect(s.pendingWrites).toBe(0);
    expect(() => s.read(new Uint8Array(1), 0)).toThrow(SimulatedCrash);
    expect(() => s.sync()).toThrow(SimulatedCrash);
    expect(() => s.size()).toThrow(SimulatedCrash);
    expect(() => s.truncate(0)).toThrow(SimulatedCrash);
    expect(Array.from(s.afterCrash('random-subset').snapshot())).toEqual([1, 1, 1, 1]);
  });

  it('counts every kind of call as one op', () => {
    const s = new FaultyStorage();
    s.write(fill(1, 1), 0);
    s.read(new Uint8Array(1), 0);
    s.truncate(5);
    s.size();
    s.sync();
    expect(s.ops).toBe(5);
  });

  it('a torn write of several sectors keeps a strict, sector-aligned prefix and crashes', () => {
    const old = fill(4096, 0x11);
    const prefixes = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const s = new FaultyStorage(old, { seed });
      s.tearNextWrite();
      expect(() => s.write(fill(4096, 0xaa), 0)).toThrow(SimulatedCrash);
      expect(s.crashed).toBe(true);
      expect(() => s.read(new Uint8Array(1), 0)).toThrow(SimulatedCrash);
      expect(s.pendingWrites).toBe(1);
      // Not durable: a reboot that loses unsynced data sees the old page.
      expect(s.afterCrash('lose-unsynced').snapshot()).toEqual(old);
      const img = s.afterCrash('reorder-prefix').snapshot();
      const n = img.findIndex((x) => x !== 0xaa);
      if (n === 0) continue; // the pending prefix was not chosen this time
      expect(n).toBeGreaterThanOrEqual(512);
      expect(n).toBeLessThan(4096);
      expect(n % 512).toBe(0);
      expect(img.subarray(n).every((x) => x === 0x11)).toBe(true);
      prefixes.add(n);
    }
    expect(prefixes.size).toBeGreaterThan(1);
  });

  it('a torn short write keeps 1..length-1 bytes', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const s = new FaultyStorage(fill(100, 0x11), { seed });
      s.tearNextWrite();
      expect(() => s.write(fill(100, 0xaa), 0)).toThrow(SimulatedCrash);
      // With one pending op, 'random-subset' either applies it or not; retry until it does.
      let img = s.afterCrash('random-subset').snapshot();
      while (img[0] !== 0xaa) img = s.afterCrash('random-subset').snapshot();
      const n = img.findIndex((x) => x !== 0xaa);
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThan(100);
      expect(img.subarray(n).every((x) => x === 0x11)).toBe(true);
    }
  });
});

describe('FaultyStorage: injected errors', () => {
  it('failSyncAfter(n) fails the (n+1)-th sync with ROTA_IO / EIO, once', () => {
    const s = new FaultyStorage(undefined, { seed: 7 });
    s.failSyncAfter(1);
    s.write(fill(10, 1), 0);
    s.sync();
    for (let i = 0; i < 20; i++) s.write(fill(1, 2), i);
    const err = thrown(() => s.sync());
    expect(err).toBeInstanceOf(StorageError);
    const se = err as StorageError;
    expect(se.code).toBe('ROTA_IO');
    expect(se.syscallCode).toBe('EIO');
    expect((se.cause as { code: string }).code).toBe('EIO');
    // Some pending writes were lost for good (seeded, so this is stable), none gained.
    expect(s.pendingWrites).toBeLessThan(20);
    expect(s.pendingWrites).toBeGreaterThan(0);
    // The cache still shows everything; the synced write is still durable.
    expect(readAll(s).every((x) => x === 2)).toBe(true);
    expect(s.durableSnapshot().subarray(0, 10).every((x) => x === 1)).toBe(true);
    s.sync(); // disarmed after firing
    expect(s.pendingWrites).toBe(0);
  });

  it('failWriteAfter(n) fails the (n+1)-th write with EIO and changes nothing', () => {
    const s = new FaultyStorage();
    s.failWriteAfter(2);
    s.write(fill(2, 1), 0);
    s.write(fill(2, 2), 2);
    const err = thrown(() => s.write(fill(10, 3), 0));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).syscallCode).toBe('EIO');
    expect(Array.from(readAll(s))).toEqual([1, 1, 2, 2]);
    expect(s.pendingWrites).toBe(2);
    s.write(fill(1, 4), 0); // one-shot
    expect(readAll(s)[0]).toBe(4);
  });

  it('diskLimit refuses growth with ENOSPC and changes nothing; Infinity lifts it', () => {
    const s = new FaultyStorage();
    s.diskLimit(100);
    s.write(fill(100, 1), 0); // exactly at the limit is fine
    for (const attempt of [() => s.write(fill(2, 2), 99), () => s.truncate(101)]) {
      const err = thrown(attempt);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('ROTA_IO');
      expect((err as StorageError).syscallCode).toBe('ENOSPC');
    }
    expect(s.size()).toBe(100);
    expect(readAll(s)[99]).toBe(1);
    expect(s.pendingWrites).toBe(1);
    s.write(fill(10, 5), 90); // overwrite within the allocated size still works
    s.truncate(50);
    s.diskLimit(Infinity);
    s.write(fill(1000, 6), 0);
    expect(s.size()).toBe(1000);
  });

  it('flipBit is visible in reads, in the durable image, and survives a later sync', () => {
    const s = new FaultyStorage(fill(16, 0));
    s.flipBit(5, 3);
    expect(readAll(s)[5]).toBe(8);
    expect(s.durableSnapshot()[5]).toBe(8);
    // A pending write over the flipped byte carries the flip too.
    s.write(fill(4, 0xf0), 4);
    s.flipBit(5, 0);
    expect(readAll(s)[5]).toBe(0xf1);
    s.sync();
    expect(s.durableSnapshot()[5]).toBe(0xf1);
    expect(() => s.flipBit(16, 0)).toThrow(RangeError);
    expect(() => s.flipBit(0, 8)).toThrow(RangeError);
  });

  it('after close, storage calls throw StorageError but the harness can still inspect', () => {
    const s = new FaultyStorage();
    s.write(fill(3, 1), 0);
    s.sync();
    s.close();
    expect(() => s.read(new Uint8Array(1), 0)).toThrow(StorageError);
    expect(() => s.write(new Uint8Array(1), 0)).toThrow(StorageError);
    expect(() => s.sync()).toThrow(StorageError);
    expect(() => s.size()).toThrow(StorageError);
    expect(() => s.truncate(0)).toThrow(StorageError);
    expect(Array.from(s.afterCrash('lose-unsynced').snapshot())).toEqual([1, 1, 1]);
  });
});

describe('FaultyStorage: crash model properties', () => {
  type Op =
    | { kind: 'write'; pos: number; len: number; value: number }
    | { kind: 'truncate'; size: number }
    | { kind: 'sync' };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), pos: fc.nat(600), len: fc.integer({ min: 1, max: 200 }), value: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), size: fc.nat(800) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sync' as const) }) },
  );

  function applyToModel(model: number[], op: Op): number[] {
    if (op.kind === 'write') {
      const next = model.slice();
      while (next.length < op.pos) next.push(0);
      for (let i = 0; i < op.len; i++) next[op.pos + i] = op.value;
      return next;
    }
    if (op.kind === 'truncate') {
      const next = model.slice(0, op.size);
      while (next.length < op.size) next.push(0);
      return next;
    }
    return model;
  }

  function run(s: FaultyStorage, op: Op): void {
    if (op.kind === 'write') s.write(new Uint8Array(op.len).fill(op.value), op.pos);
    else if (op.kind === 'truncate') s.truncate(op.size);
    else s.sync();
  }

  it("'lose-unsynced' equals the ops before the last completed sync", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: 45 }), fc.nat(), (ops, crashAt, seed) => {
        const s = new FaultyStorage(undefined, { seed });
        s.crashAtOp(crashAt);
        let live: number[] = []; // what the OS cache holds
        let synced: number[] = []; // what the last completed sync made durable
        for (const op of ops) {
          try {
            run(s, op);
          } catch (err) {
            expect(err).toBeInstanceOf(SimulatedCrash);
            break; // the crashing op had no effect
          }
          live = applyToModel(live, op);
          if (op.kind === 'sync') synced = live;
        }
        expect(Array.from(s.afterCrash('lose-unsynced').snapshot())).toEqual(synced);
      }),
      { numRuns: 300 },
    );
  });

  it("'random-subset' and 'reorder-prefix' give an image some allowed choice of pending ops produces", () => {
    const unsynced = fc.array(fc.oneof({ weight: 4, arbitrary: opArb.filter((o) => o.kind === 'write') }, { weight: 1, arbitrary: opArb.filter((o) => o.kind === 'truncate') }), { maxLength: 5 });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 10 }), unsynced, fc.nat(), (before, pending, seed) => {
        const s = new FaultyStorage(undefined, { seed });
        let durable: number[] = [];
        for (const op of before) {
          run(s, op);
          durable = applyToModel(durable, op);
        }
        s.sync();
        for (const op of pending) run(s, op);

        const apply = (order: Op[]) => order.reduce(applyToModel, durable).join(',');
        const subsets = new Set<string>();
        for (let mask = 0; mask < 1 << pending.length; mask++) subsets.add(apply(pending.filter((_, i) => mask & (1 << i))));
        const prefixes = new Set<string>();
        const orderings = (rest: Op[], chosen: Op[]): void => {
          prefixes.add(apply(chosen));
          rest.forEach((op, i) => orderings([...rest.slice(0, i), ...rest.slice(i + 1)], [...chosen, op]));
        };
        orderings(pending, []);

        expect(subsets.has(Array.from(s.afterCrash('random-subset').snapshot()).join(','))).toBe(true);
        expect(prefixes.has(Array.from(s.afterCrash('reorder-prefix').snapshot()).join(','))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
