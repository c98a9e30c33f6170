/**
 * A process killed while it creates its record in the lock directory (the SIGKILL crash test hit
 * this: a record created empty, then killed before its first write, was judged by nobody, and the
 * directory stayed for good). The record appears under its name only with its contents
 * (procs/lock-dir.ts, createRecord), so such a process leaves at most a temporary file, which the
 * last process out removes with the directory.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { ensureBuilt } from '../helpers/dist.js';
import { expectClean, tempPath } from '../helpers/db.js';

beforeAll(ensureBuilt, 120_000);

const distEntry = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

describe('a process killed while it creates its record', () => {
  it('leaves no record that keeps the lock directory: the next process to close removes it', async () => {
    const file = tempPath();
    const first = open(file);
    first.putSync('k', 1);
    await first.close();
    let signal: string | undefined;
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', 'const { open } = await import(process.env.ROTA_DIST); open(process.env.ROTA_FILE);'], {
        env: { ...process.env, ROTA_DIST: pathToFileURL(distEntry).href, ROTA_FILE: file, ROTADB_TEST_DIE_IN_RECORD: '1' },
        stdio: 'ignore',
      });
    } catch (e) {
      signal = (e as { signal?: string }).signal;
    }
    expect(signal, 'the child was to kill itself while creating its record').toBe('SIGKILL');
    const left = fs.readdirSync(`${file}-lock`);
    expect(left.filter((n) => n.startsWith('p-'))).toEqual([]); // no record under its name
    const db = open(file);
    expect(db.get('k')).toBe(1);
    expectClean(db);
    await db.close();
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  });
});
