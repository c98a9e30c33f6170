/** Little-endian integer access on plain Uint8Arrays (no DataView: these are the hot path). */

export function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

export function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

export function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** A number below 2^53 as two u32 words (lo at o, hi at o + 4). */
export function setU64(b: Uint8Array, o: number, v: number): void {
  setU32(b, o, v >>> 0);
  setU32(b, o + 4, Math.floor(v / 0x100000000));
}

export function u64(b: Uint8Array, o: number): number {
  return u32(b, o) + u32(b, o + 4) * 0x100000000;
}

/** Unsigned lexicographic order of a[aStart, aEnd) and b[bStart, bEnd): negative, zero or positive. */
export function compareBytes(
  a: Uint8Array, aStart: number, aEnd: number,
  b: Uint8Array, bStart: number, bEnd: number,
): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/**
 * A copy of b[start, end). Always a copy: Buffer#slice returns a view (pages are Buffers), so
 * code that means "copy" must not call .slice() on page bytes.
 */
export function copyOf(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}
