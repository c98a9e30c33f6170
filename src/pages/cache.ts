/**
 * Page cache of one thread: committed pages by page number, bounded by a byte budget, evicted by
 * CLOCK (second chance). Entries are whole page buffers that are never modified once cached; an
 * evicted buffer is simply dropped, so a caller still holding it keeps valid bytes.
 *
 * Invariant: the cache holds only pages of committed versions. A page that is freed and later
 * reused is overwritten here by the committing writer (`put`) before any reader can reach it.
 *
 * In front of the Map sits a small direct-mapped table (page number mod FRONT): the upper levels
 * of every tree are read on every lookup and almost always hit it, skipping the hash lookup.
 * It only ever holds pages that the Map holds, so it adds no memory and no staleness.
 */
const FRONT = 4096;
export class PageCache {
  private readonly map = new Map<number, number>(); // pgno -> slot
  private readonly pgnos: Int32Array | Float64Array;
  private readonly pages: (Uint8Array | undefined)[];
  private readonly ref: Uint8Array;
  private hand = 0;
  private used = 0;
  readonly capacity: number;
  hits = 0;
  misses = 0;
  private readonly frontPgno = new Float64Array(FRONT).fill(-1);
  private readonly frontPage: (Uint8Array | undefined)[] = new Array(FRONT);
  /** The Map slot of each front entry: a front hit is a use, so it sets the slot's reference bit. */
  private readonly frontSlot = new Int32Array(FRONT);

  constructor(maxBytes: number, pageSize: number) {
    this.capacity = Math.max(16, Math.floor(maxBytes / pageSize));
    this.pgnos = new Float64Array(this.capacity).fill(-1);
    this.pages = new Array(this.capacity);
    this.ref = new Uint8Array(this.capacity);
  }

  get(pgno: number): Uint8Array | undefined {
    const f = pgno & (FRONT - 1);
    if (this.frontPgno[f] === pgno) {
      this.hits++;
      this.ref[this.frontSlot[f]!] = 1;
      return this.frontPage[f];
    }
    const slot = this.map.get(pgno);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.ref[slot] = 1;
    const page = this.pages[slot];
    this.frontPgno[f] = pgno;
    this.frontPage[f] = page;
    this.frontSlot[f] = slot;
    return page;
  }

  /** Adds or replaces the committed contents of `pgno`. */
  put(pgno: number, page: Uint8Array): void {
    const have = this.map.get(pgno);
    if (have !== undefined) {
      this.pages[have] = page;
      this.ref[have] = 1;
      this.dropFront(pgno);
      return;
    }
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
      this.map.delete(this.pgnos[slot]!);
      this.dropFront(this.pgnos[slot]!);
    }
    this.map.set(pgno, slot);
    this.pgnos[slot] = pgno;
    this.pages[slot] = page;
    this.ref[slot] = 0;
  }

  /** Drops `pgno` if cached (its contents are about to change or it no longer exists). */
  delete(pgno: number): void {
    const slot = this.map.get(pgno);
    if (slot === undefined) return;
    this.map.delete(pgno);
    this.dropFront(pgno);
    this.pages[slot] = undefined;
    this.pgnos[slot] = -1;
    this.ref[slot] = 0;
    // the slot is reused by a later put through the clock hand (ref 0, no page)
  }

  private dropFront(pgno: number): void {
    const f = pgno & (FRONT - 1);
    if (this.frontPgno[f] === pgno) {
      this.frontPgno[f] = -1;
      this.frontPage[f] = undefined;
    }
  }

  clear(): void {
    this.frontPgno.fill(-1);
    this.frontPage.fill(undefined);
    this.map.clear();
    this.pages.fill(undefined);
    this.pgnos.fill(-1);
    this.ref.fill(0);
    this.used = 0;
    this.hand = 0;
  }

  get size(): number {
    return this.map.size;
  }
}
