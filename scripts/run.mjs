#!/usr/bin/env node
// Runs a TypeScript entry point: bundles it with esbuild (WGSL as text, packages external) into
// .cache/ and imports it. `node scripts/run.mjs src/cli/train.ts -- --steps 10`.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs ENTRY.ts [-- args...]');
  process.exit(2);
}
const root = resolve(import.meta.dirname, '..');
const outdir = resolve(root, '.cache/run');
mkdirSync(outdir, { recursive: true });
const outfile = resolve(outdir, basename(entry).replace(/\.ts$/, '.mjs'));
await build({
  entryPoints: [resolve(root, entry)],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  loader: { '.wgsl': 'text' },
  outfile,
  sourcemap: 'inline',
  logLevel: 'warning',
});
process.argv = [process.argv[0], outfile, ...(rest[0] === '--' ? rest.slice(1) : rest)];
await import(pathToFileURL(outfile).href);
