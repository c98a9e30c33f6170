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
