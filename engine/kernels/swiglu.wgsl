// SwiGLU in place: g[i] ← silu(g[i]) · u[i], silu(v) = v / (1 + exp(−v)) (Llama's MLP act).
// Host side: swiglu.ts; reference: engine/reference/ops.ts swigluRef.

struct Params {
  n: u32, // elements: rows · intermediate size
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> g: array<f32>; // [rows, I] gate, overwritten
@group(0) @binding(2) var<storage, read> u: array<f32>;       // [rows, I] up

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) {
    return;
  }
  let v = g[i];
  g[i] = v / (1.0 + exp(-v)) * u[i];
}
