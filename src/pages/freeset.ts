import { InternalError } from '../errors.js';

/**
 * A set of page numbers as a bitmap: O(1) add, remove and test, lowest-first allocation with a
 * moving hint, and contiguous runs for overflow values. Memory is one bit per page of the file.
 */
export class FreeSet {
  private words = new Uint32Array(64);
  private low = 0; // no set bit lives in a word below this index
  count = 0;

  has(p: number): boolean {
    const w = p >>> 5;
    return w < this.words.length && (this.words[w]! & (1 << (p & 31))) !== 0;
  }

  add(p: number): void {
    const w = p >>> 5;
    if (w >= this.words.length) this.grow(w + 1);
    const bit = 1 << (p & 31);
    if ((this.words[w]! & bit) !== 0) throw new InternalError(`free set: page ${p} is already free`);
    this.words[w]! |= bit;
    this.count++;
    if (w < this.low) this.low = w;
  }

  delete(p: number): void {
    const w = p >>> 5;
    const bit = 1 << (p & 31);
    if (w >= this.words.length || (this.words[w]! & bit) === 0) throw new InternalError(`free set: page ${p} is not free`);
    this.words[w]! &= ~bit;
    this.count--;
  }

  /** Removes and returns the lowest page, or -1 when empty. */
  takeLowest(): number {
    if (this.count === 0) return -1;
    const words = this.words;
    for (let w = this.low; w < words.length; w++) {
      const x = words[w]!;
      if (x !== 0) {
        this.low = w;
        const b = 31 - Math.clz32(x & -x);
        words[w] = x & ~(1 << b);
        this.count--;
        return w * 32 + b;
      }
    }
    throw new InternalError('free set: count says non-empty but no bit is set');
  }

  /** Removes and returns the first page of the lowest run of `n` free pages, or -1. */
  takeRun(n: number): number {
    if (n === 1) return this.takeLowest();
    if (this.count < n) return -1;
    let start = -1;
    let len = 0;
    const limit = this.words.length * 32;
    for (let p = this.low * 32; p < limit; p++) {
      if ((p & 31) === 0 && len === 0 && this.words[p >>> 5] === 0) { p += 31; continue; }
      if (this.has(p)) {
        if (len === 0) start = p;
        if (++len === n) {
          for (let q = start; q < start + n; q++) this.delete(q);
          return start;
        }
      } else {
        len = 0;
      }
    }
    return -1;
  }

  /** Ascending [first, count] runs. */
  runs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const limit = this.words.length * 32;
    let start = -1;
    for (let w = 0; w < this.words.length; w++) {
      const x = this.words[w]!;
      if (x === 0 && start < 0) continue;
      if (x === -1 >>> 0 && start >= 0) continue;
      for (let b = 0; b < 32; b++) {
        const p = w * 32 + b;
        const set = (x & (1 << b)) !== 0;
        if (set && start < 0) start = p;
        else if (!set && start >= 0) { out.push([start, p - start]); start = -1; }
      }
    }
    if (start >= 0) out.push([start, limit - start]);
    return out;
  }

  clone(): FreeSet {
    const c = new FreeSet();
    c.words = this.words.slice();
    c.low = this.low;
    c.count = this.count;
    return c;
  }

  private grow(minWords: number): void {
    let n = this.words.length;
    while (n < minWords) n *= 2;
    const next = new Uint32Array(n);
    next.set(this.words);
    this.words = next;
  }
}

