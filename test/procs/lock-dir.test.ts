/**
 * The lock directory `<path>-lock/` with real files and real processes (src/procs/lock-dir.ts):
 * what it holds while the file is open and that the last close removes it, the lock file of an
 * older rotadb, two processes seeing each other's commits, and processes SIGKILLed while they
 * hold a snapshot or the writer lock. Children run the built module (children/peer.mjs).
 */
import * as fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { expectClean, openFile, tempPath, track } from '../helpers/db.js';
import { adopt, startPeer } from './children/drive.js';

const turn = () => new Promise<void>((r) => setImmediate(r));

/** Names in the lock directory of `file`, sorted; null when there is no directory. */
function lockEntries(file: string): string[] | null {
  try { return fs.readdirSync(`${file}-lock`).sort(); } catch { return null; }
}

function recordsOf(file: string): string[] {
  return (lockEntries(file) ?? []).filter((n) => n.startsWith('p-'));
}

function thrown(fn: () => unknown): { code?: string; pid?: number; message?: string } {
  try { fn(); } catch (e) { return e as { code?: string }; }
  throw new Error('expected an error');
}

describe('the lock directory', () => {
  it('holds the state file and our one record while open, and is gone after close', async () => {
    const file = tempPath();
    const db = track(open(file));
    db.putSync('a', 1);
    const entries = lockEntries(file)!;
    expect(fs.statSync(`${file}-lock`).isDirectory()).toBe(true);
    expect(entries).toHaveLength(3);
    expect(entries).toContain('state');
    expect(entries).toContain('members');
    const [rec] = recordsOf(file);
    expect(rec).toMatch(new RegExp(`^p-[0-9a-f]{12}-${process.pid}-\\d+$`));
    expectClean(db);
    await db.close();
    expect(lockEntries(file)).toBeNull();
    expect(fs.existsSync(file)).toBe(true);
  });

  it('the same path opened twice in this process is ROTA_ALREADY_OPEN, and the first stays usable', () => {
    const file = tempPath();
    const db = openFile(file);
    expect(thrown(() => open(file)).code).toBe('ROTA_ALREADY_OPEN');
    expect(recordsOf(file)).toHaveLength(1);
    db.putSync('k', 'v');
    expect(db.get('k')).toBe('v');
  });

  it('a lock FILE of an older rotadb: a live pid is ROTA_LOCKED naming it; a dead pid is removed and the file opened', async () => {
    const file = tempPath();
    const sleeper = adopt(spawn('sleep', ['30'], { stdio: 'ignore' }));
    fs.writeFileSync(`${file}-lock`, `${sleeper.pid}\n`);
    const e = thrown(() => open(file));
    expect(e.code).toBe('ROTA_LOCKED');
    expect(e.pid).toBe(sleeper.pid);
    expect(e.message).toContain(String(sleeper.pid));
    expect(fs.statSync(`${file}-lock`).isFile()).toBe(true); // left alone
    expect(fs.existsSync(file)).toBe(false);

    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(`${file}-lock`, `${dead}\n`);
    const db = openFile(file);
    expect(fs.statSync(`${file}-lock`).isDirectory()).toBe(true);
    db.putSync('k', 1);
    expectClean(db);
    await db.close();
    expect(lockEntries(file)).toBeNull();
  });

  it('a second process reads our data and writes; each sees the other\'s commit after an event-loop turn', async () => {
    const file = tempPath();
    const db = openFile(file);
    db.putSync('ours', 'from parent');
    const peer = await startPeer();
    await peer.call('open', { path: file });
    expect(recordsOf(file)).toHaveLength(2);
    expect(await peer.call('get', { key: 'ours' })).toBe('from parent');

    expect(db.get('theirs')).toBeUndefined(); // a get of this turn: it may linger on this version
    await peer.call('put', { key: 'theirs', value: 'from child' });
    await turn();
    expect(db.get('theirs')).toBe('from child');

    db.putSync('ours', 'changed');
    db.putSync('more', 2);
    expect(await peer.call('get', { key: 'ours' })).toBe('changed');
    expect(await peer.call('get', { key: 'more' })).toBe(2);
    // writes alternate between the processes, each on the other's newest version
    for (let i = 0; i < 10; i++) {
      db.putSync('n', i * 2);
      expect(await peer.call('get', { key: 'n' })).toBe(i * 2);
      await peer.call('put', { key: 'n', value: i * 2 + 1 });
      await turn();
      expect(db.get('n')).toBe(i * 2 + 1);
    }
    await peer.call('close');
    // the child's record left with it; the directory stays, with ours
    expect(recordsOf(file)).toEqual([expect.stringContaining(`-${process.pid}-`)]);
    expect(lockEntries(file)).toContain('state');
    expectClean(db);
  });

  it('a process that closes the file and opens it again (the same record name, a new record file) is seen: its lock and pins count', async () => {
    const file = tempPath();
    const db = openFile(file, { nRoots: 2, writeTimeoutMs: 600 });
    db.putSync('k', 0);
    const peer = await startPeer();
    await peer.call('open', { path: file, options: { nRoots: 2 } });
    db.putSync('k', 1); // this process reads the peer's record now (and keeps a descriptor on it)
    await peer.call('close');
    await peer.call('open', { path: file, options: { nRoots: 2 } });
    expect(recordsOf(file)).toHaveLength(2);
    await peer.call('beginWrite', { key: 'k', value: 'peer' }); // it holds the writer lock now
    const e = thrown(() => db.putSync('k', 2));
    expect(e.code).toBe('ROTA_WRITE_TIMEOUT');
    expect(e.message).toContain(`held by process ${peer.pid}`);
    await peer.kill();

    // the same for a pin: a reader that opened again pins the current version; with two slots this
    // process's second commit needs that version's slot
    const reader = await startPeer();
    await reader.call('open', { path: file, options: { nRoots: 2 } });
    db.putSync('k', 3);
    await reader.call('close');
    await reader.call('open', { path: file, options: { nRoots: 2 } });
    expect(await reader.call('beginRead', { key: 'k' })).toBe(3);
    db.putSync('k', 4);
    const p = thrown(() => db.putSync('k', 5));
    expect(p.code).toBe('ROTA_WRITE_TIMEOUT');
    expect(p.message).toContain(`process ${reader.pid}`);
    await reader.kill();
    db.putSync('k', 6);
    expect(db.get('k')).toBe(6);
    expectClean(db);
  });

  describe.each([
    ['holding a read transaction', 'beginRead'],
    ['inside a write transaction', 'beginWrite'],
  ])('a child SIGKILLed while %s', (_what, op) => {
    it.each([['writes at once'], ['closes at once']])('this process %s; close() removes the directory and the dead record', async (then) => {
      const file = tempPath();
      const db = track(open(file, { nRoots: 2, writeTimeoutMs: 20_000 }));
      db.putSync('k', 0);
      const peer = await startPeer();
      await peer.call('open', { path: file });
      await peer.call(op, { key: 'k', value: 'never committed' });
      const dead = recordsOf(file).find((n) => n.includes(`-${peer.pid}-`));
      expect(dead).toBeDefined();
      await peer.kill();
      expect(recordsOf(file)).toContain(dead); // nobody has looked at it yet

      if (then === 'writes at once') {
        // with two slots, the second and later commits need the slot the dead reader pinned
        const t0 = Date.now();
        for (let i = 1; i <= 6; i++) db.putSync('k', i);
        const took = Date.now() - t0;
        expect(took, `6 commits past a dead ${op} holder took ${took} ms`).toBeLessThan(3_000);
        expect(db.get('k')).toBe(6);
        expectClean(db);
      }
      await db.close();
      expect(lockEntries(file)).toBeNull();

      const again = openFile(file);
      expect(again.get('k')).toBe(then === 'writes at once' ? 6 : 0);
      expectClean(again);
    });
  });
});
