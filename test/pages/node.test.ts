/**
 * Branch and leaf page codecs: cell round trips, and the slotted-page invariant that cells occupy
 * exactly [upper, pageSize) with no gap, under any sequence of inserts and removals.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  appendCells, branchCellSize, branchChild, branchKeyLen, cellCount, cellOffset, cellSize, freeSpace,
  initNode, leafCellSize, leafCellSizeFor, leafIsOverflow, leafKeyLen, leafValueLen, leafValueStart,
  pageType, removeCell, reserveCell, setBranchChild, upperOf, usedSpace, writeBranchCell, writeLeafCell,
} from '../../src/pages/node.js';
import { BRANCH_KEY, LEAF_CELL_OVERHEAD, LEAF_KEY, PAGE_HEADER, PageType, SLOT_WIDTH, maxCellSize } from '../../src/pages/layout.js';
import { u32 } from '../../src/pages/bytes.js';

const bytes = (...xs: number[]) => Uint8Array.from(xs);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface LeafCell { key: Uint8Array; value: Uint8Array; overflow: number }

/** The invariant check() relies on: cells tile [upper, pageSize) exactly, and the sizes add up. */
function expectPacked(p: Uint8Array): void {
  const n = cellCount(p);
  const spans = Array.from({ length: n }, (_, i) => {
    const off = cellOffset(p, i);
    return [off, off + cellSize(p, off)] as const;
  }).sort((a, b) => a[0] - b[0]);
  let at = upperOf(p);
  for (const [from, to] of spans) {
    expect(from).toBe(at);
    at = to;
  }
  expect(at).toBe(p.length);
  expect(upperOf(p)).toBeGreaterThanOrEqual(PAGE_HEADER + n * SLOT_WIDTH);
  expect(freeSpace(p) + usedSpace(p)).toBe(p.length - PAGE_HEADER);
}

function readLeaf(p: Uint8Array, i: number): LeafCell {
  const off = cellOffset(p, i);
  const v = leafValueStart(p, off);
  const key = p.slice(off + LEAF_KEY, off + LEAF_KEY + leafKeyLen(p, off));
  if (leafIsOverflow(p, off)) return { key, value: new Uint8Array(leafValueLen(p, off)), overflow: u32(p, v) };
  return { key, value: p.slice(v, v + leafValueLen(p, off)), overflow: 0 };
}

function insertLeaf(p: Uint8Array, i: number, c: LeafCell): void {
  const size = c.overflow ? LEAF_CELL_OVERHEAD + c.key.length + 4 : LEAF_CELL_OVERHEAD + c.key.length + c.value.length;
  const off = reserveCell(p, i, size);
  expect(writeLeafCell(p, off, c.key, c.key.length, c.value, c.value.length, c.overflow)).toBe(size);
  expect(leafCellSize(p, off)).toBe(size);
}

const leafPage = (size = 4096) => {
  const p = new Uint8Array(size);
  initNode(p, PageType.Leaf);
  return p;
};

describe('initNode', () => {
  it('formats an empty page: no cells, all space between header and end free', () => {
    const p = new Uint8Array(4096).fill(0xee);
    initNode(p, PageType.Branch);
    expect(pageType(p)).toBe(PageType.Branch);
    expect(cellCount(p)).toBe(0);
    expect(upperOf(p)).toBe(4096);
    expect(freeSpace(p)).toBe(4096 - PAGE_HEADER);
    expect(usedSpace(p)).toBe(0);
    // the rest of the header (checksum, flags, txn) is zeroed, whatever the buffer held
    expect(p.subarray(0, PAGE_HEADER).some((b, i) => i !== 4 && (i < 8 || i > 11) && b !== 0)).toBe(false);
  });
});

describe('leaf cells', () => {
  it('inline and overflow cells round trip, keys and values of any length (key given as a prefix length)', () => {
    const p = leafPage();
    insertLeaf(p, 0, { key: bytes(1, 2, 3), value: bytes(9, 8), overflow: 0 });
    insertLeaf(p, 1, { key: bytes(5), value: new Uint8Array(1_000_000), overflow: 77 }); // value lives in run 77
    insertLeaf(p, 0, { key: new Uint8Array(0), value: new Uint8Array(0), overflow: 0 });
    const long = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    insertLeaf(p, 3, { key: long, value: long, overflow: 0 });
    expect(cellCount(p)).toBe(4);
    expect(readLeaf(p, 0)).toEqual({ key: bytes(), value: bytes(), overflow: 0 });
    expect(readLeaf(p, 1)).toEqual({ key: bytes(1, 2, 3), value: bytes(9, 8), overflow: 0 });
    const ov = readLeaf(p, 2);
    expect([hex(ov.key), ov.value.length, ov.overflow]).toEqual(['05', 1_000_000, 77]);
    expect(leafIsOverflow(p, cellOffset(p, 2))).toBe(true);
    expect(hex(readLeaf(p, 3).value)).toBe(hex(long));
    expectPacked(p);

    // a key passed with a shorter length writes only that prefix
    const q = leafPage();
    const off = reserveCell(q, 0, LEAF_CELL_OVERHEAD + 2 + 1);
    writeLeafCell(q, off, bytes(4, 5, 6, 7), 2, bytes(1, 2), 1, 0);
    expect(readLeaf(q, 0)).toEqual({ key: bytes(4, 5), value: bytes(1), overflow: 0 });
    expectPacked(q);
  });

  it('leafCellSizeFor: inline up to the largest cell, else key plus a 4-byte page number', () => {
    const max = maxCellSize(4096);
    expect(leafCellSizeFor(10, max - LEAF_CELL_OVERHEAD - 10, max)).toBe(max);
    expect(leafCellSizeFor(10, max - LEAF_CELL_OVERHEAD - 9, max)).toBe(LEAF_CELL_OVERHEAD + 10 + 4);
    expect(leafCellSizeFor(0, 0, max)).toBe(LEAF_CELL_OVERHEAD);
  });

  it('two cells of the largest size and their slots fit one page, for every page size', () => {
    for (let ps = 1024; ps <= 65536; ps *= 2) {
      const p = leafPage(ps);
      const max = maxCellSize(ps);
      const key = new Uint8Array(8).fill(1);
      for (const i of [0, 1]) insertLeaf(p, i, { key, value: new Uint8Array(max - LEAF_CELL_OVERHEAD - 8).fill(i + 2), overflow: 0 });
      expect(freeSpace(p)).toBeGreaterThanOrEqual(0);
      expectPacked(p);
      removeCell(p, 0);
      expect(readLeaf(p, 0).value[0]).toBe(3);
      expectPacked(p);
    }
  });
});

describe('branch cells', () => {
  it('child and key round trip; the key is taken from [keyStart, keyStart + keyLen); the child can be rewritten', () => {
    const p = new Uint8Array(1024);
    initNode(p, PageType.Branch);
    const src = bytes(0, 0, 7, 8, 9, 0);
    const a = reserveCell(p, 0, 6);
    expect(writeBranchCell(p, a, 0xfffffffe, src, 0, 0)).toBe(6); // cell 0: empty key
    const b = reserveCell(p, 1, 6 + 3);
    expect(writeBranchCell(p, b, 12, src, 2, 3)).toBe(9);
    expect([branchChild(p, 0), branchChild(p, 1)]).toEqual([0xfffffffe, 12]);
    expect(branchKeyLen(p, cellOffset(p, 1))).toBe(3);
    expect(hex(p.subarray(b + BRANCH_KEY, b + BRANCH_KEY + 3))).toBe('070809');
    expect(branchCellSize(p, cellOffset(p, 0))).toBe(6);
    setBranchChild(p, 1, 99);
    expect(branchChild(p, 1)).toBe(99);
    expect(branchKeyLen(p, cellOffset(p, 1))).toBe(3);
    expectPacked(p);
  });
});

describe('reserveCell / removeCell keep cells packed', () => {
  it('removing a middle, the first and the last cell closes each hole', () => {
    const p = leafPage(1024);
    const cells = [1, 2, 3, 4, 5].map((k) => ({ key: bytes(k), value: new Uint8Array(k * 10).fill(k), overflow: 0 }));
    cells.forEach((c, i) => insertLeaf(p, i, c));
    const free0 = freeSpace(p);
    removeCell(p, 2);
    expectPacked(p);
    expect(freeSpace(p)).toBe(free0 + LEAF_CELL_OVERHEAD + 1 + 30 + SLOT_WIDTH);
    removeCell(p, 0);
    removeCell(p, 2);
    expectPacked(p);
    expect([0, 1].map((i) => readLeaf(p, i).key[0])).toEqual([2, 4]);
    expect(readLeaf(p, 1).value).toEqual(new Uint8Array(40).fill(4));
    removeCell(p, 0);
    removeCell(p, 0);
    expect(upperOf(p)).toBe(1024);
    expect(freeSpace(p)).toBe(1024 - PAGE_HEADER);
  });

  const op = fc.oneof(
    fc.record({ ins: fc.constant(true), at: fc.nat(), key: fc.uint8Array({ maxLength: 40 }), value: fc.uint8Array({ maxLength: 120 }), overflow: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff })) }),
    fc.record({ ins: fc.constant(false), at: fc.nat() }),
  );

  for (const ps of [1024, 65536]) {
    it(`model (${ps}-byte leaf): random inserts and removals keep contents and the packing invariant`, () => {
      fc.assert(fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const p = leafPage(ps);
        const model: LeafCell[] = [];
        for (const o of ops) {
          if (o.ins) {
            const c = { key: o.key, value: o.overflow ? new Uint8Array(0) : o.value, overflow: o.overflow };
            const size = LEAF_CELL_OVERHEAD + c.key.length + (c.overflow ? 4 : c.value.length);
            if (freeSpace(p) < size + SLOT_WIDTH) continue; // the caller's precondition
            const i = o.at % (model.length + 1);
            insertLeaf(p, i, c);
            model.splice(i, 0, c);
          } else if (model.length > 0) {
            const i = o.at % model.length;
            removeCell(p, i);
            model.splice(i, 1);
          }
          expectPacked(p);
        }
        expect(cellCount(p)).toBe(model.length);
        model.forEach((c, i) => {
          const got = readLeaf(p, i);
          expect([hex(got.key), got.overflow, got.overflow ? '' : hex(got.value)]).toEqual([hex(c.key), c.overflow, c.overflow ? '' : hex(c.value)]);
        });
      }), { numRuns: ps === 1024 ? 100 : 20 });
    });
  }
});

describe('appendCells', () => {
  it('copies cells [from, to) in order to the end of another page, packed', () => {
    const src = new Uint8Array(1024);
    const dst = new Uint8Array(1024);
    initNode(src, PageType.Branch);
    initNode(dst, PageType.Branch);
    const keys = [bytes(), bytes(3), bytes(5, 5), bytes(7, 7, 7)];
    keys.forEach((k, i) => writeBranchCell(src, reserveCell(src, i, 6 + k.length), 100 + i, k, 0, k.length));
    writeBranchCell(dst, reserveCell(dst, 0, 6), 1, bytes(), 0, 0);
    appendCells(dst, src, 1, 4);
    expect(cellCount(dst)).toBe(4);
    expect([0, 1, 2, 3].map((i) => branchChild(dst, i))).toEqual([1, 101, 102, 103]);
    expect([1, 2, 3].map((i) => branchKeyLen(dst, cellOffset(dst, i)))).toEqual([1, 2, 3]);
    expectPacked(dst);
    expect(cellCount(src)).toBe(4); // the source is untouched
    expectPacked(src);
  });
});
