import { defineConfig, type Plugin } from 'vitest/config';
import { readFileSync } from 'node:fs';
import { dropKnownWarnings } from './src/gpu/dawn-warnings.js';

// WGSL files load as strings, as esbuild's `text` loader does for the bundles.
const wgsl: Plugin = {
  name: 'wgsl-text',
  load(id) {
    if (!id.endsWith('.wgsl')) return null;
    return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  },
};

// Each test file runs in a child process whose stderr is a socket, which the engine cannot filter
// in-process (src/gpu/dawn-warnings.ts); vitest copies that stderr to its own, so Dawn's two known
// warnings are dropped on the way.
const write = process.stderr.write.bind(process.stderr) as (chunk: unknown, ...rest: unknown[]) => boolean;
process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
  write(typeof chunk === 'string' || Buffer.isBuffer(chunk) ? dropKnownWarnings(chunk.toString()) : chunk, ...rest)) as typeof process.stderr.write;

export default defineConfig({
  plugins: [wgsl],
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    pool: 'forks',
    // lavapipe uses every core for each dispatch; files in parallel only contend.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
