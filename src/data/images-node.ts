// Node-only image I/O: decode PNG/JPEG files (pngjs, jpeg-js) for the model, write grayscale
// PNGs. Browser code uses src/data/images.ts with its own decoding (canvas, createImageBitmap).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { Engine } from '../gpu/engine.js';
import { getEngine, Tensor } from '../tensor.js';
import { toBytes, toModelImage, type GrayImage, type RawImage } from './images.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * Images with more pixels are refused before decoding: a header can claim 100000x100000 in a
 * few bytes, and the decoders would try to allocate 40 GB for it. 25 megapixels hold a 24 MP
 * camera's photo; decoding one (RGBA, the decoder's own planes, the gray copy) peaks near 600 MB.
 */
export const MAX_IMAGE_PIXELS = 25e6;

/** Decodes a PNG or JPEG (by its signature, not its name) to RGBA. */
export function decodeImage(bytes: Uint8Array, name = 'image'): RawImage {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (isPng && bytes.length >= 24) {
    // IHDR is the first chunk: width and height, big-endian, at bytes 16 and 20.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const width = view.getUint32(16);
    const height = view.getUint32(20);
    if (width * height > MAX_IMAGE_PIXELS) {
      throw new Error(`${name}: the PNG says ${width}x${height} pixels, more than the ${MAX_IMAGE_PIXELS / 1e6} megapixels this loader accepts`);
    }
  }
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { data: png.data, width: png.width, height: png.height, channels: 4 };
    }
    if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 256 });
      return { data: img.data, width: img.width, height: img.height, channels: 4 };
    }
  } catch (e) {
    throw new Error(`${name}: cannot decode: ${(e as Error).message}`);
  }
  throw new Error(`${name}: not a PNG or JPEG file`);
}

export function loadImage(path: string, size: number): Float32Array {
  return toModelImage(decodeImage(readFileSync(path), path), size);
}

export interface LoadedImages {
  /** File names, sorted, in the order of the tensor's rows. */
  names: string[];
  /** [N, 1, size, size] grayscale in [0, 1]. */
  images: Tensor;
}

/** Loads every PNG/JPEG of a folder (sorted by name) as model input: grayscale, centre-cropped, resized. */
export function loadImageFolder(dir: string, size: number, engine: Engine = getEngine()): LoadedImages {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new Error(`loadImageFolder: cannot read folder ${dir}: ${(e as Error).message}`);
  }
  const names = entries
    .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()) && statSync(join(dir, f)).isFile())
    .sort();
  if (!names.length) throw new Error(`loadImageFolder: no ${IMAGE_EXTENSIONS.join('/')} files in ${dir}`);
  const data = new Float32Array(names.length * size * size);
  names.forEach((name, i) => data.set(loadImage(join(dir, name), size), i * size * size));
  return { names, images: Tensor.fromData(data, [names.length, 1, size, size], 'f32', engine) };
}

/** Writes a grayscale image with values in [0, 1] as an 8-bit grayscale PNG. */
export function writeGrayPng(path: string, image: GrayImage): void {
  const png = new PNG({ width: image.width, height: image.height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  (png as unknown as { data: Buffer }).data = Buffer.from(toBytes(image.data));
  writeFileSync(path, PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
}

/** Writes a grayscale image with values in [0, 1] as a baseline JPEG (quality 95). */
export function writeGrayJpeg(path: string, image: GrayImage): void {
  const gray = toBytes(image.data);
  const rgba = new Uint8Array(gray.length * 4);
  gray.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
  writeFileSync(path, jpeg.encode({ data: rgba, width: image.width, height: image.height }, 95).data);
}
