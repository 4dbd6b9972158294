// Rotary position embedding in place, Hugging Face's rotate_half convention: for channel
// i < D/2 of a head at position t, with (c, s) = table[t, i] = (cos, sin)(t · inv_freq[i]),
//   x[i]       ← x[i] · c − x[i + D/2] · s
//   x[i + D/2] ← x[i + D/2] · c + x[i] · s
// Position of token t of sequence b: pos[b] + t (pos lives on the GPU, so decode steps recorded
// back to back each see their own). The table is built on the host in float64 (rope.ts) with
// rope_theta and any rope scaling already applied. Reference: engine/reference/ops.ts ropeRef.

struct Params {
  T: u32,     // tokens per sequence in x
  heads: u32, // heads per token (H for q, Hkv for k)
  rows: u32,  // B · T · heads
  half: u32,  // D / 2
  P: u32,     // positions in the table
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;   // [B, T, heads, D]
@group(0) @binding(2) var<storage, read> pos: array<u32>;       // [B] position of token 0
@group(0) @binding(3) var<storage, read> table: array<vec2<f32>>; // [P, D/2] (cos, sin)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u; // over [rows, D/2]
  if (j >= p.rows * p.half) {
    return;
  }
  let row = j / p.half;
  let i = j % p.half;
  let b = row / (p.T * p.heads);
  let t = (row / p.heads) % p.T;
  let at = min(pos[b] + t, p.P - 1u); // the host sizes the table; never read past it
  let cs = table[at * p.half + i];
  let lo = row * 2u * p.half + i;
  let x1 = x[lo];
  let x2 = x[lo + p.half];
  x[lo] = x1 * cs.x - x2 * cs.y;
  x[lo + p.half] = x2 * cs.x + x1 * cs.y;
}
