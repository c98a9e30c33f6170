#!/usr/bin/env node
// The rotadb command-line tool. The code is in src/cli/main.ts, compiled to dist/ by `npm run build`.
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist')) {
    process.stderr.write('rotadb: the compiled code (dist/cli/main.js) is missing; run `npm run build` first (ROTA_NOT_BUILT)\n');
    process.exit(1);
  }
  throw e;
}
cli.run(process.argv.slice(2));
