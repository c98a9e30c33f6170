/** stats(): entries, depth, txnId, layout, per-slot state and readers. */
import { describe, expect, it } from 'vitest';
import { expectClean, openMem, sleep } from '../helpers/db.js';

describe('stats()', () => {
  it('reports entries, depth, txnId, layout, slots and readers', async () => {
    const db = openMem({ pageSize: 1024, nRoots: 3 });
    const st0 = db.stats();
    expect(st0).toMatchObject({ entries: 0, depth: 0, txnId: 0, pageSize: 1024, nRoots: 3, readers: 0, oldestReaderAgeMs: 0 });
    expect(st0.slots).toHaveLength(3);
    expect(st0.slots.map((s) => s.slot)).toEqual([0, 1, 2]);
    expect(st0.slots[0]!.txnId).toBe(0);

    db.putSync('one', 1);
    let st = db.stats();
    expect(st).toMatchObject({ entries: 1, depth: 1, txnId: 1 });
    db.transactionSync(() => {
      for (let i = 0; i < 500; i++) db.putSync(`key-${String(i).padStart(4, '0')}`, 'x'.repeat(20));
    });
    st = db.stats();
    expect(st.entries).toBe(501);
    expect(st.depth).toBeGreaterThanOrEqual(2);
    expect(st.txnId).toBe(2);
    expect(st.slots).toHaveLength(3);
    expect(st.slots[2]!.txnId).toBe(2);
    expect(st.totalPages * st.pageSize).toBeLessThanOrEqual(st.fileSize);

    const r = db.beginRead();
    await sleep(15);
    st = db.stats();
    expect(st.readers).toBe(1);
    expect(st.oldestReaderAgeMs).toBeGreaterThan(0);
    expect(st.oldestReaderTxnId).toBe(2);
    expect(st.slots[2]!.readers).toBe(1);
    expect(db.readers()).toHaveLength(1);
    r.end();
    st = db.stats();
    expect(st.readers).toBe(0);
    expect(st.oldestReaderAgeMs).toBe(0);
    expect(st.slots.every((s) => s.readers === 0)).toBe(true);
    expectClean(db);
  });
});
