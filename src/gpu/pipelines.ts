// Kernels are WGSL files specialised by a tiny preprocessor; a pipeline's cache key is exactly
// the kernel name, its defines and its override constants: everything that changes the code.

export type Defines = Record<string, string | number | boolean>;

export interface KernelSpec {
  name: string;
  wgsl: string;
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

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, CompiledKernel>();
  /** Compilation and validation failures surface here and are thrown at the next sync point. */
  readonly pendingChecks: Promise<Error | null>[] = [];

  constructor(private device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(spec: KernelSpec): CompiledKernel {
    const key = kernelKey(spec);
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const moduleKey = `${spec.name}|${sortedJson(spec.defines)}`;
    const device = this.device;
    device.pushErrorScope('validation');
    let module = this.modules.get(moduleKey);
    let code = '';
    if (!module) {
      code = preprocess(spec.wgsl, spec.defines, spec.name);
      module = device.createShaderModule({ code, label: spec.name });
      this.modules.set(moduleKey, module);
    }
    const pipeline = device.createComputePipeline({
      label: spec.name,
      layout: 'auto',
      compute: { module, entryPoint: spec.entry ?? 'main', constants: spec.overrides },
    });
    const shaderModule = module;
    this.pendingChecks.push(
      device.popErrorScope().then(async (err) => {
        if (!err) return null;
        let detail = err.message;
        try {
          const info = await shaderModule.getCompilationInfo();
          const msgs = info.messages.filter((m) => m.type === 'error');
          if (msgs.length) detail = msgs.map((m) => `line ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
        } catch {
          /* getCompilationInfo is optional detail */
        }
        return new Error(`kernel ${spec.name} failed to compile (${key}):\n${detail}`);
      }),
    );
    const compiled = { key, name: spec.name, pipeline, layout: pipeline.getBindGroupLayout(0) };
    this.pipelines.set(key, compiled);
    return compiled;
  }
}
