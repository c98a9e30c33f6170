/** Creating a database: the initial image (slot 0 holds the empty version 0), written atomically. */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import type { Storage } from '../storage/storage.js';
import { encodeMeta, type Meta } from '../pages/meta.js';
import { DEFAULT_PAGE_SIZE, DEFAULT_ROOTS } from '../pages/layout.js';
import { emptyTree } from '../btree/store.js';
import type { EnvOptions } from './options.js';
import { findCurrentVersion } from './root-slots.js';

/** The bytes of a new, empty database: slot 0 holds version 0; the other slots are empty. */
function initialImage(o: EnvOptions): Uint8Array {
  const pageSize = o.pageSize ?? DEFAULT_PAGE_SIZE;
  const nRoots = o.nRoots ?? DEFAULT_ROOTS;
  const img = new Uint8Array(pageSize * nRoots);
  img.set(encodeMeta({
    txnId: 0, slot: 0, pageSize, nRoots, highWater: nRoots, spaceMapHead: 0, spaceMapPages: 0,
    spaceMapSnapshot: 0, freePages: 0, main: emptyTree(), catalog: emptyTree(),
  }), 0);
  return img;
}

/** Creates the file atomically: written and synced under a temporary name, then renamed. */
export function createFile(path: string, o: EnvOptions): void {
  const tmp = `${path}.${process.pid}.creating`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, initialImage(o), 0);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  try {
    const dfd = fs.openSync(pathMod.dirname(path), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* directory fsync is not supported everywhere; the rename is still atomic */ }
}

/**
 * A new storage given in the options gets the initial image; then the current version is found.
 * After a crash of the process the newest root slot may still be only in the OS cache: this
 * makes what open is about to build on durable. A one-fsync commit's pages are written again
 * first: after a failed fsync, Linux may have dropped them from the disk's queue while its cache
 * still shows them, and a later fsync would not write them; written again, they are dirty again,
 * and the fsync below covers them. (For the root slots and the version before, see the hold.)
 */
export function prepareStorage(storage: Storage, opts: EnvOptions, name: string): Meta {
  if (storage.size() === 0 && opts.storage) {
    storage.write(initialImage(opts), 0);
    storage.sync();
  }
  const { meta, written } = findCurrentVersion(storage, opts, name);
  if (!opts.noSync) {
    for (const [pgno, page] of written) storage.write(page, pgno * meta.pageSize);
    if (written.size > 0) storage.write(encodeMeta(meta), meta.slot * meta.pageSize);
  }
  storage.sync();
  return meta;
}
