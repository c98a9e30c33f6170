/**
 * A thread about to wait for the writer lock first gives up what it holds without reading: its
 * lingering get pin, and its process's announcements of pins already released (withdrawn lazily,
 * when its event loop turns). A writer of another process may be waiting for exactly those while
 * this thread, blocked, would never withdraw them: each would wait for the other until
 * writeTimeoutMs (sync/readers.ts, beforeWait).
 */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { expectClean, tempPath, track } from '../helpers/db.js';
import { startPeer } from './children/drive.js';

describe('waiting for the writer lock across processes', () => {
  it('a thread blocked after a get does not hold up the other process\'s writer it then waits for', async () => {
    const file = tempPath();
    const db = track(open(file, { nRoots: 2, writeTimeoutMs: 4000 }));
    db.putSync('a', 1);
    const peer = await startPeer();
    await peer.call('open', { path: file, options: { nRoots: 2, writeTimeoutMs: 4000 } });
    // the peer's second commit needs the slot of the version this thread's get pins
    peer.child.stdin!.write(JSON.stringify({ op: 'seq', ops: [{ op: 'sleep', ms: 200 }, { op: 'put', key: 'b', value: 1 }, { op: 'put', key: 'c', value: 1 }] }) + '\n');
    expect(db.get('a')).toBe(1);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 700); // a long synchronous stretch: the peer's first put is done, its second waits
    const t0 = Date.now();
    db.putSync('d', 1); // waits for the peer's lock; the peer waits for this process's pin unless it went first
    const waited = Date.now() - t0;
    const a = await peer.answer();
    expect(a.ok, `${a.code} ${a.message}`).toBe(true);
    expect(waited).toBeLessThan(2000);
    expect(db.get('c')).toBe(1);
    expect(db.get('d')).toBe(1);
    await peer.call('close');
    expectClean(db);
  }, 20_000);
});
