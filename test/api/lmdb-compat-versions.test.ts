/**
 * Entry versions (useVersions) side by side with lmdb-js 3.5.6: put with a version and with
 * ifVersion (checked when the batch commits), getEntry, conditional remove, doesExist with a
 * version, IF_EXISTS and null conditions, getRange({ versions: true }), ifVersion(), versions in
 * a named database and inside transactions.
 */
import { describe, expect, it } from 'vitest';
import { IF_EXISTS as LMDB_IF_EXISTS } from 'lmdb';
import { IF_EXISTS, open } from '../../src/index.js';
import { both, pair } from '../helpers/lmdb-pair.js';
import { expectClean, tempPath } from '../helpers/db.js';

describe('versions side by side', () => {
  it('put, getEntry, ifVersion conditions, conditional remove, doesExist, ranges: the same results', async () => {
    const p = pair({ useVersions: true });
    expect(IF_EXISTS).toBe(LMDB_IF_EXISTS);
    const runs: unknown[][] = [];
    for (const db of both(p)) {
      const out: unknown[] = [];
      runs.push(out);
      await db.put('a', 1);
      out.push(db.getEntry('a'));
      out.push(await db.put('a', 2, 3), db.getEntry('a'));
      out.push(await db.put('a', 4, 5, 3), db.getEntry('a'));
      out.push(await db.put('a', 6, 7, 3), db.getEntry('a'));
      out.push(await db.put('b', 6, 7, 3), db.getEntry('b'));
      out.push(await db.put('b', 6, 7, null), db.getEntry('b'));
      out.push(await db.put('b', 8, 9, null), db.getEntry('b'));
      out.push(await db.remove('a', 1), db.get('a'));
      out.push(await db.remove('a', 5), db.get('a'));
      db.putSync('c', 'x', 9);
      out.push(db.getEntry('c'), db.doesExist('c', 9), db.doesExist('c', 8), db.doesExist('zz', 9), db.doesExist('c', LMDB_IF_EXISTS));
      out.push([...db.getRange({ versions: true })], [...db.getRange()], [...db.getRange({ versions: true, reverse: true, limit: 1 })]);
      out.push(await db.ifVersion('c', 9, () => db.put('d', 1, 1)), db.getEntry('d'));
      out.push(await db.ifVersion('c', 8, () => db.put('e', 1)), db.get('e'));
      out.push(await db.put('c', 'y', 10, LMDB_IF_EXISTS), db.getEntry('c'), await db.put('q', 'y', 10, LMDB_IF_EXISTS), db.get('q'));
      db.transactionSync(() => {
        db.put('t', 1, 4);
      });
      out.push(db.getEntry('t'), await db.put('f', 1, 1.5), db.getEntry('f'));
      out.push(db.getBinary('c'));
      // several conditional puts in one batch: each checked against the state the batch has reached
      const batch = await Promise.all([db.put('g', 1, 1, null), db.put('g', 2, 2, 1), db.put('g', 3, 3, 1)]);
      out.push(batch, db.getEntry('g'));
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]!.slice(0, 3)).toEqual([{ value: 1, version: 0 }, true, { value: 2, version: 3 }]);
    expectClean(p.rota);
  });

  it('a named database with useVersions beside one without; a removeSync with ifVersion', () => {
    const p = pair();
    const runs: unknown[][] = [];
    for (const db of both(p)) {
      const v = db.openDB({ name: 'v', useVersions: true });
      const plain = db.openDB('plain', {});
      v.putSync('k', { n: 1 }, 2);
      plain.putSync('k', { n: 1 });
      runs.push([v.getEntry('k'), plain.getEntry('k'), v.removeSync('k', 1), v.get('k'), v.removeSync('k', 2), v.get('k')]);
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]).toEqual([{ value: { n: 1 }, version: 2 }, { value: { n: 1 } }, false, { n: 1 }, true, undefined]);
  });
});

describe('versions in rotadb', () => {
  it('the version survives reopening, transaction objects and ranges over a transaction', async () => {
    const file = tempPath();
    const db = open(file, { useVersions: true });
    await db.put('a', 'x', 42);
    const r = db.beginRead();
    expect(r.getRange({ versions: true }).asArray).toEqual([{ key: 'a', value: 'x', version: 42 }]);
    expect(db.getEntry('a', { transaction: r })).toEqual({ value: 'x', version: 42 });
    r.end();
    await db.close();
    const again = open(file, { useVersions: true });
    try {
      expect(again.getEntry('a')).toEqual({ value: 'x', version: 42 });
      expect(again.get('a')).toBe('x');
      expectClean(again);
    } finally {
      await again.close();
    }
  });

  it('bad version arguments are refused', () => {
    const file = tempPath();
    const db = open(file, { useVersions: true });
    try {
      for (const call of [() => db.put('a', 1, 'v' as never), () => db.put('a', 1, 1, 'x' as never), () => db.putSync('a', 1, { version: 1 } as never), () => db.remove('a', 1, 2)]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ROTA_BAD_OPTION' }));
      }
      expect(db.get('a')).toBe(undefined);
    } finally {
      db.closeSync();
    }
  });
});
