// The repository root, for the Node commands and scripts that read its files (the page's sources,
// the shipped checkpoint), found from this file whether it runs from src/ or from a bundle in .cache/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'src', 'web'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json beside src/web)');
    dir = up;
  }
  return dir;
}
