/**
 * rotadb/level beyond the conformance suite: a model-based test of ranges, seek, clear and
 * explicit snapshots against a Map, with the empty key and keys and bounds around the key size
 * limit; clear in one transaction; snapshots and iterators as rotadb readers; open options.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RotaLevel } from '../../src/level/index.js';
import { maxKeySize } from '../../src/index.js';
import { tempPath } from '../helpers/db.js';

const PAGE = 1024;
const MAX = maxKeySize(PAGE);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

type Range = { gt?: Buffer; gte?: Buffer; lt?: Buffer; lte?: Buffer; reverse: boolean; limit: number };
type Op =
  | { t: 'put'; k: Buffer; v: Buffer }
  | { t: 'del'; k: Buffer }
  | { t: 'batch'; ops: Array<{ k: Buffer; v: Buffer | null }> }
  | { t: 'clear'; r: Range }
  | { t: 'iterate'; r: Range; seek: Buffer | undefined; mode: 'iterator' | 'keys' | 'values' }
  | { t: 'snapshot' }
  | { t: 'readSnapshot'; r: Range };

/** What Level promises: gte and lte win over gt and lt; seek moves within the range. */
function expected(m: Map<string, string>, r: Range, seek?: Buffer): string[] {
  const lo = r.gte ?? r.gt;
  const hi = r.lte ?? r.lt;
  const inRange = (k: string): boolean => {
    if (lo !== undefined && (r.gte !== undefined ? k < hex(lo) : k <= hex(lo))) return false;
    if (hi !== undefined && (r.lte !== undefined ? k > hex(hi) : k >= hex(hi))) return false;
    if (seek !== undefined && (r.reverse ? k > hex(seek) : k < hex(seek))) return false;
    return true;
  };
  const keys = [...m.keys()].sort().filter(inRange);
  if (r.reverse) keys.reverse();
  return r.limit < 0 ? keys : keys.slice(0, r.limit);
}

// Keys: the empty key, short keys over four bytes, and keys of MAX - 1 and MAX bytes that share
// a long prefix. Bounds also take MAX + 1 and MAX + 2 bytes (longer than any stored key).
const short = fc.array(fc.constantFrom(0x00, 0x01, 0x61, 0xff), { minLength: 1, maxLength: 3 }).map((a) => Buffer.from(a));
const long = (lens: number[]) =>
  fc.tuple(fc.constantFrom(...lens), fc.constantFrom(0x00, 0x61, 0x62)).map(([n, last]) => {
    const b = Buffer.alloc(n, 0x61);
    b[n - 1] = last;
    return b;
  });
const keyArb = fc.oneof({ weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) }, { weight: 6, arbitrary: short }, { weight: 2, arbitrary: long([MAX - 1, MAX]) });
const boundArb = fc.oneof(keyArb, long([MAX + 1, MAX + 2]));
// Bounds are absent, not undefined: abstract-level encodes a present `gt: undefined` as the key 'undefined'.
const rangeArb: fc.Arbitrary<Range> = fc.record(
  { gt: boundArb, gte: boundArb, lt: boundArb, lte: boundArb, reverse: fc.boolean(), limit: fc.oneof(fc.constant(-1), fc.nat(5)) },
  { requiredKeys: ['reverse', 'limit'] },
);
const valueArb = fc.oneof(fc.constant(Buffer.alloc(0)), fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.alloc(n, n & 255)));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant('put' as const), k: keyArb, v: valueArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(fc.record({ k: keyArb, v: fc.option(valueArb, { nil: null }) }), { maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('clear' as const), r: rangeArb }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('iterate' as const), r: rangeArb, seek: fc.option(fc.oneof(keyArb, long([MAX + 1])), { nil: undefined }), mode: fc.constantFrom('iterator' as const, 'keys' as const, 'values' as const) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('readSnapshot' as const), r: rangeArb }) },
);

const open = (file: string, options: object = {}) =>
  new RotaLevel<Buffer, Buffer>(file, { keyEncoding: 'buffer', valueEncoding: 'buffer', pageSize: PAGE, nRoots: 255, noSync: true, ...options });

async function run(ops: Op[]): Promise<void> {
  const db = open(tempPath());
  const model = new Map<string, string>();
  let snap: { s: ReturnType<typeof db.snapshot>; model: Map<string, string> } | null = null;
  await db.open(); // snapshot() has no deferred open (abstract-level)
  try {
    for (const op of ops) {
      switch (op.t) {
        case 'put': await db.put(op.k, op.v); model.set(hex(op.k), hex(op.v)); break;
        case 'del': await db.del(op.k); model.delete(hex(op.k)); break;
        case 'batch':
          await db.batch(op.ops.map((o) => (o.v === null ? { type: 'del' as const, key: o.k } : { type: 'put' as const, key: o.k, value: o.v })));
          for (const o of op.ops) o.v === null ? model.delete(hex(o.k)) : model.set(hex(o.k), hex(o.v));
          break;
        case 'clear':
          await db.clear(op.r);
          for (const k of expected(model, op.r)) model.delete(k);
          break;
        case 'iterate': {
          const want = expected(model, op.r, op.seek);
          const it = op.mode === 'iterator' ? db.iterator(op.r) : op.mode === 'keys' ? db.keys(op.r) : db.values(op.r);
          if (op.seek !== undefined) it.seek(op.seek);
          const got: Array<Buffer | [Buffer, Buffer]> = await it.all();
          const shown = got.map((x) => (Array.isArray(x) ? `${hex(x[0])}=${hex(x[1])}` : hex(x)));
          const modelShown = want.map((k) => (op.mode === 'iterator' ? `${k}=${model.get(k)}` : op.mode === 'keys' ? k : model.get(k)!));
          expect(shown).toEqual(modelShown);
          break;
        }
        case 'snapshot':
          if (snap === null) snap = { s: db.snapshot(), model: new Map(model) };
          break;
        case 'readSnapshot':
          if (snap !== null) {
            const got = await db.keys({ ...op.r, snapshot: snap.s }).all();
            expect(got.map(hex)).toEqual(expected(snap.model, op.r));
            for (const k of [...snap.model.keys()].slice(0, 3)) expect(hex((await db.get(Buffer.from(k, 'hex'), { snapshot: snap.s }))!)).toBe(snap.model.get(k));
            await snap.s.close();
            snap = null;
          }
          break;
      }
    }
    expect((await db.iterator().all()).map(([k, v]) => [hex(k), hex(v)])).toEqual([...model.keys()].sort().map((k) => [k, model.get(k)]));
    expect(db.rotadb.check().problems).toEqual([]);
  } finally {
    await db.close(); // closes the snapshot and any iterator first
  }
}

describe('rotadb/level', () => {
  it('matches a Map: ranges, seek, clear, batches and a snapshot, with empty and maximal keys', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 60 }), run), { numRuns: 40 });
  });

  it('clear() of a range is one commit and leaves the rest', async () => {
    const db = open(tempPath());
    await db.batch(Array.from({ length: 3000 }, (_, i) => ({ type: 'put' as const, key: Buffer.from(`k${String(i).padStart(5, '0')}`), value: Buffer.alloc(40, i) })));
    const before = db.rotadb.stats().txnId;
    await db.clear({ gte: Buffer.from('k00100'), lt: Buffer.from('k02900') });
    expect(db.rotadb.stats().txnId).toBe(before + 1);
    const keys = (await db.keys().all()).map((k) => k.toString());
    expect(keys).toHaveLength(200);
    expect(keys[99]).toBe('k00099');
    expect(keys[100]).toBe('k02900');
    await db.clear({ reverse: true, limit: 5 });
    expect((await db.keys({ reverse: true, limit: 1 }).all())[0]!.toString()).toBe('k02994');
    expect(db.rotadb.check().problems).toEqual([]);
    await db.close();
  });

  it('clear() with a snapshot removes only keys the snapshot has', async () => {
    const db = open(tempPath());
    await db.put(Buffer.from('a'), Buffer.from('1'));
    const snapshot = db.snapshot();
    await db.put(Buffer.from('b'), Buffer.from('2'));
    await db.clear({ snapshot });
    expect((await db.keys().all()).map(String)).toEqual(['b']);
    await snapshot.close();
    await db.close();
  });

  it('a snapshot and an iterator are rotadb read transactions, ended when they close', async () => {
    const db = open(tempPath());
    await db.open();
    const snapshot = db.snapshot();
    const it = db.iterator();
    expect(db.rotadb.readers()).toHaveLength(2);
    await it.close();
    await snapshot.close();
    expect(db.rotadb.readers()).toHaveLength(0);
    db.iterator(); // left open: db.close() closes it
    await db.close();
    expect(db.status).toBe('closed');
  });

  it('open options: createIfMissing, errorIfExists, and rotadb options that Level does not see', async () => {
    const file = tempPath();
    const missing = open(file, { createIfMissing: false });
    const err = await missing.open().catch((e: Error & { cause?: { code?: string } }) => e);
    expect((err as { code?: string }).code).toBe('LEVEL_DATABASE_NOT_OPEN');
    expect((err as { cause: { code: string } }).cause.code).toBe('ROTA_NOT_FOUND');
    expect(fs.existsSync(file)).toBe(false);
    const db = open(file, { nRoots: 7 });
    let seen: object = {};
    db.hooks.postopen.add(async (o: object) => { seen = o; });
    await db.open();
    expect(db.rotadb.stats().nRoots).toBe(7);
    expect(Object.keys(seen).sort()).toEqual(['createIfMissing', 'errorIfExists']);
    await db.close();
    const again = open(file, { errorIfExists: true });
    const err2 = await again.open().catch((e: Error) => e);
    expect((err2 as { cause: { code: string } }).cause.code).toBe('ROTA_EXISTS');
    expect(() => new RotaLevel('')).toThrow(TypeError);
    // options the adapter would not apply are refused, never dropped
    for (const o of [{ readOnly: true }, { encryptionKey: 'k' }, { encoding: 'json' }, { useVersions: true }]) {
      expect(() => new RotaLevel(file, o as never)).toThrow(expect.objectContaining({ code: 'ROTA_BAD_OPTION' }));
    }
  });
});
