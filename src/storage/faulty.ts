import { StorageError } from '../errors.js';
import { MemoryStorage } from './memory.js';
import type { Storage } from './storage.js';

/** Granularity at which a torn write is cut: the smallest unit a disk writes atomically. */
const SECTOR = 512;

/** How a reboot treats writes that were issued but not yet made durable by a successful `sync()`. */
export type CrashMode = 'lose-unsynced' | 'random-subset' | 'reorder-prefix';

/**
 * The process died (injected by `FaultyStorage`). Deliberately not a RotaError: the engine
 * must never catch and handle it, because a dead process runs no more code.
 */
export class SimulatedCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatedCrash';
  }
}

export interface FaultyStorageOptions {
  /** Seed of the PRNG behind every random choice (where a torn write is cut, which pending writes a failed sync or a crash keeps); default 0x5eed. */
  seed?: number;
}

/** A change that has reached the OS cache but not the disk. */
type PendingOp =
  | { readonly kind: 'write'; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly size: number };

/**
 * A fault-injecting `Storage` for crash tests. It separates what a power cut would keep
 * (the durable image) from what only the OS cache holds (the pending list of writes and
 * truncates issued since the last successful `sync()`).
 *
 * Invariant: the view that reads see equals the durable image with every pending op applied
 * in issue order. The one exception is a failed sync, which forgets some pending ops for
 * good while they stay visible in the view, as Linux does after a writeback error (this is
 * why a failed fsync cannot be retried).
 *
 * Every random choice comes from one PRNG seeded in the constructor, so a test that replays
 * the same calls with the same seed sees the same faults.
 */
export class FaultyStorage implements Storage {
  readonly #durable: MemoryStorage;
  readonly #view: MemoryStorage;
  #pending: PendingOp[] = [];
  readonly #rand: () => number;

  #ops = 0;
  #crashAt = Infinity;
  /** The op number that crashed, or 0 while alive. */
  #crashedAtOp = 0;
  #closed = false;
  /** Per kind, calls still allowed to succeed before one fails; null = disarmed. */
  readonly #failIn: { write: number | null; sync: number | null } = { write: null, sync: null };
  #diskLimit = Infinity;
  #tearNext = false;

  constructor(initial?: Uint8Array, opts?: FaultyStorageOptions) {
    this.#durable = MemoryStorage.from(initial ?? new Uint8Array(0));
    this.#view = MemoryStorage.from(initial ?? new Uint8Array(0));
    this.#rand = mulberry32(opts?.seed ?? 0x5eed);
  }

  // ---- Storage ------------------------------------------------------------------------

  read(buf: Uint8Array, position: number): number {
    this.#begin('read');
    return this.#view.read(buf, position);
  }

  write(buf: Uint8Array, position: number): void {
    this.#begin('write');
    checkOffset('position', position);
    if (this.#takeFailure('write')) {
      throw injected('write', 'EIO', `injected write failure at ${position}`);
    }
    if (buf.length === 0) return; // like pwrite: no effect, not even an extension
    this.#checkSpace(position + buf.length, 'write');
    if (this.#tearNext) {
      this.#tearNext = false;
      const kept = this.#tornLength(buf.length);
      if (kept > 0) this.#issue({ kind: 'write', position, data: Uint8Array.prototype.slice.call(buf, 0, kept) });
      this.#crash(`torn write of ${kept}/${buf.length} bytes at ${position}`);
    }
    // Copy: the caller may reuse its buffer, and the pending op must keep what was written.
    this.#issue({ kind: 'write', position, data: Uint8Array.prototype.slice.call(buf) });
  }

  sync(): void {
    this.#begin('sync');
    if (this.#takeFailure('sync')) {
      // Which dirty pages reached the disk is unknown; the ones dropped here can never
      // become durable, the rest stay pending.
      this.#pending = this.#pending.filter(() => this.#rand() < 0.5);
      throw injected('fdatasync', 'EIO', 'injected sync failure');
    }
    for (const op of this.#pending) applyOp(this.#durable, op);
    this.#pending = [];
  }

  size(): number {
    this.#begin('size');
    return this.#view.size();
  }

  truncate(size: number): void {
    this.#begin('truncate');
    checkOffset('size', size);
    this.#checkSpace(size, 'truncate');
    this.#issue({ kind: 'truncate', size });
  }

  /** Later Storage calls throw StorageError; the inspection methods below keep working. */
  close(): void {
    this.#closed = true;
  }

  // ---- fault controls -----------------------------------------------------------------

  /** Storage calls (read/write/sync/size/truncate) made so far, including a crashing one. */
  get ops(): number {
    return this.#ops;
  }

  get crashed(): boolean {
    return this.#crashedAtOp !== 0;
  }

  /**
   * The call that brings `ops` to `n` crashes: it and every later call throw SimulatedCrash,
   * and it has no effect. If `ops` is already at or past `n`, the next call crashes.
   */
  crashAtOp(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`crashAtOp needs an integer >= 1, got ${n}`);
    this.#crashAt = n;
  }

  /** Lets `n` more writes succeed, then fails the next one with EIO (once), changing nothing. */
  failWriteAfter(n: number): void {
    this.#failIn.write = checkCount(n);
  }

  /**
   * Lets `n` more syncs succeed, then fails the next one with EIO (once). A random subset of
   * the pending ops is lost for good; see the class comment.
   */
  failSyncAfter(n: number): void {
    this.#failIn.sync = checkCount(n);
  }

  /**
   * Writes and truncates that would grow the size beyond `bytes` fail with ENOSPC and change
   * nothing; changes within the current size still succeed. `Infinity` lifts the limit.
   */
  diskLimit(bytes: number): void {
    if (!(bytes >= 0)) throw new RangeError(`diskLimit needs a non-negative size, got ${bytes}`);
    this.#diskLimit = bytes;
  }

  /**
   * The next non-empty write reaches the cache only partly, then the process crashes. The
   * kept prefix is strictly partial: whole sectors (at least one arrives, at least one does
   * not) for buffers longer than a sector, else 1..length-1 bytes. Sectors are counted from
   * the start of the buffer, which matches the disk's sectors for the engine's
   * page-aligned writes.
   */
  tearNextWrite(): void {
    this.#tearNext = true;
  }

  /**
   * What a reboot would find if power were cut now (or at the crash, if one happened).
   * Does not change this storage, apart from advancing the PRNG.
   * - 'lose-unsynced': the durable image only.
   * - 'random-subset': plus a random subset of the pending ops, applied in issue order.
   * - 'reorder-prefix': plus a random prefix of a random permutation of the pending ops.
   */
  afterCrash(mode: CrashMode): MemoryStorage {
    let survivors: PendingOp[];
    switch (mode) {
      case 'lose-unsynced':
        survivors = [];
        break;
      case 'random-subset':
        survivors = this.#pending.filter(() => this.#rand() < 0.5);
        break;
      case 'reorder-prefix': {
        const order = shuffle(this.#pending.slice(), this.#rand);
        survivors = order.slice(0, randInt(this.#rand, order.length + 1));
        break;
      }
      default:
        throw new RangeError(`unknown crash mode ${String(mode satisfies never)}`);
    }
    const image = MemoryStorage.from(this.#durable.snapshot());
    for (const op of survivors) applyOp(image, op);
    return image;
  }

  /**
   * A disk error: flips bit `bit` (0 = least significant) of the byte at `position` wherever
   * that byte is held: the durable image, the cached view, and any pending write covering it,
   * so a later sync or crash does not silently undo the flip.
   */
  flipBit(position: number, bit: number): void {
    checkOffset('position', position);
    if (!Number.isInteger(bit) || bit < 0 || bit > 7) throw new RangeError(`bit must be 0..7, got ${bit}`);
    const mask = 1 << bit;
    const hitDurable = flipIn(this.#durable, position, mask);
    const hitView = flipIn(this.#view, position, mask);
    if (!hitDurable && !hitView) throw new RangeError(`position ${position} is beyond the end of the image`);
    for (const op of this.#pending) {
      if (op.kind === 'write' && position >= op.position && position < op.position + op.data.length) {
        op.data[position - op.position] ^= mask;
      }
    }
  }

  /** A copy of the durable image. */
  durableSnapshot(): Uint8Array {
    return this.#durable.snapshot();
  }

  /** Pending ops (writes and truncates) that a crash could still lose. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  // ---- internals ----------------------------------------------------------------------

  /** Gate for every Storage call: counts it and fires a scheduled crash. */
  #begin(what: string): void {
    if (this.crashed) throw new SimulatedCrash(`${what} after the simulated crash at operation ${this.#crashedAtOp}`);
    if (this.#closed) throw new StorageError('storage is closed');
    this.#ops++;
    if (this.#ops >= this.#crashAt) this.#crash(what);
  }

  #crash(what: string): never {
    this.#crashedAtOp = this.#ops;
    throw new SimulatedCrash(`simulated crash at operation ${this.#ops} (${what})`);
  }

  /** Counts down an armed failure; true (and disarmed, so it fires once) when it runs out. */
  #takeFailure(kind: 'write' | 'sync'): boolean {
    const remaining = this.#failIn[kind];
    if (remaining === null) return false;
    this.#failIn[kind] = remaining === 0 ? null : remaining - 1;
    return remaining === 0;
  }

  #issue(op: PendingOp): void {
    applyOp(this.#view, op);
    this.#pending.push(op);
  }

  /** Only growth is refused: overwriting already-allocated space needs no new blocks. */
  #checkSpace(newSize: number, what: string): void {
    const current = this.#view.size();
    if (newSize > current && newSize > this.#diskLimit) {
      throw injected(what === 'write' ? 'write' : 'ftruncate', 'ENOSPC', `${what} to ${newSize} bytes exceeds the disk limit of ${this.#diskLimit}`);
    }
  }

  #tornLength(length: number): number {
    if (length > SECTOR) {
      const sectors = Math.ceil(length / SECTOR);
      return SECTOR * (1 + randInt(this.#rand, sectors - 1));
    }
    return length >= 2 ? 1 + randInt(this.#rand, length - 1) : 0;
  }
}

function applyOp(target: MemoryStorage, op: PendingOp): void {
  if (op.kind === 'write') target.write(op.data, op.position);
  else target.truncate(op.size);
}

/** Flips the bit if `position` is inside `s`; reports whether it was. */
function flipIn(s: MemoryStorage, position: number, mask: number): boolean {
  const byte = new Uint8Array(1);
  if (s.read(byte, position) !== 1) return false;
  byte[0] ^= mask;
  s.write(byte, position);
  return true;
}

/** A StorageError shaped like one from a real syscall, so callers can't tell the difference. */
function injected(syscall: string, code: 'EIO' | 'ENOSPC', message: string): StorageError {
  // The cause imitates Node's own system errors (a plain Error with code and syscall), as the
  // engine's StorageError wraps them; so it is deliberately not a RotaError.
  const cause = Object.assign(new Error(`${code}: injected fault, ${syscall}`), { code, syscall });
  return new StorageError(`${message}: ${cause.message}`, cause);
}

function checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}

function checkCount(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`expected an integer >= 0, got ${n}`);
  return n;
}

/** mulberry32: a 32-bit state PRNG, plenty for choosing faults; returns floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randInt(rand, i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
