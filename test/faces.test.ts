// Training data: the face renderer and batch sampler. Images are small (48 px) and few; the
// first render compiles the shader (seconds on lavapipe, cached by Mesa afterwards).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import {
  BATCH_TYPES, renderBatch, sampleBatch, testSet, trainingBatch, type BatchType,
} from '../src/data/batches.js';
import { AZIMUTH_RANGE, ELEVATION_RANGE, LIGHT_RANGE, SHAPE_DIM, TEXTURE_DIM, type FaceParams } from '../src/data/face-model.js';
import { MAX_FACES_PER_CALL, renderFaces } from '../src/data/render.js';
import { contactSheet, toModelImage } from '../src/data/images.js';
import { loadImageFolder } from '../src/data/images-node.js';

useEngine();
const S = 48;
// "Face" pixels: the darkest lit or shadowed skin stays well above this (ambient x albedo).
const MASK = 0.02;

async function render(params: FaceParams[], size = S): Promise<Float32Array[]> {
  const t = renderFaces(params, { size });
  expect(t.shape).toEqual([params.length, 1, size, size]);
  const d = await t.data();
  t.dispose();
  return params.map((_, i) => d.slice(i * size * size, (i + 1) * size * size));
}

const mask = (img: Float32Array) => Array.from(img, (v) => v > MASK);
const maskDiff = (a: Float32Array, b: Float32Array) => mask(a).filter((m, i) => m !== b[i]! > MASK).length;
const meanAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
const face = (over: Partial<FaceParams> = {}): FaceParams => ({
  azimuth: 0.4, elevation: 0.1, light: 0.5,
  shape: sampleBatch({ type: 'shape', seed: 5, count: 1 })[0]!.shape,
  texture: sampleBatch({ type: 'shape', seed: 5, count: 1 })[0]!.texture,
  ...over,
});

describe('face batches', () => {
  it('same seed gives identical parameters and byte-identical images', async () => {
    const a = renderBatch({ type: 'az', seed: 42, count: 4 }, { size: S });
    const b = renderBatch({ type: 'az', seed: 42, count: 4 }, { size: S });
    const c = renderBatch({ type: 'az', seed: 43, count: 4 }, { size: S });
    expect(b.params).toEqual(a.params);
    expect(c.params).not.toEqual(a.params);
    const [da, db, dc] = [await a.images.data(), await b.images.data(), await c.images.data()];
    expect(Buffer.from(db.buffer).equals(Buffer.from(da.buffer))).toBe(true);
    expect(Buffer.from(dc.buffer).equals(Buffer.from(da.buffer))).toBe(false);
    [a, b, c].forEach((x) => x.images.dispose());
    expect(sampleBatch({ type: 'random', seed: 7 })).toEqual(sampleBatch({ type: 'random', seed: 7 }));
  });

  it('each batch type varies only its own variables', () => {
    const sweeps: [BatchType, keyof FaceParams, readonly [number, number]][] = [
      ['az', 'azimuth', AZIMUTH_RANGE],
      ['el', 'elevation', ELEVATION_RANGE],
      ['light', 'light', LIGHT_RANGE],
    ];
    for (const [type, key, [lo, hi]] of sweeps) {
      const p = sampleBatch({ type, seed: 3 });
      expect(p).toHaveLength(20);
      const v = p.map((x) => x[key] as number);
      // Stratified: increasing, one value in each twentieth of the range.
      v.forEach((x, i) => {
        expect(x).toBeGreaterThanOrEqual(lo + ((hi - lo) * i) / 20);
        expect(x).toBeLessThanOrEqual(lo + ((hi - lo) * (i + 1)) / 20);
      });
      for (const other of ['azimuth', 'elevation', 'light', 'shape', 'texture'] as const) {
        if (other !== key) p.forEach((x) => expect(x[other]).toEqual(p[0]![other]));
      }
    }
    const shape = sampleBatch({ type: 'shape', seed: 3, count: 5 });
    shape.forEach((x) => {
      expect([x.azimuth, x.elevation, x.light]).toEqual([shape[0]!.azimuth, shape[0]!.elevation, shape[0]!.light]);
      expect(x.shape).toHaveLength(SHAPE_DIM);
      expect(x.texture).toHaveLength(TEXTURE_DIM);
    });
    expect(new Set(shape.map((x) => x.shape[0])).size).toBe(5);
    const random = sampleBatch({ type: 'random', seed: 3, count: 5 });
    expect(new Set(random.map((x) => x.azimuth)).size).toBe(5);
    expect(new Set(random.map((x) => x.texture[0])).size).toBe(5);
  });

  it('a random share mixes random batches into the clamped stream and leaves the rest of it unchanged', () => {
    const plain = Array.from({ length: 400 }, (_, i) => trainingBatch(9, i));
    expect(Array.from({ length: 400 }, (_, i) => trainingBatch(9, i, { randomShare: 0 }))).toEqual(plain);
    const mixed = Array.from({ length: 400 }, (_, i) => trainingBatch(9, i, { randomShare: 0.5 }));
    const random = mixed.filter((b) => b.type === 'random').length;
    expect(random).toBeGreaterThan(160);
    expect(random).toBeLessThan(240);
    // A batch that is not made random keeps the type and seed it had without the option.
    mixed.forEach((b, i) => b.type !== 'random' && expect(b).toEqual(plain[i]));
    expect(Array.from({ length: 20 }, (_, i) => trainingBatch(9, i, { randomShare: 1 }).type)).toEqual(Array(20).fill('random'));
    expect(() => trainingBatch(9, 0, { randomShare: 1.5 })).toThrow(/randomShare must be in \[0, 1\], got 1.5/);
  });

  it('training stream and held-out set are deterministic and disjoint', () => {
    const train = Array.from({ length: 200 }, (_, i) => trainingBatch(9, i));
    expect(train).toEqual(Array.from({ length: 200 }, (_, i) => trainingBatch(9, i)));
    const counts = Object.fromEntries(BATCH_TYPES.map((t) => [t, train.filter((b) => b.type === t).length]));
    for (const t of ['az', 'el', 'light', 'shape']) expect(counts[t]).toBeGreaterThan(25);
    expect(counts.random).toBe(0);
    expect(Array.from({ length: 50 }, (_, i) => trainingBatch(9, i, { shapeBias: 0 }).type)).not.toContain('shape');
    expect(trainingBatch(9, 0, { mode: 'random' }).type).toBe('random');
    // Held out from the training stream of the same seed: the case the separate splits exist for.
    const test = testSet(9, { batchesPerType: 3 });
    expect(test).toHaveLength(3 * BATCH_TYPES.length);
    expect(test).toEqual(testSet(9, { batchesPerType: 3 }));
    const trainSeeds = new Set(train.map((b) => b.seed));
    expect(test.some((b) => trainSeeds.has(b.seed))).toBe(false);
    expect(() => sampleBatch({ type: 'tilt' as BatchType, seed: 1 })).toThrow(/unknown batch type "tilt"/);
  });
});

describe('rendered faces', () => {
  it('changing only the light keeps the silhouette and changes the shading', async () => {
    const [a, b, c] = await render([face({ light: -1.0 }), face({ light: 0.9 }), face({ light: 0.2, azimuth: -1.2 })]);
    const [d] = await render([face({ light: 1.4, azimuth: -1.2 })]);
    expect(maskDiff(a!, b!)).toBeLessThanOrEqual(2);
    expect(maskDiff(c!, d!)).toBeLessThanOrEqual(2);
    expect(meanAbsDiff(a!, b!)).toBeGreaterThan(0.03);
    expect(meanAbsDiff(c!, d!)).toBeGreaterThan(0.03);
  });

  it('changing only the azimuth changes the silhouette', async () => {
    const [a, b, c] = await render([face({ azimuth: 0 }), face({ azimuth: 0.5 }), face({ azimuth: 1.5 })]);
    const area = mask(a!).filter(Boolean).length;
    expect(maskDiff(a!, b!)).toBeGreaterThan(0.04 * area);
    expect(maskDiff(a!, c!)).toBeGreaterThan(0.15 * area);
  });

  it('a face at (azimuth a, light l) is the mirror image of the face at (-a, -l)', async () => {
    for (const [az, light, el] of [[0.7, 0.6, 0.2], [-1.3, 1.1, -0.5], [0.2, -1.4, 0.4]] as const) {
      const [a, m] = await render([face({ azimuth: az, light, elevation: el }), face({ azimuth: -az, light: -light, elevation: el })]);
      let sum = 0;
      let max = 0;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const d = Math.abs(a![y * S + x]! - m![y * S + (S - 1 - x)]!);
          sum += d;
          max = Math.max(max, d);
        }
      }
      expect(sum / (S * S)).toBeLessThan(1e-3);
      expect(max).toBeLessThan(0.05);
      expect(meanAbsDiff(a!, m!)).toBeGreaterThan(0.02); // the pose is not itself symmetric
    }
  });

  it('changing identity at a fixed pose changes the image measurably', async () => {
    const ids = sampleBatch({ type: 'shape', seed: 8, count: 3 });
    const imgs = await render(ids.map((p) => ({ ...p, azimuth: 0.3, elevation: 0, light: 0.4 })));
    const shapeOnly = await render([{ ...ids[0]!, texture: ids[1]!.texture, azimuth: 0.3, elevation: 0, light: 0.4 }]);
    expect(meanAbsDiff(imgs[0]!, imgs[1]!)).toBeGreaterThan(0.02);
    expect(meanAbsDiff(imgs[1]!, imgs[2]!)).toBeGreaterThan(0.02);
    expect(maskDiff(imgs[0]!, imgs[1]!)).toBeGreaterThan(10); // the shape, not only the albedo
    expect(meanAbsDiff(imgs[1]!, shapeOnly[0]!)).toBeGreaterThan(0.01); // shape alone changes it
  });

  it('every image has its face centred, inside the frame, and values in [0, 1]', async () => {
    const extremes: FaceParams[] = [];
    for (const azimuth of AZIMUTH_RANGE) for (const elevation of ELEVATION_RANGE) extremes.push(face({ azimuth, elevation, light: -azimuth }));
    const params = [...BATCH_TYPES.flatMap((type) => sampleBatch({ type, seed: 21, count: 5 })), ...extremes];
    const imgs = await render(params);
    imgs.forEach((img, k) => {
      let n = 0;
      let cx = 0;
      let cy = 0;
      let border = 0;
      let outside = 0;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const v = img[y * S + x]!;
          if (!(v >= 0 && v <= 1)) outside++;
          if (x === 0 || y === 0 || x === S - 1 || y === S - 1) border = Math.max(border, v);
          if (v > MASK) {
            n++;
            cx += x + 0.5;
            cy += y + 0.5;
          }
        }
      }
      expect(outside, `image ${k}: pixels outside [0, 1]`).toBe(0);
      expect(border, `image ${k} touches the frame`).toBeLessThan(MASK);
      expect(n / (S * S), `image ${k} face area`).toBeGreaterThan(0.25);
      expect(Math.abs(cx / n / S - 0.5), `image ${k} centroid x`).toBeLessThan(0.12);
      expect(Math.abs(cy / n / S - 0.5), `image ${k} centroid y`).toBeLessThan(0.12);
    });
  });

  it('refuses more faces in one call than the driver can bind, before recording anything', () => {
    const params = Array.from({ length: MAX_FACES_PER_CALL + 1 }, () => face({}));
    expect(() => renderFaces(params, { size: 8 })).toThrow(`renderFaces: ${MAX_FACES_PER_CALL + 1} images of 8x8 in one call, at most ${MAX_FACES_PER_CALL}`);
    // 128 MiB bindings (lavapipe, most adapters) hold 8 images of 2048x2048.
    expect(() => renderFaces(params.slice(0, 9), { size: 2048 })).toThrow(/9 images of 2048x2048 in one call, at most 8 on/);
  });
});

describe('images', () => {
  it('toModelImage converts to gray, crops the centre square and resizes by area', () => {
    // 6x4 RGB: the centre 4x4 has a white left half and a black right half, the margins red.
    const w = 6;
    const h = 4;
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        if (x === 0 || x === 5) rgb[o] = 255;
        else if (x < 3) rgb.fill(255, o, o + 3);
      }
    }
    const out = toModelImage({ data: rgb, width: w, height: h, channels: 3 }, 2);
    expect(Array.from(out, (v) => +v.toFixed(5))).toEqual([1, 0, 1, 0]);
    const up = toModelImage({ data: new Uint8Array([0, 255, 255, 0]), width: 2, height: 2, channels: 1 }, 4);
    expect(Array.from(up.subarray(0, 4))).toEqual([0, 0, 1, 1]);
    const third = toModelImage({ data: new Uint8Array([0, 0, 255, 0, 0, 255, 0, 0, 255]), width: 3, height: 3, channels: 1 }, 2);
    expect(third[0]).toBeCloseTo(0, 5);
    expect(third[1]).toBeCloseTo(2 / 3, 5);
    const alpha = toModelImage({ data: new Uint8Array([255, 255, 255, 0]), width: 1, height: 1, channels: 4 }, 1);
    expect(alpha[0]).toBe(0);
    expect(() => toModelImage({ data: new Uint8Array(3), width: 2, height: 2, channels: 1 }, 2)).toThrow(/do not hold/);
    const sheet = contactSheet(new Float32Array([1, 1, 1, 1, 0, 0, 0, 0]), 2, 2, 2, 1, 0.5);
    expect([sheet.width, sheet.height]).toEqual([7, 4]);
    expect(Array.from(sheet.data.subarray(7, 14))).toEqual([0.5, 1, 1, 0.5, 0, 0, 0.5]);
  });

  it('loadImageFolder decodes PNG and JPEG files into a tensor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faces-'));
    try {
      const png = new PNG({ width: 8, height: 4 });
      for (let i = 0; i < 32; i++) png.data.set([200, 200, 200, 255], i * 4);
      writeFileSync(join(dir, 'a.png'), PNG.sync.write(png));
      const rgba = new Uint8Array(16 * 16 * 4).fill(100);
      writeFileSync(join(dir, 'b.jpg'), jpeg.encode({ data: rgba, width: 16, height: 16 }, 95).data);
      writeFileSync(join(dir, 'notes.txt'), 'not an image');
      const { names, images } = loadImageFolder(dir, 4);
      expect(names).toEqual(['a.png', 'b.jpg']);
      expect(images.shape).toEqual([2, 1, 4, 4]);
      const d = await images.data();
      images.dispose();
      d.subarray(0, 16).forEach((v) => expect(v).toBeCloseTo(200 / 255, 5));
      d.subarray(16).forEach((v) => expect(v).toBeCloseTo(100 / 255, 1));
      writeFileSync(join(dir, 'c.png'), 'broken');
      expect(() => loadImageFolder(dir, 4)).toThrow(/c\.png: not a PNG or JPEG/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
