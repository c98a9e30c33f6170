/** lmdb-js's marker values, shared by the API modules (kept apart so that no import cycle forms). */

/** Returned from a transaction callback (transactionSync, transaction, childTransaction): abort it. */
export const ABORT: unique symbol = Symbol.for('rotadb.ABORT') as never;
/** Returned from a RangeIterable map() callback: leave the entry out. */
export const SKIP: unique symbol = Symbol.for('rotadb.SKIP') as never;
