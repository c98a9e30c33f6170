/**
 * The space map: which pages below the high-water mark are free, stored as an append-only log
 * (the idea of ZFS space maps). Each commit prepends one page (or a few) of records
 *   FREE(txn, runs)  pages freed by transaction `txn` (0: reusable at once)
 *   ALLOC(runs)      pages taken from the free set
 * to a chain that the root slot points at. When the chain grows past twice its last snapshot, the
 * commit writes a new snapshot (FREE records for the whole free set) and frees the old chain.
 * So a commit writes O(its own changes) and the log stays O(free set) long.
 *
 * In memory the writer keeps FreeSpace: a bitmap of reusable pages plus the pending groups, which
 * become reusable once no reader can reach them (the epoch rule, see docs/design.md).
 */
import { CorruptionError } from '../errors.js';
import { setU16, setU32, setU64, u16, u32, u64 } from './bytes.js';
import { FreeSet } from './freeset.js';
import { PAGE_COUNT, PAGE_TYPE, PageType, SM_ALLOC, SM_FREE, SPACEMAP_END, SPACEMAP_NEXT, SPACEMAP_RECORDS } from './layout.js';

export interface SpaceRecord {
  kind: typeof SM_FREE | typeof SM_ALLOC;
  txn: number;
  runs: Array<[number, number]>;
}

/**
 * Pages freed by transaction `txn` (their death). `births[i]`, when known, is the transaction that
 * wrote pages[i]: only versions in [birth, death) can reach it. 0 means unknown (after a reload),
 * which is the conservative answer.
 */
export interface PendingGroup {
  txn: number;
  pages: number[];
  births?: number[];
}

export class FreeSpace {
  constructor(public free: FreeSet, public pending: PendingGroup[] = []) {}

  get pendingCount(): number {
    let n = 0;
    for (const g of this.pending) n += g.pages.length;
    return n;
  }

  /**
   * The epoch rule: a pending page becomes reusable once no pinned version lies in its lifetime
   * [birth, death). With `pinned` empty everything pending is reusable. A group whose death is at
   * or below every pinned version goes whole; otherwise page by page, which frees the pages born
   * after a long reader's version (it can never see them) instead of keeping a copy of every
   * rewrite while it lives.
   */
  promote(pinned: number[]): void {
    if (this.pending.length === 0) return;
    const keep: PendingGroup[] = [];
    for (const g of this.pending) {
      const death = g.txn;
      if (pinned.every((v) => v >= death)) {
        for (const p of g.pages) this.free.add(p);
        continue;
      }
      const births = g.births;
      if (births === undefined) {
        keep.push(g);
        continue;
      }
      const pages: number[] = [];
      const kept: number[] = [];
      for (let i = 0; i < g.pages.length; i++) {
        const birth = births[i]!;
        if (pinned.every((v) => v < birth || v >= death)) this.free.add(g.pages[i]!);
        else {
          pages.push(g.pages[i]!);
          kept.push(birth);
        }
      }
      if (pages.length > 0) keep.push({ txn: death, pages, births: kept });
    }
    this.pending = keep;
  }
}

export function runsOf(pages: number[]): Array<[number, number]> {
  const s = Uint32Array.from(pages).sort(); // page numbers are u32; a typed sort is numeric and needs no comparator calls
  const out: Array<[number, number]> = [];
  for (const p of s) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === p) last[1]++;
    else out.push([p, 1]);
  }
  return out;
}

const headerBytes = (kind: number): number => (kind === SM_FREE ? 12 : 4);

/** How many pages `records` need. */
export function pagesNeeded(records: SpaceRecord[], pageSize: number): number {
  return pack(records, pageSize, null);
}

/**
 * Lays `records` out in `pages` (already allocated buffers); returns how many pages the records
 * used. The pages beyond those become empty space-map pages: the writer may have allocated more
 * than the records finally need (allocating changes the records, and can shorten them), and every
 * page it links into the chain must be a well-formed space-map page.
 */
export function packInto(records: SpaceRecord[], pages: Uint8Array[]): number {
  const used = pack(records, pages[0]!.length, pages);
  for (let i = used; i < pages.length; i++) {
    const p = pages[i]!;
    p[PAGE_TYPE] = PageType.SpaceMap;
    setU16(p, PAGE_COUNT, 0);
    setU32(p, SPACEMAP_END, SPACEMAP_RECORDS);
  }
  return used;
}

function pack(records: SpaceRecord[], pageSize: number, pages: Uint8Array[] | null): number {
  let page = 0;
  let at = SPACEMAP_RECORDS;
  let count = 0;
  const close = (): void => {
    if (pages) {
      const p = pages[page]!;
      p[PAGE_TYPE] = PageType.SpaceMap;
      setU16(p, PAGE_COUNT, count);
      setU32(p, SPACEMAP_END, at);
    }
    page++;
    at = SPACEMAP_RECORDS;
    count = 0;
  };
  for (const r of records) {
    let i = 0;
    const hb = headerBytes(r.kind);
    do {
      if (at + hb + 8 > pageSize || count === 0xffff) close();
      const fit = Math.min(r.runs.length - i, Math.floor((pageSize - at - hb) / 8));
      if (pages) {
        const p = pages[page]!;
        setU32(p, at, r.kind | (fit << 8));
        if (r.kind === SM_FREE) setU64(p, at + 4, r.txn);
        let o = at + hb;
        for (let j = i; j < i + fit; j++) {
          setU32(p, o, r.runs[j]![0]);
          setU32(p, o + 4, r.runs[j]![1]);
          o += 8;
        }
      }
      at += hb + 8 * fit;
      count++;
      i += fit;
    } while (i < r.runs.length);
  }
  close();
  return page;
}

/** Links chain pages: pages[i] points at pgnos[i + 1], the last at `older`. */
export function linkChain(pages: Uint8Array[], pgnos: number[], older: number): void {
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i]!;
    p[PAGE_TYPE] = PageType.SpaceMap;
    setU32(p, SPACEMAP_NEXT, i + 1 < pgnos.length ? pgnos[i + 1]! : older);
  }
}

/** What replaySpaceMap needs from a root slot: the chain, and the pages the version has. */
export interface SpaceMapRoot {
  spaceMapHead: number;
  spaceMapPages: number;
  nRoots: number;
  highWater: number;
}

/**
 * Reads the chain of version `root` (`spaceMapPages` pages from `spaceMapHead`) and replays it
 * oldest first into a FreeSet. Returns the chain's page numbers too (they are in use, not free).
 * Pages freed by transactions >= `pendingFrom` come back as pending groups (and not in `free`):
 * the epoch rule decides when they become reusable.
 *
 * Replay costs O(pages below the high-water mark) per run, whatever a damaged count says. Runs
 * may legitimately reach past this version's high-water mark: an older record freed pages at the
 * top of the file that a later commit trimmed (an ALLOC record took them back, and the file was
 * truncated since). So the part of a run at or above `highWater` is replayed as intervals
 * (`Above`), never page by page, and must be allocated again by the end of the chain. No run may
 * touch a root slot (a writer would overwrite it). The pages' own structure was checked when they
 * were read (pages/validate.ts).
 */
export function replaySpaceMap(
  read: (pgno: number) => Uint8Array, root: SpaceMapRoot, pendingFrom = Infinity,
): { free: FreeSet; chain: number[]; pending: PendingGroup[] } {
  const { spaceMapHead: head, spaceMapPages: length, nRoots, highWater } = root;
  const chain: number[] = [];
  const pages: Uint8Array[] = [];
  for (let pgno = head; pgno !== 0; ) {
    if (chain.length >= length) throw new CorruptionError(`space-map chain longer than the ${length} pages the root slot says`, pgno);
    const p = read(pgno);
    if (p[PAGE_TYPE] !== PageType.SpaceMap) throw new CorruptionError('expected a space-map page', pgno);
    chain.push(pgno);
    pages.push(p);
    pgno = u32(p, SPACEMAP_NEXT);
  }
  if (chain.length !== length) throw new CorruptionError(`space-map chain has ${chain.length} pages, the root slot says ${length}`);
  const free = new FreeSet();
  const above = new Above();
  const pendingTxn = new Map<number, number>(); // page -> freeing txn, for recent frees
  for (let k = pages.length - 1; k >= 0; k--) {
    const p = pages[k]!;
    const n = u16(p, PAGE_COUNT);
    const end = u32(p, SPACEMAP_END);
    let at = SPACEMAP_RECORDS;
    for (let r = 0; r < n; r++) {
      const head32 = u32(p, at);
      const kind = head32 & 0xff;
      const runs = head32 >>> 8;
      if (kind !== SM_FREE && kind !== SM_ALLOC) throw new CorruptionError(`bad space-map record kind ${kind}`, chain[k]);
      const txn = kind === SM_FREE ? u64(p, at + 4) : 0;
      at += kind === SM_FREE ? 12 : 4;
      if (at + runs * 8 > end || end > p.length) throw new CorruptionError('space-map record overruns its page', chain[k]);
      for (let j = 0; j < runs; j++, at += 8) {
        const first = u32(p, at);
        const count = u32(p, at + 4);
        if (first < nRoots) throw new CorruptionError(`space-map run [${first}, ${first + count}) includes a root slot (nRoots ${nRoots})`, chain[k]);
        const low = Math.min(first + count, highWater);
        if (first + count > highWater) above.apply(kind, Math.max(first, highWater), first + count, chain[k]!);
        for (let q = first; q < low; q++) {
          if (kind === SM_FREE) {
            if (free.has(q)) throw new CorruptionError(`space map frees page ${q} twice`, chain[k]);
            free.add(q);
            if (txn >= pendingFrom) pendingTxn.set(q, txn);
          } else {
            if (!free.has(q)) throw new CorruptionError(`space map allocates page ${q}, which is not free`, chain[k]);
            free.delete(q);
            pendingTxn.delete(q);
          }
        }
      }
    }
  }
  if (above.runs.length > 0) {
    const [from, to] = above.runs[0]!;
    throw new CorruptionError(`space map leaves pages [${from}, ${to}) free, at or above the high-water mark ${highWater}`, head);
  }
  const groups = new Map<number, number[]>();
  for (const [q, txn] of pendingTxn) {
    free.delete(q);
    let g = groups.get(txn);
    if (!g) groups.set(txn, (g = []));
    g.push(q);
  }
  const pending = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([txn, pages]) => ({ txn, pages }));
  return { free, chain, pending };
}

/**
 * Free pages at or above a version's high-water mark during replay, as disjoint, non-adjacent
 * [from, to) intervals in ascending order: O(log n) per record however long its run.
 */
class Above {
  readonly runs: Array<[number, number]> = [];

  apply(kind: number, from: number, to: number, pgno: number): void {
    const runs = this.runs;
    // i: the first interval that ends after `from`, the only one that can overlap [from, to)
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (runs[mid]![1] <= from) lo = mid + 1;
      else hi = mid;
    }
    const i = lo;
    const at = runs[i];
    if (kind === SM_FREE) {
      if (at && at[0] < to) throw new CorruptionError(`space map frees page ${Math.max(from, at[0])} twice`, pgno);
      const prev = i > 0 && runs[i - 1]![1] === from ? runs[i - 1]! : undefined;
      const next = at && at[0] === to ? at : undefined;
      if (prev && next) { prev[1] = next[1]; runs.splice(i, 1); }
      else if (prev) prev[1] = to;
      else if (next) next[0] = from;
      else runs.splice(i, 0, [from, to]);
      return;
    }
    if (!at || at[0] > from || at[1] < to) throw new CorruptionError(`space map allocates page ${at && at[0] <= from ? at[1] : from}, which is not free`, pgno);
    const parts: Array<[number, number]> = [];
    if (at[0] < from) parts.push([at[0], from]);
    if (to < at[1]) parts.push([to, at[1]]);
    runs.splice(i, 1, ...parts);
  }
}
