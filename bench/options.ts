// The options every bench takes, from `npm run bench`'s flags (bench/index.ts): each bench reads
// its own and ignores the rest; an unset one takes that bench's default.
import type { BatchKind } from '../src/train/schedule.js';
import type { ConvChoice } from '../src/gpu/autotune.js';

export interface BenchOptions {
  /** matmul: n of the n x n x n products; faces: image sides. */
  sizes?: number[];
  /** Images per batch. */
  batch?: number;
  /** kernels: only these layers (names as in LAYER_NAMES). */
  layers?: string[];
  /** Measure tfjs-backend-webgpu too (default true). */
  tfjs?: boolean;
  /** Measure jax-js too (default true). */
  jax?: boolean;
  /** step: measure PyTorch on the CPU too (bench/torch_step.py; default false). */
  torch?: boolean;
  /** web: measure onnxruntime-web too (default true; needs bench/torch_onnx.py's export). */
  ort?: boolean;
  /** web: the page's convolution variant (--conv-variant); default its adapter's. */
  convVariant?: ConvChoice;
  /** kernels: compare ours with tfjs on the first run of each row (default true; needs tfjs). */
  check?: boolean;
  /** step: the model preset, its timed steps of ours, of tfjs and of jax-js, the batch type. */
  preset?: string;
  steps?: number;
  tfjsSteps?: number;
  jaxSteps?: number;
  torchSteps?: number;
  kind?: BatchKind;
  /** step: one more step of ours with every dispatch timed on its own (needs timestamp-query). */
  profile?: boolean;
  /** step: print the traced step's memory in full. */
  memory?: boolean;
  /** Progress lines while measuring. */
  log?: (line: string) => void;
}
