// The encoder's convolution, bias, 2x2 max pooling and ReLU in one forward-only dispatch, for
// when nothing records a gradient (conv2dPool takes it where Engine.pooledConv says so). The
// kernel's body is emitted here, fully unrolled over a lane's outputs; the shader's comment says
// why.
import source from '../../shaders/conv2d-pooled.wgsl';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../tensor.js';
import { wholeBinding } from './util.js';
import type { Conv2dGeometry } from './conv2d-pass.js';

// Pooled outputs per lane along a row and output channels per lane: two rows by four columns of
// sixteen channels ran the small encoder's 8 -> 16 and 16 -> 16 layers fastest on SwiftShader
// (2.0 and 2.7 G multiply-adds/s for one by eight, 4.1 and 3.4 for two by sixteen; four by
// sixteen no faster; Chromium 156, 2026-12-07). With constant weights (the first layer, one input
// channel) a lane takes eight columns: 1.10 -> 0.94 ms.
const PXP = 2;
const PXP_CONST = 4;
const OB = 16;
// At most this many weights are read at constant indices ('const'): the unrolled body grows
// with them, and so does its compilation (the small encoder's first layer, 200 weights: 0.2 s).
const CONST_WEIGHTS = 256;

/**
 * Whether conv2dPool may take this kernel for geometry g: stride 1, x and the output each within
 * one binding, and a dispatch within the workgroup limits.
 */
export function pooledConvFits(engine: Engine, g: Conv2dGeometry): boolean {
  // Pooled outputs of one plane: a lane takes at least one, so at most this many lanes.
  const plane = Math.floor(g.Ho / 2) * Math.floor(g.Wo / 2);
  const maxGroups = engine.limits.maxComputeWorkgroupsPerDimension;
  return g.stride === 1 && Math.max(g.N * g.C * g.H * g.W, g.N * g.O * plane) * 4 <= engine.maxBinding && Math.ceil(plane / 64) <= maxGroups && g.N <= maxGroups;
}

interface Plan {
  C: number; H: number; W: number; O: number; KH: number; KW: number; padTop: number; padLeft: number;
  OH: number; OW: number; PXP: number; OB: number;
  /** 'const': weights at constant indices; 'shared': loaded by `lanes` lanes and broadcast; 'each': every lane loads every weight. */
  weights: 'const' | 'shared' | 'each';
  lanes: number;
  relu: boolean;
  bias: boolean;
}

function plan(engine: Engine, g: Conv2dGeometry, relu: boolean, bias: boolean): Plan {
  const OW = Math.floor(g.Wo / 2);
  const T = g.kh * g.kw;
  const weights = g.O <= OB && g.O * g.C * T <= CONST_WEIGHTS ? 'const' : engine.sharedLanes ? 'shared' : 'each';
  return {
    C: g.C, H: g.H, W: g.W, O: g.O, KH: g.kh, KW: g.kw, padTop: g.padTop, padLeft: g.padLeft,
    OH: Math.floor(g.Ho / 2), OW, PXP: Math.min(weights === 'const' ? PXP_CONST : PXP, OW), OB: Math.min(OB, g.O),
    weights, lanes: weights === 'shared' ? engine.sharedLanes : 0, relu, bias,
  };
}

/** The kernel's body: input window set-up, the products, the pooled stores. */
function body(p: Plan): string {
  const L: string[] = [];
  const T = p.KH * p.KW;
  const cols = 2 * p.PXP;
  const span = cols + p.KW - 1;
  const rows = p.KH + 1;
  // Without padding every window lies inside its plane (the last block of a row moved left).
  const inside = p.padTop === 0 && p.padLeft === 0;
  if (inside) {
    for (let a = 0; a < rows; a++) L.push(`  let ry${a} = (2u * py + ${a}u) * ${p.W}u;`);
    for (let b = 0; b < span; b++) L.push(`  let cx${b} = 2u * px + ${b}u;`);
  } else {
    L.push(`  let y0 = i32(2u * py) - ${p.padTop};`, `  let x0 = i32(2u * px) - ${p.padLeft};`);
    for (let a = 0; a < rows; a++) {
      L.push(`  let ry${a} = u32(clamp(y0 + ${a}, 0, ${p.H - 1})) * ${p.W}u;`, `  let vy${a} = y0 + ${a} >= 0 && y0 + ${a} < ${p.H};`);
    }
    for (let b = 0; b < span; b++) {
      L.push(`  let cx${b} = u32(clamp(x0 + ${b}, 0, ${p.W - 1}));`, `  let vx${b} = x0 + ${b} >= 0 && x0 + ${b} < ${p.W};`);
    }
  }
  const load = (a: number, b: number) => (inside ? `X[xb + ry${a} + cx${b}]` : `select(0.0, X[xb + ry${a} + cx${b}], vy${a} && vx${b})`);
  const acc = (j: number, c: number, o: number) => `a${j}_${c}_${o}`;
  for (let o = 0; o < p.OB; o++) for (let j = 0; j < 2; j++) for (let c = 0; c < cols; c++) L.push(`  var ${acc(j, c, o)} = 0.0;`);
  // Weight (o, ky, kx) times the input row of kernel row ky for both convolution rows.
  // (Only one of the two rows where the input rows arrive one at a time.)
  const products = (o: number, ky: number, kx: number, w: string, only?: number) => {
    for (let j = 0; j < 2; j++) {
      if (only !== undefined && j !== only) continue;
      for (let c = 0; c < cols; c++) L.push(`    ${acc(j, c, o)} = fma(${w}, x${ky + j}_${c + kx}, ${acc(j, c, o)});`);
    }
  };
  const plane = p.H * p.W;
  if (p.weights === 'const') {
    // Input channel by channel and row by row: a row's values are live only while it is used.
    for (let ci = 0; ci < p.C; ci++) {
      L.push('  {', `    let xb = (n * ${p.C}u + ${ci}u) * ${plane}u;`);
      for (let a = 0; a < rows; a++) {
        for (let b = 0; b < span; b++) L.push(`    let x${a}_${b} = ${load(a, b)};`);
        for (let j = 0; j < 2; j++) {
          const ky = a - j;
          if (ky < 0 || ky >= p.KH) continue;
          for (let o = 0; o < p.OB; o++) {
            for (let kx = 0; kx < p.KW; kx++) {
              products(o, ky, kx, `WT[${((o * p.C + ci) * p.KH + ky) * p.KW + kx}u]`, j);
            }
          }
        }
      }
      L.push('  }');
    }
  } else {
    // Channel rows of the weights: channels past O (a partial last group) read the last one; their sums are never stored.
    if (p.weights === 'shared') L.push(`  let sl = sid % ${p.lanes}u;`);
    else for (let o = 0; o < p.OB; o++) L.push(`  let wo${o} = min(og + ${o}u, ${p.O - 1}u) * ${p.C * T}u;`);
    L.push(`  for (var ci = 0u; ci < ${p.C}u; ci++) {`, `    let xb = (n * ${p.C}u + ci) * ${plane}u;`, `    let wb = ci * ${T}u;`);
    for (let a = 0; a < rows; a++) for (let b = 0; b < span; b++) L.push(`    let x${a}_${b} = ${load(a, b)};`);
    const count = p.OB * T;
    for (let e = 0; e < count; e++) {
      const o = Math.floor(e / T);
      const t = e % T;
      let w: string;
      if (p.weights === 'shared') {
        const k = Math.floor(e / p.lanes);
        if (e % p.lanes === 0) {
          L.push(`    let e${k} = min(sl + ${p.lanes * k}u, ${count - 1}u);`);
          L.push(`    let r${k} = WT[min(og + e${k} / ${T}u, ${p.O - 1}u) * ${p.C * T}u + wb + e${k} % ${T}u];`);
        }
        w = `subgroupBroadcast(r${k}, ${e % p.lanes}u)`;
      } else {
        w = `WT[wo${o} + wb + ${t}u]`;
      }
      L.push('    {', `    let w = ${w};`);
      products(o, Math.floor(t / p.KW), t % p.KW, 'w');
      L.push('    }');
    }
    L.push('  }');
  }
  for (let o = 0; o < p.OB; o++) {
    L.push(`  if (live && og + ${o}u < ${p.O}u) {`);
    L.push(`    let at = ((n * ${p.O}u + og + ${o}u) * ${p.OH}u + py) * ${p.OW}u + px;`);
    L.push(`    let b = ${p.bias ? `BIAS[og + ${o}u]` : '0.0'};`);
    for (let q = 0; q < p.PXP; q++) {
      const m = `max(max(${acc(0, 2 * q, o)}, ${acc(0, 2 * q + 1, o)}), max(${acc(1, 2 * q, o)}, ${acc(1, 2 * q + 1, o)})) + b`;
      L.push(`    OUT[at + ${q}u] = ${p.relu ? `max(${m}, 0.0)` : m};`);
    }
    L.push('  }');
  }
  return L.join('\n');
}

/**
 * relu?(maxPool2d(conv2d(x, w) + bias, 2x2, stride 2)) into a new [N, O, floor(Ho/2), floor(Wo/2)]
 * tensor, recording nothing. The caller (conv2dPool) has checked the shapes and pooledConvFits.
 */
export function pooledConv(engine: Engine, x: Tensor, w: Tensor, bias: Tensor | null, g: Conv2dGeometry, relu: boolean): Tensor {
  const p = plan(engine, g, relu, !!bias);
  const out = Tensor.empty([g.N, g.O, p.OH, p.OW], 'f32', engine);
  const tiles = p.OH * Math.ceil(p.OW / p.PXP);
  // Every value the body depends on is a define: they keep the pipeline key exact.
  const defines = {
    C: p.C, H: p.H, W: p.W, O: p.O, KH: p.KH, KW: p.KW, PAD_TOP: p.padTop, PAD_LEFT: p.padLeft,
    OH: p.OH, OW: p.OW, PXP: p.PXP, OB: p.OB, WEIGHTS: p.weights, SHARED_LANES: p.lanes, RELU: relu,
    BIAS: !!bias, SUBGROUPS: p.weights === 'shared',
    W_SIZE: g.O * g.C * g.kh * g.kw, OUT_BINDING: bias ? 3 : 2, TILES: tiles, COL_BLOCKS: Math.ceil(p.OW / p.PXP),
  };
  const kernel = engine.kernel({ name: 'conv2d-pooled', wgsl: () => source.replace('{{BODY}}', body(p)), defines });
  engine.dispatch(kernel, {
    bindings: [x, w, ...(bias ? [bias] : []), out].map(wholeBinding),
    workgroups: [Math.ceil(tiles / 64), Math.ceil(g.O / p.OB), g.N],
  });
  return out;
}
