/**
 * Shared pieces of the crash and fault tests: a workload language (committed transactions of
 * puts and removes), its model (a Map), a Storage wrapper that records and steers single I/O
 * operations of a FaultyStorage, and the reopen-and-verify step every crash image goes through.
 */
import { expect } from 'vitest';
import fc from 'fast-check';
import { open, type RootDatabase } from '../../src/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { FaultyStorage, SimulatedCrash } from '../../src/storage/faulty.js';

export const PAGE = 1024;

// ---------------------------------------------------------------- workload and model

/** A put or remove in the main database, or (side: true) in the named database 'side'. */
export type Op = { t: 'put'; k: number; size: number; side?: boolean } | { t: 'remove'; k: number; side?: boolean };
/**
 * One transaction:
 *  - 'auto': a single putSync / removeSync (the call is the commit);
 *  - 'explicit': beginWrite(), puts and removes, commit();
 *  - 'tsync': transactionSync(() => ...);
 *  - 'abort': beginWrite(), puts and removes, abort() (no commit, the model does not change).
 */
export type Txn = { kind: 'auto' | 'explicit' | 'tsync' | 'abort'; ops: Op[] };
export interface Workload {
  /** Keys 0..preload-1 written in one transaction into the initial image (not crash-tested). */
  preload: number;
  txns: Txn[];
}

/** Model: key -> hex of the value. */
export type Model = Map<string, string>;

export const keyOf = (k: number): string => `k${String(k).padStart(3, '0')}`;
export const SIDE = 'side';
/** The model's key of an op: the named database's keys carry a prefix. */
const modelKey = (op: Op): string => (op.side ? `${SIDE}/${keyOf(op.k)}` : keyOf(op.k));

/** A value of `size` bytes whose contents depend on key and salt, so every write is distinguishable. */
export function valueOf(k: number, size: number, salt: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (k * 7919 + salt * 104729 + size) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 7,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      k: fc.integer({ min: 0, max: 200 }),
      size: fc.oneof(
        { weight: 24, arbitrary: fc.integer({ min: 0, max: 300 }) },
        { weight: 1, arbitrary: fc.integer({ min: 470, max: 530 }) }, // around the largest inline value
        { weight: 2, arbitrary: fc.integer({ min: 2 * PAGE - 100, max: 3 * PAGE - 16 }) }, // an overflow run of 2-3 pages
      ),
      side: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('remove' as const),
      k: fc.integer({ min: 0, max: 200 }),
      side: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
);

export const txnArb: fc.Arbitrary<Txn> = fc.oneof(
  { weight: 10, arbitrary: opArb.map((op): Txn => ({ kind: 'auto', ops: [op] })) },
  { weight: 6, arbitrary: fc.array(opArb, { minLength: 2, maxLength: 6 }).map((ops): Txn => ({ kind: 'explicit', ops })) },
  { weight: 4, arbitrary: fc.array(opArb, { minLength: 2, maxLength: 6 }).map((ops): Txn => ({ kind: 'tsync', ops })) },
  // a bigger transaction: splits, merges, several coalesced page writes
  { weight: 1, arbitrary: fc.array(opArb, { minLength: 10, maxLength: 30 }).map((ops): Txn => ({ kind: 'explicit', ops })) },
  { weight: 1, arbitrary: fc.array(opArb, { minLength: 1, maxLength: 6 }).map((ops): Txn => ({ kind: 'abort', ops })) },
);

export const workloadArb = (minTxns: number, maxTxns: number): fc.Arbitrary<Workload> =>
  fc.record({
    preload: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120 })),
    txns: fc.array(txnArb, { minLength: minTxns, maxLength: maxTxns }),
  });

/** The salt of op j of transaction i (deterministic, so every rerun writes the same bytes). */
const saltOf = (i: number, j: number) => i * 64 + j + 1;

/** Models after each commit: [0] = the initial image, [i + 1] = after txns[i]. */
export function models(w: Workload): Model[] {
  let m: Model = new Map();
  for (let k = 0; k < w.preload; k++) m.set(keyOf(k), valueOf(k, 40 + (k % 90), 0).toString('hex'));
  const out = [m];
  w.txns.forEach((t, i) => {
    if (t.kind !== 'abort') {
      m = new Map(m);
      t.ops.forEach((op, j) => {
        if (op.t === 'put') m.set(modelKey(op), valueOf(op.k, op.size, saltOf(i, j)).toString('hex'));
        else m.delete(modelKey(op));
      });
    }
    out.push(m);
  });
  return out;
}

export type Opts = { pageSize: number; nRoots: number; encoding: 'binary'; cacheSize?: number; noSync?: boolean; fsyncsPerCommit: 1 | 2 };
/**
 * The commit protocol under test: the default one-fsync commit, or with ROTADB_TEST_FSYNCS=2 the
 * two-fsync one (test/crash/two-fsync.test.ts runs the crash suites that way too).
 */
export const FSYNCS: 1 | 2 = process.env.ROTADB_TEST_FSYNCS === '2' ? 2 : 1;
/**
 * Options for every open. The default cache (512 pages) holds every page these tests' databases
 * have, like the 256 MiB default would, without allocating that default's page table on each of
 * the thousands of opens.
 */
export const optsFor = (nRoots: number, cacheSize = 512 * PAGE): Opts => ({ pageSize: PAGE, nRoots, encoding: 'binary', cacheSize, fsyncsPerCommit: fsyncsFor(nRoots) });
/** The protocol a test with `nRoots` runs: nRoots 1 allows only the two-fsync commit. */
export const fsyncsFor = (nRoots: number): 1 | 2 => (nRoots === 1 ? 2 : FSYNCS);

/** The initial image: a new database with the preload committed, written cleanly. */
export function initialImage(w: Workload, nRoots: number): Uint8Array {
  const storage = new MemoryStorage();
  const db = open<Buffer>({ storage, ...optsFor(nRoots) });
  if (w.preload > 0) {
    db.transactionSync(() => {
      for (let k = 0; k < w.preload; k++) db.putSync(keyOf(k), valueOf(k, 40 + (k % 90), 0));
    });
  }
  const img = storage.snapshot();
  db.closeSync();
  return img;
}

function applyOp(root: RootDatabase<Buffer>, op: Op, salt: number): void {
  const db = op.side ? root.openDB<Buffer>(SIDE, { encoding: 'binary' }) : root;
  if (op.t === 'put') db.putSync(keyOf(op.k), valueOf(op.k, op.size, salt));
  else db.removeSync(keyOf(op.k));
}

// ---------------------------------------------------------------- storage spy

export type OpKind = 'read' | 'write' | 'sync' | 'size' | 'truncate';
export interface OpRecord { index: number; kind: OpKind; position: number; length: number; data?: Uint8Array }

/**
 * Delegates every call to a FaultyStorage and records it (index = the FaultyStorage's op
 * number). `tearAt`: arm tearNextWrite() right before op `tearAt` (which must be a write).
 * `keepOpen`: close() does not close the FaultyStorage, so it can be reopened in-process.
 */
export class SpyStorage implements Storage {
  readonly log: OpRecord[] = [];
  tearAt = 0;
  /** Keep a copy of every written buffer in the log (to replay what the OS cache held). */
  recordData = false;
  constructor(readonly inner: FaultyStorage, readonly keepOpen = false) {}

  private rec(kind: OpKind, position = -1, length = 0, data?: Uint8Array): void {
    this.log.push({ index: this.inner.ops + 1, kind, position, length, data });
  }

  read(buf: Uint8Array, position: number): number {
    this.rec('read', position, buf.length);
    return this.inner.read(buf, position);
  }
  write(buf: Uint8Array, position: number): void {
    this.rec('write', position, buf.length, this.recordData ? Uint8Array.prototype.slice.call(buf) : undefined);
    if (this.tearAt !== 0 && this.inner.ops + 1 === this.tearAt) this.inner.tearNextWrite();
    this.inner.write(buf, position);
  }
  sync(): void {
    this.rec('sync');
    this.inner.sync();
  }
  size(): number {
    this.rec('size');
    return this.inner.size();
  }
  truncate(size: number): void {
    this.rec('truncate', size);
    this.inner.truncate(size);
  }
  close(): void {
    if (!this.keepOpen) this.inner.close();
  }
}

/**
 * The storage a restarted process finds after `crashed` died at op `crashedAt` while the OS kept
 * running: the durable image plus every write issued since the last successful sync, still
 * pending (a power cut may yet lose them). `log` must come from a SpyStorage with recordData.
 */
export function osCacheAfterProcessCrash(crashed: FaultyStorage, log: OpRecord[], crashedAt: number, seed: number): FaultyStorage {
  const before = log.filter((o) => o.index < crashedAt);
  let lastSync = -1;
  before.forEach((o, i) => { if (o.kind === 'sync') lastSync = i; });
  const next = new FaultyStorage(crashed.durableSnapshot(), { seed });
  for (const o of before.slice(lastSync + 1)) {
    if (o.kind === 'write') next.write(o.data!, o.position);
    else if (o.kind === 'truncate') next.truncate(o.position);
  }
  return next;
}

// ---------------------------------------------------------------- running a workload

export interface RunResult {
  /** Transactions whose commit call returned (models[returned] is the last committed state). */
  returned: number;
  /** The crash happened inside the commit of txns[returned] (so models[returned + 1] may survive). */
  inCommit: boolean;
  /** The crash happened while opening (which writes a one-fsync commit's pages again). */
  inOpen: boolean;
  crashed: boolean;
  /** What the failing API call threw, if anything. */
  error: unknown;
  /** Per transaction: the op index of its root-slot write (0 if none seen). */
  slotWrite: number[];
  /** Per transaction: op index of the first and last op issued inside its commit call. */
  commitSpan: Array<[number, number]>;
}

/**
 * Runs `w` over `spy` (whose FaultyStorage holds the initial image). Stops at the first error
 * once the storage has crashed; any other error fails the test.
 */
export function runWorkload(w: Workload, spy: SpyStorage, opts: Opts, afterTxn?: (i: number) => void): RunResult {
  const res: RunResult = { returned: 0, inCommit: false, inOpen: false, crashed: false, error: undefined, slotWrite: [], commitSpan: [] };
  const slotEnd = opts.nRoots * opts.pageSize;
  let db: RootDatabase<Buffer> | undefined;
  let i = -1;
  let inCommit = false;
  let commitStart = 0;
  try {
    db = open<Buffer>({ storage: spy, ...opts });
    for (i = 0; i < w.txns.length; i++) {
      const t = w.txns[i]!;
      const d = db;
      commitStart = spy.log.length;
      if (t.kind === 'auto') {
        inCommit = true;
        applyOp(d, t.ops[0]!, saltOf(i, 0));
      } else if (t.kind === 'tsync') {
        inCommit = false;
        d.transactionSync(() => {
          t.ops.forEach((op, j) => applyOp(d, op, saltOf(i, j)));
          commitStart = spy.log.length;
          inCommit = true; // the callback returned: what follows is the commit
        });
      } else {
        inCommit = false;
        const side = d.openDB<Buffer>(SIDE, { encoding: 'binary' });
        const txn = d.beginWrite();
        t.ops.forEach((op, j) => {
          const target = op.side ? side : d;
          if (op.t === 'put') txn.put(keyOf(op.k), valueOf(op.k, op.size, saltOf(i, j)), target);
          else txn.remove(keyOf(op.k), target);
        });
        commitStart = spy.log.length;
        if (t.kind === 'abort') {
          txn.abort();
        } else {
          inCommit = true;
          txn.commit();
        }
      }
      inCommit = false;
      const ops = spy.log.slice(commitStart);
      res.commitSpan.push([ops[0]?.index ?? 0, ops.at(-1)?.index ?? 0]);
      res.slotWrite.push(ops.find((o) => o.kind === 'write' && o.position < slotEnd)?.index ?? 0);
      res.returned = i + 1;
      afterTxn?.(i);
    }
    db.closeSync();
  } catch (e) {
    if (!spy.inner.crashed) throw e;
    res.crashed = true;
    res.error = e;
    res.inCommit = i >= 0 && inCommit;
    res.inOpen = i < 0;
  }
  return res;
}

/** Whether `e` is a SimulatedCrash or wraps one (the commit turns I/O errors into ROTA_FAILED). */
export function isCrash(e: unknown): boolean {
  for (let x = e, n = 0; x instanceof Error && n < 5; x = (x as Error).cause, n++) {
    if (x instanceof SimulatedCrash) return true;
  }
  return false;
}

// ---------------------------------------------------------------- verifying an image

/** Every entry of the main database and of the named database 'side' (prefixed), as a model. */
export function contents(db: RootDatabase<Buffer>): Model {
  const m: Model = new Map();
  for (const { key, value } of db.getRange()) m.set(key as string, value.toString('hex'));
  for (const { key, value } of db.openDB<Buffer>(SIDE, { encoding: 'binary' }).getRange()) m.set(`${SIDE}/${key as string}`, value.toString('hex'));
  return m;
}

export const sameModel = (a: Model, b: Model): boolean =>
  a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** A short description of the difference between two models, for failure messages. */
export function diff(actual: Model, expected: Model): string {
  const out: string[] = [];
  for (const [k, v] of expected) if (actual.get(k) !== v) out.push(`${k}: ${actual.has(k) ? 'different value' : 'missing'}`);
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`${k}: unexpected`);
  return out.slice(0, 8).join(', ') + (out.length > 8 ? ` (+${out.length - 8} more)` : '');
}

export function expectCheckClean(db: RootDatabase<Buffer>, what: string): void {
  const rep = db.check();
  expect(rep.problems, `${what}: check() found problems:\n${rep.problems.join('\n')}`).toEqual([]);
  expect(rep.ok, what).toBe(true);
}

/**
 * Opens `image`, requires its contents to equal one of `allowed` (returns that index), a clean
 * check(), and that a further write + commit + reopen works.
 */
export function verifyImage(image: MemoryStorage, opts: Opts, allowed: Model[], what: string): number {
  let db: RootDatabase<Buffer>;
  try {
    db = open<Buffer>({ storage: image, ...opts });
  } catch (e) {
    throw new Error(`${what}: reopen failed: ${(e as Error).message}`, { cause: e });
  }
  let which: number;
  try {
    let got: Model;
    try {
      got = contents(db);
    } catch (e) {
      throw new Error(`${what}: reading the reopened image failed: ${(e as Error).message}`, { cause: e });
    }
    which = allowed.findIndex((m) => sameModel(got, m));
    if (which < 0) {
      const detail = allowed.map((m, j) => `  vs allowed[${j}]: ${diff(got, m)}`).join('\n');
      expect.fail(`${what}: contents (${got.size} keys) match no allowed version\n${detail}`);
    }
    expectCheckClean(db, what);
    // a further write + commit + reopen
    const extra = valueOf(999, 123, 999);
    db.putSync('zz-after-crash', extra);
    expectCheckClean(db, `${what}, after a further commit`);
    const snap = image.snapshot();
    db.closeSync();
    const again = open<Buffer>({ storage: MemoryStorage.from(snap), ...opts });
    try {
      const want = new Map(allowed[which]!);
      want.set('zz-after-crash', extra.toString('hex'));
      const got2 = contents(again);
      if (!sameModel(got2, want)) expect.fail(`${what}: after a further commit and reopen: ${diff(got2, want)}`);
      expectCheckClean(again, `${what}, reopened after a further commit`);
    } finally {
      again.closeSync();
    }
  } finally {
    if (!db.env.closed) db.closeSync();
  }
  return which;
}
