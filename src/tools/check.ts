/**
 * The consistency checker (like `bbolt check`): for one version, every page below the high-water
 * mark must be owned exactly once, by a root slot, a tree, an overflow run, the space map, or the
 * free list; and every tree must be well formed (see btree/check.ts). checkEnvironment checks the
 * current version of an open file; checkVersion checks any version through a reader of it (the
 * recovery tool uses it on versions that are not current).
 */
import { checkTree } from '../btree/check.js';
import type { PageReader, TreeInfo } from '../btree/store.js';
import { listDescriptors, type NamedTree } from '../txn/catalog.js';
import { replaySpaceMap } from '../pages/spacemap.js';
import type { FreeSet } from '../pages/freeset.js';
import type { Meta } from '../pages/meta.js';
import type { Environment } from '../env/environment.js';

export interface CheckReport {
  ok: boolean;
  /** One line per problem, naming the page. Empty when ok. */
  problems: string[];
  txnId: number;
  pages: { total: number; used: number; free: number; spaceMap: number };
  databases: number;
}

/** What checkVersion found, beyond the report: the named databases and the space map it read. */
export interface VersionCheck extends CheckReport {
  /** The named databases of the version (as far as the catalog could be read). */
  named: NamedTree[];
  /** The space-map chain, newest page first (empty when it could not be read). */
  chain: number[];
}

/**
 * No tree is deeper: every branch but a rare transient one has two children or more, so 64 levels
 * would need more leaves than a file of 2^32 pages can hold.
 */
const MAX_DEPTH = 64;

export function checkEnvironment(env: Environment, onProgress?: (checked: number, total: number) => void): CheckReport {
  const txn = env.beginRead(true);
  try {
    const meta = txn.meta;
    // With no writer running, this thread's free state (if it wrote last) must equal the disk's.
    const compareFree = env.writeTxn === null && env.free.isFor(meta.txnId)
      ? (free: FreeSet): string | undefined => {
        const mem = env.free.space.free.clone();
        for (const g of env.free.space.pending) for (const p of g.pages) mem.add(p);
        return JSON.stringify(mem.runs()) !== JSON.stringify(free.runs()) ? 'the in-memory free list differs from the space map on disk' : undefined;
      }
      : undefined;
    const c = checkVersion(txn, meta, onProgress, compareFree);
    return { ok: c.ok, problems: c.problems, txnId: c.txnId, pages: c.pages, databases: c.databases };
  } finally {
    txn.end();
  }
}

/**
 * Checks version `meta` through `r`, a reader of that version (it must refuse pages outside
 * `[nRoots, highWater)` and pages born after the version). `compareFree` may add a problem once
 * the space map is replayed.
 */
export function checkVersion(
  r: PageReader, meta: Meta, onProgress?: (checked: number, total: number) => void,
  compareFree?: (free: FreeSet) => string | undefined,
): VersionCheck {
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
  // A descriptor read from a damaged page may name any depth: the walk recurses once per level.
  const walkTree = (tree: TreeInfo, name: string): void => {
    if (tree.depth > MAX_DEPTH) problems.push(`${name}: depth ${tree.depth} is impossible (at most ${MAX_DEPTH})`);
    else checkTree(r, tree, name, claim, problems);
  };
  claim(0, meta.nRoots, 'root slots');
  walkTree(meta.main, 'main');
  walkTree(meta.catalog, 'catalog');
  let named: NamedTree[] = [];
  try {
    named = listDescriptors(r, meta.catalog);
  } catch (e) {
    problems.push(`catalog unreadable: ${(e as Error).message}`);
  }
  for (const d of named) walkTree(d.tree, `db '${d.name}'`);
  let freeCount = 0;
  let chain: number[] = [];
  try {
    const sm = replaySpaceMap((p) => r.get(p), meta);
    chain = sm.chain;
    for (const p of chain) claim(p, 1, 'space map');
    for (const [first, n] of sm.free.runs()) {
      claim(first, n, 'free list');
      freeCount += n;
    }
    if (sm.free.count !== meta.freePages) problems.push(`root slot says ${meta.freePages} free pages, the space map lists ${sm.free.count}`);
    const differs = compareFree?.(sm.free);
    if (differs !== undefined) problems.push(differs);
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
    pages: { total, used: total - freeCount - chain.length, free: freeCount, spaceMap: chain.length },
    databases: named.length,
    named,
    chain,
  };
}
