// Seeded random scores, uniform in [0, 1): for flat index i = (b·Hkv + hk)·T + t,
// h = lowbias32(i + lowbias32(seed + lowbias32(layer))), score = (h >> 8) / 2²⁴ (exact in f32).
// Specification: randomScoresRef in engine/reference/methods.ts (bit for bit).

struct Params {
  n: u32,     // B·Hkv·T scores
  seed: u32,
  layer: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>; // [B, Hkv, T]

fn lowbias32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) {
    return;
  }
  let key = lowbias32(p.seed + lowbias32(p.layer));
  scores[i] = f32(lowbias32(i + key) >> 8u) * (1.0 / 16777216.0);
}
