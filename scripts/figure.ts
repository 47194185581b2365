// The README's figure, as the paper's figures 8 and 10 show a trained decoder: held-out faces
// re-rendered while one latent sweeps and the others keep the face's own code. Rows 1..F: a face
// (its input first), z1 swept; the last row: the first face, z3 swept. Each latent sweeps the
// range of its posterior mean over a held-out batch in which its variable alone changes, so the
// sweep spans what the encoder gives the variable's whole range.
//   node scripts/run.mjs scripts/figure.ts -- --checkpoint models/small.safetensors --out docs/figure.png
import { parseArgs } from 'node:util';
import { initEngine, noGrad, Tensor, tidy } from '../src/node.js';
import { readModelFile } from '../src/train/state.js';
import { renderBatch, testSet, type BatchType } from '../src/data/batches.js';
import { contactSheet } from '../src/data/images.js';
import { writeGrayPng } from '../src/data/images-node.js';
import type { Dcign } from '../src/model/dcign.js';

const { values: a } = parseArgs({
  options: {
    checkpoint: { type: 'string', default: 'models/small.safetensors' },
    out: { type: 'string', default: 'docs/figure.png' },
    faces: { type: 'string', default: '5' },
    steps: { type: 'string', default: '9' },
    seed: { type: 'string', default: '0' },
  },
});
const faces = Number(a.faces);
const steps = Number(a.steps);
const engine = await initEngine();
const { model } = readModelFile(a.checkpoint!, engine);
const S = model.config.imageSize;
const L = model.config.latents;
const px = S * S;

async function posteriorMeans(m: Dcign, images: Tensor): Promise<Float32Array> {
  const mu = noGrad(() => tidy(() => m.encode(images).mu));
  const out = await mu.data();
  mu.dispose();
  return out;
}

/** Held-out images of one batch type (the evaluation's stream, disjoint from training). */
function heldOut(type: BatchType): Tensor {
  return renderBatch(testSet(Number(a.seed), { batchesPerType: 1, types: [type] })[0]!, { size: S }, engine).images;
}

/** [lo, hi] of latent j's posterior mean over a held-out batch of `type`. */
async function range(type: BatchType, j: number): Promise<[number, number]> {
  const images = heldOut(type);
  const mu = await posteriorMeans(model, images);
  images.dispose();
  const col = Array.from({ length: mu.length / L }, (_, i) => mu[i * L + j]!);
  return [Math.min(...col), Math.max(...col)];
}

const shapes = heldOut('shape');
const inputs = (await shapes.data()).slice(0, faces * px);
const codes = await posteriorMeans(model, shapes);
shapes.dispose();
const rows: { face: number; latent: number; span: [number, number] }[] = [];
const z1 = await range('az', 0);
for (let f = 0; f < faces; f++) rows.push({ face: f, latent: 0, span: z1 });
rows.push({ face: 0, latent: 2, span: await range('light', 2) });

const z = new Float32Array(rows.length * steps * L);
rows.forEach((r, k) => {
  for (let t = 0; t < steps; t++) {
    const o = (k * steps + t) * L;
    z.set(codes.subarray(r.face * L, (r.face + 1) * L), o);
    z[o + r.latent] = r.span[0] + ((r.span[1] - r.span[0]) * t) / (steps - 1);
  }
});
const decoded = noGrad(() => tidy(() => model.decode(Tensor.fromData(z, [rows.length * steps, L], 'f32', engine))));
const images = await decoded.data();
decoded.dispose();
const sheet = new Float32Array(rows.length * (steps + 1) * px);
rows.forEach((r, k) => {
  sheet.set(inputs.subarray(r.face * px, (r.face + 1) * px), k * (steps + 1) * px);
  sheet.set(images.subarray(k * steps * px, (k + 1) * steps * px), (k * (steps + 1) + 1) * px);
});
writeGrayPng(a.out!, contactSheet(sheet, rows.length * (steps + 1), S, steps + 1));
console.log(`wrote ${a.out}: ${faces} faces across z1 [${z1.map((v) => v.toFixed(2)).join(', ')}], face 1 across z3`);
model.dispose();
engine.destroy();
