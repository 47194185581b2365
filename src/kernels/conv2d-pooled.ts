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
// Channel lanes: output channels a lane, and at most this many weights a lane (its private array;
// the body unrolls four products per weight, so compilation grows with it). The small encoder's
// third layer (16 -> 16 maps of 5x5) at 4 channels a lane is 1600 weights and compiled in 2.2 s;
// at 800 it takes 2 channels a lane in two dispatch columns: its first encode 3.1-3.8 -> 2.3-2.4 s
// with the encode no slower (5.5, 6.1 -> 6.0, 5.95 ms; Chromium 156, 2026-12-07).
const OBL = 4;
const LANE_WEIGHTS = 800;
// Workgroups walking the pooled outputs of a channel-lanes dispatch, per core: each fills its
// weights once, so more of them cost more loads and fewer leave cores idle. On 2 cores, 8 ran the
// small encoder's second layer fastest (1.9, 2.1, 2.2 ms at 8, 16, 32); the encode at 4, 8, 16
// groups: 6.25-6.3, 6.3, 6.1-7.2 ms.
const LANE_GROUPS_PER_CORE = 4;

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
  /** 'positions': a lane per block of outputs, OB channels; 'channels': four-lane subgroups walk the pooled outputs, OB channels a lane (weights and lanes unused). */
  split: 'positions' | 'channels';
  /** 'const': weights at constant indices; 'shared': loaded by `lanes` lanes and broadcast; 'each': every lane loads every weight. */
  weights: 'const' | 'shared' | 'each';
  lanes: number;
  relu: boolean;
  bias: boolean;
}

/**
 * Output channels a lane when a four-lane subgroup splits g's output channels (channel lanes), or
 * 0 where it cannot: it needs subgroups of at least four lanes, a valid convolution (the window
 * offsets are fixed), and at most LANE_WEIGHTS weights a lane; a lane takes up to OBL channels.
 */
function laneChannels(engine: Engine, g: Conv2dGeometry): number {
  const valid = g.padTop === 0 && g.padLeft === 0 && g.Ho === g.H - g.kh + 1 && g.Wo === g.W - g.kw + 1;
  if (engine.sharedLanes < 4 || !valid) return 0;
  return Math.min(OBL, Math.ceil(g.O / 4), Math.floor(LANE_WEIGHTS / (g.C * g.kh * g.kw)));
}

function plan(engine: Engine, g: Conv2dGeometry, relu: boolean, bias: boolean): Plan {
  const OW = Math.floor(g.Wo / 2);
  const T = g.kh * g.kw;
  const obl = laneChannels(engine, g);
  if (obl > 0) {
    return {
      C: g.C, H: g.H, W: g.W, O: g.O, KH: g.kh, KW: g.kw, padTop: 0, padLeft: 0,
      OH: Math.floor(g.Ho / 2), OW, PXP: 1, OB: obl,
      split: 'channels', weights: 'const', lanes: 0, relu, bias,
    };
  }
  const weights = g.O <= OB && g.O * g.C * T <= CONST_WEIGHTS ? 'const' : engine.sharedLanes ? 'shared' : 'each';
  return {
    C: g.C, H: g.H, W: g.W, O: g.O, KH: g.kh, KW: g.kw, padTop: g.padTop, padLeft: g.padLeft,
    OH: Math.floor(g.Ho / 2), OW, PXP: Math.min(weights === 'const' ? PXP_CONST : PXP, OW), OB: Math.min(OB, g.O),
    split: 'positions', weights, lanes: weights === 'shared' ? engine.sharedLanes : 0, relu, bias,
  };
}

/**
 * The channel-lanes body: each lane's offsets of the window values it loads, then the walk over
 * pooled outputs. Window value e (channel, row, column of a (KH + 1) x (KW + 1) window per input
 * channel) is loaded by lane e % 4 as its value e / 4.
 */
function channelBody(p: Plan, N: number): string {
  const L: string[] = [];
  const rows = p.KH + 1;
  const cols = p.KW + 1;
  const win = rows * cols;
  const count = p.C * win;
  const loads = Math.ceil(count / 4);
  const CT = p.C * p.KH * p.KW;
  for (let q = 0; q < loads; q++) {
    L.push(`  let e${q} = min(${4 * q}u + sid, ${count - 1}u);`);
    L.push(`  let d${q} = (e${q} / ${win}u) * ${p.H * p.W}u + (e${q} % ${win}u / ${cols}u) * ${p.W}u + e${q} % ${cols}u;`);
  }
  // Each lane's biases, loaded once (a load in the walk is a gather each time).
  if (p.bias) for (let o = 0; o < p.OB; o++) L.push(`  let bias${o} = BIAS[min(og + ${o}u, ${p.O - 1}u)];`);
  const plane = p.OH * p.OW;
  L.push(`  for (var b = wid.x; b < ${N * plane}u; b += {{GROUPS}}u) {`);
  L.push(`    let n = b / ${plane}u;`, `    let py = b % ${plane}u / ${p.OW}u;`, `    let px = b % ${p.OW}u;`);
  L.push(`    let xb = n * ${p.C * p.H * p.W}u + 2u * py * ${p.W}u + 2u * px;`);
  for (let q = 0; q < loads; q++) L.push(`    let r${q} = X[xb + d${q}];`);
  const acc = (j: number, k: number, o: number) => `a${j}_${k}_${o}`;
  for (let o = 0; o < p.OB; o++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) L.push(`    var ${acc(j, k, o)} = 0.0;`);
  for (let ci = 0; ci < p.C; ci++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const e = (ci * rows + r) * cols + c;
        L.push(`    {`, `      let v = subgroupBroadcast(r${Math.floor(e / 4)}, ${e % 4}u);`);
        for (let j = 0; j < 2; j++) {
          for (let k = 0; k < 2; k++) {
            const ky = r - j;
            const kx = c - k;
            if (ky < 0 || ky >= p.KH || kx < 0 || kx >= p.KW) continue;
            for (let o = 0; o < p.OB; o++) L.push(`      ${acc(j, k, o)} = fma(wl[${o * CT + (ci * p.KH + ky) * p.KW + kx}], v, ${acc(j, k, o)});`);
          }
        }
        L.push('    }');
      }
    }
  }
  for (let o = 0; o < p.OB; o++) {
    L.push(`    if (og + ${o}u < ${p.O}u) {`);
    const m = `max(max(${acc(0, 0, o)}, ${acc(0, 1, o)}), max(${acc(1, 0, o)}, ${acc(1, 1, o)}))${p.bias ? ` + bias${o}` : ''}`;
    L.push(`      OUT[((n * ${p.O}u + og + ${o}u) * ${p.OH}u + py) * ${p.OW}u + px] = ${p.relu ? `max(${m}, 0.0)` : m};`, '    }');
  }
  L.push('  }');
  return L.join('\n');
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
  // Every value the body depends on is a define: they keep the pipeline key exact.
  const shape = {
    C: p.C, H: p.H, W: p.W, O: p.O, KH: p.KH, KW: p.KW, OH: p.OH, OW: p.OW, OB: p.OB, RELU: relu, BIAS: !!bias,
    W_SIZE: g.O * g.C * g.kh * g.kw, OUT_BINDING: bias ? 3 : 2,
  };
  let layout: { defines: Record<string, number | boolean | string>; code: () => string; workgroups: [number, number, number] };
  if (p.split === 'channels') {
    const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 4;
    const groups = Math.max(1, Math.min(g.N * p.OH * p.OW, LANE_GROUPS_PER_CORE * cores));
    layout = {
      defines: {
        ...shape, CHANNEL_LANES: true, SUBGROUPS: true, N: g.N, OBL: p.OB, GROUP_CHANNELS: 4 * p.OB, CT: p.C * p.KH * p.KW,
        LANE_WEIGHTS: p.OB * p.C * p.KH * p.KW, GROUPS: groups, X_SIZE: g.N * g.C * g.H * g.W,
      },
      code: () => channelBody(p, g.N),
      workgroups: [groups, Math.ceil(g.O / (4 * p.OB)), 1],
    };
  } else {
    const tiles = p.OH * Math.ceil(p.OW / p.PXP);
    layout = {
      defines: {
        ...shape, PAD_TOP: p.padTop, PAD_LEFT: p.padLeft, PXP: p.PXP, WEIGHTS: p.weights, SHARED_LANES: p.lanes,
        SUBGROUPS: p.weights === 'shared', TILES: tiles, COL_BLOCKS: Math.ceil(p.OW / p.PXP),
      },
      code: () => body(p),
      workgroups: [Math.ceil(tiles / 64), Math.ceil(g.O / p.OB), g.N],
    };
  }
  const kernel = engine.kernel({ name: 'conv2d-pooled', wgsl: () => source.replaceAll('{{BODY}}', layout.code()), defines: layout.defines });
  engine.dispatch(kernel, { bindings: [x, w, ...(bias ? [bias] : []), out].map(wholeBinding), workgroups: layout.workgroups });
  return out;
}
