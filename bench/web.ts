// `npm run bench -- web`: encoder latency for one image in Chromium, ours vs tfjs-backend-webgpu,
// in the same tab with the same random weights (bench/web-page.ts). The paper preset's encoder at
// 150x150 when a warm call takes at most PAPER_LIMIT_MS on this browser's adapter (SwiftShader
// here), else the small preset (also 150x150, fewer maps); the result says which.
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserBundle, repoRoot } from '../scripts/build-web.js';
import { launchChromium, serveDemo } from '../src/cli/demo.js';
import type { WebBenchOptions, WebBenchResult } from './web-page.js';
import { table } from './timing.js';
import type { BenchOptions } from './options.js';

const PAPER_LIMIT_MS = 2000;

export async function benchWeb(options: BenchOptions = {}): Promise<{ rows: WebBenchResult[]; text: string; preset: string; browserAdapter: string }> {
  const log = options.log ?? (() => {});
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'dcign-bench-web-'));
  const browser = await launchChromium();
  const server = await serveDemo({ dir, port: 0 });
  try {
    await build({
      ...browserBundle(root),
      entryPoints: ['bench/web-page.ts'],
      outfile: join(dir, 'bench.js'),
      logLevel: 'warning',
    });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bench web</title><script type="module" src="bench.js"></script>\n');
    log(`Chromium ${browser.version()}`);

    // A fresh tab for each preset, so neither side inherits the other run's buffers or caches.
    const run = async (o: WebBenchOptions): Promise<WebBenchResult> => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      try {
        await page.goto(server.origin + '/');
        await page.waitForFunction(() => typeof window.runWebBench === 'function', null, { timeout: 30_000 }).catch(() => {
          throw new Error(`the bench page did not start: ${errors.join('; ') || 'no error reported'}`);
        });
        return await page.evaluate((opts) => window.runWebBench(opts), o);
      } finally {
        await page.close();
      }
    };
    const timing = { minMs: 3000, minIters: 5, maxIters: 40 };
    log(`paper preset (150x150): one warm call of each side must take at most ${PAPER_LIMIT_MS} ms`);
    const paper = await run({ preset: 'paper', ...timing, maxWarmMs: PAPER_LIMIT_MS });
    let r = paper;
    const warm = (x: WebBenchResult) => `one warm call took ${x.warmMs[0].toFixed(0)} ms (ours) and ${x.warmMs[1].toFixed(0)} ms (tfjs)`;
    let why = `the paper preset ran in reasonable time here: ${warm(r)}, limit ${PAPER_LIMIT_MS} ms`;
    if (r.tooSlow) {
      why = `the paper preset was too slow here: ${warm(r)}, limit ${PAPER_LIMIT_MS} ms`;
      log(`${why}; measuring the small preset`);
      r = await run({ preset: 'small', ...timing, maxWarmMs: Infinity });
    }
    const text =
      `Encoder latency for one ${r.imageSize}x${r.imageSize} image, preset ${r.preset}: ${why}.\n` +
      `Chromium ${browser.version()}, WebGPU adapter: ${r.adapter}; tfjs ${r.tfjsVersion}.\n` +
      'Each call uploads the image, runs the encoder and reads back mu and logvar; medians of alternating calls.\n\n' +
      table(
        ['', 'median ms', 'first call ms (compiles)', 'calls'],
        [
          ['ours', r.oursMs, r.oursFirstMs, String(r.iterations)],
          ['tfjs-backend-webgpu', r.tfjsMs, r.tfjsFirstMs, String(r.iterations)],
        ],
      ) +
      `\n\ntfjs ms / ours ms: ${(r.tfjsMs / r.oursMs).toFixed(2)} (above 1, ours is faster); ` +
      `mu and logvar agree to ${r.maxRelDiff.toExponential(1)} of their largest value.`;
    // The paper preset's probe stays in the rows (tooSlow: true, its one warm call as the times).
    return { rows: r === paper ? [r] : [paper, r], text, preset: r.preset, browserAdapter: r.adapter };
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
