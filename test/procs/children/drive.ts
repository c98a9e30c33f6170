/**
 * The test side of children/peer.mjs: starts it, sends it commands and awaits its answers (one
 * line each, in order), and kills every child a test started once the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const childrenDir = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(childrenDir, '../../..');
export const peerPath = path.join(childrenDir, 'peer.mjs');

export interface Answer { ok: boolean; value?: unknown; code?: string; message?: string; pid?: number }

const started: ChildProcess[] = [];
/** Pids (not our children) that a test must kill itself, such as a zombie's parent's child. */
export const strays: number[] = [];

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of strays.splice(0)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
});

/** Remembers `c` so that it is killed after the current test. */
export function adopt<T extends ChildProcess>(c: T): T {
  started.push(c);
  return c;
}

/** Lines a child prints, one at a time, in order. */
export class Lines {
  private readonly queue: string[] = [];
  private readonly waiting: ((line: string) => void)[] = [];
  private ended = false;
  private stderr = '';

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l); else this.queue.push(l);
    });
    child.stderr?.on('data', (d) => { this.stderr += String(d); });
    child.once('exit', () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w('');
    });
  }

  async next(): Promise<string> {
    const l = this.queue.shift();
    if (l !== undefined) return l;
    if (this.ended) throw new Error(`child ${this.child.pid} ended: ${this.stderr}`);
    const line = await new Promise<string>((r) => this.waiting.push(r));
    if (line === '' && this.ended) throw new Error(`child ${this.child.pid} ended: ${this.stderr}`);
    return line;
  }
}

export class Peer {
  readonly lines: Lines;
  constructor(readonly child: ChildProcess) { this.lines = new Lines(child); }

  get pid(): number { return this.child.pid!; }

  async answer(): Promise<Answer> {
    return JSON.parse(await this.lines.next()) as Answer;
  }

  /** Sends one command; resolves with its answer, throwing unless it succeeded. */
  async call(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    this.child.stdin!.write(JSON.stringify({ op, ...args }) + '\n');
    const a = await this.answer();
    if (!a.ok) throw new Error(`peer ${op} failed: ${a.code} ${a.message}`);
    return a.value;
  }

  /** SIGKILLs the child and waits until it has exited (and was reaped). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await gone;
  }
}

/** Starts children/peer.mjs and waits until it is ready for commands. */
export async function startPeer(env: Record<string, string> = {}): Promise<Peer> {
  const p = new Peer(adopt(spawn(process.execPath, [peerPath], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })));
  const a = await p.answer();
  if (a.value !== 'ready') throw new Error(`peer did not start: ${JSON.stringify(a)}`);
  return p;
}
