/**
 * Every error rotadb throws on purpose is a RotaError with a stable `code`.
 * Codes never change meaning; messages may be improved.
 */
export class RotaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The file is not a rotadb database (no valid root slot, wrong magic, empty, or a directory). */
export class NotADatabaseError extends RotaError {
  constructor(message: string) { super('ROTA_NOT_A_DATABASE', message); }
}

/** A page or root slot failed validation: bad checksum, bad type, or a structure that cannot be. */
export class CorruptionError extends RotaError {
  readonly pgno: number | undefined;
  constructor(message: string, pgno?: number) {
    super('ROTA_CORRUPT', pgno === undefined ? message : `page ${pgno}: ${message}`);
    this.pgno = pgno;
  }
}

/** The file was written by a newer format version than this library reads. */
export class FormatVersionError extends RotaError {
  constructor(message: string) { super('ROTA_FORMAT_VERSION', message); }
}

/** Options conflict with the file (page size, nRoots) or are out of range. */
export class InvalidOptionError extends RotaError {
  constructor(message: string) { super('ROTA_BAD_OPTION', message); }
}

/** A write (put, remove, a write transaction, clear, drop, load) on a database opened with `readOnly: true`. */
export class ReadOnlyError extends RotaError {
  constructor(what: string) { super('ROTA_READ_ONLY', `${what}: the database was opened with readOnly: true`); }
}

/** A key of a type the key encoding cannot order, or empty. */
export class InvalidKeyError extends RotaError {
  constructor(message: string) { super('ROTA_BAD_KEY', message); }
}

/** A value the value encoding cannot store (wrong type for `binary`/`string`, undefined). */
export class InvalidValueError extends RotaError {
  constructor(message: string) { super('ROTA_BAD_VALUE', message); }
}

/**
 * An encoded key longer than the page size allows (see `maxKeySize`): on a write, in compact() to a
 * smaller page size, or in load(), where `where` names the entry of the dump.
 */
export class KeyTooLargeError extends RotaError {
  constructor(size: number, max: number, where?: string) {
    super('ROTA_KEY_TOO_LARGE', where === undefined
      ? `encoded key is ${size} bytes; the limit at this page size is ${max}`
      : `${where}: a key of ${size} bytes; the limit at this page size is ${max}`);
  }
}

/** An encoded value longer than MAX_VALUE_SIZE. */
export class ValueTooLargeError extends RotaError {
  constructor(size: number, max: number) {
    super('ROTA_VALUE_TOO_LARGE', `encoded value is ${size} bytes; the limit is ${max}`);
  }
}

/** Another process holds the database open (lock file with a live pid). */
export class DatabaseLockedError extends RotaError {
  readonly pid: number;
  constructor(path: string, pid: number) {
    super('ROTA_LOCKED', `${path} is open in process ${pid}; rotadb allows one process per file`);
    this.pid = pid;
  }
}

/** The same file is already open in this process; reuse that handle. */
export class AlreadyOpenError extends RotaError {
  constructor(path: string, where: string) {
    super('ROTA_ALREADY_OPEN', `${path} is already open ${where}`);
  }
}

/** The database was closed; no further operations are possible on it. */
export class DatabaseClosedError extends RotaError {
  constructor() { super('ROTA_CLOSED', 'the database is closed'); }
}

/** The transaction has already committed or aborted (or was ended by close). */
export class TransactionEndedError extends RotaError {
  constructor(what: string) { super('ROTA_TXN_ENDED', `the ${what} transaction has ended`); }
}

/**
 * A synchronous writer waited `writeTimeoutMs` for the root slot it must write,
 * and readers still pin it. The message names the readers and their ages.
 */
export class WriteTimeoutError extends RotaError {
  constructor(message: string) { super('ROTA_WRITE_TIMEOUT', message); }
}

/**
 * A synchronous call would wait for something only this same thread can release
 * (a read transaction it holds pins the slot, or it already holds the writer lock).
 * Thrown at once instead of hanging.
 */
export class WouldDeadlockError extends RotaError {
  constructor(message: string) { super('ROTA_WOULD_DEADLOCK', message); }
}

/** The reader table in shared memory is full (`maxReaders`). */
export class ReadersFullError extends RotaError {
  constructor(max: number) {
    super('ROTA_READERS_FULL', `all ${max} reader table entries are in use; end read transactions or raise maxReaders`);
  }
}

/**
 * A commit failed with an I/O error after it began writing. The database refuses further
 * writes until it is reopened (a failed fsync cannot be safely retried); reads still work.
 */
export class DatabaseFailedError extends RotaError {
  constructor(message: string, cause?: unknown) { super('ROTA_FAILED', message, { cause }); }
}

/** An operating-system I/O error (permission, no space, device error); `cause` holds the original. */
export class StorageError extends RotaError {
  readonly syscallCode: string | undefined;
  constructor(message: string, cause?: unknown) {
    super('ROTA_IO', message, { cause });
    this.syscallCode = (cause as { code?: string } | undefined)?.code;
  }
}

/**
 * A reader waited `writeTimeoutMs` for a version to pin: in serial mode (nRoots = 1) for the
 * writer to commit, or, with other processes writing, because every attempt was overtaken by a commit.
 */
export class ReadTimeoutError extends RotaError {
  constructor(message: string) { super('ROTA_READ_TIMEOUT', message); }
}

/** Stored bytes could not be decoded with the database's value encoding (opened with another encoding?). */
export class ValueDecodeError extends RotaError {
  constructor(encoding: string, cause: unknown) {
    super('ROTA_DECODE', `a stored value is not valid ${encoding}: was the database written with another encoding? (${(cause as Error)?.message ?? cause})`, { cause });
  }
}

/**
 * A writer waited for this reader's root slot longer than `maxReaderAgeMs` and expired it: its
 * version may already be overwritten, so it can read nothing more. Begin a new read.
 */
export class ReaderExpiredError extends RotaError {
  constructor(txnId: number) {
    super('ROTA_READER_EXPIRED', `the read transaction on version ${txnId} was expired by a waiting writer (maxReaderAgeMs); begin a new one`);
  }
}

/** A write transaction would grow the file past the largest page number the format can address. */
export class DatabaseFullError extends RotaError {
  constructor(maxPages: number) { super('ROTA_FULL', `the file would exceed ${maxPages} pages`); }
}

/** Opening (or joining) a file in one more thread than the lock table has per-thread entries for. */
export class TooManyThreadsError extends RotaError {
  constructor(max: number) {
    super('ROTA_TOO_MANY_THREADS', `at most ${max} threads can have one database open at once`);
  }
}

/**
 * The engine found its own in-memory bookkeeping broken (the free set was asked to free a page
 * that is already free, or to take one that is not): a bug, or a file whose pages are shared in a
 * way only check() reports. The operation is abandoned; run check() to tell the two apart.
 */
export class InternalError extends RotaError {
  constructor(message: string) { super('ROTA_INTERNAL', message); }
}

/** rotadb was loaded on a host it does not run on (a big-endian one); thrown when the module loads. */
export class UnsupportedPlatformError extends RotaError {
  constructor(message: string) { super('ROTA_UNSUPPORTED_PLATFORM', message); }
}

/** compact(), backup() or `dump -o` was given a destination that exists: they never overwrite one. */
export class FileExistsError extends RotaError {
  constructor(message: string) { super('ROTA_EXISTS', message); }
}

/** A file named on the command line (a database, or a dump to load), or given to open() with `readOnly: true`, does not exist. */
export class FileNotFoundError extends RotaError {
  constructor(path: string) { super('ROTA_NOT_FOUND', `${path} does not exist`); }
}

/** dump() was asked for one database (`database` option, `--db`) that the snapshot does not have. */
export class NoSuchDatabaseError extends RotaError {
  constructor(name: string | null, txnId: number) {
    super('ROTA_NO_DATABASE', `there is no database named ${JSON.stringify(name)} in version ${txnId}`);
  }
}

/** The input of load() is not a well-formed rotadb dump, or holds other entries than its header announces. */
export class InvalidDumpError extends RotaError {
  constructor(message: string) { super('ROTA_BAD_DUMP', message); }
}

/** The command line is wrong: unknown command or option, a missing or extra argument, a bad value. */
export class UsageError extends RotaError {
  constructor(message: string) { super('ROTA_USAGE', message); }
}
