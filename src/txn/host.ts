/**
 * What transactions need from the environment that opened them. The transaction layer declares
 * these interfaces and env/ implements them, so no import runs from txn/ up to env/.
 */
import type { Pager } from '../pages/pager.js';
import type { Meta } from '../pages/meta.js';
import type { Storage } from '../storage/storage.js';
import type { Pin } from '../sync/readers.js';
import type { FreeState } from './free-state.js';
import type { ReadTxn } from './read.js';
import type { WriteTxn } from './write.js';

export interface ReadHost {
  readonly pager: Pager;
  /** Whether a writer has expired the pin held through reader-table entry `entry`. */
  readerExpired(entry: number): boolean;
  /** Drops the pin of `txn`: false when a writer had expired it (what it read cannot be trusted). */
  releaseRead(txn: ReadTxn, pin: Pin): boolean;
}

export interface WriteHost {
  readonly pager: Pager;
  readonly storage: Storage;
  /** Skip the fdatasyncs of commit (the `noSync` option). */
  readonly noSync: boolean;
  readonly free: FreeState;
  /** Commit step 7, once the root slot is durable: make `meta` current everywhere, then release. */
  publish(txn: WriteTxn, meta: Meta, reused: number[]): void;
  /** Releases the writer lock and the slot of `txn` (abort). */
  endWrite(txn: WriteTxn): void;
  /** A commit failed during I/O: keep the previous version, refuse writes from now on. */
  fail(txn: WriteTxn, cause: unknown): void;
}
