// Seeded fuzzing of the two loaders that read files from strangers: the checkpoint loader
// (safetensors -> DC-IGN) and the image loader (PNG/JPEG -> model input). Each case is a valid
// file with one to three mutations; it must end in a loaded file or a clear error (a
// CheckpointError, or an Error naming the file), within a time limit, with GPU memory back
// where it was and no large allocation. `node scripts/run.mjs scripts/fuzz.ts -- [--cases
// 10000] [--seed 1]`; CI runs 1,000 of each (test/fuzz.test.ts). A failing case prints its
// seed and index, which reproduce it.
import { crc32 } from 'node:zlib';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { Rng } from '../src/data/rng.js';
import type { Engine } from '../src/gpu/engine.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset } from '../src/model/presets.js';
import { decodeModel, encodeModel } from '../src/model/checkpoint.js';
import { CheckpointError } from '../src/model/safetensors.js';
import { decodeImage } from '../src/data/images-node.js';
import { toModelImage } from '../src/data/images.js';

/**
 * A case that takes more CPU time than this counts as a hang (the slowest seen take 2 s: images
 * claiming near the 25-megapixel limit). CPU time, not wall time, so that a loaded machine
 * does not fail the fuzzer.
 */
export const CASE_LIMIT_MS = 10_000;

export interface FuzzReport {
  cases: number;
  loaded: number;
  refused: number;
  /** CPU time of the slowest case. */
  slowestMs: number;
  /** Growth of the process's peak resident memory over the run. */
  peakRssGrowthMiB: number;
  /** Refusals by the start of their reason, to see that the mutations reach every check. */
  reasons: Map<string, number>;
}

type Mutation = (bytes: Uint8Array, rng: Rng) => Uint8Array;

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

function flipBytes(bytes: Uint8Array, rng: Rng, from = 0, to = bytes.length): Uint8Array {
  const out = bytes.slice();
  for (let n = 1 + rng.int(8); n > 0; n--) out[from + rng.int(Math.max(1, to - from))] = rng.int(256);
  return out;
}

const truncate: Mutation = (b, rng) => b.slice(0, rng.int(b.length));
const appendGarbage: Mutation = (b, rng) => {
  const out = new Uint8Array(b.length + 1 + rng.int(64));
  out.set(b);
  for (let i = b.length; i < out.length; i++) out[i] = rng.int(256);
  return out;
};
const flip: Mutation = (b, rng) => flipBytes(b, rng);

// ---- safetensors ---------------------------------------------------------------------------

interface Parsed {
  header: Record<string, unknown>;
  data: Uint8Array;
}

function parse(bytes: Uint8Array): Parsed {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.slice(8 + n) };
}

function build({ header, data }: Parsed): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

const HOSTILE_NUMBERS = [-1, 0, 1, 2.5, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, NaN, -0];
const hostileValue = (rng: Rng): unknown =>
  pick(rng, [() => pick(rng, HOSTILE_NUMBERS), () => 'x', () => null, () => [], () => ({}), () => [pick(rng, HOSTILE_NUMBERS)], () => [[1, 2]], () => true])();

/** Structural mutations of one tensor entry or of the metadata, file rebuilt with a consistent header length. */
const structural: Mutation = (bytes, rng) => {
  const p = parse(bytes);
  const names = Object.keys(p.header).filter((k) => k !== '__metadata__');
  const name = pick(rng, names);
  const entry = p.header[name] as { dtype: unknown; shape: unknown; data_offsets: [number, number] };
  const meta = p.header.__metadata__ as Record<string, unknown>;
  const config = JSON.parse(meta.config as string) as Record<string, unknown>;
  const other = p.header[pick(rng, names)] as { data_offsets: [number, number] };
  const [begin, end] = entry.data_offsets;
  const inConfig = (change: () => void) => () => {
    change();
    meta.config = JSON.stringify(config);
  };
  const actions = [
    () => (entry.dtype = pick(rng, ['F16', 'BF16', 'F64', 'I32', 'U8', '', null, 5])),
    () => (entry.shape = hostileValue(rng)),
    () => (entry.shape = [rng.int(2 ** 20), rng.int(2 ** 20)]),
    () => (entry.data_offsets = other.data_offsets), // overlapping
    () => (entry.data_offsets = [begin, end + 4 * (1 + rng.int(2 ** 20))]), // past the end
    () => (entry.data_offsets = [end, begin]), // reversed
    () => (entry.data_offsets = [begin - 8, end - 8]), // shifted: overlaps a neighbour or goes negative
    () => (entry.data_offsets = hostileValue(rng) as [number, number]),
    () => delete p.header[name],
    () => (p.header[`${name}.extra`] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] }),
    () => (p.header[name] = hostileValue(rng)),
    inConfig(() => (config[pick(rng, Object.keys(config))] = hostileValue(rng))),
    inConfig(() => (config[pick(rng, ['imageSize', 'latents', 'encoderKernel'])] = pick(rng, [1e6, 2 ** 31, 4097, 0]))),
    inConfig(() => (config.encoderMaps = [4, 6, 100000])),
    inConfig(() => (config.decoderBase = [4000, 1])), // a 4000 x latents linear layer the file does not hold
    () => (meta.format = pick(rng, ['safetensors', '', 'dcign-webgpu/2'])),
    () => (meta.config = pick(rng, ['', '{', 'null', '[]', '{"preset":"tiny"}'])),
    () => (p.header.__metadata__ = hostileValue(rng)),
    () => (meta.step = hostileValue(rng)),
  ];
  pick(rng, actions)();
  return build(p);
};

/** NaN, Inf or -Inf written over some weights. */
const nonFinite: Mutation = (bytes, rng) => {
  const p = parse(bytes);
  const view = new DataView(p.data.buffer, p.data.byteOffset, p.data.byteLength);
  for (let n = 1 + rng.int(3); n > 0; n--) view.setFloat32(4 * rng.int(p.data.length / 4), pick(rng, [NaN, Infinity, -Infinity]), true);
  return build(p);
};

const headerLength: Mutation = (bytes, rng) => {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const n = view.getBigUint64(0, true);
  view.setBigUint64(0, pick(rng, [0n, n - 1n, n + 1n, n + BigInt(rng.int(1000)), BigInt(out.length), 2n ** 63n, 2n ** 64n - 1n, BigInt(rng.int(2 ** 30))]), true);
  return out;
};

const headerBytes: Mutation = (bytes, rng) => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return flipBytes(bytes, rng, 8, 8 + n);
};

const CHECKPOINT_MUTATIONS: [string, Mutation, number][] = [
  ['structural', structural, 8],
  ['non-finite', nonFinite, 2],
  ['header length', headerLength, 2],
  ['header bytes', headerBytes, 2],
  ['flip', flip, 2],
  ['truncate', truncate, 2],
  ['append', appendGarbage, 1],
];

// ---- images ------------------------------------------------------------------------------

function pngChunks(bytes: Uint8Array): { type: string; at: number; length: number }[] {
  const chunks = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    chunks.push({ type: String.fromCharCode(...bytes.subarray(at + 4, at + 8)), at, length });
    at += 12 + length;
  }
  return chunks;
}

function fixCrc(bytes: Uint8Array, chunk: { at: number; length: number }): void {
  const crc = crc32(bytes.subarray(chunk.at + 4, chunk.at + 8 + chunk.length));
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(chunk.at + 8 + chunk.length, crc >>> 0);
}

/** PNG width and height set (CRC kept valid, so the claim reaches the decoder). */
const pngSize: Mutation = (bytes, rng) => {
  if (bytes[0] !== 0x89) return flip(bytes, rng);
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const dims = pick(rng, [[100000, 100000], [65535, 65535], [2 ** 31, 1], [0, 40], [1, 1], [rng.int(8000), rng.int(8000)], [rng.int(2 ** 32), rng.int(2 ** 32)]]);
  view.setUint32(16, dims[0]!);
  view.setUint32(20, dims[1]!);
  fixCrc(out, pngChunks(out)[0]!);
  return out;
};

/** A byte of a chunk changed without its CRC: what a damaged download looks like. */
const pngBadCrc: Mutation = (bytes, rng) => {
  if (bytes[0] !== 0x89) return flip(bytes, rng);
  const chunk = pick(rng, pngChunks(bytes));
  return flipBytes(bytes, rng, chunk.at + 4, chunk.at + 12 + chunk.length);
};

/** A chunk's bytes changed with the CRC made to match, so the decoder has to deal with the content. */
const pngChunkContent: Mutation = (bytes, rng) => {
  if (bytes[0] !== 0x89) return flip(bytes, rng);
  const chunk = pick(rng, pngChunks(bytes));
  const out = flipBytes(bytes, rng, chunk.at + 8, chunk.at + 8 + Math.max(1, chunk.length));
  fixCrc(out, chunk);
  return out;
};

/** JPEG frame size (SOF0) set: 65535x65535 and friends. */
const jpegSize: Mutation = (bytes, rng) => {
  const out = bytes.slice();
  for (let i = 2; i + 9 < out.length; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      const view = new DataView(out.buffer);
      const [h, w] = pick(rng, [[65535, 65535], [0, 0], [1, 65535], [rng.int(65536), rng.int(65536)]]);
      view.setUint16(i + 5, h!);
      view.setUint16(i + 7, w!);
      return out;
    }
  }
  return flip(out, rng);
};

const IMAGE_MUTATIONS: [string, Mutation, number][] = [
  ['png size', pngSize, 3],
  ['png crc', pngBadCrc, 2],
  ['png chunk', pngChunkContent, 3],
  ['jpeg size', jpegSize, 3],
  ['flip', flip, 3],
  ['truncate', truncate, 3],
  ['append', appendGarbage, 1],
];

function mutate(base: Uint8Array, table: [string, Mutation, number][], rng: Rng): { bytes: Uint8Array; what: string[] } {
  const total = table.reduce((s, [, , w]) => s + w, 0);
  let bytes = base;
  const what: string[] = [];
  for (let n = 1 + rng.int(3); n > 0; n--) {
    let r = rng.uniform() * total;
    const [name, m] = table.find(([, , w]) => (r -= w) < 0) ?? table[0]!;
    what.push(name);
    try {
      bytes = m(bytes, rng);
    } catch {
      bytes = flip(bytes, rng); // the mutation needed a parseable file and this one is not any more
    }
  }
  return { bytes, what };
}

export function testImages(): { png: Uint8Array; jpeg: Uint8Array } {
  const width = 52;
  const height = 40;
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) rgba.set([(i * 7) % 256, (i * 13) % 256, (i * 29) % 256, 255], 4 * i);
  const png = new PNG({ width, height });
  png.data.set(rgba);
  return {
    png: new Uint8Array(PNG.sync.write(png)),
    jpeg: new Uint8Array(jpeg.encode({ data: rgba, width, height }, 80).data),
  };
}

// ---- running -----------------------------------------------------------------------------

async function run(
  cases: number,
  seed: number,
  stream: number,
  bases: Uint8Array[],
  table: [string, Mutation, number][],
  attempt: (bytes: Uint8Array, name: string) => void,
  clear: (e: unknown, name: string) => boolean,
): Promise<FuzzReport> {
  const rss0 = process.resourceUsage().maxRSS;
  const report: FuzzReport = { cases, loaded: 0, refused: 0, slowestMs: 0, peakRssGrowthMiB: 0, reasons: new Map() };
  for (let i = 0; i < cases; i++) {
    const rng = Rng.fromSeed(seed, stream).fork(i);
    const { bytes, what } = mutate(pick(rng, bases), table, rng);
    const name = `case-${seed}-${i}`;
    const cpu0 = process.cpuUsage();
    try {
      attempt(bytes, name);
      report.loaded++;
    } catch (e) {
      if (!clear(e, name)) throw new Error(`fuzz ${name} (${what.join(', ')}): not a clear error: ${(e as Error)?.stack ?? String(e)}`);
      report.refused++;
      const reason = (e as Error).message.slice(name.length + 2).replace(/[\d.]+/g, 'N').slice(0, 40);
      report.reasons.set(reason, (report.reasons.get(reason) ?? 0) + 1);
    }
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (ms > CASE_LIMIT_MS) throw new Error(`fuzz ${name} (${what.join(', ')}): took ${ms.toFixed(0)} ms of CPU time`);
  }
  report.peakRssGrowthMiB = (process.resourceUsage().maxRSS - rss0) / 1024;
  return report;
}

/**
 * Mutated checkpoints through decodeModel. GPU memory in use must come back to where it was
 * after each, and the pool may never have held more than a few times the file's size.
 */
export async function fuzzCheckpoints(engine: Engine, cases: number, seed = 1): Promise<FuzzReport> {
  const model = new Dcign(getPreset('tiny'), 5, engine);
  const valid = await encodeModel(model, { step: '12' });
  model.dispose();
  const inUse = engine.pool.stats.inUseBytes;
  const allocatedLimit = engine.pool.stats.allocatedBytes + 4 * valid.length;
  return run(
    cases, seed, 0x5afe, [valid], CHECKPOINT_MUTATIONS,
    (bytes, name) => {
      try {
        decodeModel(bytes, name, engine).model.dispose();
      } finally {
        const { inUseBytes, allocatedBytes } = engine.pool.stats;
        if (inUseBytes !== inUse) throw new Error(`${name}: GPU memory in use went from ${inUse} to ${inUseBytes} bytes`);
        if (allocatedBytes > allocatedLimit) throw new Error(`${name}: the GPU pool grew to ${allocatedBytes} bytes for a ${bytes.length}-byte file`);
      }
    },
    (e, name) => e instanceof CheckpointError && e.message.startsWith(`${name}: `),
  );
}

/** Mutated PNG and JPEG files through decodeImage and toModelImage (what `npm run encode` does with a file). */
export async function fuzzImages(cases: number, seed = 1): Promise<FuzzReport> {
  const { png, jpeg: jpg } = testImages();
  return run(
    cases, seed, 0x1a6e, [png, jpg], IMAGE_MUTATIONS,
    (bytes, name) => void toModelImage(decodeImage(bytes, name), 16),
    (e, name) => e instanceof Error && (e.message.startsWith(`${name}: `) || e.message.startsWith('toModelImage: ')),
  );
}

export function formatReport(what: string, r: FuzzReport): string {
  const reasons = [...r.reasons].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `    ${n}  ${k}`);
  return [
    `${what}: ${r.cases} cases, ${r.loaded} loaded, ${r.refused} refused with a clear error; slowest ${r.slowestMs.toFixed(0)} ms of CPU; peak RSS +${r.peakRssGrowthMiB.toFixed(0)} MiB`,
    '  commonest refusals:',
    ...reasons,
  ].join('\n');
}

if (process.argv[1] && /fuzz\.(ts|mjs)$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: a } = parseArgs({ options: { cases: { type: 'string', default: '10000' }, seed: { type: 'string', default: '1' } } });
  const { initEngine } = await import('../src/node.js');
  const engine = await initEngine();
  const t0 = performance.now();
  console.log(formatReport('checkpoints', await fuzzCheckpoints(engine, Number(a.cases), Number(a.seed))));
  const t1 = performance.now();
  console.log(`  (${((t1 - t0) / 1000).toFixed(0)} s)`);
  console.log(formatReport('images', await fuzzImages(Number(a.cases), Number(a.seed))));
  console.log(`  (${((performance.now() - t1) / 1000).toFixed(0)} s)`);
  engine.destroy();
}
