/** Small helpers shared by the public-API tests under test/api/. */
import type { Key, RootDatabase } from '../../src/index.js';

/** Fills keys 0..n-1 (numbers) with values `v<i>` in one commit. */
export function fill(db: RootDatabase, n = 10): void {
  db.transactionSync(() => {
    for (let i = 0; i < n; i++) db.putSync(i, `v${i}`);
  });
}

/** Every key of `db` in the order getKeys(options) yields them. */
export function keysOf(db: RootDatabase, options: Parameters<RootDatabase['getKeys']>[0] = {}): Key[] {
  return db.getKeys(options).asArray;
}
