// Gathers each KV head's kept tokens into a dense prompt-shaped input for a cache's append path:
// k_out[b, t, hk, :] = k_in[b, kept[b, hk, t], hk, :], the same for v. One thread per vec4.
// Specification: gatherRef in engine/reference/methods.ts (bit for bit).

override HKV: u32; // Hkv
override D4: u32;  // D / 4

struct Params {
  B: u32,
  T: u32, // prompt tokens per sequence
  K: u32, // kept tokens per (b, hk)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> kept: array<u32>;               // [B, Hkv, K]
@group(0) @binding(2) var<storage, read> k_in: array<vec4<f32>>;         // [B, T, Hkv, D]
@group(0) @binding(3) var<storage, read> v_in: array<vec4<f32>>;         // [B, T, Hkv, D]
@group(0) @binding(4) var<storage, read_write> k_out: array<vec4<f32>>;  // [B, K, Hkv, D]
@group(0) @binding(5) var<storage, read_write> v_out: array<vec4<f32>>;  // [B, K, Hkv, D]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u; // over [B, K, Hkv, D/4]
  if (i >= p.B * p.K * HKV * D4) {
    return;
  }
  let d = i % D4;
  let hk = (i / D4) % HKV;
  let t = (i / (D4 * HKV)) % p.K;
  let b = i / (D4 * HKV * p.K);
  let j = kept[(b * HKV + hk) * p.K + t];
  let src = ((b * p.T + j) * HKV + hk) * D4 + d;
  k_out[i] = k_in[src];
  v_out[i] = v_in[src];
}
