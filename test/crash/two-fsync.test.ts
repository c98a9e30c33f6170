/**
 * The crash and fault suites again, on the two-fsync commit (`fsyncsPerCommit: 2`): pages,
 * fdatasync, root slot, fdatasync. The suites read the protocol from ROTADB_TEST_FSYNCS when
 * they load (test/crash/harness.ts), so set it first; vitest runs each test file in its own process.
 */
process.env.ROTADB_TEST_FSYNCS = '2';
await import('./crash-points.test.js');
await import('./faults.test.js');
