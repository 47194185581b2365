// Kernels are WGSL files specialised by a tiny preprocessor; a pipeline's cache key is exactly
// the kernel name, its defines and its override constants: everything that changes the code.

export type Defines = Record<string, string | number | boolean>;

export interface KernelSpec {
  name: string;
  /**
   * The source, or a function that makes it: generated kernels pass one, so that their code is
   * built only when the pipeline is compiled, not on every dispatch (the pooled convolution's
   * unrolled body took about 1 ms of JavaScript a call).
   */
  wgsl: string | (() => string);
  defines?: Defines;
  /** Pipeline-overridable constants (`override X: u32;`), e.g. workgroup sizes. */
  overrides?: Record<string, number>;
  entry?: string;
}

/**
 * `#if NAME` / `#if !NAME` / `#else` / `#endif` select lines by a define's truthiness;
 * `{{NAME}}` substitutes a define's value. An undefined name in `{{}}` is an error.
 */
export function preprocess(source: string, defines: Defines = {}, kernel = 'kernel'): string {
  const out: string[] = [];
  const stack: { active: boolean; taken: boolean }[] = [];
  const active = () => stack.every((s) => s.active);
  source.split('\n').forEach((line, i) => {
    const m = /^\s*#(if|else|endif)\b\s*(!?)\s*(\w*)/.exec(line);
    if (!m) {
      if (active()) {
        out.push(
          line.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
            if (!(name in defines)) throw new Error(`${kernel}.wgsl:${i + 1}: {{${name}}} has no define`);
            return String(defines[name]);
          }),
        );
      } else out.push('');
      return;
    }
    const [, directive, not, name] = m;
    if (directive === 'if') {
      const value = Boolean(defines[name!]);
      const cond = not ? !value : value;
      stack.push({ active: cond, taken: cond });
    } else if (directive === 'else') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`${kernel}.wgsl:${i + 1}: #else without #if`);
      top.active = !top.taken;
    } else {
      if (!stack.pop()) throw new Error(`${kernel}.wgsl:${i + 1}: #endif without #if`);
    }
    out.push('');
  });
  if (stack.length) throw new Error(`${kernel}.wgsl: unterminated #if`);
  return out.join('\n');
}

function sortedJson(o: object | undefined): string {
  if (!o) return '';
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, (o as Record<string, unknown>)[k]]));
}

export function kernelKey(spec: KernelSpec): string {
  return `${spec.name}|${sortedJson(spec.defines)}|${sortedJson(spec.overrides)}|${spec.entry ?? 'main'}`;
}

export interface CompiledKernel {
  key: string;
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/**
 * Pipelines by kernelKey. get() compiles on first use, synchronously: the first step of a run
 * then waits for every kernel in turn. compile() starts one with createComputePipelineAsync
 * instead, so a caller that knows what a step will ask for (the engine's precompile) can have
 * them all built in parallel beforehand. (Where the driver compiles at pipeline creation. Mesa's
 * lavapipe generates a shader's machine code at its first dispatch instead, so there creation
 * takes under a second for a whole step's kernels and the first step still pays the rest.)
 */
export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, CompiledKernel>();
  private quick = new Map<string, CompiledKernel>();
  private compiling = new Map<string, Promise<void>>();
  /** Compilation and validation failures surface here and are thrown at the next sync point. */
  readonly pendingChecks: Promise<Error | null>[] = [];

  constructor(private device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  has(spec: KernelSpec): boolean {
    return this.pipelines.has(kernelKey(spec));
  }

  get(spec: KernelSpec): CompiledKernel {
    // Looked up first by the defines as the caller wrote them, unsorted: the same call site
    // writes them in the same order, and sorting them for the canonical key was most of a
    // lookup's time and garbage (55 lookups a small training step).
    const quick = `${spec.name}|${JSON.stringify(spec.defines ?? null)}|${JSON.stringify(spec.overrides ?? null)}|${spec.entry ?? 'main'}`;
    const seen = this.quick.get(quick);
    if (seen) return seen;
    const key = kernelKey(spec);
    const hit = this.pipelines.get(key);
    if (hit) {
      this.quick.set(quick, hit);
      return hit;
    }
    // Also when compile() has this one under way: a pending promise cannot be waited on here.
    const device = this.device;
    device.pushErrorScope('validation');
    const module = this.module(spec);
    const pipeline = device.createComputePipeline(this.descriptor(spec, module));
    this.pendingChecks.push(device.popErrorScope().then((err) => (err ? this.failure(spec, module, err.message) : null)));
    return this.store(key, spec, pipeline);
  }

  /**
   * Compiles spec's pipeline without blocking (createComputePipelineAsync) unless it is compiled
   * or under way; resolves once get() will find it, or has failed. A failure is reported as
   * get()'s are, naming the kernel and the WGSL line, at the next sync point (pendingChecks); the
   * pipeline stays out of the cache.
   */
  compile(spec: KernelSpec): Promise<void> {
    const key = kernelKey(spec);
    if (this.pipelines.has(key)) return Promise.resolve();
    const under = this.compiling.get(key);
    if (under) return under;
    const device = this.device;
    // A module that fails to compile fails the pipeline too: its own error is reported there.
    device.pushErrorScope('validation');
    const module = this.module(spec);
    void device.popErrorScope();
    const done = device.createComputePipelineAsync(this.descriptor(spec, module)).then(
      (pipeline) => {
        this.compiling.delete(key);
        if (!this.pipelines.has(key)) this.store(key, spec, pipeline);
      },
      (e: unknown) => {
        this.compiling.delete(key);
        this.pendingChecks.push(this.failure(spec, module, e instanceof Error ? e.message : String(e)));
      },
    );
    this.compiling.set(key, done);
    return done;
  }

  private module(spec: KernelSpec): GPUShaderModule {
    const moduleKey = `${spec.name}|${sortedJson(spec.defines)}`;
    let module = this.modules.get(moduleKey);
    if (!module) {
      const code = preprocess(typeof spec.wgsl === 'string' ? spec.wgsl : spec.wgsl(), spec.defines, spec.name);
      module = this.device.createShaderModule({ code, label: spec.name });
      this.modules.set(moduleKey, module);
    }
    return module;
  }

  private descriptor(spec: KernelSpec, module: GPUShaderModule): GPUComputePipelineDescriptor {
    return { label: spec.name, layout: 'auto', compute: { module, entryPoint: spec.entry ?? 'main', constants: spec.overrides } };
  }

  private store(key: string, spec: KernelSpec, pipeline: GPUComputePipeline): CompiledKernel {
    const compiled = { key, name: spec.name, pipeline, layout: pipeline.getBindGroupLayout(0) };
    this.pipelines.set(key, compiled);
    return compiled;
  }

  /** The error to report: the compiler's messages with their WGSL lines where it gives them. */
  private async failure(spec: KernelSpec, module: GPUShaderModule, message: string): Promise<Error> {
    let detail = message;
    try {
      const info = await module.getCompilationInfo();
      const msgs = info.messages.filter((m) => m.type === 'error');
      if (msgs.length) detail = msgs.map((m) => `line ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
    } catch {
      /* getCompilationInfo is optional detail */
    }
    return new Error(`kernel ${spec.name} failed to compile (${kernelKey(spec)}):\n${detail}`);
  }
}
