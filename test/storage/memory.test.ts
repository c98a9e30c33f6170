import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 37 + seed) & 0xff;
  return b;
}

describe('MemoryStorage', () => {
  it('starts empty and round-trips writes at odd positions with a zero-filled gap', () => {
    const s = new MemoryStorage();
    expect(s.size()).toBe(0);
    s.write(bytes(11, 1), 9001);
    expect(s.size()).toBe(9012);
    const out = new Uint8Array(11);
    expect(s.read(out, 9001)).toBe(11);
    expect(out).toEqual(bytes(11, 1));
    const gap = new Uint8Array(9001);
    expect(s.read(gap, 0)).toBe(9001);
    expect(gap.every((x) => x === 0)).toBe(true);
  });

  it('returns short counts at end of file and leaves the rest of the buffer alone', () => {
    const s = MemoryStorage.from(bytes(10, 2));
    const out = new Uint8Array(8).fill(0xee);
    expect(s.read(out, 7)).toBe(3);
    expect(out.subarray(0, 3)).toEqual(bytes(10, 2).subarray(7));
    expect(out[3]).toBe(0xee);
    expect(s.read(out, 10)).toBe(0);
    expect(s.read(out, 1 << 20)).toBe(0);
  });

  it('an empty write does not extend', () => {
    const s = new MemoryStorage();
    s.write(new Uint8Array(0), 100);
    expect(s.size()).toBe(0);
  });

  it('truncate then regrow exposes zeros, not the old bytes', () => {
    const s = new MemoryStorage();
    s.write(new Uint8Array(100).fill(0xab), 0);
    s.truncate(10);
    expect(s.size()).toBe(10);
    s.truncate(100);
    const out = new Uint8Array(100);
    expect(s.read(out, 0)).toBe(100);
    expect(out.subarray(0, 10).every((x) => x === 0xab)).toBe(true);
    expect(out.subarray(10).every((x) => x === 0)).toBe(true);
    // A write past the end after a shrink must also see zeros in between.
    s.truncate(3);
    s.write(Uint8Array.of(1), 50);
    const mid = new Uint8Array(47);
    s.read(mid, 3);
    expect(mid.every((x) => x === 0)).toBe(true);
  });

  it('from() and snapshot() copy', () => {
    const src = bytes(20, 3);
    const s = MemoryStorage.from(src);
    src[0] ^= 0xff;
    const snap = s.snapshot();
    expect(snap[0]).toBe(bytes(20, 3)[0]);
    snap[1] ^= 0xff;
    const out = new Uint8Array(2);
    s.read(out, 0);
    expect(out).toEqual(bytes(20, 3).subarray(0, 2));
    expect(s.snapshot().length).toBe(20);
  });

  it('rejects negative and fractional offsets', () => {
    const s = new MemoryStorage();
    expect(() => s.write(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => s.read(new Uint8Array(1), 1.5)).toThrow(RangeError);
    expect(() => s.truncate(-3)).toThrow(RangeError);
  });

  it('after close every call throws StorageError; close is idempotent', () => {
    const s = MemoryStorage.from(bytes(4, 0));
    s.close();
    s.close();
    const calls: Array<() => unknown> = [
      () => s.read(new Uint8Array(1), 0),
      () => s.write(new Uint8Array(1), 0),
      () => s.sync(),
      () => s.size(),
      () => s.truncate(0),
      () => s.snapshot(),
    ];
    for (const call of calls) {
      expect(call).toThrow(StorageError);
      expect(call).toThrow('storage is closed');
    }
  });

  it('matches a plain array model for random writes and truncates', () => {
    type Op = { kind: 'write'; pos: number; len: number; fill: number } | { kind: 'truncate'; size: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        pos: fc.integer({ min: 0, max: 20_000 }),
        len: fc.integer({ min: 0, max: 5_000 }),
        fill: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({ kind: fc.constant('truncate' as const), size: fc.integer({ min: 0, max: 25_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const s = new MemoryStorage();
        let model: number[] = [];
        for (const o of ops) {
          if (o.kind === 'write') {
            s.write(new Uint8Array(o.len).fill(o.fill), o.pos);
            if (o.len > 0) {
              while (model.length < o.pos) model.push(0);
              for (let i = 0; i < o.len; i++) model[o.pos + i] = o.fill;
            }
          } else {
            s.truncate(o.size);
            model = model.slice(0, o.size);
            while (model.length < o.size) model.push(0);
          }
        }
        expect(s.size()).toBe(model.length);
        expect(Array.from(s.snapshot())).toEqual(model);
      }),
      { numRuns: 200 },
    );
  });
});
