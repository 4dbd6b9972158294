// RMSNorm over the last dimension, as Llama computes it in f32:
//   out[r, c] = x[r, c] / sqrt(mean_c(x[r, :]²) + eps) · w[c]
// One workgroup per row. `main` writes out; `in_place` overwrites x (Qwen3's per-head q/k norm).
// Host side: rmsnorm.ts; reference: engine/reference/ops.ts rmsnormRef.

override WG: u32 = 64u;

struct Params {
  rows: u32,
  C: u32,   // the normalised dimension (hidden size, or D for a per-head norm)
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;   // [rows, C]
@group(0) @binding(2) var<storage, read> w: array<f32>;         // [C]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [rows, C] (main only)

var<workgroup> red: array<f32, WG>;

// 1 / sqrt(mean of squares + eps) of row r; every thread of the workgroup gets it.
fn inv_rms(r: u32, lid: u32) -> f32 {
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let v = x[r * p.C + c];
    s = fma(v, v, s);
  }
  red[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      red[lid] += red[lid + k];
    }
    workgroupBarrier();
  }
  return 1.0 / sqrt(red[0] / f32(p.C) + p.eps);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) {
    return;
  }
  let inv = inv_rms(r, lid);
  for (var c = lid; c < p.C; c += WG) {
    out[r * p.C + c] = x[r * p.C + c] * inv * w[c];
  }
}

@compute @workgroup_size(WG)
fn in_place(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) {
    return;
  }
  let inv = inv_rms(r, lid);
  workgroupBarrier(); // every thread has read row r before any overwrites it
  for (var c = lid; c < p.C; c += WG) {
    x[r * p.C + c] = x[r * p.C + c] * inv * w[c];
  }
}
