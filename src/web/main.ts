// The page: a checkpoint and an image in, the encoder's latents and the decoder's images out,
// latent sliders that re-render through the decoder. Plain DOM; the state a test needs is in data
// attributes (body: state, encodes, decodes; #latents: mu, logvar).
import { initEngine, NoAdapterError } from '../browser.js';
import { Rng, sampleIdentity, toModelImage, type FaceParams, type RawImage } from '../data/index.js';
import { drawLatentChart, GROUP_NAME, latentGroup } from './chart.js';
import { decodeImageFile, drawGray, videoFrame } from './pixels.js';
import { Latest, Session, type ModelInfo } from './session.js';

/** Identity latents that get a slider (z4 onwards); the rest keep their mu. */
const IDENTITY_SLIDERS = 5;
/** Copied beside the page by npm run build:web from models/. */
const SHIPPED_CHECKPOINT = 'small.safetensors';

/** Face renders before any checkpoint says the model's input size. */
const FALLBACK_SIZE = 64;
// Identity seeds of the page's renderer draw from their own stream, apart from the training batches'.
const IDENTITY_STREAM = 0x7765;

type Source = 'face' | 'file' | 'webcam';

const byId = <T extends HTMLElement = HTMLElement>(id: string) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page: #${id} is missing from index.html`);
  return node as T;
};
const input = (id: string) => byId<HTMLInputElement>(id);
const canvas = (id: string) => byId<HTMLCanvasElement>(id);

let session: Session | null = null;
let source: Source = 'face';
let file: { raw: RawImage; name: string } | null = null;
let latents: { mu: Float32Array; logvar: Float32Array; z: Float32Array } | null = null;
let webcam: MediaStream | null = null;
const times = { encode: [] as number[], decode: [] as number[], render: [] as number[] };

// ---- messages ---------------------------------------------------------------------------------

function setStatus(text: string): void {
  byId('status').textContent = text;
}

function showError(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  console.error(e);
  const box = byId('error');
  box.textContent = message;
  box.hidden = false;
  document.body.dataset.error = message;
}

function clearError(): void {
  byId('error').hidden = true;
  delete document.body.dataset.error;
}

function noWebgpu(detail: string): void {
  document.body.dataset.state = 'no-webgpu';
  byId('no-webgpu').hidden = false;
  byId('no-webgpu-detail').textContent = `The page needs WebGPU, and here ${detail}.`;
  byId('adapter').textContent = 'none';
}

// Two decimals without a "-0.00".
const fixed2 = (v: number) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function showTimes(): void {
  const part = (name: string, xs: number[]) =>
    xs.length ? `${name} ${xs[xs.length - 1]!.toFixed(1)} ms (${median(xs).toFixed(1)})` : `${name} \u2013 ms`;
  byId('timing').textContent = [
    part('encode', times.encode),
    part('decode', times.decode),
    ...(times.render.length ? [part('face render', times.render)] : []),
  ].join(' \u00b7 ');
}

function bump(key: 'encodes' | 'decodes'): void {
  document.body.dataset[key] = String(Number(document.body.dataset[key] ?? 0) + 1);
}

// ---- checkpoint -------------------------------------------------------------------------------

async function loadCheckpoint(bytes: Uint8Array, name: string): Promise<void> {
  if (!session) return;
  clearError();
  setStatus(`Loading ${name}\u2026`);
  let info: ModelInfo;
  try {
    info = await session.load(bytes, name);
  } catch (e) {
    setStatus('');
    throw e;
  }
  byId('checkpoint-info').textContent =
    `${info.name}: preset ${info.preset}, ${info.imageSize}\u00d7${info.imageSize} input, ${info.latents} latents` +
    `${info.step === null ? '' : `, step ${info.step}`}, ${(info.bytes / 2 ** 20).toFixed(2)} MiB.`;
  document.body.dataset.preset = info.preset;
  latents = null;
  buildLatentSliders(info.latents);
  setStatus(`Loaded ${info.name}.`);
  refreshInput();
}

/** Fetches and loads a checkpoint; `optional` (the shipped default) quietly skips a missing one. */
async function loadCheckpointUrl(url: string, optional = false): Promise<void> {
  setStatus(`Fetching ${url}\u2026`);
  const response = await fetch(url).catch((e: Error) => {
    throw new Error(`${url}: cannot fetch the checkpoint (${e.message})`);
  });
  if (optional && response.status === 404) {
    setStatus('');
    return refreshInput();
  }
  if (!response.ok) throw new Error(`${url}: the server answered ${response.status} ${response.statusText}`);
  const name = decodeURIComponent(new URL(url, location.href).pathname.split('/').pop() || 'checkpoint');
  await loadCheckpoint(new Uint8Array(await response.arrayBuffer()), name);
}

async function loadCheckpointFile(f: File): Promise<void> {
  await loadCheckpoint(new Uint8Array(await f.arrayBuffer()), f.name);
}

// ---- input image, encoder, decoder ------------------------------------------------------------

function faceParams(): FaceParams {
  const identity = sampleIdentity(Rng.fromSeed(Number(input('face-seed').value), IDENTITY_STREAM));
  return {
    azimuth: Number(input('face-azimuth').value),
    elevation: Number(input('face-elevation').value),
    light: Number(input('face-light').value),
    ...identity,
  };
}

/** The current source as model input, or null while it has nothing to give. */
async function currentImage(size: number): Promise<Float32Array | null> {
  if (source === 'face') {
    const { image, ms } = await session!.renderFace(faceParams(), size);
    times.render.push(ms);
    return image;
  }
  if (source === 'file') return file ? toModelImage(file.raw, size) : null;
  if (!webcam) return null;
  return toModelImage(videoFrame(byId<HTMLVideoElement>('webcam-video')), size);
}

const inputJob = new Latest<void>(async () => {
  if (!session) return;
  const size = session.info?.imageSize ?? FALLBACK_SIZE;
  const image = await currentImage(size);
  if (!image) return;
  drawGray(canvas('input-canvas'), image, size);
  if (!session.info) {
    showTimes();
    return;
  }
  const { mu, logvar, ms } = await session.encode(image);
  times.encode.push(ms);
  latents = { mu, logvar, z: mu.slice() };
  const figure = byId('latents');
  figure.dataset.mu = JSON.stringify(Array.from(mu));
  figure.dataset.logvar = JSON.stringify(Array.from(logvar));
  byId('latents-json').textContent = JSON.stringify({ mu: Array.from(mu), logvar: Array.from(logvar) }, null, 1);
  drawLatentChart(byId('chart'), mu, logvar);
  setSliders(mu);
  const decoded = await session.decode(mu);
  times.decode.push(decoded.ms);
  drawGray(canvas('recon-canvas'), decoded.image, size);
  drawGray(canvas('edit-canvas'), decoded.image, size);
  showTimes();
  bump('decodes');
  bump('encodes');
}, showError);

const decodeJob = new Latest<void>(async () => {
  if (!session?.info || !latents) return;
  const { image, ms } = await session.decode(latents.z);
  times.decode.push(ms);
  drawGray(canvas('edit-canvas'), image, session.info.imageSize);
  showTimes();
  bump('decodes');
}, showError);

function refreshInput(): void {
  inputJob.request();
}

// ---- latent sliders ---------------------------------------------------------------------------

function shownLatents(n: number): number[] {
  return Array.from({ length: Math.min(n, 3 + IDENTITY_SLIDERS) }, (_, i) => i);
}

function buildLatentSliders(n: number): void {
  const host = byId('latent-sliders');
  host.replaceChildren();
  for (const i of shownLatents(n)) {
    const group = latentGroup(i);
    const row = document.createElement('div');
    row.className = `slider ${group}`;
    const id = `z${i + 1}`;
    const label = Object.assign(document.createElement('label'), { htmlFor: id, textContent: `z${i + 1} ${GROUP_NAME[group]}` });
    const range = Object.assign(document.createElement('input'), { type: 'range', id, min: '-3', max: '3', step: '0.01', value: '0', disabled: true });
    const out = Object.assign(document.createElement('output'), { id: `${id}-value`, textContent: '0.00' });
    out.htmlFor.add(id);
    range.addEventListener('input', () => {
      out.textContent = fixed2(Number(range.value));
      if (!latents) return;
      latents.z[i] = Number(range.value);
      decodeJob.request();
    });
    row.append(label, range, out);
    host.append(row);
  }
}

function setSliders(values: Float32Array): void {
  for (const i of shownLatents(values.length)) {
    const range = input(`z${i + 1}`);
    const v = values[i]!;
    // Wide enough to hold mu and to move a few units either side of it.
    const limit = Math.max(3, Math.ceil(Math.abs(v) + 1));
    range.min = String(-limit);
    range.max = String(limit);
    range.value = String(v);
    range.disabled = false;
    byId(`z${i + 1}-value`).textContent = fixed2(v);
  }
  byId<HTMLButtonElement>('reset-z').disabled = false;
}

// ---- wiring -----------------------------------------------------------------------------------

function selectSource(s: Source): void {
  source = s;
  for (const name of ['face', 'file', 'webcam'] as const) byId(`panel-${name}`).hidden = name !== s;
  const radio = document.querySelector<HTMLInputElement>(`input[name="source"][value="${s}"]`);
  if (radio) radio.checked = true;
}

async function useImageFile(f: File): Promise<void> {
  clearError();
  file = { raw: await decodeImageFile(f, f.name), name: f.name };
  selectSource('file');
  setStatus(`Image ${f.name} (${file.raw.width}\u00d7${file.raw.height}).`);
  refreshInput();
}

const isCheckpoint = (f: File) => /\.safetensors$/i.test(f.name);
const isImage = (f: File) => /^image\//.test(f.type) || /\.(png|jpe?g)$/i.test(f.name);

async function startWebcam(): Promise<void> {
  const video = byId<HTMLVideoElement>('webcam-video');
  const button = byId<HTMLButtonElement>('webcam-start');
  if (webcam) {
    for (const track of webcam.getTracks()) track.stop();
    webcam = null;
    video.hidden = true;
    button.textContent = 'Start webcam';
    byId<HTMLButtonElement>('webcam-frame').disabled = true;
    input('webcam-live').disabled = true;
    input('webcam-live').checked = false;
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no webcam access here (it needs https:// or localhost)');
  try {
    webcam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    throw new Error(`no webcam: ${(e as Error).message || (e as Error).name}`);
  }
  video.srcObject = webcam;
  video.hidden = false;
  await video.play();
  button.textContent = 'Stop webcam';
  byId<HTMLButtonElement>('webcam-frame').disabled = false;
  input('webcam-live').disabled = false;
}

function liveLoop(): void {
  if (!webcam || !input('webcam-live').checked) return;
  if (source === 'webcam') refreshInput();
  requestAnimationFrame(liveLoop);
}

function wire(): void {
  const guard = (work: () => Promise<void>) => () => void work().catch(showError);
  for (const [id, digits] of [['face-azimuth', 2], ['face-elevation', 2], ['face-light', 2], ['face-seed', 0]] as const) {
    input(id).addEventListener('input', () => {
      byId(`${id}-value`).textContent = digits ? fixed2(Number(input(id).value)) : input(id).value;
      if (source === 'face') refreshInput();
    });
  }
  for (const radio of Array.from(document.querySelectorAll<HTMLInputElement>('input[name="source"]'))) {
    radio.addEventListener('change', () => {
      selectSource(radio.value as Source);
      refreshInput();
    });
  }
  input('checkpoint-file').addEventListener('change', guard(async () => {
    const f = input('checkpoint-file').files?.[0];
    if (f) await loadCheckpointFile(f);
  }));
  input('image-file').addEventListener('change', guard(async () => {
    const f = input('image-file').files?.[0];
    if (f) await useImageFile(f);
  }));
  byId('webcam-start').addEventListener('click', guard(startWebcam));
  byId('webcam-frame').addEventListener('click', () => {
    selectSource('webcam');
    refreshInput();
  });
  input('webcam-live').addEventListener('change', () => {
    selectSource('webcam');
    liveLoop();
  });
  byId('reset-z').addEventListener('click', () => {
    if (!latents) return;
    latents.z = latents.mu.slice();
    setSliders(latents.mu);
    decodeJob.request();
  });

  // Drops anywhere: a .safetensors file is a checkpoint, an image is the input.
  let depth = 0;
  document.addEventListener('dragenter', (e) => {
    e.preventDefault();
    if (++depth === 1) document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      document.body.classList.remove('dragging');
    }
  });
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    const files = Array.from(e.dataTransfer?.files ?? []);
    void (async () => {
      const checkpoint = files.find(isCheckpoint);
      const image = files.find(isImage);
      if (!checkpoint && !image) throw new Error('drop a .safetensors checkpoint or a PNG/JPEG image');
      if (checkpoint) await loadCheckpointFile(checkpoint);
      if (image) await useImageFile(image);
    })().catch(showError);
  });
  window.addEventListener('unhandledrejection', (e) => showError(e.reason));
}

async function main(): Promise<void> {
  wire();
  if (!navigator.gpu) return noWebgpu('navigator.gpu is undefined');
  let engine;
  try {
    engine = await initEngine();
  } catch (e) {
    if (e instanceof NoAdapterError) return noWebgpu(`no adapter was found (${e.detail})`);
    throw e;
  }
  byId('adapter').textContent = engine.report;
  document.body.dataset.adapter = engine.report;
  void engine.device.lost.then((info) => {
    if (info.reason !== 'destroyed') showError(`The GPU device was lost (${info.message || info.reason}); reload the page.`);
  });
  session = new Session(engine);
  document.body.dataset.state = 'ready';
  // Without ?checkpoint= the page opens with the shipped one beside it; ?checkpoint= (empty) opens none.
  const given = new URLSearchParams(location.search).get('checkpoint');
  const url = given ?? SHIPPED_CHECKPOINT;
  if (!url) return refreshInput();
  await loadCheckpointUrl(url, given === null).catch((e) => {
    // The page stays usable: a dropped or picked checkpoint still works.
    setStatus('');
    showError(e);
    refreshInput();
  });
}

main().catch(showError);
