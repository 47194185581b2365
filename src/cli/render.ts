// `npm run render -- --checkpoint FILE --image A.png --set 1=0.8 --out B.png`
import { parseArgs } from 'node:util';
import { noGrad } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { writeGrayPng } from '../data/images-node.js';
import { fail, loadImages, openCheckpoint } from './common.js';

const HELP = `Re-render an image through a trained DC-IGN with chosen latents changed (the paper's figs. 8 and 10).

usage: npm run render -- --checkpoint FILE --image A.png [--set I=V ...] [--add I=D ...] --out B.png

  --set I=V   set latent I (1-based: 1 azimuth, 2 elevation, 3 light, 4.. identity) to V
  --add I=D   add D to latent I
The other latents keep the image's posterior mean. Without --set/--add it writes the plain reconstruction.

example:
  npm run render -- --checkpoint runs/small/model.safetensors --image face.png --set 1=1.5 --out turned.png`;

function edits(list: string[] | undefined, flag: string, latents: number): [number, number][] {
  return (list ?? []).map((e) => {
    const m = /^(\d+)=([-+]?[\d.eE+-]+)$/.exec(e);
    const i = m ? Number(m[1]) : NaN;
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isInteger(i) || i < 1 || i > latents || !Number.isFinite(v)) {
      throw new Error(`${flag} ${e}: expected I=V with I in 1..${latents} and V a number`);
    }
    return [i - 1, v];
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: 'string' },
      image: { type: 'string' },
      set: { type: 'string', multiple: true },
      add: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(HELP);
  if (!values.image) throw new Error('--image A.png is required');
  if (!values.out) throw new Error('--out B.png is required');
  const { engine, model } = await openCheckpoint(values.checkpoint);
  const L = model.config.latents;
  const sets = edits(values.set, '--set', L);
  const adds = edits(values.add, '--add', L);
  const images = loadImages([values.image], model.config.imageSize, engine);
  const { mu } = noGrad(() => model.encode(images));
  const z = await mu.data();
  for (const [i, v] of sets) z[i] = v;
  for (const [i, d] of adds) z[i]! += d;
  const out = noGrad(() => model.decode(Tensor.fromData(z, [1, L], 'f32', engine)));
  const S = model.config.imageSize;
  writeGrayPng(values.out, { data: await out.data(), width: S, height: S });
  console.log(`wrote ${values.out} (${S}x${S}); z1..z3 = ${Array.from(z.subarray(0, 3), (x) => x.toFixed(3)).join(', ')}`);
  engine.destroy();
}

main().catch(fail);
