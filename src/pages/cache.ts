/**
 * Page cache of one thread: committed pages by page number, bounded by a byte budget, evicted by
 * CLOCK (second chance). Entries are whole page buffers that are never modified while cached.
 * `put` hands back the buffer it displaced (replaced or evicted); the Pager may give its memory
 * to a later page once nothing can still hold it (pages/pager.ts, "Recycling").
 *
 * Invariant: the cache holds only pages of committed versions. A page that is freed and later
 * reused is overwritten here by the committing writer (`put`) before any reader can reach it.
 *
 * Exposure: a slot's `exposed` flag says whether its buffer may be held outside the cache beyond
 * the call that read it (any get() that does not pass expose = false, and any put() that does
 * not either). A buffer that a commit replaced under its own page number while the flag was
 * clear was never seen outside the writer's tree code, so the pager may reuse it at once,
 * without waiting for the readers of this thread to end (pages/pager.ts, "Recycling").
 *
 * Lookup is a page table: `slotOf[pgno]` is the cache slot holding page `pgno` plus one (0: not
 * cached), an Int32Array that grows with the largest page number cached, so a hit costs two array
 * loads and no hashing. It costs 4 bytes per page of the file (0.1% of the file at 4 KiB pages)
 * beside the page budget; pages numbered TABLE_LIMIT or above (files over 64 Mi pages) are looked
 * up in a Map instead.
 */
const TABLE_LIMIT = 1 << 26;

export class PageCache {
  private slotOf = new Int32Array(1024);
  private readonly far = new Map<number, number>(); // pgno -> slot, for pgno >= TABLE_LIMIT
  private readonly pgnos: Float64Array;
  private readonly pages: (Uint8Array | undefined)[];
  private readonly ref: Uint8Array;
  private readonly exposed: Uint8Array;
  private hand = 0;
  private used = 0;
  private count = 0;
  readonly capacity: number;
  hits = 0;
  misses = 0;
  /** Set by every put(): see there. */
  displacedUnexposed = false;

  constructor(maxBytes: number, pageSize: number) {
    this.capacity = Math.max(16, Math.floor(maxBytes / pageSize));
    this.pgnos = new Float64Array(this.capacity).fill(-1);
    this.pages = new Array(this.capacity).fill(undefined);
    this.ref = new Uint8Array(this.capacity);
    this.exposed = new Uint8Array(this.capacity);
  }

  /**
   * The cached buffer of `pgno`. `expose` false: the caller promises to keep no reference to it
   * once its current operation is over (the writer's own tree code, pages/pager.ts peek()).
   */
  get(pgno: number, expose = true): Uint8Array | undefined {
    const t = this.slotOf;
    const s1 = pgno < t.length ? t[pgno]! : pgno >= TABLE_LIMIT ? (this.far.get(pgno) ?? -1) + 1 : 0;
    if (s1 === 0) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.ref[s1 - 1] = 1;
    if (expose) this.exposed[s1 - 1] = 1;
    return this.pages[s1 - 1];
  }

  private slotFor(pgno: number): number {
    if (pgno >= TABLE_LIMIT) return this.far.get(pgno) ?? -1;
    return pgno < this.slotOf.length ? this.slotOf[pgno]! - 1 : -1;
  }

  private setSlot(pgno: number, slot: number): void {
    if (pgno >= TABLE_LIMIT) {
      if (slot < 0) this.far.delete(pgno);
      else this.far.set(pgno, slot);
      return;
    }
    if (pgno >= this.slotOf.length) {
      if (slot < 0) return;
      let n = this.slotOf.length;
      while (n <= pgno) n *= 2;
      const grown = new Int32Array(Math.min(n, TABLE_LIMIT));
      grown.set(this.slotOf);
      this.slotOf = grown;
    }
    this.slotOf[pgno] = slot + 1;
  }

  /**
   * Adds or replaces the committed contents of `pgno` (`exposed` as for get(): whether the caller
   * may hand the buffer out or keep it). Returns the buffer this displaced, if any: the page's
   * previous contents, or the page evicted to make room. `displacedUnexposed` then says whether
   * it was the previous contents of `pgno` and no get() ever exposed it, so that nothing outside
   * the writer's tree code has seen it (an evicted buffer never counts: the eviction may happen
   * inside an operation of that code still using the buffer it drops).
   */
  put(pgno: number, page: Uint8Array, exposed = true): Uint8Array | undefined {
    const have = this.slotFor(pgno);
    if (have >= 0) {
      const old = this.pages[have];
      this.displacedUnexposed = this.exposed[have] === 0;
      this.pages[have] = page;
      this.ref[have] = 1;
      // the same buffer again keeps what was known about it, and displaces nothing
      if (old === page) {
        if (exposed) this.exposed[have] = 1;
        return undefined;
      }
      this.exposed[have] = exposed ? 1 : 0;
      return old;
    }
    this.displacedUnexposed = false;
    let displaced: Uint8Array | undefined;
    let slot: number;
    if (this.used < this.capacity) {
      slot = this.used++;
    } else {
      for (;;) {
        const h = this.hand;
        this.hand = h + 1 === this.capacity ? 0 : h + 1;
        if (this.ref[h] === 0) { slot = h; break; }
        this.ref[h] = 0;
      }
      const old = this.pgnos[slot]!;
      if (old >= 0) {
        this.setSlot(old, -1);
        this.count--;
        displaced = this.pages[slot];
      }
    }
    this.setSlot(pgno, slot);
    this.count++;
    this.pgnos[slot] = pgno;
    this.pages[slot] = page;
    this.ref[slot] = 0;
    this.exposed[slot] = exposed ? 1 : 0;
    return displaced;
  }

  /** Drops `pgno` if cached (its contents are about to change or it no longer exists). */
  delete(pgno: number): void {
    const slot = this.slotFor(pgno);
    if (slot < 0) return;
    this.setSlot(pgno, -1);
    this.count--;
    this.pages[slot] = undefined;
    this.pgnos[slot] = -1;
    this.ref[slot] = 0;
    // the slot is reused by a later put through the clock hand (ref 0, no page)
  }

  clear(): void {
    this.slotOf.fill(0);
    this.far.clear();
    this.pages.fill(undefined);
    this.pgnos.fill(-1);
    this.ref.fill(0);
    this.used = 0;
    this.hand = 0;
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }
}
