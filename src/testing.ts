/**
 * The `rotadb/testing` entry: fault injection for crash-testing code built on rotadb. Open a
 * database on a FaultyStorage (`open({ storage })`), inject failed writes and fsyncs, torn writes
 * or a crash at a chosen operation, then reopen `afterCrash(mode)` and check what survived.
 * The main entry (index.ts) does not export it, so an application that never imports this path
 * never loads it.
 */
export { FaultyStorage, SimulatedCrash } from './storage/faulty.js';
export type { CrashMode, FaultyStorageOptions } from './storage/faulty.js';
