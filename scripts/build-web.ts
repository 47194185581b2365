// `npm run build:web`: bundles the browser page (src/web) with esbuild into dist/web. The bundle
// must stay browser-only: a Node builtin or a Node-only file of ours reaching it fails the build,
// naming the import chain, instead of surfacing later as a blank page.
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { repoRoot } from '../src/cli/repo-root.js';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Budget for everything the page downloads apart from a checkpoint. */
export const WEB_BUDGET_BYTES = 300 * 1024;

/** The shipped checkpoint, copied from models/ beside the page (not counted in the budget). */
export const DEFAULT_CHECKPOINT = 'small.safetensors';

/** Static files copied next to the bundle. */
const STATIC_FILES = ['index.html', 'style.css'];

// Packages and files of ours that only work in Node (Dawn, file-format codecs, file I/O, CLI UI).
const NODE_ONLY_PACKAGES = ['webgpu', 'pngjs', 'jpeg-js', 'cli-progress', 'playwright-core', 'esbuild'];
const NODE_ONLY_FILES = /[\\/]src[\\/](node|gpu[\\/]node|data[\\/]images-node|cli[\\/][^\\/]+)\.ts$/;

export { repoRoot };

/** An esbuild plugin that turns any import of Node-only code into a build error. */
/** The esbuild settings every browser bundle of the engine shares (WGSL as text, no Node modules). */
export function browserBundle(root: string): BuildOptions {
  return {
    absWorkingDir: root,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    // WebGPU ships in Chrome 113+, Safari 26 and Firefox 141: all read ES2022.
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    plugins: [browserOnly(root)],
  };
}

export function browserOnly(root: string): Plugin {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const packageRe = new RegExp(`^(${NODE_ONLY_PACKAGES.map((p) => p.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('|')})(/|$)`);
  return {
    name: 'browser-only',
    setup(b) {
      const refuse = (what: string, importer: string) => ({
        errors: [{ text: `${what} is Node-only and must not reach the browser bundle (imported by ${relative(root, importer) || importer})` }],
      });
      b.onResolve({ filter: /.*/ }, (args) => {
        // Packages map their own guarded Node imports away through their "browser" field, which
        // esbuild applies; an unmapped builtin there still fails esbuild's browser build.
        if (args.kind === 'entry-point' || /[\\/]node_modules[\\/]/.test(args.importer)) return undefined;
        if (builtins.has(args.path) || args.path.startsWith('node:')) return refuse(`"${args.path}"`, args.importer);
        if (packageRe.test(args.path)) return refuse(`package "${args.path}"`, args.importer);
        if (args.path.startsWith('.') || isAbsolute(args.path)) {
          const target = resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
          if (NODE_ONLY_FILES.test(target)) return refuse(relative(root, target), args.importer);
        }
        return undefined;
      });
    },
  };
}

export interface WebBuild {
  outdir: string;
  /** Every file written, with its size in bytes. */
  files: { name: string; bytes: number }[];
  totalBytes: number;
  metafile: Metafile;
}

export interface WebBuildOptions {
  outdir?: string;
  minify?: boolean;
  /** Print the file sizes (the CLI does). */
  log?: (line: string) => void;
}

export async function buildWeb(options: WebBuildOptions = {}): Promise<WebBuild> {
  const root = repoRoot();
  const outdir = resolve(root, options.outdir ?? 'dist/web');
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    ...browserBundle(root),
    entryPoints: { app: 'src/web/main.ts' },
    outdir,
    minify: options.minify ?? true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
    legalComments: 'eof',
  });
  for (const f of STATIC_FILES) copyFileSync(join(root, 'src/web', f), join(outdir, f));
  // The page opens with the shipped checkpoint when no ?checkpoint= names another.
  const shipped = join(root, 'models', DEFAULT_CHECKPOINT);
  if (existsSync(shipped)) copyFileSync(shipped, join(outdir, DEFAULT_CHECKPOINT));
  const names = [...STATIC_FILES, 'app.js'];
  const files = names.map((name) => ({ name, bytes: statSync(join(outdir, name)).size }));
  const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
  if (options.log) {
    for (const f of files) options.log(`  ${f.name.padEnd(12)} ${(f.bytes / 1024).toFixed(1).padStart(7)} KB`);
    options.log(
      `  ${'total'.padEnd(12)} ${(totalBytes / 1024).toFixed(1).padStart(7)} KB ` +
        `(budget ${WEB_BUDGET_BYTES / 1024} KB, source map app.js.map not counted)`,
    );
  }
  return { outdir, files, totalBytes, metafile: result.metafile };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: npm run build:web [-- --out DIR] [--no-minify]\n\nBundles the browser page (src/web) into dist/web.');
    return;
  }
  const outIndex = args.indexOf('--out');
  const outdir = outIndex >= 0 ? args[outIndex + 1] : undefined;
  const t0 = performance.now();
  const r = await buildWeb({ outdir, minify: !args.includes('--no-minify'), log: (l) => console.log(l) });
  console.log(`build:web: wrote ${relative(process.cwd(), r.outdir) || '.'} in ${Math.round(performance.now() - t0)} ms`);
  if (r.totalBytes > WEB_BUDGET_BYTES) {
    throw new Error(`the page is ${(r.totalBytes / 1024).toFixed(1)} KB, over its ${WEB_BUDGET_BYTES / 1024} KB budget`);
  }
}

// Run as a command only when this file (or its bundle in .cache/run) is the entry point: demo.ts
// imports it and gets bundled together with it.
if (process.argv[1] && /build-web\.(ts|mjs)$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    // esbuild's own errors carry the plugin's messages, with the importing file.
    console.error(`error: build:web failed: ${e.message}`);
    process.exit(1);
  });
}
