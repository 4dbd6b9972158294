// Attention column sums (the H2O and TOVA prefill statistic), two entry points in this order:
//   lse   per query row and head: the causal softmax's max and Σexp over the keys it sees
//   sums  per KV head and key: Σ over rows of the softmax probability, mean over the group
// Specification: attentionSumsRef in engine/reference/methods.ts. Host side: attention_sums.ts.
//
// Rows are the last R of qw's WQ rows: row i (0 ≤ i < R) is the query at position T − R + i
// (row WQ − R + i of qw) and sees keys 0 ..= T − R + i. h2o sums every row it is given (all T
// prompt queries when WQ = T); tova sums the last one (R = 1).
//
// lse: 64 threads = 64 rows of one query head; keys staged BK at a time in workgroup memory,
//      every thread dots its own query (vec4 loads from global, once per tile) with them.
// sums: 64 threads = 64 keys of one KV head; for each of the group's G heads, query rows staged
//      BQ at a time with their (max, Σexp); every thread dots its own key (vec4 loads from
//      global, once per row tile) with them and adds exp(s − max)/Σexp where the row sees the key.
// Both are O(R·T·D) per head, like prefill attention: the statistic is recomputed, not taken
// from the prefill kernel.

override D4: u32;  // D / 4
override HKV: u32; // Hkv
override G: u32;   // query heads per KV head
override H: u32 = G * HKV;

const WG = 64u;
const BK = 8u;      // keys per tile (lse)
const BQ = 8u;      // query rows per tile (sums)
const NEG = -1e30f; // "no key yet": exp(NEG − m) is 0, never NaN

struct Params {
  B: u32,
  T: u32,     // keys per sequence
  WQ: u32,    // rows of qw per sequence
  R: u32,     // rows summed: the last R of qw, 1 ≤ R ≤ min(WQ, T)
  scale: f32, // softmax scale
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qw: array<vec4<f32>>;          // [B, WQ, H, D]
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;           // [B, T, Hkv, D]
@group(0) @binding(3) var<storage, read_write> stats: array<vec2<f32>>; // [B, H, R] (max, Σexp)
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;      // [B, Hkv, T]

var<workgroup> ks: array<vec4<f32>, BK * D4>; // [BK, D] a key tile
var<workgroup> qs: array<vec4<f32>, BQ * D4>; // [BQ, D] a query-row tile
var<workgroup> qst: array<vec2<f32>, BQ>;     // the tile's (max, Σexp)

/** vec4 offset in qw of row i (0 ≤ i < R) of head h. */
fn q_at(b: u32, i: u32, h: u32) -> u32 {
  return ((b * p.WQ + p.WQ - p.R + i) * H + h) * D4;
}

// grid (⌈R/64⌉, H, B)
@compute @workgroup_size(WG)
fn lse_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / G;
  let i = wid.x * WG + lid;
  let ii = min(i, p.R - 1u);
  let last = p.T - p.R + ii;                              // the last key row ii sees
  let j_end = p.T - p.R + min(wid.x * WG + WG, p.R);      // keys any row of this workgroup sees
  let qa = q_at(b, ii, h);
  var m = NEG;
  var l = 0.0;
  for (var j0 = 0u; j0 < j_end; j0 += BK) {
    workgroupBarrier();
    for (var x = lid; x < BK * D4; x += WG) {
      let j = min(j0 + x / D4, p.T - 1u);
      ks[x] = k[((b * p.T + j) * HKV + hk) * D4 + x % D4];
    }
    workgroupBarrier();
    var s = array<f32, BK>(); // explicit: naga zeroes a loop-local `var` only once
    for (var d = 0u; d < D4; d++) {
      let q = qw[qa + d];
      for (var kk = 0u; kk < BK; kk++) {
        s[kk] += dot(q, ks[kk * D4 + d]);
      }
    }
    for (var kk = 0u; kk < BK; kk++) {
      if (j0 + kk <= last) {
        let sc = s[kk] * p.scale;
        let m1 = max(m, sc);
        l = l * exp(m - m1) + exp(sc - m1);
        m = m1;
      }
    }
  }
  if (i < p.R) {
    stats[(b * H + h) * p.R + i] = vec2(m, l);
  }
}

// grid (⌈T/64⌉, Hkv, B)
@compute @workgroup_size(WG)
fn sums_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let hk = wid.y;
  let j0 = wid.x * WG;
  let j = j0 + lid;
  let jj = min(j, p.T - 1u);
  let ka = ((b * p.T + jj) * HKV + hk) * D4;
  let off = p.T - p.R; // row i sees key j iff j ≤ off + i
  let i_begin = select(0u, j0 - off, j0 > off); // the first row that sees any key of the tile
  var acc = 0.0;
  for (var g = 0u; g < G; g++) {
    let h = hk * G + g;
    for (var i0 = i_begin; i0 < p.R; i0 += BQ) {
      workgroupBarrier();
      for (var x = lid; x < BQ * D4; x += WG) {
        let i = min(i0 + x / D4, p.R - 1u);
        qs[x] = qw[q_at(b, i, h) + x % D4];
      }
      if (lid < BQ) {
        qst[lid] = stats[(b * H + h) * p.R + min(i0 + lid, p.R - 1u)];
      }
      workgroupBarrier();
      var s = array<f32, BQ>(); // explicit: naga zeroes a loop-local `var` only once
      for (var d = 0u; d < D4; d++) {
        let kv = k[ka + d];
        for (var r = 0u; r < BQ; r++) {
          s[r] += dot(qs[r * D4 + d], kv);
        }
      }
      for (var r = 0u; r < BQ; r++) {
        let i = i0 + r;
        if (i < p.R && jj <= off + i) {
          acc += exp(s[r] * p.scale - qst[r].x) / qst[r].y;
        }
      }
    }
  }
  if (j < p.T) {
    scores[(b * HKV + hk) * p.T + j] = acc / f32(G);
  }
}
