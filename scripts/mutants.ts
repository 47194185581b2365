// Bugs that scripts/mutate.ts plants one at a time, each with the test files that should catch
// it. `find` must occur exactly once in `file`; when the code moves on, a mutant whose text is
// gone is reported as stale rather than silently skipped.

export interface Mutant {
  /** Short name, for --only. */
  name: string;
  /** What goes wrong, as a reader of docs/testing.md would put it. */
  bug: string;
  file: string;
  find: string;
  replace: string;
  tests: string[];
}

// The float64 reference alone, so that the table shows what it catches by itself.
const RENDER = ['test/face-reference.test.ts'];

export const MUTANTS: Mutant[] = [
  // The six of the table that asked for this list.
  {
    name: 'elevation-sign',
    bug: "the camera's elevation sign flipped",
    file: 'src/data/camera.ts',
    find: 'mat4.rotateX(model, model, -elevation);',
    replace: 'mat4.rotateX(model, model, elevation);',
    tests: RENDER,
  },
  {
    name: 'no-shadow',
    bug: 'the soft self-shadow dropped',
    file: 'shaders/face.wgsl',
    find: 'return lit * s * s * (3.0 - 2.0 * s);',
    replace: 'return lit;',
    tests: RENDER,
  },
  {
    name: 'pass-through-swap',
    bug: "passThrough's az and el ranges swapped",
    file: 'src/train/schedule.ts',
    find: "case 'az':\n      return [0, 1];\n    case 'el':\n      return [1, 2];",
    replace: "case 'az':\n      return [1, 2];\n    case 'el':\n      return [0, 1];",
    tests: ['test/train-step.test.ts'],
  },
  {
    name: 'broadcast-chunk-offset',
    bug: 'a broadcast operand ignoring its chunk offset',
    file: 'shaders/elementwise.wgsl',
    find: 'let b = B[strided(u.base + i, true)];',
    replace: 'let b = B[strided(i, true)];',
    tests: ['test/elementwise.test.ts'],
  },
  {
    name: 'no-bias-correction',
    bug: "RMSProp's bias correction removed",
    file: 'src/train/optim.ts',
    find: 'return (this.lr * Math.sqrt(1 - Math.pow(1 - this.b2, t))) / (1 - Math.pow(1 - this.b1, t));',
    replace: 'return this.lr;',
    tests: ['test/optim.test.ts'],
  },
  {
    name: 'same-padding-side',
    bug: "'same' padding putting the odd pixel on the wrong side",
    file: 'src/kernels/conv2d.ts',
    find: 'padTop = Math.floor((kh - 1) / 2);\n    padLeft = Math.floor((kw - 1) / 2);',
    replace: 'padTop = Math.ceil((kh - 1) / 2);\n    padLeft = Math.ceil((kw - 1) / 2);',
    tests: ['test/conv2d.test.ts'],
  },

  // Renderer.
  {
    name: 'azimuth-sign',
    bug: 'the head turning the wrong way',
    file: 'src/data/camera.ts',
    find: 'mat4.rotateY(model, model, azimuth);',
    replace: 'mat4.rotateY(model, model, -azimuth);',
    tests: RENDER,
  },
  {
    name: 'light-side',
    bug: 'the light coming from the other side',
    file: 'src/data/camera.ts',
    find: 'const toLight = [Math.sin(lightAzimuth) * ce,',
    replace: 'const toLight = [-Math.sin(lightAzimuth) * ce,',
    tests: RENDER,
  },
  {
    name: 'no-ambient',
    bug: 'the ambient term dropped from the shading',
    file: 'shaders/face.wgsl',
    find: 'let v = albedo(p) * (U.p.ambient + (1.0 - U.p.ambient) * lit);',
    replace: 'let v = albedo(p) * lit;',
    tests: RENDER,
  },
  {
    name: 'penumbra',
    bug: "the shadow's penumbra five times wider",
    file: 'shaders/face.wgsl',
    find: 'res = min(res, 10.0 * d / st);',
    replace: 'res = min(res, 2.0 * d / st);',
    tests: RENDER,
  },
  {
    name: 'hit-tolerance',
    bug: "the tracer's hit tolerance four times too loose",
    file: 'shaders/face.wgsl',
    find: 'if (d < 0.5 * U.f.eye.w * t) { hit = true; break; }',
    replace: 'if (d < 2.0 * U.f.eye.w * t) { hit = true; break; }',
    tests: RENDER,
  },
  {
    name: 'gamma',
    bug: 'display gamma 1/2.2 instead of 1/1.6',
    file: 'src/data/render.ts',
    find: 'const GAMMA = 1 / 1.6;',
    replace: 'const GAMMA = 1 / 2.2;',
    tests: RENDER,
  },
  {
    name: 'pixel-centre',
    bug: 'rays through pixel corners instead of centres',
    file: 'shaders/face.wgsl',
    find: 'centre[i] = shade(vec2f(f32(gid.x) + 0.5, f32(gid.y) + 0.5));',
    replace: 'centre[i] = shade(vec2f(f32(gid.x), f32(gid.y)));',
    tests: RENDER,
  },

  {
    name: 'edge-weights',
    bug: 'edge pixels averaging the four subsamples without the centre',
    file: 'shaders/face.wgsl',
    find: 'v = (v + subValue[b] + subValue[b + 1u] + subValue[b + 2u] + subValue[b + 3u]) * 0.2;',
    replace: 'v = (subValue[b] + subValue[b + 1u] + subValue[b + 2u] + subValue[b + 3u]) * 0.25;',
    tests: RENDER,
  },
  {
    name: 'edge-depth-ignored',
    bug: 'occlusion edges (depth steps) not supersampled',
    file: 'shaders/face.wgsl',
    find: 'return abs(a.x - b.x) > U.p.edgeValue || (a.y > 0.0 && abs(a.y - b.y) > U.p.edgeDepth);',
    replace: 'return abs(a.x - b.x) > U.p.edgeValue;',
    tests: RENDER,
  },

  // Data batches.
  {
    name: 'sweep-unstratified',
    bug: 'a sweep drawn uniformly instead of one value per slice of the range',
    file: 'src/data/batches.ts',
    find: 'lo + ((hi - lo) * (i + rng.uniform())) / n',
    replace: 'lo + (hi - lo) * rng.uniform()',
    tests: ['test/faces.test.ts'],
  },
  {
    name: 'el-sweeps-light',
    bug: 'EL batches sweeping the light',
    file: 'src/data/batches.ts',
    find: "type === 'el' ? 'elevation' : 'light';",
    replace: "type === 'el' ? 'light' : 'light';",
    tests: ['test/faces.test.ts'],
  },
  {
    name: 'test-split',
    bug: 'the held-out set drawn from the training stream',
    file: 'src/data/batches.ts',
    find: 'const TEST_SPLIT = 0x7465;',
    replace: 'const TEST_SPLIT = 0x7472;',
    tests: ['test/faces.test.ts'],
  },

  // Clamp and gradient filter.
  {
    name: 'clamp-inverted',
    bug: 'the clamp keeping sample 0 inside the pass-through range instead of outside',
    file: 'shaders/selective.wgsl',
    find: 'OUT[i] = select(Z0[j], Z[i], through);',
    replace: 'OUT[i] = select(Z[i], Z0[j], through);',
    tests: ['test/selective.test.ts'],
  },
  {
    name: 'mean-clamp-sum',
    bug: 'the mean clamp writing the batch sum instead of the mean',
    file: 'shaders/selective.wgsl',
    find: 'OUT[i] = select(Z0[j] / f32(u.count), Z[i], through);',
    replace: 'OUT[i] = select(Z0[j], Z[i], through);',
    tests: ['test/selective.test.ts'],
  },
  {
    name: 'invariance-sign',
    bug: 'invariance targeting pushing latents away from the batch mean',
    file: 'shaders/selective.wgsl',
    find: 'let other = u.strength * (Z[i] - SUM[j] / f32(u.count));',
    replace: 'let other = u.strength * (SUM[j] / f32(u.count) - Z[i]);',
    tests: ['test/selective.test.ts'],
  },

  // The same in the training step's fused latent stage.
  {
    name: 'latents-clamp-inverted',
    bug: "the fused latent stage's clamp keeping sample 0 inside the pass-through range",
    file: 'shaders/latents.wgsl',
    find: 'let src = select(j, i, through(j));',
    replace: 'let src = select(i, j, through(j));',
    tests: ['test/latents.test.ts', 'test/train-step.test.ts'],
  },
  {
    name: 'latents-mean-clamp-sum',
    bug: "the fused latent stage's mean clamp writing the batch sum",
    file: 'shaders/latents.wgsl',
    find: 'let mean = col / f32(N);',
    replace: 'let mean = col;',
    tests: ['test/latents.test.ts', 'test/train-step.test.ts'],
  },
  {
    name: 'latents-invariance-sign',
    bug: "the fused latent stage's invariance targeting pushing latents away from the batch mean",
    file: 'shaders/latents.wgsl',
    find: 'GMU[i] = u.strength * (MU[i] - meanMu);',
    replace: 'GMU[i] = u.strength * (meanMu - MU[i]);',
    tests: ['test/latents.test.ts', 'test/train-step.test.ts'],
  },
  {
    name: 'latents-kl-weight',
    bug: "the fused latent stage ignoring the KL's incoming gradient (taking it as 1)",
    file: 'shaders/latents.wgsl',
    find: 'gm += gk * MU[i];',
    replace: 'gm += MU[i];',
    tests: ['test/latents.test.ts'],
  },

  // Losses.
  {
    name: 'kl-logvar-grad',
    bug: "the KL gradient for logvar missing its -1",
    file: 'shaders/losses.wgsl',
    find: 'GB[i] = g * 0.5 * (exp(b) - 1.0);',
    replace: 'GB[i] = g * 0.5 * exp(b);',
    tests: ['test/losses.test.ts'],
  },
  {
    name: 'bce-grad-unclamped',
    bug: 'the BCE gradient taken at the unclamped probability',
    file: 'shaders/losses.wgsl',
    find: 'let p = clamp(a, u.eps, 1.0 - u.eps);\n  GA[i]',
    replace: 'let p = a;\n  GA[i]',
    tests: ['test/losses.test.ts'],
  },

  // Optimizer.
  {
    name: 'moment-decays-swapped',
    bug: "RMSProp's first moment decayed with b2",
    file: 'shaders/optim.wgsl',
    find: 'let m = (1.0 - u.b1) * M[i] + u.b1 * g;',
    replace: 'let m = (1.0 - u.b2) * M[i] + u.b2 * g;',
    tests: ['test/optim.test.ts'],
  },
  {
    name: 'update-short',
    bug: "every RMSProp update 10% short (the training-step test's weight check)",
    file: 'shaders/optim.wgsl',
    find: 'X[i] = X[i] - u.lr * (m / sqrt(v + u.eps));',
    replace: 'X[i] = X[i] - 0.9 * u.lr * (m / sqrt(v + u.eps));',
    tests: ['test/train-step.test.ts'],
  },
  {
    name: 'no-grad-skipped',
    bug: 'a parameter without a gradient left alone instead of stepped with a zero gradient',
    file: 'src/train/optim.ts',
    find: "const g = checkGrad('RMSProp', p, k);",
    replace: "const g = checkGrad('RMSProp', p, k);\n      if (!g) return;",
    tests: ['test/optim.test.ts'],
  },
  {
    name: 'resume-m-from-v',
    bug: "a resumed run's first moment loaded from the second",
    file: 'src/train/state.ts',
    find: 'moments: { m: names.map((n) => pick(`m.${n}`))',
    replace: 'moments: { m: names.map((n) => pick(`v.${n}`))',
    tests: ['test/checkpoint.test.ts'],
  },
  {
    name: 'resume-step-check',
    bug: 'a training state of another step accepted on resume',
    file: 'src/train/state.ts',
    find: 'if (sm.step !== metadata.step) throw',
    replace: 'if (false) throw',
    tests: ['test/checkpoint.test.ts'],
  },
  {
    name: 'atomic-in-place',
    bug: 'checkpoints written in place instead of through a temporary file',
    file: 'src/train/files.ts',
    find: 'const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);',
    replace: 'const tmp = path;',
    tests: ['test/files.test.ts'],
  },
  {
    name: 'atomic-leftover',
    bug: 'a failed write leaving its temporary file behind',
    file: 'src/train/files.ts',
    find: '  } catch (e) {\n    closeSync(fd);\n    rmSync(tmp, { force: true });',
    replace: '  } catch (e) {\n    closeSync(fd);',
    tests: ['test/files.test.ts'],
  },

  // CLI and the page.
  {
    name: 'cli-exit-2',
    bug: 'the commands exiting 2 on a usage error',
    file: 'src/cli/errors.ts',
    find: 'export const ERROR_EXIT = 1;',
    replace: 'export const ERROR_EXIT = 2;',
    tests: ['test/train-cli.test.ts', 'test/cli-errors.test.ts'],
  },
  {
    name: 'cli-batch-min',
    bug: '--batch 1 accepted (the clamp needs two samples)',
    file: 'src/cli/train.ts',
    find: "int('batch', a.batch, 2)",
    replace: "int('batch', a.batch, 1)",
    tests: ['test/train-cli.test.ts'],
  },
  {
    name: 'cli-interrupt-status',
    bug: 'an interrupted run exiting 0',
    file: 'src/cli/train.ts',
    find: 'return stopRequested ? 130 : 0;',
    replace: 'return 0;',
    tests: ['test/train-cli.test.ts'],
  },
  {
    name: 'slider-dead',
    bug: "the page's latent slider not reaching the decoder",
    file: 'src/web/main.ts',
    find: 'latents.z[i] = Number(range.value);',
    replace: 'latents.z[i] = latents.mu[i]!;',
    tests: ['test/web.test.ts'],
  },
  {
    name: 'slider-wrong-latent',
    bug: "the page's slider moving the next latent",
    file: 'src/web/main.ts',
    find: 'latents.z[i] = Number(range.value);',
    replace: 'latents.z[(i + 1) % latents.z.length] = Number(range.value);',
    tests: ['test/web.test.ts'],
  },
  // Fewer dispatches: packed parameters, fused passes, nodes of several outputs.
  {
    name: 'packed-offset-ignored',
    bug: 'a tensor in a packed buffer bound from the buffer\'s start',
    file: 'src/kernels/util.ts',
    find: 'return { buffer: t.buffer, offset: t.offset, size: Math.max(t.size, 1) * 4 };',
    replace: 'return { buffer: t.buffer, offset: 0, size: Math.max(t.size, 1) * 4 };',
    tests: ['test/packed.test.ts'],
  },
  {
    name: 'stale-gradient-slot',
    bug: "RMSProp reading last step's gradient for a parameter no gradient reached",
    file: 'src/train/optim.ts',
    find: 'if (!g) engine.clear(slot.buffer, slot.offset, slot.size * 4);',
    replace: 'if (!g) return;',
    tests: ['test/optim.test.ts'],
  },
  {
    name: 'bias-lane-zero',
    bug: "the weight gradient's bias lane reading zeros instead of ones",
    file: 'shaders/conv2d.wgsl',
    find: 'let pad = select(0.0, 1.0, bias);',
    replace: 'let pad = 0.0;',
    tests: ['test/conv2d.test.ts'],
  },
  {
    name: 'pool-rows-unshared',
    bug: "the fused conv-pool's second row not given the weights carried from the step before",
    file: 'src/kernels/conv2d.ts',
    find: 'L.push(`        wp${o}_${b} = w${o}_${b};`);',
    replace: 'L.push(`        wp${o}_${b} = 0.0;`);',
    tests: ['test/conv-pool.test.ts'],
  },
  {
    name: 'fold-back-three-parities',
    bug: 'the fold back summing three of the four parities',
    file: 'shaders/upconv.wgsl',
    find: 'for (var q = 0u; q < 4u; q++) {\n    // floor((p + k - P) / 2) + PF',
    replace: 'for (var q = 0u; q < 3u; q++) {\n    // floor((p + k - P) / 2) + PF',
    tests: ['test/upconv.test.ts'],
  },
  {
    name: 'sum-offer-shared',
    bug: 'a rule adding into a gradient another tensor still reads',
    file: 'src/autograd/tape.ts',
    find: 'return prev && prev.isSoleOwner && first(input, k) ? prev : null;',
    replace: 'return prev && first(input, k) ? prev : null;',
    tests: ['test/autograd.test.ts'],
  },
  {
    name: 'pooled-dy-past-row',
    bug: "the weight gradient's pooled dy not zeroed past the last pooled column (a clamped window's argmax matching a pixel of the next row)",
    file: 'src/kernels/conv2d.ts',
    find: "(e) => `select(0.0, DY[dyrow + ${at(e)}], ox0 / 2u + ${e} % ${HX}u < u.PW)`);",
    replace: "(e) => `DY[dyrow + ${at(e)}]`);",
    tests: ['test/conv-pool.test.ts'],
  },
  {
    name: 'relu-argmax-kept',
    bug: "the fused conv-pool storing the argmax of a window the ReLU zeroed (its gradient then passed)",
    file: 'shaders/conv2d.wgsl',
    find: 'IDX[out + pc] = select(0xffffffffu, arg, activePasses(y));',
    replace: 'IDX[out + pc] = arg;',
    tests: ['test/conv-pool.test.ts'],
  },
  {
    name: 'unshuffle-one-parity',
    bug: "the upsampled convolution's gradient unshuffle writing one parity of four",
    file: 'shaders/upconv.wgsl',
    find: '  for (var q = 0u; q < 4u; q++) {\n    let s = src',
    replace: '  for (var q = 0u; q < 1u; q++) {\n    let s = src',
    tests: ['test/upconv.test.ts'],
  },
  {
    name: 'dawn-poll-spins',
    bug: "waits on Dawn polling without sleeping between polls (the main thread spins, taking a core from lavapipe)",
    file: 'src/gpu/dawn-poll.ts',
    find: '  Atomics.wait(cell, 0, 0, Math.min(MAX_SLEEP_MS, MIN_SLEEP_MS + waited * GROWTH));',
    replace: '  void Math.min(MAX_SLEEP_MS, MIN_SLEEP_MS + waited * GROWTH);',
    tests: ['test/dawn-poll.test.ts'],
  },
  {
    name: 'dawn-poll-second-loop',
    bug: 'a call made before the loop of sleeps saw the last pending one settle starting a second loop',
    file: 'src/gpu/dawn-poll.ts',
    find: '  if (!looping) {',
    replace: '  if (!looping || pending === 1) {',
    tests: ['test/dawn-poll.test.ts'],
  },
];
