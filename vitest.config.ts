import { defineConfig, type Plugin } from 'vitest/config';
import { readFileSync } from 'node:fs';

// WGSL files load as strings, as esbuild's `text` loader does for the bundles.
const wgsl: Plugin = {
  name: 'wgsl-text',
  load(id) {
    if (!id.endsWith('.wgsl')) return null;
    return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  },
};

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
