/**
 * Asynchronous writes. Every put/remove issued in one event-loop turn joins one batch; a batch
 * runs as one write transaction with one durable commit, after the jobs queued before it.
 * Jobs (batches and transaction() callbacks) run strictly in the order they were issued.
 *
 * A job waits for its root slot with Atomics.waitAsync and holds nothing while waiting, so the
 * thread's reads and synchronous writes go on meanwhile. Its commit makes its writes and
 * fdatasync on the thread pool (txn/commit.ts, commitAsync): while one batch is being made
 * durable the event loop runs, and the writes issued meanwhile gather into the next batch, which
 * starts as soon as this one is published (group commit). A promise resolves once its commit is
 * durable and visible to readers.
 */
import type { Environment } from '../env/environment.js';
import type { WriteTxn } from '../txn/write.js';
import { DatabaseClosedError } from '../errors.js';

/** A batch applies its writes for about this long per event-loop turn before it yields. */
const SLICE_MS = 1;

export interface WriteOp {
  /** Applies the operation inside the transaction and returns its result. */
  apply(txn: WriteTxn): boolean;
  resolve(v: boolean): void;
  reject(e: unknown): void;
}

export class WriteQueue {
  private batch: WriteOp[] | null = null;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly env: Environment) {}

  /** Adds `op` to the batch of this turn. */
  add(op: WriteOp): void {
    if (this.batch === null) {
      const batch: WriteOp[] = [];
      this.batch = batch;
      this.enqueue(async () => {
        await new Promise((r) => setImmediate(r)); // let the rest of this turn join the batch
        if (this.batch === batch) this.batch = null;
        await this.runBatch(batch);
      });
    }
    this.batch.push(op);
  }

  /** Runs `fn` in its own write transaction after everything queued so far. */
  transaction<T>(fn: (txn: WriteTxn) => T | Promise<T>): Promise<T> {
    this.batch = null; // writes issued after this call go after it
    return new Promise<T>((resolve, reject) => {
      this.enqueue(async () => {
        let txn: WriteTxn | undefined;
        try {
          const result = await this.env.writeAsync((t) => {
            txn = t;
            return fn(t);
          });
          if (txn!.state === 'active') await txn!.commitAsync();
          resolve(result);
        } catch (e) {
          txn?.abort();
          reject(e);
        }
      });
    });
  }

  /** Resolves when every job queued so far has finished. */
  flushed(): Promise<void> {
    this.batch = null;
    return this.tail;
  }

  /** Jobs handle their own errors, so the chain never rejects and never stops. */
  private enqueue(job: () => Promise<void>): void {
    this.tail = this.tail.then(job, job);
  }

  /**
   * Applies a batch in slices of about SLICE_MS, yielding to the event loop between them, then
   * commits it asynchronously. The transaction is a background one: reads and writes of this
   * thread do not go into it (its version is visible only once durable), and a synchronous writer
   * of this thread that needs the writer lock meanwhile finishes it first (env.background).
   */
  private async runBatch(ops: WriteOp[]): Promise<void> {
    let results: boolean[];
    try {
      results = await this.env.writeAsync(async (txn) => {
        txn.background = true;
        const out: boolean[] = new Array(ops.length);
        let next = 0;
        const applyUntil = (deadline: number): void => {
          try {
            while (next < ops.length) {
              out[next] = ops[next]!.apply(txn);
              next++;
              if ((next & 63) === 0 && performance.now() >= deadline) return;
            }
          } catch (e) {
            txn.abort();
            throw e;
          }
        };
        // What a synchronous writer (or close) of this thread runs when it finds the batch unfinished.
        // Its own call must not fail for the batch's sake: a failure goes to the batch's promises.
        let failure: unknown;
        const finish = (): void => {
          if (txn.state !== 'active') return;
          try {
            applyUntil(Infinity);
            txn.commit();
          } catch (e) {
            failure = e;
          }
        };
        this.env.background = { finish };
        try {
          applyUntil(performance.now() + SLICE_MS);
          while (next < ops.length && txn.state === 'active') {
            await new Promise((r) => setImmediate(r));
            if (txn.state === 'active') applyUntil(performance.now() + SLICE_MS);
          }
        } finally {
          if (this.env.background?.finish === finish) this.env.background = null;
        }
        if (failure !== undefined) throw failure;
        if (txn.state === 'active') await txn.commitAsync();
        else if (txn.state === 'aborted') throw this.env.failed ?? new DatabaseClosedError();
        return out;
      });
    } catch (e) {
      for (const op of ops) op.reject(e);
      return;
    }
    ops.forEach((op, i) => op.resolve(results[i]!));
  }
}
