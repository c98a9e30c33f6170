/**
 * Every lmdb-js 3.5 option, argument and read option is either implemented or refused with
 * ROTA_BAD_OPTION naming it: nothing is accepted and ignored (issue 12, part 1).
 */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { openMem, tempPath, track, syncCodeOf, codeOf, expectClean } from '../helpers/db.js';
import { thrown } from '../helpers/thrown.js';

/**
 * lmdb-js 3.5.6's open options (node_modules/lmdb/index.d.ts: RootDatabaseOptionsWithPath,
 * RootDatabaseOptions, DatabaseOptions; and the README's DB Options and LMDB Flags), each with
 * the value a user sets to turn it on, and what rotadb does with that.
 */
const LMDB_OPEN_OPTIONS: [name: string, value: unknown, status: 'implemented' | 'refused'][] = [
  ['path', undefined, 'implemented'], // given below as the first argument
  ['name', 'x', 'refused'],
  ['cache', true, 'refused'],
  ['compression', true, 'refused'],
  ['encoding', 'json', 'implemented'],
  ['sharedStructuresKey', Symbol.for('structures'), 'refused'],
  ['useVersions', true, 'implemented'],
  ['keyEncoding', 'binary', 'implemented'],
  ['dupSort', true, 'refused'],
  ['strictAsyncOrder', true, 'implemented'],
  ['maxDbs', 20, 'refused'],
  ['commitDelay', 10, 'refused'],
  ['mapSize', 1 << 30, 'refused'],
  ['pageSize', 8192, 'implemented'],
  ['overlappingSync', true, 'refused'],
  ['separateFlushed', true, 'refused'],
  ['remapChunks', true, 'refused'],
  ['noMemInit', true, 'refused'],
  ['useWritemap', true, 'refused'],
  ['noSubdir', false, 'refused'],
  ['noSync', true, 'implemented'],
  ['noMetaSync', true, 'refused'],
  ['readOnly', false, 'implemented'],
  ['maxReaders', 200, 'implemented'],
  ['encryptionKey', 'a'.repeat(32), 'refused'],
  ['eventTurnBatching', false, 'refused'],
  ['encoder', { encode: (x: unknown) => x, decode: (x: unknown) => x }, 'refused'],
  ['decoder', { decode: (x: unknown) => x }, 'refused'],
  ['keyEncoder', { writeKey: () => 0, readKey: () => null }, 'refused'],
  ['txnStartThreshold', 5, 'refused'],
  ['noReadAhead', true, 'refused'],
  ['safeRestore', true, 'implemented'],
  ['mapAsync', true, 'refused'],
];

function messageOf(fn: () => unknown): string {
  const e = thrown(fn) as { code?: string; message: string };
  expect(e.code).toBe('ROTA_BAD_OPTION');
  return e.message;
}

describe('open() options from lmdb-js', () => {
  it.each(LMDB_OPEN_OPTIONS)('%s = %s is %s', (name, value, status) => {
    if (name === 'path') {
      track(open(tempPath())).closeSync();
      return;
    }
    const opts = { [name]: value };
    if (status === 'implemented') {
      const db = track(open(tempPath(), opts));
      const key = name === 'keyEncoding' ? Buffer.from('k') : 'k';
      db.putSync(key, 'v');
      expect(db.get(key)).toBe('v');
      expectClean(db);
    } else {
      expect(messageOf(() => open(tempPath(), opts))).toContain(name);
    }
  });

  it('encryptionKey says plainly that the file would not be encrypted, whatever its value', () => {
    for (const key of ['k'.repeat(32), Buffer.alloc(32), '']) {
      expect(messageOf(() => open({ storage: new MemoryStorage(), encryptionKey: key } as never))).toMatch(/encryptionKey.*in the clear/);
    }
  });

  it('the values that describe what rotadb does anyway are accepted', () => {
    const db = openMem({ compression: false, dupSort: false, useVersions: false, cache: false, useWritemap: false, noSubdir: true, overlappingSync: false, commitDelay: 0, eventTurnBatching: true, strictAsyncOrder: false, encryptionKey: undefined } as never);
    db.putSync(1, 1);
    expect(db.get(1)).toBe(1);
  });

  it('the lmdb-js options that make no sense here say why', () => {
    expect(messageOf(() => openMem({ mapSize: 1e9 } as never))).toMatch(/mapSize.*does not memory-map/);
    expect(messageOf(() => openMem({ useWritemap: true } as never))).toMatch(/useWritemap.*memory-map/);
    expect(messageOf(() => openMem({ noSubdir: false } as never))).toMatch(/noSubdir.*never a directory/);
    expect(messageOf(() => openMem({ maxDbs: 12 } as never))).toMatch(/maxDbs.*no limit/);
  });

  it('a misspelt option is refused with the closest known name', () => {
    expect(messageOf(() => openMem({ noSyn: true } as never))).toMatch(/unknown option noSyn.*did you mean noSync\?/);
    expect(messageOf(() => openMem({ pagesize: 4096 } as never))).toMatch(/did you mean pageSize\?/);
    expect(messageOf(() => openMem({ encyptionKey: 'x' } as never))).toMatch(/did you mean encryptionKey\?/);
    expect(messageOf(() => openMem({ nroots: 2 } as never))).toMatch(/did you mean nRoots\?/);
    expect(messageOf(() => openMem({ somethingElse: 1 } as never))).not.toMatch(/did you mean/);
  });

  it("rotadb's own options keep working", () => {
    const db = track(open(tempPath(), { pageSize: 4096, nRoots: 3, cacheSize: 1 << 20, noSync: true, fsyncsPerCommit: 2, writeTimeoutMs: 500, slotPolicy: 'oldest-unpinned', maxReaders: 10, maxReaderAgeMs: 1000, encoding: 'json', keyEncoding: 'ordered' }));
    db.putSync('a', { b: 1 });
    expect(db.get('a')).toEqual({ b: 1 });
  });

  it("lmdb-js encodings rotadb lacks are refused with what to use", () => {
    expect(messageOf(() => openMem({ keyEncoding: 'ordered-binary' } as never))).toMatch(/'ordered'/);
    expect(messageOf(() => openMem({ keyEncoding: 'uint32' } as never))).toMatch(/uint32/);
    expect(messageOf(() => openMem({ encoding: 'cbor' } as never))).toMatch(/cbor/);
  });
});

describe('openDB() options', () => {
  it('lmdb-js database options: implemented or refused by name; file options are refused as such', () => {
    const db = openMem();
    expect(messageOf(() => db.openDB('a', { dupSort: true } as never))).toContain('dupSort');
    expect(messageOf(() => db.openDB({ name: 'a', compression: true } as never))).toContain('compression');
    expect(messageOf(() => db.openDB('a', { cache: true } as never))).toContain('cache');
    expect(messageOf(() => db.openDB('a', { mapSize: 1 } as never))).toMatch(/mapSize: it is an option of the file/);
    expect(messageOf(() => db.openDB('a', { noSync: true } as never))).toMatch(/noSync: it is an option of the file/);
    expect(messageOf(() => db.openDB('a', { encodng: 'json' } as never))).toMatch(/did you mean encoding\?/);
    expect(messageOf(() => db.openDB('a', { name: 'b' } as never))).toMatch(/differs/);
    const named = db.openDB('a', { encoding: 'json', strictAsyncOrder: true } as never);
    named.putSync('x', [1]);
    expect(named.get('x')).toEqual([1]);
  });
});

describe('getRange() options and extra arguments', () => {
  it('versions (without useVersions), misspelt and unknown range options are refused by name; versions: false is accepted', () => {
    const db = openMem();
    db.putSync(1, 1);
    expect(messageOf(() => db.getRange({ versions: true } as never))).toContain('versions');
    expect(messageOf(() => db.getKeys({ inclusiveEnds: true } as never))).toMatch(/did you mean inclusiveEnd\?/);
    expect(messageOf(() => db.getCount({ revers: true } as never))).toMatch(/did you mean reverse\?/);
    expect(messageOf(() => db.beginRead().getRange({ exclusivStart: true } as never))).toMatch(/exclusiveStart/);
    expect(db.getRange({ versions: false } as never).asArray).toEqual([{ key: 1, value: 1 }]);
  });

  it("lmdb-js's version and ifVersion (without useVersions), dupSort value and put-flag arguments are refused, not dropped", async () => {
    const db = openMem();
    db.putSync('k', 'v');
    const put = db.put as (...a: unknown[]) => Promise<boolean>;
    expect(messageOf(() => put.call(db, 'k', 'w', 3))).toMatch(/put\(\): the version argument/);
    expect(messageOf(() => put.call(db, 'k', 'w', undefined, 2))).toMatch(/ifVersion/);
    expect(messageOf(() => (db.remove as (...a: unknown[]) => unknown).call(db, 'k', 'v'))).toMatch(/remove\(\)/);
    expect(messageOf(() => (db.putSync as (...a: unknown[]) => unknown).call(db, 'k', 'w', { noOverwrite: true }))).toMatch(/putSync\(\)/);
    expect(messageOf(() => (db.removeSync as (...a: unknown[]) => unknown).call(db, 'k', 1))).toMatch(/removeSync\(\)/);
    expect(messageOf(() => (db.transactionSync as (...a: unknown[]) => unknown).call(db, () => 1, 2))).toMatch(/flags/);
    expect(messageOf(() => db.get('k', { transacton: 1 } as never))).toMatch(/did you mean transaction\?/);
    expect(messageOf(() => db.get('k', { transaction: {} }))).toMatch(/useReadTransaction/);
    expect(() => db.ifVersion('k', 1, () => {})).toThrow(/no entry versions.*useVersions/);
    expect(db.get('k')).toBe('v'); // nothing was written
    expect(await db.put('k', 'x', undefined as never)).toBe(true); // explicitly undefined is absent
  });
});

describe('readOnly: true', () => {
  it('reads work; every write is refused with ROTA_READ_ONLY before taking the writer', async () => {
    const file = tempPath();
    const w = open(file);
    w.putSync('a', 1);
    w.openDB('n').putSync('b', 2);
    await w.close();
    const db = track(open(file, { readOnly: true }));
    const n = db.openDB('n');
    expect(db.get('a')).toBe(1);
    expect(n.get('b')).toBe(2);
    expect(db.getRange().asArray).toEqual([{ key: 'a', value: 1 }]);
    for (const write of [
      () => db.putSync('a', 2), () => db.put('a', 2), () => db.remove('a'), () => db.removeSync('a'),
      () => n.putSync('b', 3), () => db.transactionSync(() => 1), () => db.transaction(() => 1),
      () => db.childTransaction(() => 1), () => db.beginWrite(), () => db.clearSync(), () => n.drop(),
      () => db.ifNoExists('x', () => {}),
    ]) {
      expect(syncCodeOf(write)).toBe('ROTA_READ_ONLY');
    }
    expect(db.get('a')).toBe(1);
    expect(db.stats().txnId).toBeGreaterThan(0);
  });

  it('does not create a missing file', async () => {
    const file = tempPath();
    expect(await codeOf(() => open(file, { readOnly: true }))).toBe('ROTA_NOT_FOUND');
    expect(messageOf(() => open(file, { readOnly: 'yes' } as never))).toMatch(/readOnly/);
  });
});
