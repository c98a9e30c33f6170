/**
 * What the commands of the command-line tool share: the command shape, exit statuses, opening a
 * database file, the progress bar, and number formatting. main.ts parses and dispatches.
 */
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { open, type OpenOptions } from '../api/open.js';
import type { RootDatabase } from '../api/root-database.js';
import { FileNotFoundError, NotADatabaseError } from '../errors.js';
import type { ProgressCallback } from '../tools/compact.js';

export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable;
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_LOCKED = 2;
export const EXIT_USAGE = 64;

/** Page cache of a database the tool opens. */
export const CACHE = 64 * 1024 * 1024;

export type OptionKind = 'flag' | 'string' | 'int';

export type Opts = Record<string, string | number | boolean | undefined>;

/** One command: its arguments and options (for parsing and help), and what it does. */
export interface Command {
  name: string;
  args: string[];
  summary: string;
  options: Record<string, { kind: OptionKind; help: string; alias?: string; value?: string }>;
  details: string;
  run(pos: string[], opts: Opts, io: CliIO): Promise<number>;
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

// ---------------------------------------------------------------- opening

/** Opens an existing database file; never creates one. ROTA_LOCKED carries the file for the message. */
export function openExisting(file: string, options: OpenOptions = {}): RootDatabase {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new FileNotFoundError(file);
  }
  if (st.isDirectory()) throw new NotADatabaseError(`${file} is a directory, not a rotadb database file`);
  return openOrTag(file, { cacheSize: CACHE, ...options });
}

export function openOrTag(file: string, options: OpenOptions): RootDatabase {
  try {
    return open(file, options);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ROTA_LOCKED') (e as { file?: string }).file = file;
    throw e;
  }
}

export async function withDb<T>(db: RootDatabase, fn: (db: RootDatabase) => Promise<T>): Promise<T> {
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------- progress bar

/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
class ProgressBar {
  private last = 0;
  private drawn = false;

  constructor(private readonly stream: CliIO['stderr'], private readonly label: string, private readonly unit: string) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  readonly update: ProgressCallback = (done, total) => {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < total && now - this.last < 100) return;
    this.last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const full = Math.round(frac * width);
    const bar = '#'.repeat(full) + '-'.repeat(width - full);
    this.stream.write(`\r${this.label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${fmt(done)}/${fmt(total)} ${this.unit}\x1b[K`);
    this.drawn = true;
  };

  /** Erases the bar. */
  finish(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

export async function withProgress<T>(io: CliIO, label: string, unit: string, fn: (p: ProgressCallback) => Promise<T> | T): Promise<T> {
  const bar = new ProgressBar(io.stderr, label, unit);
  try {
    return await fn(bar.update);
  } finally {
    bar.finish();
  }
}

// ---------------------------------------------------------------- formatting

export function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}
