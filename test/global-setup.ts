/**
 * Builds dist/ once before any test file runs: tests that start child processes or worker
 * threads load the built module, and one build avoids files rebuilding it under each other.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
}
