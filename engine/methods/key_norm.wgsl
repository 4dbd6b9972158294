// knorm scores: scores[b, hk, t] = −‖k[b, t, hk, :]‖₂ (f32 accumulation), so the lowest-norm
// keys score highest. Specification: keyNormScoresRef in engine/reference/methods.ts.

override HKV: u32; // Hkv
override D4: u32;  // D / 4

struct Params {
  B: u32,
  T: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;      // [B, T, Hkv, D]
@group(0) @binding(2) var<storage, read_write> scores: array<f32>; // [B, Hkv, T]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u; // over [B, Hkv, T]
  if (idx >= p.B * HKV * p.T) {
    return;
  }
  let t = idx % p.T;
  let hk = (idx / p.T) % HKV;
  let b = idx / (p.T * HKV);
  let at = ((b * p.T + t) * HKV + hk) * D4;
  var s = 0.0;
  for (var d = 0u; d < D4; d++) {
    let x = k[at + d];
    s += dot(x, x);
  }
  scores[idx] = -sqrt(s);
}
