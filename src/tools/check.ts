/**
 * The consistency checker (like `bbolt check`): for the current version, every page below the
 * high-water mark must be owned exactly once, by a root slot, a tree, an overflow run, the space
 * map, or the free list; and every tree must be well formed (see btree/check.ts).
 */
import { checkTree } from '../btree/check.js';
import { listDescriptors } from '../txn/catalog.js';
import { replaySpaceMap } from '../pages/spacemap.js';
import type { Environment } from '../env/environment.js';

export interface CheckReport {
  ok: boolean;
  /** One line per problem, naming the page. Empty when ok. */
  problems: string[];
  txnId: number;
  pages: { total: number; used: number; free: number; spaceMap: number };
  databases: number;
}

export function checkEnvironment(env: Environment, onProgress?: (checked: number, total: number) => void): CheckReport {
  const txn = env.beginRead(true);
  try {
    const meta = txn.meta;
    const problems: string[] = [];
    const total = meta.highWater;
    const owner = new Array<string | undefined>(total);
    let claimed = 0;
    const claim = (pgno: number, n: number, who: string): void => {
      for (let p = pgno; p < pgno + n; p++) {
        if (p >= total || p < 0) { problems.push(`page ${p} (${who}) is beyond the high-water mark ${total}`); continue; }
        if (owner[p] !== undefined) problems.push(`page ${p} is used twice: by ${owner[p]} and by ${who}`);
        else { owner[p] = who; claimed++; }
      }
      if (onProgress && (claimed & 1023) === 0) onProgress(claimed, total);
    };
    claim(0, meta.nRoots, 'root slots');
    checkTree(txn, meta.main, 'main', claim, problems);
    checkTree(txn, meta.catalog, 'catalog', claim, problems);
    const named = listDescriptors(txn, meta.catalog);
    for (const d of named) checkTree(txn, d.tree, `db '${d.name}'`, claim, problems);
    const databases = named.length;
    let freeCount = 0;
    let chainLength = 0;
    try {
      const { free, chain } = replaySpaceMap((p) => txn.get(p), meta);
      chainLength = chain.length;
      for (const p of chain) claim(p, 1, 'space map');
      for (const [first, n] of free.runs()) {
        claim(first, n, 'free list');
        freeCount += n;
      }
      if (free.count !== meta.freePages) problems.push(`root slot says ${meta.freePages} free pages, the space map lists ${free.count}`);
      // With no writer running, this thread's free state (if it wrote last) must equal the disk's.
      if (env.writeTxn === null && env.free.isFor(meta.txnId)) {
        const mem = env.free.space.free.clone();
        for (const g of env.free.space.pending) for (const p of g.pages) mem.add(p);
        if (JSON.stringify(mem.runs()) !== JSON.stringify(free.runs())) problems.push('the in-memory free list differs from the space map on disk');
      }
    } catch (e) {
      problems.push(`space map unreadable: ${(e as Error).message}`);
    }
    for (let p = 0; p < total; p++) {
      if (owner[p] === undefined) problems.push(`page ${p} is leaked: neither reachable nor free`);
    }
    onProgress?.(total, total);
    return {
      ok: problems.length === 0,
      problems,
      txnId: meta.txnId,
      pages: { total, used: total - freeCount - chainLength, free: freeCount, spaceMap: chainLength },
      databases,
    };
  } finally {
    txn.end();
  }
}
