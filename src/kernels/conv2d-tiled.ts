// The convolution's workgroup-tiled variant (shaders/conv2d-tiled.wgsl): shapes to tiles and
// dispatches. conv2d.ts picks it or the register-blocked variant per op and hands it the batch
// windows, so binding and chunking stay there.
import source from '../../shaders/conv2d-tiled.wgsl';
import activationSource from '../../shaders/activation.wgsl';
import { Uniforms, type Binding, type Engine } from '../gpu/engine.js';
import { opError, wholeBinding } from './util.js';
import { activationDefines } from './elementwise.js';
import type { Conv2dGeometry, ConvPass, ConvRun, DwRun, Window } from './conv2d-pass.js';

// K slice per barrier: 8 keeps the largest tile's operands (8 x (16 + 256) floats, see tile())
// under 9 KiB, well inside WebGPU's default 16 KiB of workgroup memory.
const TK = 8;

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(n, 1)));

/**
 * TM output rows x TN columns per workgroup, 4 x 4 per lane: 64 x 64 (256 lanes) for wide
 * outputs; fewer rows (down to 4, the decoder's last layer) take more columns rather than idle
 * lanes, and few columns (dw of a 1-channel 5x5 layer: 25) a narrower tile.
 */
export function tile(M: number, NC: number): { TM: number; TN: number } {
  const TM = Math.min(64, Math.max(4, pow2(M)));
  const TN = Math.min(256, 4096 / TM, Math.max(16, pow2(NC)));
  return { TM, TN };
}

function tiledKernel(engine: Engine, kind: 'FWD' | 'DW', TM: number, TN: number, defines: Record<string, boolean> = {}) {
  return engine.kernel({
    name: 'conv2d-tiled',
    wgsl: source + (kind === 'FWD' ? activationSource : ''),
    defines: { [kind]: true, TM, TN, TK, RM: 4, ...defines },
  });
}

/** The tiled kernel for one forward or input-gradient pass; null when it has no output pixels. */
export function tiledConv(engine: Engine, p: ConvPass): ConvRun | null {
  const plane = p.tilesY * p.tilesX;
  if (plane === 0) return null;
  const { TM, TN } = tile(p.M, p.N * plane);
  const maxWg = engine.limits.maxComputeWorkgroupsPerDimension;
  const groupsY = Math.ceil(p.M / TM);
  const maxImages = Math.floor((maxWg * TN) / plane);
  if (maxImages < 1 || groupsY > maxWg) throw opError(p.op, `an output of ${p.M} channels of ${p.tilesY}x${p.tilesX} pixels needs too many workgroups`, ['x', p.input]);
  const kernel = tiledKernel(engine, 'FWD', TM, TN, { SHUFFLE: !!p.shuffle, ...activationDefines(p.op, p.activation) });
  const outChannels = p.shuffle ? p.M / 4 : p.M;
  const inImg = p.K * p.inH * p.inW;
  const outPlane = p.outH * p.outW;
  return {
    maxImages,
    dispatch(images: number, xin: Window, yout: Window) {
      const NC = images * plane;
      const uniforms = new Uniforms(128)
        .u32(p.M, NC, p.K * p.taps * p.kwTaps, p.taps, Math.max(p.kwTaps, 1), p.inH, p.inW, inImg, xin.base, p.tilesX, plane, p.sy, p.sx)
        .i32(p.padY, p.padX)
        .u32(p.wM, p.wK, p.w0)
        .i32(p.wRow, p.wCol)
        .u32(outPlane, p.outW, outChannels * outPlane, yout.base, p.oyBase, p.oyStep, p.oxBase, p.oxStep, p.bias ? 1 : 0, outChannels)
        .build();
      // Without a bias the weights stand in for it (never read): one pipeline serves both cases.
      const bindings: Binding[] = [xin.binding, wholeBinding(p.weights), wholeBinding(p.bias ?? p.weights), yout.binding];
      engine.dispatch(kernel, { uniforms, bindings, workgroups: [Math.ceil(NC / TN), groupsY, 1] });
    },
  };
}

/**
 * The tiled weight gradient: a GEMM of dy (O rows) with x gathered (C*kh*kw columns), and with a
 * bias one more column of ones, whose results are db.
 */
export function tiledDw(op: string, engine: Engine, g: Conv2dGeometry, withBias: boolean): DwRun {
  const NC = g.C * g.kh * g.kw;
  const cols = NC + (withBias ? 1 : 0);
  const { TM, TN } = tile(g.O, cols);
  const groupsX = Math.ceil(cols / TN);
  const groupsY = Math.ceil(g.O / TM);
  const maxWg = engine.limits.maxComputeWorkgroupsPerDimension;
  if (groupsX > maxWg || groupsY > maxWg) throw opError(op, 'too many channels for one dispatch', ['x', [g.N, g.C, g.H, g.W]], ['w', [g.O, g.C, g.kh, g.kw]]);
  const kernel = tiledKernel(engine, 'DW', TM, TN, { DB_LANE: withBias });
  return {
    groups: groupsX * groupsY,
    dispatch(x: Window, dy: Window, targets: Binding[], rows: number, rowsPerSeg: number, segs: number, segBase: number) {
      const uniforms = new Uniforms(96)
        .u32(g.O, cols, NC, g.C, g.H, g.W, g.C * g.H * g.W, x.base, g.Ho, g.Wo, g.O * g.Ho * g.Wo, dy.base, g.stride)
        .i32(g.padTop, g.padLeft)
        .u32(g.kh, g.kw, rows, rowsPerSeg, g.O * NC, g.O, segBase)
        .build();
      engine.dispatch(kernel, { uniforms, bindings: [x.binding, dy.binding, ...targets], workgroups: [groupsX, groupsY, segs] });
    },
  };
}
