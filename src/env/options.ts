/** The options of an open environment (a file in one thread), their defaults and their checks. */
import type { Storage } from '../storage/storage.js';
import { MAX_PAGE_SIZE, MAX_ROOTS, MIN_PAGE_SIZE, isValidPageSize } from '../pages/layout.js';
import { InvalidOptionError } from '../errors.js';
import type { SlotPolicy } from '../sync/writer.js';

export interface EnvOptions {
  /** Path of the database file. Either this, `storage`, or a handle from db.handle(). */
  path?: string;
  /** A Storage backend to use instead of a file (tests, in-memory databases). Single-threaded. */
  storage?: Storage;
  /** Page size for a new file (1024 to 65536, a power of two). Checked against an existing file. */
  pageSize?: number;
  /** Root slots for a new file (1 to 255). Checked against an existing file. */
  nRoots?: number;
  /** Bytes of page cache in this thread (default 256 MiB). */
  cacheSize?: number;
  /** Skip fdatasync at commit: a crash of the machine may lose recent commits (see README). */
  noSync?: boolean;
  /**
   * 1 (default): a commit writes its pages and its root slot, then makes both durable with one
   * fdatasync; open trusts the newest slot only once the pages it wrote verify. 2: pages, fdatasync,
   * root slot, fdatasync (the slot never points at pages that are not durable). With nRoots 1 only
   * 2 is possible (the only slot is overwritten, so nothing is left to fall back to), and the default.
   */
  fsyncsPerCommit?: 1 | 2;
  /** How long a writer (sync or async) waits for the writer lock and for readers that pin its slot (default 10 s). */
  writeTimeoutMs?: number;
  /**
   * Which root slot a writer takes (sync/writer.ts): 'rotate' (default), T in slot T mod nRoots;
   * or 'oldest-unpinned', the slot of the oldest version nobody pins, so a writer waits only when
   * every slot but the current one is pinned.
   */
  slotPolicy?: SlotPolicy;
  /** Reader table entries, shared by all threads: one per open read transaction or range iterator (default 126). */
  maxReaders?: number;
  /**
   * Off by default. When a writer waits for a slot pinned by a reader older than this, the reader
   * is expired: its pin is dropped, and its next read throws ReaderExpiredError.
   */
  maxReaderAgeMs?: number;
}

export const DEFAULT_CACHE_SIZE = 256 * 1024 * 1024;
export const DEFAULT_WRITE_TIMEOUT_MS = 10_000;

/** The options an environment runs with, defaults applied. */
export type RunOptions = Required<Pick<EnvOptions, 'noSync' | 'fsyncsPerCommit' | 'writeTimeoutMs' | 'slotPolicy' | 'maxReaders' | 'cacheSize' | 'maxReaderAgeMs'>>;

export function runOptions(opts: EnvOptions, nRoots: number): RunOptions {
  if (opts.fsyncsPerCommit === 1 && nRoots === 1) {
    throw new InvalidOptionError('fsyncsPerCommit 1 needs nRoots >= 2: a one-fsync commit may have to fall back to the version before it, and with nRoots 1 its slot is the one being overwritten');
  }
  return {
    noSync: opts.noSync ?? false,
    fsyncsPerCommit: opts.fsyncsPerCommit ?? (nRoots === 1 ? 2 : 1),
    writeTimeoutMs: opts.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS,
    slotPolicy: opts.slotPolicy ?? 'rotate',
    maxReaders: opts.maxReaders ?? 126,
    cacheSize: opts.cacheSize ?? DEFAULT_CACHE_SIZE,
    maxReaderAgeMs: opts.maxReaderAgeMs ?? 0,
  };
}

export function validateOptions(o: EnvOptions): void {
  if (o.pageSize !== undefined && !isValidPageSize(o.pageSize)) {
    throw new InvalidOptionError(`pageSize must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}, not ${o.pageSize}`);
  }
  if (o.nRoots !== undefined && (!Number.isInteger(o.nRoots) || o.nRoots < 1 || o.nRoots > MAX_ROOTS)) {
    throw new InvalidOptionError(`nRoots must be an integer from 1 to ${MAX_ROOTS}, not ${o.nRoots}`);
  }
  const positive = (name: keyof EnvOptions, min: number) => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !(v >= min))) throw new InvalidOptionError(`${name} must be a number >= ${min}, not ${String(v)}`);
  };
  if (o.fsyncsPerCommit !== undefined && o.fsyncsPerCommit !== 1 && o.fsyncsPerCommit !== 2) {
    throw new InvalidOptionError(`fsyncsPerCommit must be 1 or 2, not ${String(o.fsyncsPerCommit)}`);
  }
  if (o.slotPolicy !== undefined && o.slotPolicy !== 'rotate' && o.slotPolicy !== 'oldest-unpinned') {
    throw new InvalidOptionError(`slotPolicy must be 'rotate' or 'oldest-unpinned', not ${String(o.slotPolicy)}`);
  }
  positive('cacheSize', 0);
  positive('writeTimeoutMs', 0);
  positive('maxReaders', 1);
  if (o.path !== undefined && typeof o.path !== 'string') throw new InvalidOptionError('path must be a string');
}
