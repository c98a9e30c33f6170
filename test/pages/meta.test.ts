/**
 * Root slot codec: encodeMeta/decodeMeta round trip every field at its full width, and each way a
 * slot is rejected (empty, magic, layout: page size or slot index, checksum, format).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeMeta, encodeMeta, readDbInfo, writeDbInfo, type Meta } from '../../src/pages/meta.js';
import { FORMAT_VERSION, SLOT_CHECKSUM, SLOT_FORMAT, SLOT_INDEX, SLOT_MAGIC, SLOT_PAGE_SIZE, SLOT_USED } from '../../src/pages/layout.js';
import { setU16, setU32 } from '../../src/pages/bytes.js';
import { checksum } from '../../src/pages/checksum.js';

const tree = (n: number) => ({ root: n, depth: 3, entries: n * 1000 + 7, branchPages: 2, leafPages: n, overflowPages: 1 });

function meta(over: Partial<Meta> = {}): Meta {
  return {
    txnId: 123_456, slot: 2, pageSize: 4096, nRoots: 4, highWater: 900, spaceMapHead: 17,
    spaceMapPages: 3, spaceMapSnapshot: 2, freePages: 44, main: tree(5), catalog: tree(6), ...over,
  };
}

/** Re-seals a slot after a deliberate edit, so that only the edited field is wrong. */
function reseal(b: Uint8Array, slot: number): void {
  setU32(b, SLOT_CHECKSUM, checksum(b, 4, b.length, slot));
}

describe('round trip', () => {
  it('decodes what it encoded, for the slot it was encoded for', () => {
    const m = meta();
    const b = encodeMeta(m);
    expect(b.length).toBe(4096);
    expect(decodeMeta(b, 2)).toEqual({ ok: true, meta: m });
  });

  it('every field at its full width: txn ids and entry counts up to 2^53 - 1, u32 page numbers', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const info = fc.record({ root: u32, depth: u32, entries: fc.maxSafeNat(), branchPages: u32, leafPages: u32, overflowPages: u32 });
    const m = fc.record({
      txnId: fc.maxSafeNat(), nRoots: fc.integer({ min: 1, max: 255 }), pageSize: fc.constantFrom(1024, 2048, 4096, 65536),
      highWater: u32, spaceMapHead: u32, spaceMapPages: u32, spaceMapSnapshot: u32, freePages: u32, main: info, catalog: info,
    }).chain((r) => fc.integer({ min: 0, max: r.nRoots - 1 }).map((slot): Meta => ({ ...r, slot })));
    fc.assert(fc.property(m, (x) => {
      expect(decodeMeta(encodeMeta(x), x.slot)).toEqual({ ok: true, meta: x });
    }));
  });

  it('readDbInfo/writeDbInfo round trip at any offset, and write only their 32 bytes', () => {
    const b = new Uint8Array(200).fill(0xaa);
    const t = { root: 0xffffffff, depth: 1, entries: 2 ** 53 - 1, branchPages: 0, leafPages: 9, overflowPages: 0xfffffffe };
    writeDbInfo(b, 100, t);
    expect(readDbInfo(b, 100)).toEqual(t);
    expect(b.subarray(0, 100).every((x) => x === 0xaa)).toBe(true);
    expect(b.subarray(132).every((x) => x === 0xaa)).toBe(true);
  });

  it('the payload ends at SLOT_USED: the rest of the page is zero', () => {
    const b = encodeMeta(meta({ pageSize: 1024 }));
    expect(b.subarray(SLOT_USED).every((x) => x === 0)).toBe(true);
  });
});

describe('rejection', () => {
  it('an all-zero page is empty (never written), not damaged', () => {
    expect(decodeMeta(new Uint8Array(4096), 0)).toEqual({ ok: false, reason: 'empty' });
  });

  it('a wrong magic number: not a root slot at all', () => {
    const b = encodeMeta(meta());
    b[SLOT_MAGIC] ^= 1;
    expect(decodeMeta(b, 2)).toEqual({ ok: false, reason: 'magic' });
    const junk = new Uint8Array(4096).fill(7);
    expect(decodeMeta(junk, 0)).toEqual({ ok: false, reason: 'magic' });
  });

  it('a slot read from the wrong position, or with the wrong slot index, is a layout error', () => {
    const b = encodeMeta(meta({ slot: 1 }));
    expect(decodeMeta(b, 1).ok).toBe(true);
    expect(decodeMeta(b, 0)).toEqual({ ok: false, reason: 'layout' });
    expect(decodeMeta(b, 3)).toEqual({ ok: false, reason: 'layout' });
    b[SLOT_INDEX] = 3; // the edit breaks the seal; resealed, the page is a valid slot 3 and nothing else
    expect(decodeMeta(b, 3)).toEqual({ ok: false, reason: 'checksum' });
    reseal(b, 3);
    expect(decodeMeta(b, 3).ok).toBe(true);
    expect(decodeMeta(b, 1)).toEqual({ ok: false, reason: 'layout' });
  });

  it('a page size that does not match the page it was read from is a layout error', () => {
    const b = encodeMeta(meta({ pageSize: 4096 }));
    expect(decodeMeta(b.subarray(0, 2048), 2)).toEqual({ ok: false, reason: 'layout' });
    const big = new Uint8Array(8192);
    big.set(b);
    expect(decodeMeta(big, 2)).toEqual({ ok: false, reason: 'layout' });
    setU32(b, SLOT_PAGE_SIZE, 8192);
    reseal(b, 2);
    expect(decodeMeta(b, 2)).toEqual({ ok: false, reason: 'layout' });
  });

  it('a damaged checksum or payload byte is a checksum error', () => {
    const b = encodeMeta(meta());
    b[SLOT_CHECKSUM] ^= 0x80;
    expect(decodeMeta(b, 2)).toEqual({ ok: false, reason: 'checksum' });
    const c = encodeMeta(meta());
    c[4000] = 1; // past the fields, still covered
    expect(decodeMeta(c, 2)).toEqual({ ok: false, reason: 'checksum' });
  });

  it('any single damaged byte anywhere in the page is rejected', () => {
    const good = encodeMeta(meta({ pageSize: 1024, slot: 0 }));
    fc.assert(fc.property(fc.integer({ min: 0, max: 1023 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const b = good.slice();
      b[at] ^= x;
      expect(decodeMeta(b, 0).ok).toBe(false);
    }));
  });

  it('another format version with a valid checksum is reported with its number; with a bad one it is just damage', () => {
    const b = encodeMeta(meta());
    setU16(b, SLOT_FORMAT, FORMAT_VERSION + 1);
    expect(decodeMeta(b, 2)).toEqual({ ok: false, reason: 'checksum' });
    reseal(b, 2);
    expect(decodeMeta(b, 2)).toEqual({ ok: false, reason: 'format', format: FORMAT_VERSION + 1 });
    setU16(b, SLOT_FORMAT, 0);
    reseal(b, 2);
    expect(decodeMeta(b, 2)).toEqual({ ok: false, reason: 'format', format: 0 });
  });
});
