// `npm run bench -- web`: encoder latency for one image in Chromium, ours vs tfjs-backend-webgpu
// (unless --no-tfjs) in the same tab with the same random weights (bench/web-page.ts);
// onnxruntime-web's wasm and webgpu providers too (unless --no-ort) on the encoder
// bench/torch_onnx.py exported, and then all sides run that export's checkpoint weights. The paper
// preset's encoder at 150x150 when a warm call takes at most PAPER_LIMIT_MS on this browser's
// adapter (SwiftShader here), else the small preset (also 150x150, fewer maps); the result says
// which.
import { build } from 'esbuild';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserBundle, repoRoot } from '../scripts/build-web.js';
import { launchChromium, serveDemo } from '../src/cli/demo.js';
import type { OrtRow, ProfileRow, WebBenchOptions, WebBenchResult } from './web-page.js';
import { table } from './timing.js';
import type { BenchOptions } from './options.js';
import { PRESETS } from '../src/model/presets.js';
import { UserError } from '../src/cli/errors.js';

const PAPER_LIMIT_MS = 2000;
// Largest |mu - ours| over the largest |mu| beyond which a peer is said to compute something else.
const PEER_AGREES = 1e-3;
const ORT_ROWS = ['ORT-wasm', 'ORT-webgpu'];
const ONNX_COMMAND = '/usr/bin/python3 bench/torch_onnx.py';

export async function benchWeb(options: BenchOptions = {}): Promise<{ rows: WebBenchResult[]; text: string; preset: string; browserAdapter: string }> {
  const log = options.log ?? (() => {});
  if (options.preset !== undefined && !(options.preset in PRESETS)) {
    throw new UserError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got ${options.preset}`);
  }
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
    // The server serves dir only: links put ORT's dist folder (wasm files included) and the export
    // in it, read from where they are.
    const onnx = (preset: string) => join(root, '.cache', 'onnx', `encoder-${preset}`);
    const withOrt = (preset: string): WebBenchOptions['ort'] => {
      if (options.ort === false || !existsSync(onnx(preset) + '.onnx')) return undefined;
      for (const [from, to] of [
        [join(root, 'node_modules', 'onnxruntime-web', 'dist'), 'ort'],
        [onnx(preset) + '.onnx', `encoder-${preset}.onnx`],
        [onnx(preset) + '.safetensors', `encoder-${preset}.safetensors`],
      ] as const) {
        if (!existsSync(join(dir, to))) symlinkSync(from, join(dir, to));
      }
      return { distUrl: '/ort/', onnxUrl: `/encoder-${preset}.onnx`, weightsUrl: `/encoder-${preset}.safetensors` };
    };

    // A fresh tab for each preset, so neither side inherits the other run's buffers or caches.
    const run = async (o: WebBenchOptions): Promise<WebBenchResult> => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      try {
        await page.goto(server.origin + '/');
        // Loading the bundled engine, tfjs and onnxruntime-web takes seconds, and minutes on a loaded machine.
        await page.waitForFunction(() => typeof window.runWebBench === 'function', null, { timeout: 180_000 }).catch(() => {
          throw new Error(`the bench page did not start within 180 s: ${errors.join('; ') || 'no error reported'}`);
        });
        return await page.evaluate((opts) => window.runWebBench(opts), o);
      } finally {
        await page.close();
      }
    };
    const timing = { minMs: 3000, minIters: 5, maxIters: 40, convVariant: options.convVariant, profile: options.profile ?? false, tfjs: options.tfjs ?? true };
    let r: WebBenchResult;
    let rows: WebBenchResult[];
    let why: string;
    if (options.preset !== undefined) {
      r = await run({ preset: options.preset, ...timing, maxWarmMs: Infinity, ort: withOrt(options.preset) });
      rows = [r];
      why = 'asked for with --preset';
    } else {
      log(`paper preset (150x150): one warm call of each side must take at most ${PAPER_LIMIT_MS} ms`);
      const paper = await run({ preset: 'paper', ...timing, maxWarmMs: PAPER_LIMIT_MS });
      r = paper;
      const warm = (x: WebBenchResult) => `one warm call took ${x.warmMs[0].toFixed(0)} ms (ours)${x.warmMs[1] === null ? '' : ` and ${x.warmMs[1].toFixed(0)} ms (tfjs)`}`;
      why = `the paper preset ran in reasonable time here: ${warm(r)}, limit ${PAPER_LIMIT_MS} ms`;
      if (r.tooSlow) {
        why = `the paper preset was too slow here: ${warm(r)}, limit ${PAPER_LIMIT_MS} ms`;
        log(`${why}; measuring the small preset`);
        r = await run({ preset: 'small', ...timing, maxWarmMs: Infinity, ort: withOrt('small') });
      } else if (withOrt('paper')) {
        // The probe ran without ORT: the paper preset is measured again with it.
        r = await run({ preset: 'paper', ...timing, maxWarmMs: Infinity, ort: withOrt('paper') });
      }
      // The paper preset's probe stays in the rows (tooSlow: true, its one warm call as the times).
      rows = r === paper ? [r] : [paper, r];
    }
    const ratio = (ms: number) => (ms / r.oursMs).toFixed(2);
    // A side that did not run is one line under the table, saying why.
    const notes: string[] = [];
    const ortRow = (name: string): (string | number)[] => {
      const row = r.ort?.find((x: OrtRow) => x.name === name);
      if (row) return [name, row.ms, row.firstMs, String(r.iterations), ratio(row.ms), row.maxAbsMuDiff.toExponential(1)];
      const why =
        options.ort === false ? 'left out (--no-ort)'
        : !r.ort ? `no ${join('.cache', 'onnx', `encoder-${r.preset}.onnx`)}: make it with ${ONNX_COMMAND}${r.preset === 'small' ? '' : ' --checkpoint FILE (a paper checkpoint)'}`
        : `failed: ${r.ortErrors?.[name] ?? 'no error reported'}`;
      notes.push(`${name}: ${why}`);
      return [name, '-', '-', '-', '-', '-'];
    };
    const text =
      `Encoder latency for one ${r.imageSize}x${r.imageSize} image, preset ${r.preset}: ${why}.\n` +
      `Chromium ${browser.version()}, WebGPU adapter: ${r.adapter}${r.tfjsVersion === null ? '' : `; tfjs ${r.tfjsVersion}`}` +
      (r.ort ? `; onnxruntime-web ${r.ortVersion} (wasm on 1 thread: the page is not cross-origin isolated); all sides run the weights of .cache/onnx/encoder-${r.preset}.safetensors` : '') +
      '.\nEach call uploads the image, runs the encoder and reads back mu and logvar; medians of alternating calls.\n' +
      `One encode of ours (convolutions: ${r.convVariant}) records ${r.oursDispatches} dispatches and ${r.oursSubmits} queue submit${r.oursSubmits === 1 ? '' : 's'}; the same round trip with ` +
      `one tiny dispatch instead of the encoder (upload, dispatch, read back 4 bytes) takes ${r.floorMs.toFixed(1)} ms.\n\n` +
      table(
        ['', 'median ms', 'first call ms (compiles)', 'calls', 'ms / ours', 'max |mu - ours|'],
        [
          ['ours', r.oursMs, r.oursFirstMs, String(r.iterations), '1.00', ''],
          r.tfjsMs === null ? ['tfjs-backend-webgpu', '-', '-', '-', '-', ''] : ['tfjs-backend-webgpu', r.tfjsMs, r.tfjsFirstMs ?? '-', String(r.iterations), ratio(r.tfjsMs), ''],
          ...ORT_ROWS.map(ortRow),
        ],
      ) +
      notes.map((n) => `\n${n}`).join('') +
      (r.tfjsMs === null || r.maxRelDiff === null
        ? '\ntfjs-backend-webgpu: left out (--no-tfjs)'
        : `\n\ntfjs ms / ours ms: ${(r.tfjsMs / r.oursMs).toFixed(2)} (above 1, ours is faster); ` +
          (r.maxRelDiff <= PEER_AGREES
            ? `mu and logvar agree to ${r.maxRelDiff.toExponential(1)} of their largest value.`
            : `warning: its mu and logvar differ from ours by ${r.maxRelDiff.toExponential(1)} of their largest value ` +
              `(more than ${PEER_AGREES}), so its time is that of another result` +
              (r.ort?.length ? ` (onnxruntime-web's mu: within ${Math.max(...r.ort.map((o) => o.maxAbsMuDiff)).toExponential(1)} of ours).` : '.'))) +
      profileText(r);
    return { rows, text, preset: r.preset, browserAdapter: r.adapter };
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** --profile: one encode of ours dispatch by dispatch. */
function profileText(r: WebBenchResult): string {
  if (r.oursProfile === undefined) return '';
  const stamped = r.oursProfile.every((d) => d.ms !== null);
  const total = (f: (d: ProfileRow) => number) => r.oursProfile!.reduce((a, d) => a + f(d), 0);
  return (
    `\n\nOne encode of ours dispatch by dispatch: "alone", each submitted alone between GPU timestamps (medians of 5 encodes${stamped ? `, ${total((d) => d.ms!).toFixed(1)} ms in all` : '; skipped, the adapter has no timestamp-query'}); ` +
    `"repeated", what the dispatch adds to an encode (the encode's median with it recorded 10 more times, less the plain one's, over 10; ${total((d) => d.repeatMs).toFixed(1)} ms in all):\n` +
    table(['#', 'kernel', 'alone ms', 'repeated ms'], r.oursProfile.map((d, i) => [String(i + 1), d.what, d.ms === null ? '-' : d.ms, d.repeatMs]))
  );
}
