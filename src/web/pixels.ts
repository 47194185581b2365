// Browser image I/O for the page: files and webcam frames to RGBA pixels (the model input is then
// made by the same toModelImage as Node's `npm run encode`), and gray images onto canvases.
import type { RawImage } from '../data/index.js';

function context2d(width: number, height: number): CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D {
  const canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(width, height) : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('this browser gives no 2D canvas context');
  return ctx;
}

function pixelsOf(source: CanvasImageSource, width: number, height: number): RawImage {
  const ctx = context2d(width, height);
  ctx.drawImage(source, 0, 0, width, height);
  const { data } = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' });
  return { data, width, height, channels: 4 };
}

/** A PNG or JPEG file as RGBA, without colour-profile conversion (pngjs and jpeg-js, which Node uses, do none). */
export async function decodeImageFile(file: Blob, name: string): Promise<RawImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch {
    throw new Error(`${name}: this browser cannot decode it as an image (PNG or JPEG expected)`);
  }
  try {
    return pixelsOf(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** The webcam's current frame as RGBA. */
export function videoFrame(video: HTMLVideoElement): RawImage {
  if (!video.videoWidth || !video.videoHeight) throw new Error('the webcam has not delivered a frame yet');
  return pixelsOf(video, video.videoWidth, video.videoHeight);
}

/** Draws a gray image in [0, 1] (size x size) at its own resolution; CSS scales the canvas up. */
export function drawGray(canvas: HTMLCanvasElement, gray: Float32Array, size: number): void {
  if (canvas.width !== size || canvas.height !== size) {
    canvas.width = size;
    canvas.height = size;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, gray[i] ?? 0)));
    img.data[4 * i] = v;
    img.data[4 * i + 1] = v;
    img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
