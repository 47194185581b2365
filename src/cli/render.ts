// `npm run render -- --checkpoint FILE --image A.png --set z1=0.8 --out B.png`
import { parseArgs } from 'node:util';
import { extname } from 'node:path';
import { noGrad } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { writeGrayJpeg, writeGrayPng } from '../data/images-node.js';
import { checkpointFlag, loadImages, openCheckpoint } from './common.js';
import { runCommand, UserError } from './errors.js';
import { inputFile, outputFile } from './flags.js';

const HELP = `Re-render an image through a trained DC-IGN with chosen latents changed (the paper's figs. 8 and 10).

usage: npm run render -- [--checkpoint FILE] --image A.png [--set zK=V ...] [--add zK=D ...] --out B.png

  --checkpoint FILE  a model.safetensors written by npm run train, or its run folder
                     (default: the shipped models/small.safetensors)
  --image FILE       one PNG or JPEG
  --set zK=V         set latent K (1 azimuth, 2 elevation, 3 light, 4.. identity) to V, |V| <= 100
  --add zK=D         add D to latent K (K=D without the z works too, for both)
  --out FILE         a .png or .jpg file to write
The other latents keep the image's posterior mean. Without --set/--add it writes the plain reconstruction.

example:
  npm run render -- --checkpoint runs/small/model.safetensors --image face.png --set z1=1.5 --out turned.png`;

// The latents live around N(0, 1); far beyond this the decoder's sums overflow f32.
const LATENT_LIMIT = 100;

function edits(list: string[] | undefined, flag: string, latents: number): [number, number][] {
  return (list ?? []).map((e) => {
    const m = /^z?(\d+)=([-+]?[\d.eE+-]+)$/.exec(e);
    const i = m ? Number(m[1]) : NaN;
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isInteger(i) || i < 1 || i > latents || !Number.isFinite(v) || Math.abs(v) > LATENT_LIMIT) {
      throw new UserError(`${flag} ${e}: expected zK=V with K in 1..${latents} and V a number in [-${LATENT_LIMIT}, ${LATENT_LIMIT}]`);
    }
    return [i - 1, v];
  });
}

const WRITERS: Record<string, typeof writeGrayPng> = { '.png': writeGrayPng, '.jpg': writeGrayJpeg, '.jpeg': writeGrayJpeg };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: 'string' },
      image: { type: 'string', multiple: true },
      set: { type: 'string', multiple: true },
      add: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(HELP);
  // Every flag is checked before the adapter starts.
  if (!values.image) throw new UserError('--image A.png is required');
  if (values.image.length > 1) throw new UserError(`--image takes one image, got ${values.image.length}; render them one at a time`);
  const image = inputFile('--image', values.image[0]!, 'one PNG or JPEG file');
  if (!values.out) throw new UserError('--out B.png is required');
  const write = WRITERS[extname(values.out).toLowerCase()];
  if (!write) throw new UserError(`--out ${values.out}: give a .png or .jpg file name`);
  outputFile('--out', values.out);
  const checkpoint = checkpointFlag(values.checkpoint);
  const { engine, model } = await openCheckpoint(checkpoint);
  const L = model.config.latents;
  const sets = edits(values.set, '--set', L);
  const adds = edits(values.add, '--add', L);
  const images = loadImages([image], model.config.imageSize, engine, '--image');
  const { mu } = noGrad(() => model.encode(images));
  const z = await mu.data();
  for (const [i, v] of sets) z[i] = v;
  for (const [i, d] of adds) z[i]! += d;
  const out = noGrad(() => model.decode(Tensor.fromData(z, [1, L], 'f32', engine)));
  const S = model.config.imageSize;
  write(values.out, { data: await out.data(), width: S, height: S });
  console.log(`wrote ${values.out} (${S}x${S}); z1..z3 = ${Array.from(z.subarray(0, 3), (x) => x.toFixed(3)).join(', ')}`);
  engine.destroy();
}

runCommand(main);
