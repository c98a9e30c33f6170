/**
 * The only way the engine touches bytes at rest. Everything below this interface may be a
 * real file, an in-memory image, or a fault injector; the engine must not know which.
 *
 * The calls are synchronous; a backend may also offer `writeAsync` and `syncAsync`, which the
 * asynchronous commit (put, remove, transaction) uses so that the writes and the fdatasync of a
 * commit run off the event loop (docs/design.md, "Asynchronous commit"). Without them that commit
 * makes the same calls synchronously. Positions and lengths are byte offsets (< 2^53).
 */
export interface Storage {
  /** Reads exactly `buf.length` bytes at `position` into `buf`; returns the bytes read (short only at end of file). */
  read(buf: Uint8Array, position: number): number;
  /** Writes all of `buf` at `position`, extending the file when needed. Not durable until `sync()`. */
  write(buf: Uint8Array, position: number): void;
  /** Makes every completed write durable (fdatasync). */
  sync(): void;
  /** Current size in bytes. */
  size(): number;
  /** Sets the size in bytes (shrinks or zero-extends). Not durable until `sync()`. */
  truncate(size: number): void;
  /** Releases the underlying resource; further calls fail. */
  close(): void;
  /** As write(), off the calling thread. */
  writeAsync?(buf: Uint8Array, position: number): Promise<void>;
  /** As writeAsync() of the buffers one after the other, in one gathered write. */
  writevAsync?(bufs: Uint8Array[], position: number): Promise<void>;
  /** As sync(), off the calling thread: makes every completed write durable. */
  syncAsync?(): Promise<void>;
}
