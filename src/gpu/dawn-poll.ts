// Dawn's Node binding (the `webgpu` package) settles its promises by calling ProcessEvents from a
// setImmediate loop for as long as any of them is pending: the main thread spins while it waits
// for the GPU. On a software adapter the GPU's work runs on the same cores (lavapipe: a thread a
// core), and the spinning thread took most of one of them. On 2 cores (lavapipe, 2026-12-07) the
// paper step at batch 4 took 1112 ms, 615-650 with the loop calmed; the small step at batch 20,
// 230 and 133-143 ms.
//
// calmDawnPolling() wraps Dawn's promise-returning methods: while any of their promises is
// pending, one turn of the event loop in each sleeps (Atomics.wait), so Dawn polls between sleeps
// and the main thread stays nearly idle. The first 0.5 ms after a call poll without sleeping, then
// the sleep starts at 0.05 ms and grows to 1 ms over a long wait (fewer polls: a fixed 0.25 ms
// made the paper step 4% slower), so a short wait ends about as soon as it did spinning: the
// kernels bench's sub-millisecond rows (pool3 about 0.33 ms) kept their times with a 0.5 ms grace
// and were 0.05-0.1 ms slower in some runs with 0.2 ms or none; a 1 ms grace took CPU from the
// 2 ms kernels (pool2 2.1 -> 2.6 ms). Node only: the browser's main thread may not block, and its
// WebGPU runs in another process.
import { globals } from 'webgpu';

// A wait's first 0.5 ms poll without sleeping: work that short ends as soon as it did spinning.
const GRACE_MS = 0.5;
const MIN_SLEEP_MS = 0.05;
const MAX_SLEEP_MS = 1;
// How fast the sleep grows: 0.01 ms a ms waited, so 0.25 ms after 20 ms and 1 ms after 95.
const GROWTH = 0.01;

// Every method of the binding that returns a promise Dawn settles by polling.
const METHODS: readonly (readonly [cls: string, method: string])[] = [
  ['GPUQueue', 'onSubmittedWorkDone'],
  ['GPUBuffer', 'mapAsync'],
  ['GPUDevice', 'popErrorScope'],
  ['GPUDevice', 'createComputePipelineAsync'],
  ['GPUDevice', 'createRenderPipelineAsync'],
  ['GPUShaderModule', 'getCompilationInfo'],
];

let installed = false;
let pending = 0;
// One loop of turns at a time: a loop whose last pending call settled may not have seen it yet
// when the next call comes (a second loop would double the sleeps, and so on).
let looping = false;
const cell = new Int32Array(new SharedArrayBuffer(4));

// When the latest of the pending calls was made.
let since = 0;

function turn(): void {
  if (pending === 0) {
    looping = false;
    return;
  }
  const waited = performance.now() - since;
  if (waited >= GRACE_MS) Atomics.wait(cell, 0, 0, Math.min(MAX_SLEEP_MS, MIN_SLEEP_MS + waited * GROWTH));
  setImmediate(turn);
}

function track<T>(p: Promise<T>): Promise<T> {
  since = performance.now();
  pending++;
  if (!looping) {
    looping = true;
    setImmediate(turn);
  }
  const settled = () => void pending--;
  p.then(settled, settled);
  return p;
}

/** Makes waits on Dawn sleep instead of spin, for every device of this process. Idempotent. */
export function calmDawnPolling(): void {
  if (installed) return;
  installed = true;
  const classes = globals as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;
  for (const [cls, method] of METHODS) {
    const proto = classes[cls]?.prototype;
    const f = proto?.[method];
    if (typeof f !== 'function') continue;
    proto![method] = function (this: unknown, ...args: unknown[]) {
      return track(f.apply(this, args) as Promise<unknown>);
    };
  }
}

/** Whether calmDawnPolling() has run in this process. */
export const dawnPollingCalmed = (): boolean => installed;
