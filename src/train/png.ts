// Grayscale image grids as PNG (Node): rows of images, each image S x S floats in [0, 1].
import { PNG } from 'pngjs';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from './files.js';

/** Encodes rows of `count` images each (one Float32Array per row, images back to back) with a 2-pixel gutter. */
export function gridPng(rows: Float32Array[], count: number, size: number, gutter = 2): Buffer {
  const width = count * size + (count + 1) * gutter;
  const height = rows.length * size + (rows.length + 1) * gutter;
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8 });
  png.data = Buffer.alloc(width * height * 4, 40);
  rows.forEach((row, r) => {
    for (let i = 0; i < count; i++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const v = row[i * size * size + y * size + x] ?? 0;
          const byte = Math.round(Math.min(Math.max(v, 0), 1) * 255);
          const px = gutter + i * (size + gutter) + x;
          const py = gutter + r * (size + gutter) + y;
          const o = (py * width + px) * 4;
          png.data[o] = png.data[o + 1] = png.data[o + 2] = byte;
          png.data[o + 3] = 255;
        }
      }
    }
  });
  return PNG.sync.write(png, { colorType: 0 });
}

export function writeGrid(path: string, rows: Float32Array[], count: number, size: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, gridPng(rows, count, size));
}
