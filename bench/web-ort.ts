// The onnxruntime-web side of the web bench page: the encoder exported by bench/torch_onnx.py, run
// by ORT's wasm and webgpu execution providers. ORT is imported at run time from the bench's own
// server (its dist folder in node_modules), so the page bundle stays the same without it.
import type * as Ort from 'onnxruntime-web';

export interface OrtSide {
  name: string;
  /** One encode, upload to readback: mu then logvar. */
  run: () => Promise<Float32Array[]>;
  release: () => Promise<void>;
}

const EPS = ['wasm', 'webgpu'] as const;

/** One side per execution provider; a provider that does not start gives its error instead. */
export async function ortSides(distUrl: string, onnxUrl: string, imageSize: number, image: Float32Array): Promise<{ sides: OrtSide[]; errors: Record<string, string>; version: string }> {
  const sides: OrtSide[] = [];
  const errors: Record<string, string> = {};
  let ort: typeof Ort;
  try {
    ort = (await import(/* @vite-ignore */ `${distUrl}ort.webgpu.min.mjs`)) as typeof Ort;
  } catch (e) {
    for (const ep of EPS) errors[`ORT-${ep}`] = `importing onnxruntime-web: ${(e as Error).message}`;
    return { sides, errors, version: 'not loaded' };
  }
  ort.env.wasm.wasmPaths = distUrl;
  // Threads need SharedArrayBuffer, which needs a cross-origin isolated page (COOP/COEP headers);
  // the bench's server sends neither, so ORT runs on one thread.
  ort.env.wasm.numThreads = 1;
  const model = new Uint8Array(await (await fetch(onnxUrl)).arrayBuffer());
  for (const ep of EPS) {
    const name = `ORT-${ep}`;
    try {
      const session = await ort.InferenceSession.create(model, { executionProviders: [ep] });
      sides.push({
        name,
        run: async () => {
          const x = new ort.Tensor('float32', image, [1, 1, imageSize, imageSize]);
          const out = await session.run({ image: x });
          // getData reads a GPU-resident output back; CPU outputs it returns as they are.
          const r = await Promise.all(['mu', 'logvar'].map(async (k) => Float32Array.from((await out[k]!.getData(true)) as Float32Array)));
          x.dispose();
          return r;
        },
        release: () => session.release(),
      });
    } catch (e) {
      errors[name] = (e as Error).message ?? String(e);
    }
  }
  return { sides, errors, version: ort.env.versions.web ?? 'unknown' };
}
