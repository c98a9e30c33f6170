/**
 * A read transaction: one pinned root slot, hence one committed version, for its whole life.
 * Reads go through the shared page cache; the version's pages cannot be reused while the pin is
 * held (the writer that would overwrite this slot blocks, and the epoch rule keeps freed pages).
 */
import type { PageReader, TreeInfo } from '../btree/store.js';
import type { Meta } from '../pages/meta.js';
import { readDbInfo } from '../pages/meta.js';
import { cellValue, found, lookup } from '../btree/tree.js';
import { CorruptionError, TransactionEndedError } from '../errors.js';
import type { Environment } from '../env.js';

export class ReadTxn implements PageReader {
  readonly pageSize: number;
  private active = true;
  private named: Map<string, TreeInfo> | undefined;

  constructor(
    private readonly env: Environment,
    readonly slot: number,
    readonly meta: Meta,
    private readonly entry: number, // reader table entry, or -1 for a short internal read
  ) {
    this.pageSize = meta.pageSize;
  }

  get txnId(): number {
    return this.meta.txnId;
  }

  get isActive(): boolean {
    return this.active;
  }

  get(pgno: number): Uint8Array {
    if (!this.active) throw new TransactionEndedError('read');
    if (pgno >= this.meta.highWater || pgno < this.meta.nRoots) {
      throw new CorruptionError(`page number out of range [${this.meta.nRoots}, ${this.meta.highWater})`, pgno);
    }
    return this.env.pager.read(pgno);
  }

  readOverflow(pgno: number, length: number): Uint8Array {
    if (!this.active) throw new TransactionEndedError('read');
    return this.env.pager.readRun(pgno, length);
  }

  /** The tree of database `name` (null: the main database) in this version; empty if it does not exist. */
  tree(name: string | null): TreeInfo | undefined {
    if (name === null) return this.meta.main;
    let t = this.named?.get(name);
    if (t === undefined) {
      t = readCatalog(this, this.meta.catalog, name);
      if (t === undefined) return undefined;
      (this.named ??= new Map()).set(name, t);
    }
    return t;
  }

  end(): void {
    if (!this.active) return;
    this.active = false;
    this.env.releaseRead(this, this.slot, this.entry);
  }
}

const utf8 = new TextEncoder();

/** Looks up a named database's descriptor in the catalog tree. */
export function readCatalog(r: PageReader, catalog: TreeInfo, name: string): TreeInfo | undefined {
  const k = utf8.encode(name);
  const off = lookup(r, catalog, k, k.length);
  if (off < 0) return undefined;
  return readDbInfo(cellValue(r, found.page, off), 0);
}
