// Streaming prefill's bookkeeping (stream.ts): the absolute prompt positions and statistics of
// the tokens one layer holds, per (b, hk) row, as a chunk joins the held set and the compaction
// keeps the top ones. Rows of the held set have `held` slots; rows of the store (held set then
// the chunk) have held + n. Slots hold ascending positions.
//   extend     store positions: slot s < held → the held set's position, else t0 + s − held
//   accumulate scores[s] += the held set's statistic (s < held), for accumulated attention (h2o)
//   random     random's scores by absolute position (random_scores.wgsl's hash of
//              (b·Hkv + hk)·T + position), so a streamed prompt draws what the dense one does
//   compact    the held set's positions and statistics ← the store's at kept[b, hk, i]
// Specification: streamRef in engine/reference/stream.ts.

override HKV: u32; // Hkv

struct Params {
  B: u32,
  held: u32,  // slots held before the chunk
  n: u32,     // the chunk's tokens
  K: u32,     // compact: slots kept
  t0: u32,    // the chunk's first position
  T: u32,     // random: the prompt's tokens (the hash's row length)
  seed: u32,  // random
  layer: u32, // random
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> hpos: array<u32>;   // [B, Hkv, held] (compact: K)
@group(0) @binding(2) var<storage, read_write> hstat: array<f32>;  // [B, Hkv, held] (compact: K)
@group(0) @binding(3) var<storage, read_write> spos: array<u32>;   // [B, Hkv, held + n]
@group(0) @binding(4) var<storage, read_write> scores: array<f32>; // [B, Hkv, held + n]
@group(0) @binding(5) var<storage, read> kept: array<u32>;         // [B, Hkv, K] store slots

fn lowbias32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn flat(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

// grid over [B, Hkv, held + n] (x, y spread)
@compute @workgroup_size(64)
fn extend_main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  let tc = p.held + p.n;
  if (i >= p.B * HKV * tc) {
    return;
  }
  let row = i / tc;
  let s = i % tc;
  if (s < p.held) {
    spos[i] = hpos[row * p.held + s];
  } else {
    spos[i] = p.t0 + s - p.held;
  }
}

// grid over [B, Hkv, held + n]
@compute @workgroup_size(64)
fn accumulate_main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let i = flat(gid, nwg);
  let tc = p.held + p.n;
  if (i >= p.B * HKV * tc) {
    return;
  }
  let row = i / tc;
  let s = i % tc;
  if (s < p.held) {
    scores[i] = scores[i] + hstat[row * p.held + s];
  }
}

// grid over [B, Hkv, held + n]
@compute @workgroup_size(64)
fn random_main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  let tc = p.held + p.n;
  if (i >= p.B * HKV * tc) {
    return;
  }
  let row = i / tc;
  let key = lowbias32(p.seed + lowbias32(p.layer));
  scores[i] = f32(lowbias32(row * p.T + spos[i] + key) >> 8u) * (1.0 / 16777216.0);
}

// grid over [B, Hkv, K]
@compute @workgroup_size(64)
fn compact_main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * HKV * p.K) {
    return;
  }
  let row = i / p.K;
  let at = row * (p.held + p.n) + kept[i];
  hpos[i] = spos[at];
  hstat[i] = scores[at];
}
