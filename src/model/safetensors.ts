// The safetensors format (float32 only): an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw little-endian data. Browser-safe.

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

export interface SafeTensors {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export function encodeSafetensors(tensors: Map<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new CheckpointError(`safetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header so the data starts 8-byte aligned, as the format recommends.
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Headers larger than this are refused before they are read (the format's reference reader's limit). */
const MAX_HEADER = 100 * 2 ** 20;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses a safetensors file, checking everything a hostile or damaged file could get wrong
 * (lengths, JSON, dtypes, shapes against byte ranges, overlapping or out-of-range ranges)
 * before it allocates anything, so that no file costs more memory than its own size.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'checkpoint'): SafeTensors {
  const fail = (why: string) => new CheckpointError(`${source}: not a valid safetensors file (${why})`);
  if (bytes.length < 8) throw fail(`${bytes.length} bytes, too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) throw fail(`header length ${headerLength} exceeds the file size ${bytes.length}: truncated?`);
  if (headerLength > MAX_HEADER) throw fail(`header length ${headerLength} is over the ${MAX_HEADER}-byte limit`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw fail(`header is not JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataBytes = bytes.length - dataStart;
  const rawMeta = (header as Record<string, unknown>).__metadata__ ?? {};
  if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta) || Object.values(rawMeta).some((v) => typeof v !== 'string')) {
    throw fail('__metadata__ is not an object of strings');
  }
  const metadata = rawMeta as Record<string, string>;
  const ranges: { name: string; begin: number; end: number; shape: number[] }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof entry !== 'object' || entry === null) throw fail(`${name} is not a tensor entry`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== 'F32') throw fail(`${name} has dtype ${JSON.stringify(e.dtype)}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) throw fail(`${name}: shape ${JSON.stringify(e.shape)} is not a list of sizes`);
    const shape = e.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw fail(`${name}: data_offsets ${JSON.stringify(offsets)} is not a byte range`);
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== count * 4) throw fail(`${name}: byte range does not match shape [${shape}]`);
    if (end > dataBytes) throw fail(`${name} ends at byte ${dataStart + end} but the file has ${bytes.length}: truncated?`);
    ranges.push({ name, begin, end, shape });
  }
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) throw fail(`${sorted[i]!.name} overlaps ${sorted[i - 1]!.name}`);
  }
  const tensors = new Map<string, NamedArray>();
  for (const { name, begin, end, shape } of ranges) {
    // Copy: the source may be unaligned for a Float32Array view.
    const data = new Float32Array((end - begin) / 4);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { shape, data });
  }
  return { tensors, metadata };
}

/** Throws unless every value is finite: NaN or Inf weights would only make NaN outputs later. */
export function assertFinite(name: string, data: Float32Array, source: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new CheckpointError(`${source}: ${name} holds ${data[i]} at index ${i} (a damaged file, or saved from a diverged run)`);
    }
  }
}
