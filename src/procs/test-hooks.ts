/**
 * Faults the multi-process tests inject, read once from the environment. Each one breaks a step
 * of the protocol on purpose, so that a test can show it would catch the bug (test/procs/):
 *   ROTADB_TEST_IGNORE_PINS=1   a writer does not count other processes' pins (scan finds none)
 *   ROTADB_TEST_SKIP_RECHECK=1  a reader does not read the commit record again after announcing its pin
 *   ROTADB_TEST_STALL_MS=n      the writer lock waits n ms between finding a process dead and acting on it
 *   ROTADB_TEST_PIN_STALL_MS=n  a reader waits n ms between reading the commit record and announcing its
 *                               pin (widens the race the re-check is for; correct readers stay correct)
 *   ROTADB_TEST_SKIP_JOIN_CHECK=1  the writer lock's fast path (a process alone) does not check whether another
 *                               process joined `members` since: it takes the lock at once (procs/bakery.ts)
 *   ROTADB_TEST_DIE_BEFORE_PUBLISH=1  a writer SIGKILLs its own process once its commit is durable, before it
 *                               publishes it (a root slot that no process knows of: env/environment.ts)
 *   ROTADB_TEST_DIE_IN_RECORD=1  a process SIGKILLs itself while it creates its record, before the record
 *                               has its first contents (procs/lock-dir.ts, createRecord)
 * None is set in normal use; they cost one property load where they are checked.
 */
const env = process.env;

export const ignorePins = env.ROTADB_TEST_IGNORE_PINS === '1';
export const skipRecheck = env.ROTADB_TEST_SKIP_RECHECK === '1';
export const stallMs = Number(env.ROTADB_TEST_STALL_MS ?? 0) || 0;
export const dieBeforePublish = env.ROTADB_TEST_DIE_BEFORE_PUBLISH === '1';
export const skipJoinCheck = env.ROTADB_TEST_SKIP_JOIN_CHECK === '1';
export const dieInRecord = env.ROTADB_TEST_DIE_IN_RECORD === '1';
export const pinStallMs = Number(env.ROTADB_TEST_PIN_STALL_MS ?? 0) || 0;
