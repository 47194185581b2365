// Nearest-neighbour upsampling (NCHW) by an integer factor: Torch's SpatialUpSamplingNearest,
// the "unpooling" of the DC-IGN decoder.
import source from '../../shaders/upsample.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { bindRange, checkF32, opError, planeChunks } from './util.js';

function run(src: Tensor, dst: Tensor, H: number, W: number, f: number, backward: boolean): void {
  const engine = src.engine;
  const kernel = engine.kernel({ name: 'upsample', wgsl: source, defines: { BACKWARD: backward } });
  const inPlane = H * W;
  const outPlane = inPlane * f * f;
  const planes = dst.size / (backward ? inPlane : outPlane);
  const op = backward ? 'upsampleNearest.grad' : 'upsampleNearest';
  for (const [p0, count] of planeChunks(op, engine, planes, inPlane, outPlane)) {
    const a = bindRange(engine, src, p0 * (backward ? outPlane : inPlane), count * (backward ? outPlane : inPlane));
    const b = bindRange(engine, dst, p0 * (backward ? inPlane : outPlane), count * (backward ? inPlane : outPlane));
    const [inBase, outBase] = backward ? [b.base, a.base] : [a.base, b.base];
    const n = count * (backward ? inPlane : outPlane);
    engine.dispatch(kernel, {
      uniforms: new Uniforms(32).u32(n, inBase, outBase, H, W, f, 0, 0).build(),
      bindings: [a.binding, b.binding],
      workgroups: grid1d(n, 256),
    });
  }
}

/** Sums each factor x factor block of g: the gradient of upsampleNearest (no record). */
export function upsampleNearestBackward(g: Tensor, factor: number): Tensor {
  checkF32('upsampleNearest.grad', 'g', g);
  if (g.rank !== 4 || g.shape[2]! % factor || g.shape[3]! % factor) {
    throw opError('upsampleNearest.grad', `gradient is not NCHW with sides divisible by ${factor}`, ['g', g]);
  }
  const [N, C, OH, OW] = g.shape as [number, number, number, number];
  const gi = Tensor.empty([N, C, OH / factor, OW / factor], 'f32', g.engine);
  run(g, gi, OH / factor, OW / factor, factor, true);
  return gi;
}

/** Repeats every pixel of an NCHW tensor into a factor x factor block: [N,C,H,W] -> [N,C,fH,fW]. */
export function upsampleNearest(x: Tensor, factor = 2): Tensor {
  checkF32('upsampleNearest', 'x', x);
  if (!Number.isInteger(factor) || factor < 1) throw opError('upsampleNearest', `factor must be a positive integer, got ${factor}`, ['x', x]);
  if (x.rank !== 4) throw opError('upsampleNearest', 'x must be NCHW (rank 4)', ['x', x]);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const out = Tensor.empty([N, C, H * factor, W * factor], 'f32', x.engine);
  run(x, out, H, W, factor, false);
  return record(out, 'upsampleNearest', [x], (g) => [upsampleNearestBackward(g, factor)]);
}
