// `npm run encode -- --checkpoint FILE --images A.png B.png ... [--out z.json]`
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { noGrad } from '../autograd/tape.js';
import { checkpointFlag, imageFiles, loadImages, openCheckpoint } from './common.js';
import { runCommand, UserError } from './errors.js';
import { outputFile } from './flags.js';

const HELP = `Encode images with a trained DC-IGN: prints (or writes) mu and logvar of each.

usage: npm run encode -- [--checkpoint FILE] --images A.png [B.jpg ...] [--out z.json]

--checkpoint takes a model.safetensors or its run folder (default: the shipped
models/small.safetensors); --images takes files or folders (their
PNG and JPEG files, sorted by name).

Images are converted to grayscale, centre-cropped and resized to the model's input size.
z1 is the face azimuth, z2 the elevation, z3 the light direction, z4.. the identity.

example:
  npm run encode -- --checkpoint runs/small/model.safetensors --images face1.png face2.png --out z.json`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      checkpoint: { type: 'string' },
      images: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(HELP);
  // Every path is checked before the adapter starts.
  const given = [...(values.images ?? []), ...positionals];
  if (!given.length) throw new UserError('give at least one image: --images A.png [B.png ...]');
  const paths = imageFiles('--images', given);
  const checkpoint = checkpointFlag(values.checkpoint);
  if (values.out) outputFile('--out', values.out);
  const { engine, model, metadata } = await openCheckpoint(checkpoint);
  const images = loadImages(paths, model.config.imageSize, engine);
  const { mu, logvar } = noGrad(() => model.encode(images));
  const [m, v] = await Promise.all([mu.data(), logvar.data()]);
  const L = model.config.latents;
  const result = {
    checkpoint,
    preset: model.config.preset,
    step: Number(metadata.step ?? 0),
    images: paths.map((path, i) => ({
      path,
      mu: Array.from(m.subarray(i * L, (i + 1) * L)),
      logvar: Array.from(v.subarray(i * L, (i + 1) * L)),
    })),
  };
  if (values.out) {
    writeFileSync(values.out, JSON.stringify(result, null, 2));
    console.log(`wrote ${values.out}: mu and logvar (${L} latents) of ${paths.length} image(s)`);
  } else {
    for (const r of result.images) {
      const fmt = (a: number[]) => a.map((x) => x.toFixed(4)).join(' ');
      console.log(`${r.path}\n  mu     ${fmt(r.mu)}\n  logvar ${fmt(r.logvar)}`);
    }
  }
  engine.destroy();
}

runCommand(main);
