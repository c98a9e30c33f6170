/**
 * For test files that run dist/ (the command line, child processes): test/global-setup.ts builds
 * it once before all test files; build here only when it is missing or older than src/ (a run
 * without that setup), since rebuilding dist/ while other test files load it (worker threads,
 * child processes) would race with them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when dist/cli/main.js is missing or older than src/. */
export function ensureBuilt(): void {
  const built = path.join(root, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < newest(path.join(root, 'src'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
  }
}
