/**
 * The lock file of platforms where processes cannot share a file (no /proc: env/lockfile.ts):
 * one process per file, a dead owner's lock taken over. Called directly, since on Linux open()
 * uses the lock directory instead (test/procs/).
 */
import * as fs from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { lockFile, releaseLockFileOf } from '../../src/env/lockfile.js';
import { tempPath } from '../helpers/db.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { return (e as { code?: string }).code ?? String(e); }
  return 'no error';
}

describe('the lock file (one process per file)', () => {
  it('holds our pid while held, and is gone once released', () => {
    const file = tempPath();
    const release = lockFile(file);
    expect(fs.readFileSync(`${file}-lock`, 'utf8').trim()).toBe(String(process.pid));
    expect(codeOf(() => lockFile(file))).toBe('ROTA_ALREADY_OPEN'); // our own pid: another thread of ours
    release();
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
    lockFile(file);
    releaseLockFileOf(file);
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  });

  it('a live owner keeps it (ROTA_LOCKED naming the pid); once it is dead, the lock is taken over', async () => {
    const file = tempPath();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(sleeper);
    fs.writeFileSync(`${file}-lock`, `${sleeper.pid}\n`);
    let err: unknown;
    try { lockFile(file); } catch (e) { err = e; }
    expect((err as { code?: string }).code).toBe('ROTA_LOCKED');
    expect((err as { pid?: number }).pid).toBe(sleeper.pid);
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
    const release = lockFile(file);
    expect(fs.readFileSync(`${file}-lock`, 'utf8').trim()).toBe(String(process.pid));
    release();
  });

  it.each([['a dead pid', 'dead'], ['garbage', 'not a pid\n'], ['nothing', ''], ['zero', '0\n'], ['a negative number', '-5\n']])('a lock file holding %s is stale and taken over', (_what, content) => {
    const file = tempPath();
    const text = content === 'dead' ? `${spawnSync(process.execPath, ['-e', '0']).pid}\n` : content;
    fs.writeFileSync(`${file}-lock`, text);
    const release = lockFile(file);
    expect(fs.readFileSync(`${file}-lock`, 'utf8').trim()).toBe(String(process.pid));
    release();
  });
});
