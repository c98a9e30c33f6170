/**
 * dump()/load(): the line-delimited JSON format round-trips every database byte for byte,
 * whatever the encodings, and load() rejects malformed input with stable codes.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RootDatabase } from '../../src/api/root-database.js';
import { DUMP_FORMAT, DUMP_VERSION, dump } from '../../src/tools/dump.js';
import { DumpReader, load } from '../../src/tools/load.js';
import { codeOf, expectClean, openFile, openMem, rawContents, tempPath } from '../helpers/db.js';


/** Collects what dump() writes. */
async function dumpText(db: RootDatabase, options: Parameters<typeof dump>[2] = {}): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  out.on('data', (c: Buffer) => chunks.push(c));
  await dump(db.env, out, options);
  out.end();
  return Buffer.concat(chunks).toString('utf8');
}

/** A database with every encoding, binary-unfriendly bytes, large values and an empty named database. */
function varied(db: RootDatabase): void {
  const json = db.openDB('json', { encoding: 'json' });
  const bin = db.openDB('bin', { encoding: 'binary', keyEncoding: 'binary' });
  const str = db.openDB('str', { encoding: 'string' });
  const empty = db.openDB('empty');
  db.transactionSync(() => {
    db.putSync(null, 'null key');
    db.putSync(-0.5, { n: -0.5 });
    db.putSync(42, [1, 2, { deep: new Date(0) }]);
    db.putSync('text\n"quoted"\u2028', 'line\nbreaks');
    db.putSync(['arr', 1, 'x\u0000y'], new Uint8Array([0, 1, 2]));
    db.putSync(Buffer.from([0, 255, 10, 13]), true);
    db.putSync('large', Buffer.alloc(70000, 0xab)); // overflow run
    for (let i = 0; i < 1500; i++) db.putSync(['n', i], { i });
    json.putSync('a', { nested: [1, 'two', null] });
    for (let b = 0; b < 256; b++) bin.putSync(Buffer.from([b, 0, 255 - b]), Buffer.from([b, b, 10, 0]));
    bin.putSync(Buffer.from('{"db":null}'), Buffer.from('\n\n'));
    str.putSync('unicode', '日本語 🎉');
    empty.putSync('x', 1);
  });
  empty.removeSync('x');
}

describe('dump and load', () => {
  it('round-trips every database byte for byte into a fresh database', async () => {
    const src = openFile(tempPath('src.rdb'));
    varied(src);
    const text = await dumpText(src);
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe(''); // every line ends with \n
    const header = JSON.parse(lines[0]!);
    expect(header).toEqual({
      format: DUMP_FORMAT, version: DUMP_VERSION, pageSize: 4096, nRoots: 4, txnId: src.env.current.txnId,
      databases: [
        { name: null, entries: 1507 }, { name: 'bin', entries: 257 }, { name: 'empty', entries: 0 },
        { name: 'json', entries: 1 }, { name: 'str', entries: 1 },
      ],
    });
    expect(lines.length - 2).toBe(1507 + 257 + 1 + 1);
    for (const line of lines.slice(1, -1)) {
      const e = JSON.parse(line);
      expect(Object.keys(e)).toEqual(['db', 'k', 'v']);
    }

    const dest = openFile(tempPath('dest.rdb'));
    const result = await load(dest.env, Readable.from([text]));
    expect(result).toEqual({ entries: 1766, databases: 5 });
    expect(rawContents(dest)).toEqual(rawContents(src));
    expectClean(dest);
    // and the decoded values are the same
    expect(dest.get('large')).toEqual(Buffer.alloc(70000, 0xab));
    expect(dest.get(42)).toEqual([1, 2, { deep: new Date(0) }]);
    expect(dest.openDB('str', { encoding: 'string' }).get('unicode')).toBe('日本語 🎉');
    // dumping the copy gives the same text but for the version number
    const again = await dumpText(dest);
    expect(again.split('\n').slice(1)).toEqual(lines.slice(1));
  });

  it('loads into a database with another page size, in bounded transactions, reporting progress', async () => {
    const src = openMem();
    varied(src);
    const text = await dumpText(src);
    const dest = openMem({ pageSize: 8192, nRoots: 2 });
    const before = dest.env.current.txnId;
    const calls: Array<[number, number]> = [];
    await load(dest.env, Readable.from(text.match(/[\s\S]{1,777}/g)!), { batchEntries: 100, onProgress: (d, t) => calls.push([d, t]) });
    expect(rawContents(dest)).toEqual(rawContents(src));
    expect(dest.env.current.txnId - before).toBe(Math.ceil(1766 / 100));
    expect(calls[0]).toEqual([0, 1766]);
    expect(calls.at(-1)).toEqual([1766, 1766]);
    expectClean(dest);
  });

  it('db.load() queues its batches after the writes issued before it, like db.transaction()', async () => {
    const src = openMem();
    src.putSync('k', 'from the dump');
    const text = await dumpText(src);
    const db = openMem();
    const put = db.put('k', 'issued first'); // queued, not awaited
    await db.load(Readable.from([text]));
    await put;
    expect(db.get('k')).toBe('from the dump');
    expectClean(db);
  });

  it('dumps one database with { database }', async () => {
    const src = openMem();
    varied(src);
    const text = await dumpText(src, { database: 'bin' });
    const [head, ...rest] = text.trimEnd().split('\n');
    expect(JSON.parse(head!).databases).toEqual([{ name: 'bin', entries: 257 }]);
    expect(rest.every((l) => JSON.parse(l).db === 'bin')).toBe(true);
    const mainOnly = await dumpText(src, { database: null });
    expect(JSON.parse(mainOnly.split('\n')[0]!).databases).toEqual([{ name: null, entries: 1507 }]);
    const dest = openMem();
    await load(dest.env, Readable.from([text]));
    const got = rawContents(dest);
    expect([...got.keys()]).toEqual(['', 'bin']);
    expect(got.get('')).toEqual([]);
    expect(got.get('bin')).toEqual(rawContents(src).get('bin'));
    expect(await codeOf(() => dumpText(src, { database: 'nope' }))).toBe('ROTA_NO_DATABASE');
  });

  it('waits for a slow output stream (back-pressure) and gives one consistent snapshot while a writer goes on', async () => {
    const src = openMem();
    src.transactionSync(() => { for (let i = 0; i < 5000; i++) src.putSync(i, 'v'.repeat(50)); });
    const expected = rawContents(src);
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) { chunks.push(chunk); setTimeout(cb, 1); },
    });
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await src.put(10000 + i, 'late');
        await new Promise((r) => setImmediate(r));
      }
    })();
    const job = dump(src.env, slow);
    const result = await job;
    stop = true;
    await writer;
    await new Promise<void>((r) => slow.end(r));
    expect(src.env.current.txnId).toBeGreaterThan(result.txnId);
    const dest = openMem();
    await load(dest.env, Readable.from([Buffer.concat(chunks)]));
    expect(rawContents(dest)).toEqual(expected);
  });

  it('rejects malformed dumps with stable codes', async () => {
    const db = openMem();
    const header = (o: object = {}): string => JSON.stringify({ format: DUMP_FORMAT, version: 1, pageSize: 4096, nRoots: 4, txnId: 1, databases: [{ name: null, entries: 1 }], ...o });
    const k = db.encodeKeyCopy('k').toString('base64'); // the raw encoded key, as dump() writes it
    const entry = (o: object = {}): string => JSON.stringify({ db: null, k, v: '', ...o });
    const code = (text: string): Promise<string> => codeOf(() => load(db.env, Readable.from([text])));
    expect(await code('')).toBe('ROTA_BAD_DUMP');
    expect(await code('hello\n')).toBe('ROTA_BAD_DUMP');
    expect(await code('{"format":"other"}\n')).toBe('ROTA_BAD_DUMP');
    expect(await code(`${header({ version: 2 })}\n`)).toBe('ROTA_FORMAT_VERSION');
    expect(await code(`${header({ databases: 'x' })}\n`)).toBe('ROTA_BAD_DUMP');
    expect(await code(`${header()}\n${entry({ k: 'not base64!' })}\n`)).toBe('ROTA_BAD_DUMP');
    expect(await code(`${header()}\n${entry({ db: 'other' })}\n`)).toBe('ROTA_BAD_DUMP');
    expect(await code(`${header()}\n{"db":null,"k":\n`)).toBe('ROTA_BAD_DUMP');
    expect(await code(`${header({ databases: [{ name: null, entries: 2 }] })}\n${entry()}\n`)).toBe('ROTA_BAD_DUMP'); // truncated
    expect(await code(`${header()}\n${entry({ k: Buffer.alloc(3000).toString('base64') })}\n`)).toBe('ROTA_KEY_TOO_LARGE');
    // the message names the line
    const err = await load(db.env, Readable.from([`${header()}\n${entry()}\n${entry({ v: '***' })}\n`])).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/line 3/);
    // a well-formed one, with CRLF line ends and a trailing blank line, loads
    await load(db.env, Readable.from([`${header()}\r\n${entry({ v: Buffer.from([0xc3]).toString('base64') })}\r\n\r\n`])); // msgpack true
    expect(db.get('k')).toBe(true);
  });

  it('round-trips the empty key of a binary-keyed database', async () => {
    const src = openMem();
    const bin = src.openDB('bin', { keyEncoding: 'binary', encoding: 'binary' });
    bin.putSync(Buffer.alloc(0), Buffer.from('empty'));
    bin.putSync(Buffer.from([0]), Buffer.from('zero'));
    const text = await dumpText(src);
    expect(text).toContain('"k":""');
    const dest = openMem();
    await dest.load(Readable.from([text]));
    expect(rawContents(dest)).toEqual(rawContents(src));
    expect(dest.openDB('bin', { keyEncoding: 'binary', encoding: 'binary' }).get(Buffer.alloc(0))).toEqual(Buffer.from('empty'));
    expectClean(dest);
  });

  it('DumpReader exposes the header before any entry is read', async () => {
    const src = openMem({ pageSize: 2048, nRoots: 3 });
    src.putSync('a', 1);
    const reader = await DumpReader.open(Readable.from([await dumpText(src)]));
    expect(reader.header.pageSize).toBe(2048);
    expect(reader.header.nRoots).toBe(3);
    const entries = [];
    for await (const e of reader.entries()) entries.push(e);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.db).toBeNull();
  });
});
