/**
 * Every offset and size of the on-disk format, in one place. docs/design.md has the byte
 * diagrams; keep the two in step. All integers are little-endian, fixed width.
 */

export const MAGIC = 0x42445452; // bytes 'R','T','D','B' when written little-endian
export const FORMAT_VERSION = 1;

export const MIN_PAGE_SIZE = 1024;
export const MAX_PAGE_SIZE = 65536;
export const DEFAULT_PAGE_SIZE = 4096;
export const MAX_ROOTS = 255;
export const DEFAULT_ROOTS = 4;
/** Page numbers are u32 on disk; page 0 is always a root slot, so 0 doubles as "none". */
export const MAX_PAGES = 0xffffffff;
/** Values are stored with a u32 length; we cap below 2 GiB so one value fits one Buffer. */
export const MAX_VALUE_SIZE = 0x7fffffff;

// ---- Root slot (pages 0 .. nRoots-1). Checksum covers [4, pageSize), seeded with the slot index.
export const SLOT_CHECKSUM = 0; // u32
export const SLOT_MAGIC = 4; // u32
export const SLOT_FORMAT = 8; // u16
export const SLOT_NROOTS = 10; // u8
export const SLOT_INDEX = 11; // u8
export const SLOT_PAGE_SIZE = 12; // u32
export const SLOT_TXN_LO = 16; // u32
export const SLOT_TXN_HI = 20; // u32
export const SLOT_HIGH_WATER = 24; // u32: pages [0, highWater) are in use or free; the rest do not exist
export const SLOT_SPACEMAP_HEAD = 28; // u32: newest space-map page (0 = none)
export const SLOT_SPACEMAP_PAGES = 32; // u32: pages in the space-map chain
export const SLOT_SPACEMAP_SNAPSHOT = 36; // u32: of those, pages holding the last full snapshot
export const SLOT_FREE_PAGES = 40; // u32: pages the space map lists as free
export const SLOT_FLAGS = 44; // u32: SLOT_FLAG_* (0 in files written before the flags existed)
export const SLOT_MAIN_DB = 48; // DbInfo (32 bytes)
export const SLOT_CATALOG_DB = 80; // DbInfo (32 bytes)
export const SLOT_COMMIT_PAGES = 112; // u32: with SLOT_FLAG_ONE_FSYNC, page writes (runs count once) the commit made
export const SLOT_COMMIT_DIGEST_A = 116; // u32: with SLOT_FLAG_ONE_FSYNC, the commit digest (pages/checksum.ts)
export const SLOT_COMMIT_DIGEST_B = 120; // u32
export const SLOT_USED = 124;
/** The slot was made durable by the same fdatasync as its pages: trust it only once they verify. */
export const SLOT_FLAG_ONE_FSYNC = 1;

// ---- DbInfo: the descriptor of one B+tree (in a root slot, or as a catalog value).
export const DBINFO_ROOT = 0; // u32 root page (0 = empty tree)
export const DBINFO_DEPTH = 4; // u32 levels (0 = empty, 1 = root is a leaf)
export const DBINFO_ENTRIES_LO = 8; // u32
export const DBINFO_ENTRIES_HI = 12; // u32
export const DBINFO_BRANCH_PAGES = 16; // u32
export const DBINFO_LEAF_PAGES = 20; // u32
export const DBINFO_OVERFLOW_PAGES = 24; // u32
export const DBINFO_SIZE = 32;

// ---- Page header, shared by branch, leaf, overflow and space-map pages (16 bytes).
// Checksum covers [4, pageSize) (for an overflow run: [4, npages * pageSize)), seeded with the page number.
export const PAGE_CHECKSUM = 0; // u32
export const PAGE_TYPE = 4; // u8, one of PageType
export const PAGE_FLAGS = 5; // u8, reserved (0)
export const PAGE_COUNT = 6; // u16: cells (branch, leaf) or records (space map)
export const PAGE_UPPER = 8; // u32: branch/leaf: start of the cell area; overflow: pages in the run
export const PAGE_TXN = 12; // u32: low 32 bits of the id of the transaction that wrote the page
export const PAGE_HEADER = 16;
/** Branch and leaf pages: a u16 offset per cell follows the header, in key order. */
export const SLOT_ARRAY = PAGE_HEADER;
export const SLOT_WIDTH = 2;

export const enum PageType {
  Branch = 1,
  Leaf = 2,
  Overflow = 3,
  SpaceMap = 4,
}

// ---- Leaf cell: [u16 keyLen][u8 flags][u32 valueLen][key][value | u32 overflow page]
export const LEAF_KEYLEN = 0;
export const LEAF_FLAGS = 2;
export const LEAF_VALLEN = 3;
export const LEAF_KEY = 7;
export const LEAF_FLAG_OVERFLOW = 1;
/** Bytes of a leaf cell besides key and inline value. */
export const LEAF_CELL_OVERHEAD = 7;

// ---- Branch cell: [u32 child][u16 keyLen][key]. Cell 0's key is empty and means "minus infinity".
export const BRANCH_CHILD = 0;
export const BRANCH_KEYLEN = 4;
export const BRANCH_KEY = 6;
export const BRANCH_CELL_OVERHEAD = 6;

// ---- Space-map page: header, [u32 next older page (0 = none)][u32 end of records], records.
export const SPACEMAP_NEXT = 16;
export const SPACEMAP_END = 20;
export const SPACEMAP_RECORDS = 24;
/** Record: [u32 kind | runs << 8] then for FREE [u32 txnLo][u32 txnHi], then runs x [u32 first][u32 count]. */
export const SM_FREE = 1;
export const SM_ALLOC = 2;

/**
 * The largest cell a branch or leaf page accepts: two such cells and their slots always fit one
 * page, which is what makes every split and every merge possible.
 */
export function maxCellSize(pageSize: number): number {
  return ((pageSize - PAGE_HEADER) >>> 1) - SLOT_WIDTH;
}

/** The longest encoded key: its leaf cell must fit even when the value goes to overflow pages. */
export function maxKeySize(pageSize: number): number {
  return maxCellSize(pageSize) - LEAF_CELL_OVERHEAD - 4;
}

/** A page whose cells and slots use fewer bytes than this is merged with or fed by a sibling. */
export function minFill(pageSize: number): number {
  return (pageSize - PAGE_HEADER) >>> 2;
}

export function isValidPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PAGE_SIZE && n <= MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}

// ---- The lock directory `<path>-lock/` (several processes on one file: src/procs/, docs/design.md
// "Several processes"). Not part of the database: it can be deleted whenever no process has the
// file open. Records are checksummed (pages/checksum.ts, seeded as below) because a pread that
// runs while another process pwrites the same bytes can return a mix of old and new bytes.

/** `state`: bytes [0, 64) the commit record, then the reuse ring from byte 4096. */
export const LOCK_STATE_MAGIC = 0x4b4c5452; // 'R','T','L','K'
export const LOCK_STATE_SEED = 0x5354; // checksum seed of the commit record
export const CR_CHECKSUM = 0; // u32 over [4, CR_SIZE)
export const CR_MAGIC = 4; // u32
export const CR_SEQ = 8; // u32: bumped by every write (tells two equal-looking records apart in logs)
export const CR_TXN_LO = 12; // u32: the published version
export const CR_TXN_HI = 16; // u32
export const CR_SLOT = 20; // u32: its root slot
export const CR_TARGET = 24; // u32: the slot the writer holding the lock will write; CR_NO_TARGET if none
export const CR_RING_HEAD = 28; // u32: entries ever appended to the reuse ring (wraps at 2^32)
export const CR_WRITER_PID = 32; // u32: the process that wrote the record (names the TARGET's owner)
export const CR_WRITER_START = 36; // f64: its start time (clock ticks since boot)
export const CR_RING_RESERVED = 44; // u32: ring entries below this may be being written (>= RING_HEAD; see procs/lock-dir.ts)
export const CR_FLAGS = 48; // u32: CR_FLAG_*
export const CR_SIZE = 64;
export const CR_NO_TARGET = 0xffffffff;
/** The writer lock's holder is rewriting `members` (procs/members.ts): a process joining waits, then appends again. */
export const CR_FLAG_COMPACTING = 1;
/** The reuse ring: u32 page numbers whose contents a commit replaced; entry k at RING_OFFSET + 4 * (k mod RING_CAPACITY). */
export const RING_OFFSET = 4096;
export const RING_CAPACITY = 1 << 16;

/** `members`: 64-byte entries appended (O_APPEND) by each process that joins: [u32 checksum over [4, 64)][u32 magic][56 bytes: record name, NUL-padded]. */
export const MEMBER_MAGIC = 0x4d505452; // 'R','T','P','M'
export const MEMBER_SEED = 0x4d45;
export const MEMBER_SIZE = 64;
export const MEMBER_NAME = 8;
/** A joining process's open compacts `members` once it holds this many entries. */
export const MEMBERS_COMPACT_AT = 256;

/** `p-<boot>-<pid>-<start>`: one process's record, written only by that process, at offset 0. */
export const PROC_MAGIC = 0x52505452; // 'R','T','P','R'
export const PROC_SEED = 0x5052;
export const PR_CHECKSUM = 0; // u32 over [4, PR_HEADER + PR_PIN * count)
export const PR_MAGIC = 4; // u32
export const PR_SEQ = 8; // u32: bumped by every write
export const PR_PID = 12; // u32
export const PR_START = 16; // f64: start time, clock ticks since boot (/proc/<pid>/stat field 22)
export const PR_BOOT = 24; // 16 bytes: /proc/sys/kernel/random/boot_id as bytes
export const PR_CHOOSING = 40; // u32: 1 while taking a ticket (the writer lock is a bakery lock)
export const PR_COUNT = 44; // u32: pins that follow
export const PR_TICKET = 48; // f64: 0, or this process's ticket for the writer lock
export const PR_OPENED = 56; // f64: ms since epoch when the process opened the file
export const PR_PID_NS = 64; // f64: inode of /proc/self/ns/pid (a pid means nothing in another namespace)
export const PR_HEADER = 80;
/** Pin: [u32 slot][u32 low 32 bits of the version it holds][f64 ms since epoch when the process began pinning it]. */
export const PR_PIN = 16;
export const PR_PIN_SLOT = 0;
export const PR_PIN_VERSION = 4;
export const PR_PIN_SINCE = 8;
export const PROC_RECORD_MAX = 4096;
/** Pins one record holds (it must fit one 4 KiB page, so that it is written by one pwrite). */
export const PROC_MAX_PINS = (PROC_RECORD_MAX - PR_HEADER) / PR_PIN - 1;
