// The browser page end to end in Debian's Chromium (WebGPU on SwiftShader): build the bundle,
// serve it with a checkpoint trained here, encode a fixed image in the page and compare its mu
// with Node's `npm run encode` path on the same checkpoint and image; move the azimuth slider
// and see the decoder's canvas change. Fails, not skips, without /usr/bin/chromium.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'playwright-core';
import { useEngine } from './setup/engine.js';
import { noGrad, Tensor } from '../src/node.js';
import { encodeModel } from '../src/model/checkpoint.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset } from '../src/model/presets.js';
import { Trainer } from '../src/train/trainer.js';
import { FaceBatches } from '../src/train/batches.js';
import { readModelFile } from '../src/train/state.js';
import { loadImages } from '../src/cli/common.js';
import { buildWeb, browserOnly, repoRoot, WEB_BUDGET_BYTES, type WebBuild } from '../scripts/build-web.js';
import { chromiumMissing, launchChromium, serveDemo, type DemoServer } from '../src/cli/demo.js';
import { expectClose } from './setup/expect.js';

const ctx = useEngine();
const root = repoRoot();
const artifacts = join(root, 'test-artifacts');

// Page (SwiftShader) vs Node (lavapipe here): the same float32 input and the same WGSL kernels,
// so only rounding differs (fused multiply-adds, exp); mu agrees to this much.
const MU_ATOL = 1e-4;
const MU_RTOL = 1e-3;

let tmp: string;
let bundle: WebBuild;
let checkpoint: string;
let imagePath: string;
let server: DemoServer | null = null;
let browser: Browser | null = null;

/** An opaque, non-square RGB test card: a lit ellipse on a dark gradient, so crop, resize and luma all matter. */
function testCard(width: number, height: number): PNG {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x - width / 2) / (height * 0.32);
      const v = (y - height / 2) / (height * 0.42);
      const inside = u * u + v * v < 1;
      const o = 4 * (y * width + x);
      png.data[o] = inside ? 200 - 60 * u : 20 + (x * 40) / width;
      png.data[o + 1] = inside ? 160 + 40 * v : 10;
      png.data[o + 2] = inside ? 120 : 30 + (y * 50) / height;
      png.data[o + 3] = 255;
    }
  }
  return png;
}

async function counter(page: Page, key: 'encodes' | 'decodes'): Promise<number> {
  return page.evaluate((k) => Number(document.body.dataset[k] ?? 0), key);
}

async function waitFor(page: Page, key: 'encodes' | 'decodes', atLeast: number): Promise<void> {
  await page.waitForFunction(
    ([k, n]) => Number(document.body.dataset[k as string]) >= (n as number) || !!document.body.dataset.error,
    [key, atLeast],
    { timeout: 60_000 },
  );
  const error = await page.evaluate(() => document.body.dataset.error);
  if (error) throw new Error(`the page reports an error: ${error}`);
}

/** Drops a file on the page as a user drags one from their file manager. */
async function dropFile(page: Page, name: string, bytes: Uint8Array): Promise<void> {
  await page.evaluate(
    ([n, b]) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(b as number[])], n as string));
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    },
    [name, Array.from(bytes)] as const,
  );
}

/** The card as a PNG whose header claims 100000x100000 pixels (its CRC fixed, so only the size is wrong). */
function hugeClaim(png: Uint8Array): Uint8Array {
  const out = png.slice();
  const view = new DataView(out.buffer);
  view.setUint32(16, 100000);
  view.setUint32(20, 100000);
  view.setUint32(29, crc32(out.subarray(12, 29)) >>> 0);
  return out;
}

async function canvasPixels(page: Page, id: string): Promise<number[]> {
  return page.evaluate((i) => {
    const c = document.getElementById(i) as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  }, id);
}

describe('the browser page', () => {
  beforeAll(async () => {
    const missing = chromiumMissing();
    if (missing) throw new Error(missing);
    tmp = mkdtempSync(join(tmpdir(), 'dcign-web-'));
    bundle = await buildWeb({ outdir: join(tmp, 'web') });

    const out = join(tmp, 'run');
    const trainer = Trainer.create(
      ctx.engine,
      { preset: 'tiny', steps: 40, batch: 8, lr: 5e-4, seed: 3, out, procedure: 'clamped', shapeBias: 0, invariance: 0, logEvery: 1000, sampleEvery: 0, checkpointEvery: 1000 },
      new FaceBatches(ctx.engine, { seed: 3, batch: 8, procedure: 'clamped', shapeBias: 0, imageSize: 16 }),
    );
    await trainer.run();
    trainer.dispose();
    checkpoint = join(out, 'model.safetensors');
    // Forty steps leave z1 moving the decoded image by about one grey level, too little to tell
    // a slider that reaches the decoder from one that does not: strengthen z1's column of the
    // decoder's first layer (weight [out, latents]).
    const { model, metadata } = readModelFile(checkpoint, ctx.engine);
    const w = model.decoder.fc.weight;
    const d = await w.data();
    for (let r = 0; r < w.shape[0]!; r++) d[r * w.shape[1]!] *= 60;
    ctx.engine.upload(w.buffer, 0, d);
    writeFileSync(checkpoint, await encodeModel(model, metadata));
    model.dispose();

    imagePath = join(tmp, 'card.png');
    writeFileSync(imagePath, PNG.sync.write(testCard(52, 40)));
    server = await serveDemo({ dir: bundle.outdir, checkpoint, port: 0 });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it(`bundles to less than ${WEB_BUDGET_BYTES / 1024} KB without weights`, () => {
    expect(bundle.files.map((f) => f.name).sort()).toEqual(['app.js', 'index.html', 'style.css']);
    expect(bundle.totalBytes).toBeLessThan(WEB_BUDGET_BYTES);
    expect(Object.keys(bundle.metafile.inputs).filter((f) => /node_modules\/(webgpu|pngjs|jpeg-js)\//.test(f))).toEqual([]);
  });

  it('refuses Node-only imports in the browser bundle', async () => {
    const entry = join(tmp, 'bad.ts');
    writeFileSync(entry, `import { initEngine } from '${resolve(root, 'src/node.ts')}';\nconsole.log(initEngine);\n`);
    await expect(
      build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', logLevel: 'silent', loader: { '.wgsl': 'text' }, plugins: [browserOnly(root)] }),
    ).rejects.toThrow(/src\/node\.ts is Node-only/);
  });

  it('encodes an image as Node does, and re-renders as the azimuth latent moves', async () => {
    const page = await browser!.newPage({ viewport: { width: 1180, height: 800 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    try {
      await page.goto(server!.url);
      // The page's first encode is of a face from its own renderer.
      await waitFor(page, 'encodes', 1);
      const adapter = await page.evaluate(() => document.body.dataset.adapter);
      console.log(`Chromium WebGPU adapter: ${adapter}`);
      expect(await page.evaluate(() => document.body.dataset.preset)).toBe('tiny');

      await page.setInputFiles('#image-file', imagePath);
      await waitFor(page, 'encodes', 2);
      const shown = await page.evaluate(() => JSON.parse(document.getElementById('latents')!.dataset.mu!) as number[]);

      // Node: the functions `npm run encode` uses (readModelFile, loadImages, Dcign.encode).
      const { model } = readModelFile(checkpoint, ctx.engine);
      const images = loadImages([imagePath], model.config.imageSize, ctx.engine);
      const { mu, logvar } = noGrad(() => model.encode(images));
      const want = await mu.data();
      [images, mu, logvar].forEach((t) => t.dispose());
      model.dispose();
      expect(shown).toHaveLength(want.length);
      expectClose(shown, want, MU_ATOL, MU_RTOL, 'mu shown by the page vs Node');
      const worst = Math.max(...shown.map((v, i) => Math.abs(v - want[i]!)));
      console.log(`page vs Node mu: largest difference ${worst.toExponential(2)} over ${want.length} latents`);

      const reconBefore = await canvasPixels(page, 'recon-canvas');
      const before = await canvasPixels(page, 'edit-canvas');
      const decodes = await counter(page, 'decodes');
      const max = Number(await page.getAttribute('#z1', 'max'));
      await page.locator('#z1').fill(String(max));
      await waitFor(page, 'decodes', decodes + 1);
      const after = await canvasPixels(page, 'edit-canvas');
      expect(after.length).toBe(before.length);
      // The page must show Node's decode of its latents with z1 at the slider's end, and that
      // image must differ visibly from the one before: a slider that does not reach the
      // decoder, or reaches the wrong latent, leaves the canvas within a grey level of before.
      const { model: m2 } = readModelFile(checkpoint, ctx.engine);
      const nodeGray = async (z1: number) => {
        const z = Float32Array.from(shown);
        z[0] = z1;
        const zt = Tensor.fromData(z, [1, z.length]);
        const img = noGrad(() => m2.decode(zt));
        const d = await img.data();
        [zt, img].forEach((t) => t.dispose());
        return Array.from(d, (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
      };
      const [wantBefore, wantAfter] = [await nodeGray(shown[0]!), await nodeGray(max)];
      m2.dispose();
      const gray = (rgba: number[]) => rgba.filter((_, i) => i % 4 === 0);
      expectClose(gray(before), wantBefore, 1, 0, 'decoded canvas before z1 moved vs Node');
      expectClose(gray(after), wantAfter, 1, 0, 'decoded canvas after z1 moved vs Node');
      const moved = wantAfter.filter((v, i) => Math.abs(v - wantBefore[i]!) >= 8).length;
      expect(moved, 'pixels that z1 moves by 8 grey levels or more').toBeGreaterThan(wantAfter.length / 4);
      expect(await canvasPixels(page, 'recon-canvas')).toEqual(reconBefore);

      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'web.png'), fullPage: true });
    } catch (e) {
      console.log(`browser console:\n${logs.join('\n')}`);
      throw e;
    } finally {
      await page.close();
    }
  });

  // The tiny preset's same-padded convolutions take the page's general kernels; the small preset's
  // valid ones take the channel-split pooled kernel on SwiftShader, compared here with lavapipe's.
  it('encodes on a dropped small-preset checkpoint (valid convolutions) as Node does', async () => {
    const page = await browser!.newPage();
    try {
      await page.goto(server!.url);
      await waitFor(page, 'encodes', 1);
      const model = new Dcign(getPreset('small'), 4, ctx.engine);
      const before = await counter(page, 'encodes');
      await dropFile(page, 'small.safetensors', await encodeModel(model));
      // The page encodes its current face again on the new checkpoint, then the card.
      await waitFor(page, 'encodes', before + 1);
      expect(await page.evaluate(() => document.body.dataset.preset)).toBe('small');
      await page.setInputFiles('#image-file', imagePath);
      await waitFor(page, 'encodes', before + 2);
      const shown = await page.evaluate(() => JSON.parse(document.getElementById('latents')!.dataset.mu!) as number[]);
      const images = loadImages([imagePath], model.config.imageSize, ctx.engine);
      const { mu, logvar } = noGrad(() => model.encode(images));
      const want = await mu.data();
      [images, mu, logvar].forEach((t) => t.dispose());
      model.dispose();
      expectClose(shown, want, MU_ATOL, MU_RTOL, 'small preset: mu shown by the page vs Node');
    } finally {
      await page.close();
    }
  });

  it('shows an error for a dropped bad checkpoint or image, and keeps working', async () => {
    const page = await browser!.newPage();
    const error = () => page.evaluate(() => document.body.dataset.error ?? null);
    try {
      await page.goto(server!.url);
      await waitFor(page, 'encodes', 1);
      const good = new Uint8Array(readFileSync(checkpoint));
      const cases: [string, Uint8Array, RegExp][] = [
        ['cut.safetensors', good.subarray(0, 100), /cut\.safetensors: not a valid safetensors file .*truncated/],
        ['nan.safetensors', (() => {
          const bad = good.slice();
          new DataView(bad.buffer).setFloat32(bad.length - 4, NaN, true); // the last weight
          return bad;
        })(), /nan\.safetensors: .* holds NaN/],
        ['noise.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6, 7, 8]), /noise\.png: this browser cannot decode it/],
        ['huge.png', hugeClaim(new Uint8Array(readFileSync(imagePath))), /huge\.png: this browser cannot decode it/],
      ];
      for (const [name, bytes, message] of cases) {
        await dropFile(page, name, bytes);
        await page.waitForFunction((n) => (document.body.dataset.error ?? '').startsWith(`${n}: `), name, { timeout: 30_000 });
        expect(await error()).toMatch(message);
        expect(await page.isVisible('#error')).toBe(true);
      }
      // Still working: the checkpoint from the start is loaded, and a good image encodes.
      expect(await page.evaluate(() => document.body.dataset.preset)).toBe('tiny');
      const encodes = await counter(page, 'encodes');
      await dropFile(page, 'card.png', new Uint8Array(readFileSync(imagePath)));
      await waitFor(page, 'encodes', encodes + 1);
      expect(await error()).toBeNull();
      expect(await page.isVisible('#error')).toBe(false);
    } finally {
      await page.close();
    }
  });

  it('says clearly when the browser has no WebGPU', async () => {
    const page = await browser!.newPage();
    try {
      await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
      await page.goto(server!.url);
      await page.waitForFunction(() => document.body.dataset.state === 'no-webgpu');
      expect(await page.isVisible('#no-webgpu')).toBe(true);
      expect(await page.textContent('#no-webgpu')).toMatch(/This browser has no WebGPU/);
    } finally {
      await page.close();
    }
  });
});
