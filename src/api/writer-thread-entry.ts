/**
 * The writer thread's script (api/writer-thread.ts starts it): joins the file with the handle it
 * is given, then for every group of batches waiting on its port runs one write transaction,
 * commits it durably (synchronously: this thread has nothing else to do meanwhile), and answers
 * each batch. The rest of rotadb is loaded with a dynamic import, so that a failure to load or to
 * open is answered like any other failure instead of leaving the other thread waiting.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { BatchMessage } from './batch.js';
import type { BatchReply, WriterThreadData } from './writer-thread.js';
import type { Environment, DatabaseHandle } from '../env/environment.js';
import type { WriteTxn } from '../txn/write.js';

/** The control word api/writer-thread.ts waits on in closeSync. */
const CLOSED = 0;
/** A group stops taking batches once it holds this many bytes of them (bounded memory). */
const GROUP_BYTES = 32 * 1024 * 1024;

type Apply = (txn: WriteTxn, names: ReadonlyArray<string | null>, bytes: Uint8Array, length: number, out: Uint8Array, from: { op: number; at: number }, deadline: number) => boolean;

const { port, control, handle, options } = workerData as WriterThreadData;

function closed(): void {
  Atomics.store(control, CLOSED, 1);
  Atomics.notify(control, CLOSED);
}
process.on('exit', closed);

function describe(e: unknown): NonNullable<BatchReply['error']> {
  const err = e as { name?: string; code?: unknown; message?: string };
  return { name: String(err?.name ?? 'Error'), code: typeof err?.code === 'string' && err.code.startsWith('ROTA_') ? err.code : undefined, message: String(err?.message ?? e) };
}

async function main(): Promise<void> {
  let env: Environment | null = null;
  let apply: Apply | null = null;
  let failure: unknown = null;
  try {
    // the environment and the batch code only: the rest of the API (codecs, tools) would only
    // lengthen the thread's start
    const [{ Environment }, batch] = await Promise.all([import('../env/environment.js'), import('./batch.js')]);
    apply = batch.applyBatch;
    env = Environment.join(handle as DatabaseHandle, options);
  } catch (e) {
    failure = e;
  }
  port.postMessage({ ready: failure === null });

  const run = (group: BatchMessage[]): void => {
    const outs = group.map((b) => new Uint8Array(b.count));
    try {
      if (failure !== null) throw failure;
      const txn = env!.beginWriteSync();
      try {
        for (let i = 0; i < group.length; i++) {
          const b = group[i]!;
          apply!(txn, b.names, new Uint8Array(b.bytes, 0, b.length), b.length, outs[i]!, { op: 0, at: 0 }, Infinity);
        }
        txn.commit();
      } catch (e) {
        if (txn.state === 'active') txn.abort();
        throw e;
      }
      for (let i = 0; i < group.length; i++) {
        const b = group[i]!;
        port.postMessage({ id: b.id, results: outs[i], bytes: b.bytes } satisfies BatchReply, [b.bytes]);
      }
    } catch (e) {
      const error = describe(e);
      for (const b of group) port.postMessage({ id: b.id, error } satisfies BatchReply);
    }
  };

  port.on('message', (first: BatchMessage | { close: true }) => {
    const group: BatchMessage[] = [];
    let bytes = 0;
    let close = false;
    for (let m: BatchMessage | { close: true } | undefined = first; m !== undefined; ) {
      if ('close' in m) {
        close = true; // posted after every batch: nothing follows it
        break;
      }
      group.push(m);
      bytes += m.length;
      if (bytes >= GROUP_BYTES) break;
      m = receiveMessageOnPort(port)?.message as BatchMessage | { close: true } | undefined;
    }
    if (group.length > 0) run(group);
    if (close) {
      try {
        env?.close();
      } finally {
        port.close();
        closed();
      }
    }
  });
}

void main();
