// src/ files must not import each other in a circle: a circle makes module order decide which
// side sees the other's exports as undefined, and bundlers warn about it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '../src');

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  // Type-only imports count too: they tie the files together for a reader all the same.
  for (const m of text.matchAll(/(?:import|export)\b[^'";]*?\bfrom\s+['"](\.[^'"]+)['"]/g)) {
    const path = join(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (existsSync(path)) found.push(path);
  }
  return found;
}

/** Every import path that leads from a file back to itself, as a list of files. */
function importCircles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const circles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const walk = (f: string, path: string[]) => {
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') circles.push([...path.slice(path.indexOf(d)), d]);
      else if (!state.has(d)) walk(d, [...path, d]);
    }
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) walk(f, [f]);
  return circles;
}

it('finds no import circle among the files in src/', () => {
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(src, f));
  const circles = importCircles(files).map((c) => c.map((f) => f.slice(src.length + 1)).join(' -> '));
  expect(circles).toEqual([]);
});
