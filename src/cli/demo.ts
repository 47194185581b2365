// `npm run demo [-- --checkpoint FILE] [--port N]`: serves the browser page (dist/web) and a
// checkpoint on localhost with node:http. Also the server and the Chromium launcher that the web
// test and the browser benchmark use.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { buildWeb, repoRoot } from '../../scripts/build-web.js';
import { SHIPPED_CHECKPOINT, shippedCheckpoint } from './shipped.js';
import { runCommand, UserError } from './errors.js';
import { checkpointFile, intFlag } from './flags.js';

const HELP = `Serve the DC-IGN browser page and a checkpoint on localhost.

usage: npm run demo [-- --checkpoint FILE] [--port N] [--screenshot FILE.png [--latent z1=-2 ...]]

  --checkpoint FILE   a model.safetensors written by npm run train (default: the shipped
                      models/small.safetensors, else the newest runs/*/model.safetensors;
                      with none, the page opens without one and takes a dropped file)
  --port N            port on 127.0.0.1 (default 8080; 0 picks a free one)
  --screenshot FILE   open the page in headless Chromium (/usr/bin/chromium), wait for the
                      first reconstruction, write a PNG of the page and exit
  --latent zK=V       with --screenshot: set latent slider zK to V first (repeatable)
  --help              this text

The page is built into dist/web first when it is missing or older than its sources
(npm run build:web rebuilds it).

examples:
  npm run demo                                  # the shipped checkpoint
  npm run demo -- --checkpoint runs/small/model.safetensors`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

export interface DemoServer {
  /** The page, with ?checkpoint= when a checkpoint is served. */
  url: string;
  origin: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** The folder served at / (dist/web). */
  dir: string;
  checkpoint?: string | null;
  /** 0 picks a free port. */
  port?: number;
}

// A run's checkpoint is always model.safetensors; the run folder's name tells them apart on the page.
function checkpointRoute(file: string): string {
  const name = basename(file) === 'model.safetensors' ? `${basename(dirname(resolve(file)))}.safetensors` : basename(file);
  return `/checkpoints/${encodeURIComponent(name)}`;
}

export async function serveDemo(options: ServeOptions): Promise<DemoServer> {
  const dir = resolve(options.dir);
  const checkpoint = options.checkpoint ? resolve(options.checkpoint) : null;
  const route = checkpoint ? checkpointRoute(checkpoint) : null;
  const send = (res: ServerResponse, file: string, method: string) => {
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
    if (method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    if (route && path === decodeURIComponent(route)) return send(res, checkpoint!, method);
    const file = resolve(dir, `.${path.endsWith('/') ? `${path}index.html` : path}`);
    // Nothing outside the served folder, whatever the path says.
    if ((file !== dir && !file.startsWith(dir + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    send(res, file, method);
  };
  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String((e as Error).message));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new UserError(`--port ${options.port}: the port is in use; pick another (0: any free port)`) : e),
    );
    server.listen(options.port ?? 8080, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}/${route ? `?checkpoint=${encodeURIComponent(route)}` : ''}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Whether dist/web is missing or older than any source the page is built from. */
export function webBuildStale(root: string): boolean {
  const app = join(root, 'dist/web/app.js');
  if (!existsSync(app) || !existsSync(join(root, 'dist/web/index.html'))) return true;
  const built = statSync(app).mtimeMs;
  const newer = (dir: string): boolean =>
    existsSync(dir) &&
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? newer(join(dir, e.name)) : /\.(ts|wgsl|html|css)$/.test(e.name) && statSync(join(dir, e.name)).mtimeMs > built,
    );
  return newer(join(root, 'src')) || newer(join(root, 'shaders'));
}

/** The newest runs/*\/model.safetensors under `root`, or null. */
export function newestCheckpoint(root: string): string | null {
  const runs = join(root, 'runs');
  if (!existsSync(runs)) return null;
  let best: { file: string; mtime: number } | null = null;
  for (const d of readdirSync(runs)) {
    const file = join(runs, d, 'model.safetensors');
    if (!existsSync(file)) continue;
    const mtime = statSync(file).mtimeMs;
    if (!best || mtime > best.mtime) best = { file, mtime };
  }
  return best?.file ?? null;
}

// ---- Chromium -------------------------------------------------------------------------------

/** Debian's Chromium; nothing here ever downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export function chromiumMissing(path = CHROMIUM_PATH): string | null {
  if (existsSync(path)) return null;
  return (
    `${path} is missing. The browser test and benchmark use Debian's Chromium, which runs WebGPU on SwiftShader:\n` +
    '  sudo apt-get install -y chromium\n' +
    '(sudo bash .ci/install-system.sh installs it too). No tool here downloads a browser of its own.'
  );
}

export async function launchChromium(): Promise<Browser> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** Opens `url`, waits for the first reconstruction, moves the given latent sliders and writes a PNG of the page. */
export async function screenshotPage(url: string, file: string, latents: Record<string, number> = {}): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1180, height: 800 } });
    await page.goto(url);
    await page.waitForFunction(() => Number(document.body.dataset.encodes) >= 1 || document.body.dataset.error, null, { timeout: 120_000 });
    const error = await page.evaluate(() => document.body.dataset.error);
    if (error) throw new Error(`the page reports: ${error}`);
    for (const [id, value] of Object.entries(latents)) {
      if (!(await page.$(`#${id}`))) throw new Error(`--latent ${id}: the page has no slider ${id}`);
      const decodes = await page.evaluate(() => Number(document.body.dataset.decodes));
      await page.locator(`#${id}`).fill(String(value));
      await page.waitForFunction((n) => Number(document.body.dataset.decodes) > n, decodes, { timeout: 60_000 });
      await page.locator(`#${id}`).blur();
    }
    await page.screenshot({ path: file, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: 'string' },
      port: { type: 'string', default: '8080' },
      screenshot: { type: 'string' },
      latent: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(HELP);
  const port = intFlag('port', values.port, 0, 65535)!;
  const latents: Record<string, number> = {};
  for (const item of values.latent ?? []) {
    // zK=V as render's --set takes it (K=V too).
    const m = /^z?([1-9][0-9]*)=(-?[0-9.]+(?:e-?[0-9]+)?)$/.exec(item);
    if (!m) throw new UserError(`--latent takes zK=VALUE, e.g. z1=-2, got "${item}"`);
    latents[`z${m[1]}`] = Number(m[2]);
  }
  if (values.latent && !values.screenshot) throw new UserError('--latent only applies with --screenshot FILE');
  let checkpoint = values.checkpoint === undefined ? null : checkpointFile('--checkpoint', values.checkpoint);
  const root = repoRoot();
  const dir = join(root, 'dist/web');
  if (webBuildStale(root)) {
    console.log(`${existsSync(join(dir, 'app.js')) ? 'dist/web is older than its sources' : 'dist/web is missing'}: building it (npm run build:web)`);
    await buildWeb({ log: (l) => console.log(l) });
  }
  if (!checkpoint) {
    const newest = newestCheckpoint(root);
    checkpoint = shippedCheckpoint() ?? newest;
    if (checkpoint) {
      const other = newest && newest !== checkpoint ? `, e.g. your newest run ${relative(process.cwd(), newest)}` : '';
      console.log(`checkpoint: ${relative(process.cwd(), checkpoint)} (--checkpoint FILE picks another${other})`);
    } else {
      console.log(
        `no checkpoint: neither ${SHIPPED_CHECKPOINT} nor a model.safetensors in runs/. Make one (seconds for tiny, minutes for small) with\n` +
          '  npm run train -- --preset tiny --steps 300 --out runs/tiny\n' +
          'and restart, or drop a .safetensors file on the page.',
      );
    }
  }
  const server = await serveDemo({ dir, checkpoint, port });
  if (values.screenshot) {
    await screenshotPage(server.url, values.screenshot, latents);
    console.log(`wrote ${values.screenshot}`);
    await server.close();
    return;
  }
  console.log(`\nDC-IGN page: ${server.url}\n(Chrome or Edge 113+; on Linux Chromium needs --enable-unsafe-webgpu. Ctrl-C stops.)`);
  process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
}

// Run as a command only when this file (or its bundle in .cache/run) is the entry point.
if (process.argv[1] && /demo\.(ts|mjs)$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCommand(main);
}
