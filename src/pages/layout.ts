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
