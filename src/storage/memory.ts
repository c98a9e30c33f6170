import { StorageError } from '../errors.js';
import type { Storage } from './storage.js';

const MIN_CAPACITY = 4096;

/**
 * A `Storage` held entirely in memory: the file image is `#buf[0, #size)`.
 *
 * Invariant: every byte of `#buf` at or beyond `#size` is zero. Growing the logical size
 * (by a write past the end or by `truncate`) therefore exposes zeros without extra work,
 * which is what a real file shows in a hole or after extension.
 */
export class MemoryStorage implements Storage {
  #buf: Uint8Array;
  #size = 0;
  #closed = false;

  constructor() {
    this.#buf = new Uint8Array(0);
  }

  /** A storage whose initial contents are a copy of `bytes`. */
  static from(bytes: Uint8Array): MemoryStorage {
    const s = new MemoryStorage();
    s.#reserve(bytes.length);
    s.#buf.set(bytes);
    s.#size = bytes.length;
    return s;
  }

  /** A copy of the logical contents; later writes do not affect it. */
  snapshot(): Uint8Array {
    this.#open();
    return this.#buf.slice(0, this.#size);
  }

  read(buf: Uint8Array, position: number): number {
    this.#open();
    checkOffset('position', position);
    if (position >= this.#size) return 0;
    const n = Math.min(buf.length, this.#size - position);
    buf.set(this.#buf.subarray(position, position + n));
    return n;
  }

  write(buf: Uint8Array, position: number): void {
    this.#open();
    checkOffset('position', position);
    // Like pwrite, an empty write does not extend the file.
    if (buf.length === 0) return;
    const end = position + buf.length;
    this.#reserve(end);
    this.#buf.set(buf, position);
    if (end > this.#size) this.#size = end;
  }

  sync(): void {
    this.#open();
  }

  size(): number {
    this.#open();
    return this.#size;
  }

  truncate(size: number): void {
    this.#open();
    checkOffset('size', size);
    if (size < this.#size) {
      this.#buf.fill(0, size, this.#size); // keep the zero-tail invariant
    } else {
      this.#reserve(size);
    }
    this.#size = size;
  }

  close(): void {
    this.#closed = true;
  }

  /** Ensures capacity for `n` bytes, growing geometrically so repeated appends are amortised O(1). */
  #reserve(n: number): void {
    if (n <= this.#buf.length) return;
    const capacity = Math.max(n, this.#buf.length * 2, MIN_CAPACITY);
    const next = new Uint8Array(capacity); // zero-filled: preserves the zero-tail invariant
    next.set(this.#buf.subarray(0, this.#size));
    this.#buf = next;
  }

  #open(): void {
    if (this.#closed) throw new StorageError('storage is closed');
  }
}

function checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}
