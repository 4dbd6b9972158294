// Causal prefill attention, flash-attention style (tiled, online softmax), with GQA.
// f32 inputs and output; prefill_attention_f16.wgsl swaps the storage type to f16 for this same
// body (see IO4 below). Host side, tile choice and shape checks: prefill_attention.ts.
//
// What it computes: out[b, i, h, :] = softmax_j(scale · q[b, i, h, :] · k[b, j, h / g, :]) · v[...]
// over keys j ≤ Tk - Tq + i (query i sits at absolute position Tk - Tq + i: chunked prefill, with
// the first Tk - Tq keys from earlier chunks); with a sliding window W > 0 (Mistral) only over
// keys j > Tk - Tq + i - W, W keys at most. Reference: engine/reference/attention.ts.
//
// What it is not: no decode path (one query per sequence reads better with a split-K kernel), no
// ragged batches (every sequence has the same Tq and Tk), no dropout, no
// logsumexp output, no tensor cores / subgroup ops (plain WGSL, so it runs on every adapter).
//
// Design
// - One workgroup = one batch b, one KV head, BQ consecutive query positions × GS query heads of
//   that KV head's group (GS = g unless g is too large for the tile): ROWS = BQ · GS query rows
//   share every K/V tile staged in workgroup memory, so GQA multiplies K/V reuse by g.
//   Row r is (query q0 + r / GS, head h0 + r % GS): for one query position the GS heads are
//   contiguous in q and out, so tile loads and stores are contiguous runs of GS · D values.
// - TPR threads per row (WG = ROWS · TPR). A thread owns NC vec4 columns of its row's output
//   (columns lane, lane + TPR, ...: neighbouring lanes touch neighbouring addresses).
// - Per KV tile of BK keys: (1) all threads stage K and V (vec4 loads, coalesced along D);
//   (2) scores: each thread computes NJ = BK / TPR dot products of its row, reusing each q vec4
//   across them, and writes them (already masked) to workgroup memory; (3) each thread reads its
//   row's BK scores, updates the running max m and sum l (online softmax, base 2 with
//   scale · log2(e) folded into q), rescales its accumulator and adds p · V. Three barriers a tile.
// - KV tiles past the last key of the tile's last query are never visited (causal skip), nor,
//   with a window, keys before the first key of the tile's first query; the diagonal tile and
//   the window's edge are masked per score.
// - Workgroup memory (f32): q ROWS × (D + 4), k BK × (D + 4), v BK × D, scores ROWS × (BK + 1).
//   Rows of q, k and scores are padded by one vec4 / one f32 so that rows read in parallel
//   start on different banks; v is read along D by neighbouring lanes and needs no pad.

alias IO4 = vec4<f32>; // storage element: 4 consecutive values along D

// --- specialisation: override constants set by the host ------------------------------------

override D4: u32; // D / 4
override HKV: u32; // Hkv
override G: u32; // g = H / Hkv
override GS: u32; // query heads per workgroup (divides G)
override BQ: u32; // query positions per workgroup
override BK: u32; // keys per KV tile (multiple of TPR)
override TPR: u32; // threads per query row
override SCALE_LOG2E: f32; // scale · log2(e)

override H: u32 = G * HKV;
override SPLITS: u32 = G / GS; // workgroups per KV head along the group
override ROWS: u32 = BQ * GS;
override WG: u32 = ROWS * TPR;
override NC: u32 = (D4 + TPR - 1u) / TPR; // output vec4 columns per thread (≤ MAX_NC)
override NJ: u32 = BK / TPR; // scores per thread per tile (≤ MAX_NJ)
override QS: u32 = D4 + 1u; // q_s row stride, vec4 (padded)
override KS: u32 = D4 + 1u; // k_s row stride, vec4 (padded)
override SS: u32 = BK + 1u; // s_s row stride, f32 (padded)
override Q_LEN: u32 = ROWS * QS;
override K_LEN: u32 = BK * KS;
override V_LEN: u32 = BK * D4;
override S_LEN: u32 = ROWS * SS;

const MAX_NC = 8u;
const MAX_NJ = 32u;
// Stands in for -inf: exp2(NEG - m) is 0 for any finite score m, and NEG - m cannot overflow.
const NEG = -1.0e30f;

// --- bindings ------------------------------------------------------------------------------

struct Params {
  B: u32,
  Tq: u32,
  Tk: u32,
  tiles: u32, // query tiles per sequence: ceil(Tq / BQ)
  nx: u32, // workgroups along x; (x, y) enumerate B · tiles
  window: u32, // sliding window in keys; 0: none (causal only)
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> q: array<IO4>; // [B, Tq, H, D]
@group(0) @binding(2) var<storage, read> k: array<IO4>; // [B, Tk, Hkv, D]
@group(0) @binding(3) var<storage, read> v: array<IO4>; // [B, Tk, Hkv, D]
@group(0) @binding(4) var<storage, read_write> out: array<IO4>; // [B, Tq, H, D]

var<workgroup> q_s: array<vec4<f32>, Q_LEN>; // [ROWS, D] (+ pad), pre-scaled by SCALE_LOG2E
var<workgroup> k_s: array<vec4<f32>, K_LEN>; // [BK, D] (+ pad)
var<workgroup> v_s: array<vec4<f32>, V_LEN>; // [BK, D]
var<workgroup> s_s: array<f32, S_LEN>; // [ROWS, BK] (+ pad): masked base-2 scores

// The first key a query at absolute position `pos` sees: pos - window + 1 under a window.
fn first_key(pos: u32) -> u32 {
  return select(0u, pos + 1u - u.window, u.window > 0u && pos + 1u > u.window);
}

// --- kernel --------------------------------------------------------------------------------

// Dispatch: (x, y) enumerate B · tiles (x < nx), z = KV head · SPLITS + head split.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let flat = wid.y * u.nx + wid.x;
  if (flat >= u.B * u.tiles) {
    return; // whole workgroup: past the end of the flattened grid
  }
  let b = flat / u.tiles;
  let q0 = (u.tiles - 1u - flat % u.tiles) * BQ; // latest (heaviest) query tiles first
  let kvh = wid.z / SPLITS;
  let h0 = kvh * G + (wid.z % SPLITS) * GS; // first query head of this workgroup
  let off = u.Tk - u.Tq; // absolute position of query 0
  // Keys any row of this tile may see: up to the last query's position (≤ Tk), and with a
  // window from the first query's first key on.
  let kv_end = off + min(q0 + BQ, u.Tq);
  let kv_begin = first_key(off + q0);

  // Stage the query tile, pre-scaled. Consecutive threads read consecutive vec4s.
  for (var i = tid; i < ROWS * D4; i += WG) {
    let r = i / D4;
    let c = i % D4;
    let t = q0 + r / GS;
    var x = vec4<f32>(0.0);
    if (t < u.Tq) {
      x = vec4<f32>(q[((b * u.Tq + t) * H + h0 + r % GS) * D4 + c]) * SCALE_LOG2E;
    }
    q_s[r * QS + c] = x;
  }

  let r = tid / TPR; // this thread's row
  let lane = tid % TPR;
  let t = q0 + r / GS; // its query (≥ Tq for padding rows, which are never written)
  let last = min(off + t, u.Tk - 1u); // last key the row may see
  let lo = first_key(off + t); // and its first

  var m = NEG; // running max of base-2 scores
  var l = 0.0f; // running sum of exp2(score - m)
  var acc: array<vec4<f32>, MAX_NC>; // unnormalised output columns lane + c · TPR
  for (var c = 0u; c < NC; c++) {
    acc[c] = vec4<f32>(0.0);
  }

  for (var kv0 = kv_begin; kv0 < kv_end; kv0 += BK) {
    let n = min(BK, kv_end - kv0); // keys in this tile

    // (1) Stage K and V rows kv0 .. kv0 + n; zero the rest of the tile.
    for (var i = tid; i < BK * D4; i += WG) {
      let j = i / D4;
      let c = i % D4;
      var kx = vec4<f32>(0.0);
      var vx = vec4<f32>(0.0);
      if (j < n) {
        let at = ((b * u.Tk + kv0 + j) * HKV + kvh) * D4 + c;
        kx = vec4<f32>(k[at]);
        vx = vec4<f32>(v[at]);
      }
      k_s[j * KS + c] = kx;
      v_s[j * D4 + c] = vx;
    }
    workgroupBarrier();

    // (2) Scores of row r against keys lane + jj · TPR.
    var s: array<f32, MAX_NJ>;
    for (var jj = 0u; jj < NJ; jj++) {
      s[jj] = 0.0;
    }
    for (var c = 0u; c < D4; c++) {
      let qx = q_s[r * QS + c];
      for (var jj = 0u; jj < NJ; jj++) {
        s[jj] += dot(qx, k_s[(lane + jj * TPR) * KS + c]);
      }
    }
    for (var jj = 0u; jj < NJ; jj++) {
      let j = lane + jj * TPR;
      s_s[r * SS + j] = select(NEG, s[jj], kv0 + j <= last && kv0 + j >= lo);
    }
    workgroupBarrier();

    // (3) Online softmax and P · V for this thread's columns.
    var mt = NEG;
    for (var j = 0u; j < n; j++) {
      mt = max(mt, s_s[r * SS + j]);
    }
    let m_new = max(m, mt);
    // 0 on the row's first tile with a visible key (every earlier p was exp2(NEG - NEG) = 1 for
    // fully masked keys, and this wipes them), 1 when the max did not move
    let alpha = exp2(m - m_new);
    l *= alpha;
    for (var c = 0u; c < NC; c++) {
      acc[c] *= alpha;
    }
    for (var j = 0u; j < n; j++) {
      let p = exp2(s_s[r * SS + j] - m_new);
      l += p;
      for (var c = 0u; c < NC; c++) {
        let col = lane + c * TPR;
        if (D4 % TPR == 0u || col < D4) { // folds to true when TPR divides D / 4
          acc[c] += p * v_s[j * D4 + col];
        }
      }
    }
    m = m_new;
    workgroupBarrier(); // before the next tile overwrites k_s, v_s and s_s
  }

  if (t < u.Tq) {
    let inv = 1.0 / l; // l ≥ 1: its own key is visible to every query
    let at = ((b * u.Tq + t) * H + h0 + r % GS) * D4;
    for (var c = 0u; c < NC; c++) {
      let col = lane + c * TPR;
      if (D4 % TPR == 0u || col < D4) {
        out[at + col] = IO4(acc[c] * inv);
      }
    }
  }
}
