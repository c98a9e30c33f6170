/**
 * The writer thread: a worker that applies this thread's asynchronous write batches (put/remove)
 * and makes them durable, so that neither the B-tree work nor the commit runs on the event loop.
 * It joins the file as any worker thread does (open(handle)): it takes the writer lock, commits,
 * publishes; this thread's readers see a batch once its promise resolves, as before.
 *
 * Order: batches are posted in the order they were issued and the thread applies them in that
 * order; it applies every batch waiting in its queue in one transaction (group commit). A batch's
 * promises settle when its transaction is durable, or reject with the transaction's error (the
 * previous version stays current; the whole transaction is undone, so a group fails together).
 *
 * Lifetime: started when asynchronous writes queue up (api/write-queue.ts); referenced (keeps
 * the process alive) only while a batch is unsettled; closed with the database. If it exits
 * unexpectedly, every unsettled batch is rejected with DatabaseFailedError and this thread's
 * database refuses writes until reopened.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Environment } from '../env/environment.js';
import type { BufferPool, WriteBatch } from './batch.js';
import * as errors from '../errors.js';
import { DatabaseClosedError, DatabaseFailedError, InternalError, RotaError } from '../errors.js';

/** The control word shared with the thread: 1 once it has closed its database (or exited). */
const CLOSED = 0;

/** What the thread answers for each batch. */
export interface BatchReply {
  id: number;
  results?: Uint8Array;
  /** The batch's buffer, sent back for reuse. */
  bytes?: ArrayBuffer;
  error?: { name: string; code?: string; message: string };
}

/** What the thread receives at start (workerData). */
export interface WriterThreadData {
  handle: unknown;
  options: Record<string, unknown>;
  port: MessagePort;
  control: Int32Array;
}

export class WriterThread {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private readonly pending = new Map<number, WriteBatch>();
  private posted = 0;
  /** Set once the thread can take no more batches (failed, exited or closed). */
  private broken: Error | null = null;
  private threadId = -1;
  /** The thread has joined the file and takes batches. */
  private ready = false;
  private onStarted: Array<(ok: boolean) => void> = [];

  constructor(private readonly env: Environment, private readonly buffers: BufferPool) {}

  /**
   * Whether batches can go to the thread now; else they run on this one. Until the thread has
   * started (tens of milliseconds after warm()) they do, so that starting it delays no write; one
   * that cannot start (it could not join the file: too many threads, say) leaves every batch here.
   */
  get usable(): boolean {
    return this.broken === null && this.ready && !this.env.closed;
  }

  /** Starts the thread, if it is not started yet. */
  warm(): void {
    if (this.port !== null || this.broken !== null || this.env.closed) return;
    try {
      this.start();
    } catch (e) {
      this.broken = e as Error;
    }
  }

  /** Posts `batch` (the thread is usable); it settles when its transaction is durable (or fails). */
  submit(batch: WriteBatch): void {
    if (this.broken !== null) {
      batch.reject(this.broken);
      return;
    }
    const id = ++this.posted;
    try {
      const port = this.port!;
      this.pending.set(id, batch);
      this.ref(true);
      const { message, transfer } = batch.message(id);
      port.postMessage(message, transfer);
    } catch (e) {
      this.pending.delete(id);
      batch.reject(e);
    }
  }

  /**
   * Closes the thread: waits (blocking) until it has settled every posted batch and closed its
   * database. Called after this thread's environment closed, so nothing here holds the writer
   * lock or pins a slot the thread may wait for; the thread's own waits are bounded by
   * writeTimeoutMs, so this wait is too.
   */
  closeSync(): void {
    const port = this.port;
    const worker = this.worker;
    if (port === null || worker === null) return;
    this.broken ??= new DatabaseClosedError();
    port.postMessage({ close: true });
    // A backstop only: the thread's own waits end within writeTimeoutMs, and its entry sets
    // CLOSED on every way out (a failed start, an uncaught error, its exit).
    const deadline = Date.now() + 2 * this.env.options.writeTimeoutMs + 30_000;
    while (Atomics.load(this.control, CLOSED) === 0 && Date.now() < deadline) Atomics.wait(this.control, CLOSED, 0, 1000);
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) this.settle(m.message as BatchReply);
    const wedged = Atomics.load(this.control, CLOSED) === 0;
    this.lost(wedged ? new DatabaseFailedError('the writer thread did not finish its writes in time; they may or may not be durable') : new DatabaseClosedError());
    port.close();
    this.port = null;
    this.worker = null;
    if (wedged) void worker.terminate();
    else worker.unref();
  }

  private start(): void {
    const { port1, port2 } = new MessageChannel();
    const data: WriterThreadData = { handle: this.env.handle(), options: { ...this.env.options }, port: port2, control: this.control };
    const worker = newWorker(entryFile(), data, port2);
    port1.on('message', (m: BatchReply | { ready: boolean }) => {
      if ('ready' in m) this.started(m.ready);
      else this.settle(m);
    });
    worker.on('error', (e) => this.die(e));
    worker.on('exit', (code) => this.die(new Error(`the writer thread exited with code ${code}`)));
    this.worker = worker;
    this.threadId = worker.threadId;
    this.port = port1;
    this.ref(false); // nothing is waiting for it yet
  }

  /** @internal For tests: resolves once the thread has started (true) or could not (false). */
  whenStarted(): Promise<boolean> {
    if (this.ready || this.broken !== null) return Promise.resolve(this.ready && this.broken === null);
    this.warm();
    return new Promise((r) => this.onStarted.push(r));
  }

  private started(ok: boolean): void {
    for (const f of this.onStarted.splice(0)) f(ok);
    if (ok) this.ready = true;
    else this.broken ??= new DatabaseClosedError(); // batches stay on this thread
    if (this.pending.size === 0) this.ref(false);
  }

  private settle(m: BatchReply): void {
    const batch = this.pending.get(m.id);
    if (batch === undefined) return;
    this.pending.delete(m.id);
    if (m.bytes !== undefined) this.buffers.give(m.bytes);
    if (m.error !== undefined) {
      const e = rebuild(m.error);
      if (e instanceof DatabaseFailedError) this.env.failed ??= e; // as when this thread's own commit fails
      batch.reject(e);
    } else {
      batch.resolve(m.results ?? null);
    }
    if (this.pending.size === 0) this.ref(false);
  }

  /** The thread failed or exited: nothing it had can still commit through it. */
  private die(cause: unknown): void {
    const worker = this.worker;
    if (worker === null) return; // closed on purpose, or already handled
    this.worker = null;
    this.port?.close();
    this.port = null;
    // It ran no cleanup: release what it held in the lock table (its pins, its place among the
    // file's openers), so that this thread's close can still be the last one out. A writer lock
    // it held mid-commit stays held: this thread's database is failed below, and refuses writes.
    if (!this.env.closed) this.env.releaseThread(this.threadId);
    if (!this.ready) {
      this.started(false); // it never took a batch: they stay on this thread
      return;
    }
    const e = new DatabaseFailedError(`the writer thread stopped (${(cause as Error)?.message ?? cause}); reopen the database to write again`, cause);
    this.broken ??= e;
    this.env.failed ??= e;
    this.lost(e);
  }

  private lost(e: Error): void {
    for (const b of this.pending.values()) b.reject(e);
    this.pending.clear();
    this.ref(false);
  }

  /** Keeps the process alive exactly while a batch is unsettled. */
  private ref(on: boolean): void {
    if (on) {
      this.worker?.ref();
      this.port?.ref();
    } else {
      this.worker?.unref();
      this.port?.unref();
    }
  }
}

/**
 * Starts the thread with this process's node options, less those that say how to run the main
 * script (`--input-type`, `-e`, `-p`: they would stop the thread's script from loading). A worker
 * refuses process-wide and V8 options (`--expose-gc`, say) given explicitly; then it starts with
 * none, which is what it needs.
 */
function newWorker(file: string, data: WriterThreadData, port: MessagePort): Worker {
  try {
    return new Worker(file, { workerData: data, transferList: [port], execArgv: threadArgv() });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
    return new Worker(file, { workerData: data, transferList: [port], execArgv: [] });
  }
}

function threadArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '--input-type') i++;
    else if (!a.startsWith('--input-type=') && !a.startsWith('--eval=') && !a.startsWith('--print=')) out.push(a);
  }
  return out;
}

/**
 * An error from the thread, as the typed error it was: structured cloning keeps only an Error's
 * message, so the thread sends the class name and code, and the error is made again here with
 * that class's prototype (constructors differ in their arguments; the message is the thread's).
 */
function rebuild(e: { name: string; code?: string; message: string }): Error {
  const cls = (errors as Record<string, unknown>)[e.name];
  if (e.code === undefined || typeof cls !== 'function' || !(cls.prototype instanceof RotaError)) {
    return new InternalError(`the writer thread failed: ${e.name}: ${e.message}`);
  }
  const err = Object.create(cls.prototype as object) as RotaError & { message: string; name: string; code: string; stack?: string };
  Object.defineProperties(err, {
    message: { value: e.message, writable: true, configurable: true },
    name: { value: e.name, writable: true, configurable: true },
    code: { value: e.code, writable: true, configurable: true },
  });
  Error.captureStackTrace(err, rebuild);
  return err;
}

/**
 * The entry script beside this module (writer-thread-entry.js in the same directory of dist/ or
 * dist/cjs/). Found from this module's own file name through a stack frame, the one way that works
 * in both module formats. Under the test runner this module is TypeScript in src/, which a worker
 * cannot load: the thread then runs the build in dist/ (test/global-setup.ts builds it first).
 */
function entryFile(): string {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  let file: string | undefined;
  try {
    Error.stackTraceLimit = 1;
    Error.prepareStackTrace = (_e, frames) => frames;
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder);
    file = holder.stack?.[0]?.getFileName() ?? undefined;
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
  if (file === undefined) throw new InternalError('cannot locate the writer thread script');
  if (file.startsWith('file:')) file = fileURLToPath(file);
  const dir = file.slice(0, file.lastIndexOf('/') + 1);
  if (file.endsWith('.ts')) {
    const i = dir.lastIndexOf('/src/');
    return `${dir.slice(0, i)}/dist/${dir.slice(i + 5)}writer-thread-entry.js`;
  }
  return `${dir}writer-thread-entry.js`;
}
