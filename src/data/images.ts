// Pixel work shared by Node and browsers: photos to model input (grayscale, centre crop,
// resize), and contact sheets. No I/O here; src/data/images-node.ts decodes files.

/** A decoded image: 8-bit interleaved pixels, `channels` per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/**
 * Converts an image to the model's input: luma (Rec. 601 weights) in [0, 1], transparent
 * pixels composited over black (the renders' background), the largest centred square cropped
 * out, and resized to size x size by area averaging (exact box filter; upscaling repeats pixels).
 */
export function toModelImage(image: RawImage, size: number): Float32Array {
  const { data, width, height, channels } = image;
  if (!Number.isInteger(size) || size < 1) throw new Error(`toModelImage: size must be a positive integer, got ${size}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`toModelImage: invalid image size ${width}x${height}`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new Error(`toModelImage: channels must be 1-4, got ${channels}`);
  if (data.length < width * height * channels) {
    throw new Error(`toModelImage: ${data.length} bytes do not hold ${width}x${height}x${channels}`);
  }
  const gray = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const o = i * channels;
    let v: number;
    let a = 1;
    if (channels <= 2) {
      v = data[o]! / 255;
      if (channels === 2) a = data[o + 1]! / 255;
    } else {
      v = (0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]!) / 255;
      if (channels === 4) a = data[o + 3]! / 255;
    }
    gray[i] = v * a;
  }
  const side = Math.min(width, height);
  const x0 = Math.floor((width - side) / 2);
  const y0 = Math.floor((height - side) / 2);
  const out = new Float32Array(size * size);
  const scale = side / size;
  // Each output pixel averages the source area it covers, with fractional edge weights.
  for (let oy = 0; oy < size; oy++) {
    const sy0 = oy * scale;
    const sy1 = sy0 + scale;
    for (let ox = 0; ox < size; ox++) {
      const sx0 = ox * scale;
      const sx1 = sx0 + scale;
      let sum = 0;
      let wsum = 0;
      for (let y = Math.floor(sy0); y < Math.min(Math.ceil(sy1), side); y++) {
        const wy = Math.min(y + 1, sy1) - Math.max(y, sy0);
        if (wy <= 0) continue;
        const row = (y0 + y) * width + x0;
        for (let x = Math.floor(sx0); x < Math.min(Math.ceil(sx1), side); x++) {
          const wx = Math.min(x + 1, sx1) - Math.max(x, sx0);
          if (wx <= 0) continue;
          sum += gray[row + x]! * wx * wy;
          wsum += wx * wy;
        }
      }
      out[oy * size + ox] = wsum > 0 ? sum / wsum : 0;
    }
  }
  return out;
}

export interface GrayImage {
  /** Values in [0, 1], row-major. */
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * Lays out n square images (size x size each, concatenated as a [n, size, size] array) in a
 * grid with `gap` pixels of `background` between them.
 */
export function contactSheet(images: Float32Array, n: number, size: number, columns = Math.ceil(Math.sqrt(n)), gap = 2, background = 0.25): GrayImage {
  if (images.length < n * size * size) throw new Error(`contactSheet: ${images.length} values do not hold ${n} images of ${size}x${size}`);
  const cols = Math.max(1, Math.min(columns, n));
  const rows = Math.max(1, Math.ceil(n / cols));
  const width = cols * size + (cols + 1) * gap;
  const height = rows * size + (rows + 1) * gap;
  const data = new Float32Array(width * height).fill(background);
  for (let k = 0; k < n; k++) {
    const ox = gap + (k % cols) * (size + gap);
    const oy = gap + Math.floor(k / cols) * (size + gap);
    for (let y = 0; y < size; y++) {
      data.set(images.subarray((k * size + y) * size, (k * size + y + 1) * size), (oy + y) * width + ox);
    }
  }
  return { data, width, height };
}

/** 8-bit gray values of an image in [0, 1] (clamped, rounded). */
export function toBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.round(255 * Math.min(1, Math.max(0, data[i]!)));
  return out;
}
