/**
 * A 32-bit checksum over whole 32-bit words, fast in JavaScript (two Math.imul per word).
 *
 * Each step h' = imul(rotl(h ^ imul(w, P1), 13), P2) is a bijection of h for a fixed word w and a
 * bijection of w for a fixed h, so changing any single word always changes the result; damage to
 * several words goes undetected with probability about 2^-32. The seed is the page number, so a
 * page written to the wrong place (or a stale copy of another page) fails too.
 *
 * Little-endian hosts only (checked at load): the words are read through a Uint32Array view.
 */
import { endianness } from 'node:os';
import { UnsupportedPlatformError } from '../errors.js';

if (endianness() !== 'LE') throw new UnsupportedPlatformError('rotadb supports little-endian hosts only');

const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;

/** Checksum of bytes [start, end) of `buf`; start, end and buf.byteOffset must be multiples of 4. */
export function checksum(buf: Uint8Array, start: number, end: number, seed: number): number {
  const words = new Uint32Array(buf.buffer, buf.byteOffset + start, (end - start) >>> 2);
  let h = (seed ^ P3) | 0;
  const n = words.length;
  for (let i = 0; i < n; i++) {
    h ^= Math.imul(words[i]!, P1);
    h = (h << 13) | (h >>> 19);
    h = Math.imul(h, P2);
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, P1);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * A digest of the pages one commit wrote, independent of their order: two sums over the pages of
 * a mix of (page number, checksum). A one-fsync commit stores it in its root slot; on open, the
 * pages of that version written by it (page birth = its id) must give the same digest, or some of
 * them never reached the disk. 64 bits: a page missing from the disk but replaced by another with
 * a valid checksum and the same birth goes unnoticed with probability about 2^-64.
 */
export class CommitDigest {
  pages = 0;
  a = 0;
  b = 0;

  add(pgno: number, sum: number): void {
    this.pages++;
    this.a = (this.a + mix(sum ^ Math.imul(pgno, P1), P2)) | 0;
    this.b = (this.b + mix(Math.imul(sum, P3) ^ pgno, P1)) | 0;
  }

  equals(o: { pages: number; a: number; b: number }): boolean {
    return this.pages === o.pages && (this.a >>> 0) === (o.a >>> 0) && (this.b >>> 0) === (o.b >>> 0);
  }
}

function mix(x: number, p: number): number {
  x = Math.imul(x ^ (x >>> 16), p);
  x = Math.imul(x ^ (x >>> 13), P3);
  return (x ^ (x >>> 16)) >>> 0;
}
