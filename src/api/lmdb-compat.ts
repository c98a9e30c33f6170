/**
 * Small pieces of lmdb-js's calling conventions that database.ts shares: the `{ transaction }` read option, and the refusal of arguments rotadb does not
 * implement (lmdb-js's versions and put flags), which must fail loudly rather than be dropped.
 */
import type { Environment } from '../env/environment.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';
import { ReadTransaction, WriteTransaction } from './transactions.js';
import { InvalidOptionError } from '../errors.js';
import { closest } from './lmdb-options.js';

export { ABORT, SKIP } from './constants.js';

export function isPromise(x: unknown): x is PromiseLike<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';
}

/**
 * Throws InvalidOptionError when any of `extra` (the arguments after the ones rotadb takes) is
 * given: `names` says what lmdb-js would have made of them.
 */
export function refuseExtra(call: string, extra: readonly unknown[], names: readonly string[]): void {
  const i = extra.findIndex((x) => x !== undefined);
  if (i < 0) return;
  const what = names[i] ?? `argument ${i + 1}`;
  throw new InvalidOptionError(`${call}(): the ${what} argument is not supported (rotadb has no entry versions, duplicate keys or put flags); it would be ignored, so it is refused`);
}

/**
 * The transaction that `options.transaction` names (a ReadTransaction from useReadTransaction()
 * or beginRead(), or a WriteTransaction of this file), checked to be active; null when none.
 * For get() and doesExist(), `transaction` is the only option there is.
 */
export function transactionOf(env: Environment, options: unknown, call: string): ReadTxn | WriteTxn | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') throw new InvalidOptionError(`${call}(): options must be an object`);
  if (call === 'get' || call === 'doesExist') {
    for (const k of Object.keys(options)) {
      if (k === 'transaction' || (options as Record<string, unknown>)[k] === undefined) continue;
      const near = closest(k, ['transaction']);
      throw new InvalidOptionError(`unknown option ${k} for ${call}()${near ? `; did you mean ${near}?` : ''}`);
    }
  }
  const t = (options as { transaction?: unknown }).transaction;
  if (t === undefined) return null;
  if (t instanceof ReadTransaction) {
    if (t.env !== env) throw new InvalidOptionError(`${call}(): the transaction belongs to another database file`);
    t.txn.check(); // ended or expired: throws
    return t.txn;
  }
  if (t instanceof WriteTransaction) {
    if (t.env !== env) throw new InvalidOptionError(`${call}(): the transaction belongs to another database file`);
    t.txn.assertActive();
    return t.txn;
  }
  throw new InvalidOptionError(`${call}(): options.transaction must come from useReadTransaction(), beginRead() or beginWrite()`);
}
