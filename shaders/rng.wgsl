// Counter-based random numbers: a pure function of (key, counter), so a value depends on the
// seed and the element's index only, never on dispatch shape or order. pcg4d is the 4-D PCG
// hash of Jarzynski and Olano (JCGT 2020); kernels that draw random numbers prepend this file.

fn pcg4d(v_in: vec4<u32>) -> vec4<u32> {
  var v = v_in * 1664525u + 1013904223u;
  v.x += v.y * v.w; v.y += v.z * v.x; v.z += v.x * v.y; v.w += v.y * v.z;
  v = v ^ (v >> vec4<u32>(16u));
  v.x += v.y * v.w; v.y += v.z * v.x; v.z += v.x * v.y; v.w += v.y * v.z;
  return v;
}

// Uniform in (0, 1]: never 0, so log() is safe.
fn u01(x: u32) -> f32 {
  return (f32(x >> 8u) + 1.0) * (1.0 / 16777216.0);
}

// Two independent standard normals (Box-Muller) for element `i` of stream (seed0, seed1).
fn normal2(i: u32, seed0: u32, seed1: u32) -> vec2<f32> {
  let h = pcg4d(vec4<u32>(i, seed0, seed1, 0x9e3779b9u));
  let r = sqrt(-2.0 * log(u01(h.x)));
  let t = 6.283185307179586 * u01(h.y);
  return vec2<f32>(r * cos(t), r * sin(t));
}

fn uniform1(i: u32, seed0: u32, seed1: u32) -> f32 {
  return u01(pcg4d(vec4<u32>(i, seed0, seed1, 0x85ebca6bu)).x);
}

// The reparameterisation's N(0, 1) noise for element `i`: a stream of its own (the third key word
// is xor-ed with a constant so that these draws do not repeat fill's randNormal for the same
// seed), with the step as the fourth word. reparameterise.wgsl and latents.wgsl draw the same.
fn reparamNoise(i: u32, seed0: u32, seed1: u32, step: u32) -> f32 {
  let h = pcg4d(vec4<u32>(i, seed0, seed1 ^ 0x7f4a7c15u, step));
  return sqrt(-2.0 * log(u01(h.x))) * cos(6.283185307179586 * u01(h.y));
}
