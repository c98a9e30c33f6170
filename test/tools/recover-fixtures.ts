/**
 * Files for the recovery tests (test/tools/recover.test.ts, test/cli/recover.test.ts): workloads
 * run in noSync mode over a FaultyStorage with every committed version's contents kept, and a
 * hand-made "older page in place of the newest version's own" image.
 */
import { open, type RootDatabase } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { FaultyStorage } from '../../src/storage/faulty.js';
import { decodeMeta } from '../../src/pages/meta.js';
import { branchChild } from '../../src/pages/node.js';
import { checksum } from '../../src/pages/checksum.js';
import { u32 } from '../../src/pages/bytes.js';
import { PAGE_CHECKSUM, PAGE_TXN } from '../../src/pages/layout.js';
import { isCrash, keyOf, valueOf, type Model } from '../crash/harness.js';

export const PAGE = 1024;
export const SIDE = 'side';
export const optsOf = (nRoots: number, noSync = false) => ({ pageSize: PAGE, nRoots, encoding: 'binary' as const, cacheSize: 512 * PAGE, noSync });

/** Every entry of the main database and of 'side' (prefixed), as a model. */
export function contents(db: RootDatabase<Buffer>): Model {
  const m: Model = new Map();
  for (const { key, value } of db.getRange()) m.set(key as string, value.toString('hex'));
  for (const { key, value } of db.openDB<Buffer>(SIDE, { encoding: 'binary' }).getRange()) m.set(`${SIDE}/${key as string}`, value.toString('hex'));
  return m;
}

export const sameModel = (a: Model, b: Model): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** A clean image: keys 0..59 in the main database and 10 in 'side', committed durably. */
export function baseImage(nRoots: number): { image: Uint8Array; txnId: number; model: Model } {
  const storage = new MemoryStorage();
  const db = open<Buffer>({ storage, ...optsOf(nRoots) });
  db.transactionSync(() => {
    for (let k = 0; k < 60; k++) db.putSync(keyOf(k), valueOf(k, 30 + (k % 50), 0));
    const side = db.openDB<Buffer>(SIDE, { encoding: 'binary' });
    for (let k = 0; k < 10; k++) side.putSync(keyOf(k), valueOf(k, 20, 1));
  });
  const model = contents(db);
  const txnId = db.env.current.txnId;
  const image = storage.snapshot();
  db.closeSync();
  return { image, txnId, model };
}

export interface NoSyncRun {
  storage: FaultyStorage;
  /** Contents of every committed version, by transaction id (the base image's too). */
  versions: Map<number, Model>;
}

/**
 * Runs `txns` seeded transactions in noSync mode over a FaultyStorage holding the base image
 * (puts of inline and overflow values and removes, in both databases), stopping at the crash
 * scheduled at op `crashAt` (Infinity: none). Every transaction whose commit returned is recorded.
 */
export function runNoSync(seed: number, nRoots: number, txns: number, crashAt = Infinity): NoSyncRun {
  const base = baseImage(nRoots);
  const storage = new FaultyStorage(base.image, { seed });
  const versions = new Map<number, Model>([[0, new Map()], [base.txnId, base.model]]);
  const rand = prng(seed);
  let model = base.model;
  const db = open<Buffer>({ storage, ...optsOf(nRoots, true) });
  if (crashAt !== Infinity) storage.crashAtOp(storage.ops + crashAt);
  try {
    for (let i = 0; i < txns; i++) {
      const next = new Map(model);
      db.transactionSync(() => {
        const n = 1 + Math.floor(rand() * 6);
        for (let j = 0; j < n; j++) {
          const k = Math.floor(rand() * 90);
          const side = rand() < 0.2;
          const target = side ? db.openDB<Buffer>(SIDE, { encoding: 'binary' }) : db;
          const mk = side ? `${SIDE}/${keyOf(k)}` : keyOf(k);
          if (rand() < 0.3) {
            target.removeSync(keyOf(k));
            next.delete(mk);
          } else {
            const v = valueOf(k, rand() < 0.1 ? 2 * PAGE + 50 : Math.floor(rand() * 200), seed * 1000 + i * 10 + j);
            target.putSync(keyOf(k), v);
            next.set(mk, v.toString('hex'));
          }
        }
      });
      model = next;
      versions.set(db.env.current.txnId, model);
    }
    db.closeSync();
  } catch (e) {
    if (!isCrash(e)) throw e;
  }
  return { storage, versions };
}

/** The valid root slots of `image`: slot -> transaction id. */
export function slotVersions(image: Uint8Array, nRoots: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let s = 0; s < nRoots; s++) {
    const v = decodeMeta(image.slice(s * PAGE, (s + 1) * PAGE), s);
    if (v.ok) out.set(s, v.meta.txnId);
  }
  return out;
}

/**
 * Whether version `txnId` (in `slot`) of `image` is intact: opened alone (the other slots zeroed)
 * it reads exactly `want` and check() is clean.
 */
export function intact(image: Uint8Array, nRoots: number, slot: number, want: Model): boolean {
  const only = image.slice();
  for (let s = 0; s < nRoots; s++) if (s !== slot) only.fill(0, s * PAGE, (s + 1) * PAGE);
  let db: RootDatabase<Buffer> | undefined;
  try {
    db = open<Buffer>({ storage: MemoryStorage.from(only), ...optsOf(nRoots) });
    return sameModel(contents(db), want) && db.check().ok;
  } catch {
    return false;
  } finally {
    db?.closeSync();
  }
}

/**
 * A file whose newest version N reads wrong data without any checksum or birth failing: the root
 * leaf N wrote at a reused page number is replaced by the older leaf that page held before (the
 * same key range and entry count, an older value). Returns the image, N and N - 1's contents.
 */
export function stalePageImage(nRoots = 4): { image: Uint8Array; newest: number; previous: Model; previousTxn: number; leaf: number } {
  const storage = new MemoryStorage();
  const db = open<Buffer>({ storage, ...optsOf(nRoots), fsyncsPerCommit: 2 }); // a one-fsync commit would be caught by open itself (its digest)
  db.transactionSync(() => { for (let k = 0; k < 8; k++) db.putSync(keyOf(k), valueOf(k, 40, 0)); });
  const snaps: Uint8Array[] = [];
  let previous: Model = contents(db);
  let previousTxn = db.env.current.txnId;
  for (let i = 1; ; i++) {
    const before = contents(db);
    const beforeTxn = db.env.current.txnId;
    db.putSync(keyOf(3), valueOf(3, 40, i));
    snaps.push(storage.snapshot());
    const m = db.env.current;
    // Stop at a commit that appended to the space map (not a snapshot), after the pages ping-pong.
    if (i >= 6 && m.spaceMapPages > m.spaceMapSnapshot) { previous = before; previousTxn = beforeTxn; break; }
  }
  const meta = db.env.current;
  const leaf = meta.main.root;
  const image = storage.snapshot();
  db.closeSync();
  const pageAt = (img: Uint8Array) => img.slice(leaf * PAGE, (leaf + 1) * PAGE);
  const birth = (p: Uint8Array) => u32(p, PAGE_TXN);
  if (meta.main.depth !== 1 || birth(pageAt(image)) !== meta.txnId) throw new Error('fixture: the newest root leaf was not written by the newest version');
  for (let j = snaps.length - 2; j >= 0; j--) {
    const old = pageAt(snaps[j]!);
    if (checksum(old, 4, PAGE, leaf) === u32(old, PAGE_CHECKSUM) && birth(old) < meta.txnId) {
      image.set(old, leaf * PAGE);
      return { image, newest: meta.txnId, previous, previousTxn, leaf };
    }
  }
  throw new Error('fixture: no older page at the leaf page number');
}

/** A file in which every version (nRoots 2) reaches one leaf, damaged on disk: nothing to recover. */
export function damagedEverywhereImage(): Uint8Array {
  const storage = new MemoryStorage();
  const db = open<Buffer>({ storage, ...optsOf(2) });
  db.transactionSync(() => { for (let k = 0; k < 200; k++) db.putSync(keyOf(k), valueOf(k, 100, 0)); });
  db.putSync(keyOf(199), valueOf(199, 100, 1)); // the last leaf changes, the first stays shared
  const meta = db.env.current;
  if (meta.main.depth !== 2) throw new Error(`fixture: depth ${meta.main.depth}, expected 2`);
  const leftmost = branchChild(db.env.pager.read(meta.main.root), 0);
  const image = storage.snapshot();
  db.closeSync();
  image[leftmost * PAGE + PAGE - 10] ^= 1;
  return image;
}
