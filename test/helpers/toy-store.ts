/**
 * A page store for testing the tree alone: pages live in a Map; `commit()` freezes every page
 * so that later writes must copy, and `assertFrozenUnchanged()` proves copy-on-write held.
 */
import type { PageWriter } from '../../src/btree/store.js';
import { overflowPageCount } from '../../src/btree/store.js';
import { PAGE_UPPER, PageType } from '../../src/pages/layout.js';
import { setU32 } from '../../src/pages/bytes.js';

export class ToyStore implements PageWriter {
  pages = new Map<number, Uint8Array>();
  frozen = new Map<number, Uint8Array>();
  private next = 10;
  constructor(readonly pageSize: number) {}
  get(pgno: number): Uint8Array {
    const p = this.pages.get(pgno) ?? this.frozen.get(pgno);
    if (!p) throw new Error(`toy store: no page ${pgno}`);
    return p;
  }
  peek(pgno: number): Uint8Array {
    return this.get(pgno);
  }
  touch(pgno: number): number {
    if (this.pages.has(pgno)) return pgno;
    const np = this.allocPage();
    this.pages.get(np)!.set(this.get(pgno));
    this.freePage(pgno);
    return np;
  }
  owns(pgno: number): boolean {
    return this.pages.has(pgno);
  }
  allocPage(): number {
    const pgno = this.next++;
    this.pages.set(pgno, new Uint8Array(this.pageSize));
    return pgno;
  }
  freePage(pgno: number): void {
    if (this.pages.has(pgno)) this.pages.delete(pgno);
    else if (this.frozen.has(pgno)) this.freedFrozen.add(pgno);
    else throw new Error(`toy store: double free of ${pgno}`);
  }
  freedFrozen = new Set<number>();
  writeOverflow(value: Uint8Array, length: number): number {
    const n = overflowPageCount(length, this.pageSize);
    const first = this.next;
    this.next += n;
    const run = new Uint8Array(n * this.pageSize);
    run[4] = PageType.Overflow;
    setU32(run, PAGE_UPPER, n);
    run.set(value.subarray(0, length), 16);
    for (let i = 0; i < n; i++) this.pages.set(first + i, run.subarray(i * this.pageSize, (i + 1) * this.pageSize));
    return first;
  }
  readOverflow(pgno: number, length: number): Uint8Array {
    const n = overflowPageCount(length, this.pageSize);
    const out = new Uint8Array(n * this.pageSize);
    for (let i = 0; i < n; i++) out.set(this.get(pgno + i), i * this.pageSize);
    return out.subarray(16, 16 + length);
  }
  freeOverflow(pgno: number, length: number): void {
    const n = overflowPageCount(length, this.pageSize);
    for (let i = 0; i < n; i++) this.freePage(pgno + i);
  }
  /** Freezes the current version: every live page becomes immutable. */
  commit(): void {
    for (const f of this.freedFrozen) this.frozen.delete(f);
    this.freedFrozen.clear();
    this.snapshot = new Map();
    for (const [k, v] of this.pages) this.frozen.set(k, v);
    this.pages.clear();
    for (const [k, v] of this.frozen) this.snapshot.set(k, v.slice());
  }
  snapshot = new Map<number, Uint8Array>();
  assertFrozenUnchanged(): void {
    for (const [k, v] of this.snapshot) {
      const now = this.frozen.get(k)!;
      if (Buffer.compare(now, v) !== 0) throw new Error(`copy-on-write broken: committed page ${k} changed`);
    }
  }
}
