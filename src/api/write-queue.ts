/**
 * Asynchronous writes. Every put/remove issued in one event-loop turn joins one batch
 * (api/batch.ts); a batch runs as one write transaction with one durable commit, after the jobs
 * queued before it. Jobs (batches and transaction() callbacks) run strictly in the order they
 * were issued.
 *
 * Where a batch runs:
 * - in the writer thread (api/writer-thread.ts), for a database opened from a file path with
 *   `writerThread: true`, once writes have queued up behind unfinished ones and the
 *   thread has started: the B-tree work and the commit leave the event loop, and the batches
 *   issued while one is being made durable gather into the thread's next transaction;
 * - in this thread otherwise (a Storage given to open, `writerThread` off, on('beforecommit')
 *   or on('aftercommit') listeners, which must see the transaction here, or a writer thread that
 *   could not start): applied in slices of about SLICE_MS, yielding to the event loop between
 *   them, and committed with its writes and fdatasync on the thread pool (txn/commit.ts,
 *   commitAsync). A job waits for its root slot with Atomics.waitAsync and holds nothing while
 *   waiting, so the thread's reads and synchronous writes go on meanwhile.
 *
 * Order across the two: a batch is closed and posted, or run here, once the job before it has
 * been posted or has finished (`postAfter`); one that runs here (and a transaction() callback)
 * starts only once every job before it has settled (`tail`). Consecutive batches for the thread
 * are posted without waiting for each other, the thread takes them in order, and a batch waiting
 * behind one that runs here gathers the writes of every turn meanwhile (group commit). Where a
 * batch runs is decided when it is closed, so the first batches after the thread has started go
 * to it too. A promise resolves once its commit is durable and visible to readers.
 */
import type { Environment } from '../env/environment.js';
import type { WriteTxn } from '../txn/write.js';
import { DatabaseClosedError } from '../errors.js';
import { BufferPool, WriteBatch } from './batch.js';
import { WriterThread } from './writer-thread.js';
import { hasCommitListeners } from './events.js';

/** A batch applies its writes for about this long per event-loop turn before it yields. */
const SLICE_MS = 1;

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));
const noop = (): void => {};

export class WriteQueue {
  private batch: WriteBatch | null = null;
  /** Settles when every job queued so far has finished. Never rejects. */
  private tail: Promise<void> = Promise.resolve();
  /** Settles when a batch for the writer thread may be posted: every job before it that runs here is done, every batch before it posted. */
  private postAfter: Promise<void> = Promise.resolve();
  private readonly thread: WriterThread | null;
  /** Batches issued and not settled yet. */
  private unsettled = 0;
  private readonly buffers = new BufferPool();

  constructor(private readonly env: Environment, writerThread: boolean) {
    this.thread = writerThread ? new WriterThread(env, this.buffers) : null;
  }

  /** The batch of this event-loop turn, which put() and remove() add to. */
  current(): WriteBatch {
    if (this.batch === null) {
      // Writes queue up behind unfinished ones: a load the writer thread pays for. (A few writes
      // awaited one by one never start it; nor do short-lived databases, which would pay for
      // starting a thread, tens of milliseconds, on every open.)
      if (this.unsettled > 0) this.thread?.warm();
      const batch = new WriteBatch(this.buffers.take());
      this.batch = batch;
      this.unsettled++;
      void batch.settled.then(() => this.unsettled--);
      const detach = (): void => {
        if (this.batch === batch) this.batch = null;
      };
      const before = this.tail;
      const posted = this.postAfter.then(immediate).then(async () => {
        detach(); // the rest of this turn has joined the batch
        if (this.remote()) {
          this.thread!.submit(batch);
        } else {
          // here: after every job before it has settled (the thread's batches too); the batches
          // after it wait for this, through postAfter, and meanwhile gather into the next one
          await before;
          await this.runBatch(batch);
        }
      });
      this.postAfter = posted;
      this.tail = Promise.all([before, posted.then(() => batch.settled)]).then(noop);
    }
    return this.batch;
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

  /** After this thread's environment closed: the writer thread finishes what it was given, and stops. */
  closeSync(): void {
    this.thread?.closeSync();
  }

  /** @internal For tests: resolves once the writer thread takes batches (true), or never will (false). */
  writerThreadStarted(): Promise<boolean> {
    return this.thread === null ? Promise.resolve(false) : this.thread.whenStarted();
  }

  /** Whether the next batch goes to the writer thread. */
  private remote(): boolean {
    return this.thread !== null && this.thread.usable && !hasCommitListeners(this.env);
  }

  /** A job that runs in this thread. Jobs handle their own errors, so the chain never rejects and never stops. */
  private enqueue(job: () => Promise<void>): void {
    this.tail = this.tail.then(job, job);
    this.postAfter = this.tail;
  }

  /**
   * Applies a batch in this thread in slices of about SLICE_MS, yielding to the event loop
   * between them, then commits it asynchronously. The transaction is a background one: reads and
   * writes of this thread do not go into it (its version is visible only once durable), and a
   * synchronous writer of this thread that needs the writer lock meanwhile finishes it first
   * (env.background).
   */
  private async runBatch(batch: WriteBatch): Promise<void> {
    let results: Uint8Array;
    try {
      results = await this.env.writeAsync(async (txn) => {
        txn.background = true;
        const out = new Uint8Array(batch.count);
        const from = { op: 0, at: 0 };
        let done = false;
        const applyUntil = (deadline: number): void => {
          try {
            done = batch.applyFrom(txn, out, from, deadline);
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
          while (!done && txn.state === 'active') {
            await immediate();
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
      batch.reject(e);
      return;
    }
    this.buffers.give(batch.release());
    batch.resolve(results);
  }
}
