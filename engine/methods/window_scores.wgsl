// Window attention scores (the SnapKV family), four entry points recorded in this order:
//   stats  per window row and key split: running max and sum of exp (online softmax)
//   merge  per window row: the softmax's max and sum over all keys it sees
//   probs  per query head and prefix key: Σ over window rows of the softmax probability
//   pool   per KV head and key: max-pool over neighbouring keys, mean over the group's heads
// Specification: windowScoresRef in engine/reference/methods.ts. Host side: window_scores.ts.
//
// Window row i (0 ≤ i < W) is the query at position T − W + i (row WQ − W + i of qw); causal, it
// sees keys 0 ..= T − W + i. Prefix keys j < Tp = T − W are seen by every row, so `probs` needs no
// mask; window keys are kept by the forced rule and score 0.
//
// Threads of stats and probs: one per (query head, window row) of GS heads of one KV head:
// lid = gl·W + i is head hk·G + hg·GS + gl, row i; workgroup y = hk·(G/GS) + hg. A tile of BK keys
// is staged in workgroup memory and every thread dots its own query (vec4 loads from global, once
// per tile) with all BK keys (broadcast reads).

override D4: u32;          // D / 4
override HKV: u32;         // Hkv
override G: u32;           // query heads per KV head
override GS: u32;          // query heads per workgroup; divides G, GS·W ≤ 256
override W: u32;           // window rows scored
override WG: u32 = GS * W; // threads of stats / probs
override H: u32 = G * HKV;

const BK = 8u;          // keys per tile
const NEG = -1e30f;     // "no key yet": exp(NEG − m) is 0, never NaN

struct Params {
  B: u32,
  T: u32,      // keys per sequence
  WQ: u32,     // rows of qw per sequence
  chunk: u32,  // keys per split of `stats`, a multiple of BK
  S: u32,      // splits
  half: u32,   // max-pool half-width: (kernel − 1) / 2
  scale: f32,  // softmax scale
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qw: array<vec4<f32>>;          // [B, WQ, H, D]
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;           // [B, T, Hkv, D]
@group(0) @binding(3) var<storage, read_write> part: array<vec2<f32>>;  // [B, H, W, S] (max, Σexp)
@group(0) @binding(4) var<storage, read_write> stats: array<vec2<f32>>; // [B, H, W] (max, Σexp)
@group(0) @binding(5) var<storage, read_write> ph: array<f32>;          // [B, H, T] Σ_i probability
@group(0) @binding(6) var<storage, read_write> scores: array<f32>;      // [B, Hkv, T]

var<workgroup> ks: array<vec4<f32>, BK * D4>; // [BK, D] one key tile
var<workgroup> ps: array<f32, WG * BK>;       // [WG, BK] the tile's probabilities per thread

/** Stages keys j0 .. j0 + BK − 1 of (b, hk) into ks; keys past T repeat key T − 1. */
fn load_tile(b: u32, hk: u32, j0: u32, lid: u32) {
  for (var x = lid; x < BK * D4; x += WG) {
    let j = min(j0 + x / D4, p.T - 1u);
    ks[x] = k[((b * p.T + j) * HKV + hk) * D4 + x % D4];
  }
}

/** scale · q · k for the BK keys in ks; q at vec4 offset qa of qw. */
fn tile_dots(qa: u32) -> array<f32, BK> {
  var s: array<f32, BK>;
  for (var d = 0u; d < D4; d++) {
    let q = qw[qa + d];
    for (var kk = 0u; kk < BK; kk++) {
      s[kk] += dot(q, ks[kk * D4 + d]);
    }
  }
  for (var kk = 0u; kk < BK; kk++) {
    s[kk] *= p.scale;
  }
  return s;
}

/** This thread's query head and its vec4 offset in qw. */
fn thread_head(b: u32, wy: u32, lid: u32) -> vec2<u32> {
  let hk = wy / (G / GS);
  let h = hk * G + (wy % (G / GS)) * GS + lid / W;
  let i = lid % W;
  return vec2(h, ((b * p.WQ + p.WQ - W + i) * H + h) * D4);
}

@compute @workgroup_size(WG)
fn stats_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let b = wid.z;
  let hk = wid.y / (G / GS);
  let th = thread_head(b, wid.y, lid);
  let i = lid % W;
  let last = p.T - W + i; // the last key row i sees
  let j_begin = s * p.chunk;
  let j_end = min(p.T, j_begin + p.chunk);
  var m = NEG;
  var l = 0.0;
  for (var j0 = j_begin; j0 < j_end; j0 += BK) {
    workgroupBarrier();
    load_tile(b, hk, j0, lid);
    workgroupBarrier();
    let dots = tile_dots(th.y);
    for (var kk = 0u; kk < BK; kk++) {
      let j = j0 + kk;
      if (j < j_end && j <= last) {
        let m1 = max(m, dots[kk]);
        l = l * exp(m - m1) + exp(dots[kk] - m1);
        m = m1;
      }
    }
  }
  part[((b * H + th.x) * W + i) * p.S + s] = vec2(m, l);
}

@compute @workgroup_size(64)
fn merge_main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x; // (b, h, i)
  if (r >= p.B * H * W) {
    return;
  }
  var m = NEG;
  var l = 0.0;
  for (var s = 0u; s < p.S; s++) {
    let x = part[r * p.S + s];
    let m1 = max(m, x.x);
    l = l * exp(m - m1) + x.y * exp(x.x - m1);
    m = m1;
  }
  stats[r] = vec2(m, l);
}

@compute @workgroup_size(WG)
fn probs_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let hk = wid.y / (G / GS);
  let j0 = wid.x * BK;
  let th = thread_head(b, wid.y, lid);
  load_tile(b, hk, j0, lid);
  workgroupBarrier();
  let dots = tile_dots(th.y);
  let st = stats[(b * H + th.x) * W + lid % W];
  for (var kk = 0u; kk < BK; kk++) {
    ps[lid * BK + kk] = exp(dots[kk] - st.x) / st.y;
  }
  workgroupBarrier();
  let Tp = p.T - W;
  for (var x = lid; x < GS * BK; x += WG) {
    let gl = x / BK;
    let kk = x % BK;
    let j = j0 + kk;
    if (j < Tp) {
      var a = 0.0;
      for (var i = 0u; i < W; i++) {
        a += ps[(gl * W + i) * BK + kk];
      }
      let h = hk * G + (wid.y % (G / GS)) * GS + gl;
      ph[(b * H + h) * p.T + j] = a;
    }
  }
}

@compute @workgroup_size(64)
fn pool_main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u; // over [B, Hkv, T]
  if (idx >= p.B * HKV * p.T) {
    return;
  }
  let j = idx % p.T;
  let hk = (idx / p.T) % HKV;
  let b = idx / (p.T * HKV);
  let Tp = p.T - W;
  if (j >= Tp) {
    scores[idx] = 0.0;
    return;
  }
  let lo = select(j - p.half, 0u, j < p.half);
  let hi = min(Tp - 1u, j + p.half);
  var acc = 0.0;
  for (var g = 0u; g < G; g++) {
    let row = (b * H + hk * G + g) * p.T;
    var m = ph[row + lo];
    for (var x = lo + 1u; x <= hi; x++) {
      m = max(m, ph[row + x]);
    }
    acc += m;
  }
  scores[idx] = acc / f32(G);
}
