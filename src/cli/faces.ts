// `npm run faces -- --type az --count 20 --size 150 --seed 1 --out DIR`: renders one batch of
// training faces and writes its images, their ground truth and a contact sheet.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine } from '../node.js';
import { BATCH_TYPES, checkBatchType, renderBatch, type BatchType } from '../data/batches.js';
import { runCommand, UserError } from './errors.js';
import { intFlag, outputFolder } from './flags.js';
import {
  AMBIENT, AZIMUTH_RANGE, ELEVATION_RANGE, LIGHT_ELEVATION, LIGHT_RANGE, SHAPE_DIM, SHAPE_MEANING, TEXTURE_DIM,
  TEXTURE_MEANING,
} from '../data/face-model.js';
import { contactSheet } from '../data/images.js';
import { writeGrayPng } from '../data/images-node.js';

const HELP = `Render a batch of DC-IGN training faces.

Usage: npm run faces -- [options]

  --type TYPE     batch type: ${BATCH_TYPES.join(', ')} (default az)
                    az     one face, elevation and light fixed, azimuth sweeps [-1.5, 1.5]
                    el     elevation sweeps [-0.6, 0.6]
                    light  light azimuth sweeps [-1.5, 1.5]
                    shape  pose and light fixed, identity (shape and texture) varies
                    random every variable random (the paper's section 3.1)
  --count N       images in the batch (default 20)
  --size N        image side in pixels (default 150, the paper's)
  --seed N        batch seed, a non-negative integer (default 1)
  --out DIR       output folder, created if missing (required)
  --columns N     contact sheet columns (default: all images in one row up to 10)
  --no-aa         one sample per pixel (no edge supersampling)
  -h, --help      this text

Writes DIR/face-000.png ..., DIR/params.json (type, seed, size and per-image azimuth,
elevation, light, shape[${SHAPE_DIM}], texture[${TEXTURE_DIM}]) and DIR/sheet.png.`;

async function main(): Promise<void> {
  const args = parseArgs({
    options: {
      type: { type: 'string', default: 'az' },
      count: { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      columns: { type: 'string' },
      'no-aa': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  }).values;
  if (args.help) return void console.log(HELP);
  let type;
  try {
    type = checkBatchType(args.type!);
  } catch (e) {
    throw new UserError(`--type: ${(e as Error).message}`);
  }
  const count = intFlag('count', args.count, 1, 1000) ?? 20;
  const size = intFlag('size', args.size, 8, 1024) ?? 150;
  const seed = intFlag('seed', args.seed, 0) ?? 1;
  const columns = intFlag('columns', args.columns, 1, 1000) ?? Math.min(count, 10);
  if (!args.out) throw new UserError('--out DIR is required');
  const out = outputFolder('--out', args.out);
  await renderFaces({ type, count, size, seed, columns, antialias: !args['no-aa'], out });
}

async function renderFaces(o: { type: BatchType; count: number; size: number; seed: number; columns: number; antialias: boolean; out: string }): Promise<void> {
  const { type, count, size, seed, columns, out } = o;
  const engine = await initEngine();
  try {
    const t0 = performance.now();
    const batch = renderBatch({ type, seed, count }, { size, antialias: o.antialias }, engine);
    const pixels = await batch.images.data();
    const ms = performance.now() - t0;
    batch.images.dispose();
    const digits = Math.max(3, String(count - 1).length);
    const files: string[] = [];
    for (let i = 0; i < count; i++) {
      const file = `face-${String(i).padStart(digits, '0')}.png`;
      writeGrayPng(join(out, file), { data: pixels.subarray(i * size * size, (i + 1) * size * size), width: size, height: size });
      files.push(file);
    }
    writeGrayPng(join(out, 'sheet.png'), contactSheet(pixels, count, size, columns));
    const json = {
      type,
      seed,
      size,
      count,
      ranges: { azimuth: AZIMUTH_RANGE, elevation: ELEVATION_RANGE, light: LIGHT_RANGE },
      lightElevation: LIGHT_ELEVATION,
      ambient: AMBIENT,
      shapeMeaning: SHAPE_MEANING,
      textureMeaning: TEXTURE_MEANING,
      images: batch.params.map((p, i) => ({ file: files[i], ...p })),
    };
    writeFileSync(join(out, 'params.json'), JSON.stringify(json, null, 1) + '\n');
    const images = count === 1 ? 'image' : 'images';
    console.log(`faces: ${count} ${type} ${images} of ${size}x${size} (seed ${seed}) in ${ms.toFixed(0)} ms -> ${out.replace(/\/+$/, '')}/ (sheet.png, params.json)`);
  } finally {
    engine.destroy();
  }
}

runCommand(main);
