// Sampling on the GPU: ids[b] = one token drawn from softmax(logits[b] / T), restricted by top-k
// and then top-p (nucleus), as Hugging Face's warpers apply them (temperature, top-k, top-p).
// One workgroup per row; V up to any size (the loops stride over it). Only ids come back.
// Host side: sample.ts; reference: engine/reference/sample.ts (same RNG, float64).
//
//   kept set   the tokens whose logit is ≥ a threshold value (ties at it all kept):
//              top-k: the k-th largest logit; top-p: over the top-k set, the largest value t
//              whose tokens {x ≥ t} carry ≥ top_p of the set's mass exp((x − max) / T).
//              Both thresholds are found without sorting by a 16-way search over the 32-bit
//              order key of f32 (key(x) monotone in x): 8 passes over V each, 4 bits a pass,
//              each pass histogramming the tokens above the prefix found so far into 16 bins
//              (a count, or a mass). The result is exactly a logit of the row (the k-th
//              largest is exact; the top-p boundary is exact up to the f32 sums of the masses).
//   the draw   Gumbel-max: argmax over the kept set of x / T + g_v, g_v = −log(E_v), E_v an
//              Exp(1) variate from a counter-based hash of (seed, b, steps[b], v): exactly a
//              draw from the renormalised softmax, embarrassingly parallel, no prefix sums.
//              u_v = hash · 2^−32 rounded to f32, clamped to [2^−32, 1 − 2^−24]; E = −log(1−u)
//              (a series for u < 0.05, so small E keep their precision). The noise is bounded,
//              g ∈ [−2.8, 22.2]: a token more than ~22 nats of x / T below the best is drawn
//              less often than it should be, and never beyond 25 (each such token's true
//              probability is < 3e−10).
// Passes over V: 1 (temperature only), +1 max (top-p), +8 (top-k), +8 (top-p).
// NaN logits are never drawn; a row with no finite logit gets token 0 (as argmax.wgsl).
// steps[b] counts the draws of row b (the RNG counter): read, then incremented by one.

override WG: u32 = 256u; // a multiple of LANES

const BINS: u32 = 16u;
const LANES: u32 = 64u;
const NONE: u32 = 0xffffffffu;
// The lowest finite f32: a const-expression may not be infinite (WGSL), so −inf logits simply
// never beat it.
const LOWEST: f32 = -0x1.fffffep+127f;

struct Params {
  B: u32,
  V: u32,
  top_k: u32, // 0: off
  seed: u32,
  inv_t: f32, // 1 / temperature
  top_p: f32, // ≥ 1: off
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;      // [B, V]
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;   // [B], written
@group(0) @binding(3) var<storage, read_write> steps: array<u32>; // [B] RNG counters, += 1

var<workgroup> bins: array<f32, 1024>; // [BINS, LANES]
var<workgroup> broadcast_u: u32;
var<workgroup> broadcast_f: f32;

fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Order key: key(x) < key(y) ⇔ x < y for non-NaN f32 (−0 is +0).
fn key(x: f32) -> u32 {
  var bits = bitcast<u32>(x);
  if (bits == 0x80000000u) {
    bits = 0u;
  }
  return select(bits ^ 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

// A Gumbel variate from a 32-bit hash (see the header).
fn gumbel(h: u32) -> f32 {
  let frac = f32(h & 255u) * 0x1p-8f; // exact
  var u = (f32(h >> 8u) + frac) * 0x1p-24f; // h · 2^-32, one f32 rounding
  u = clamp(u, 0x1p-32f, 0x1.fffffep-1f);
  var e = 0.0;
  if (u < 0.05) {
    e = u * (1.0 + u * (0.5 + u * (0.33333334 + u * (0.25 + u * (0.2 + u * 0.16666667)))));
  } else {
    e = -log(1.0 - u);
  }
  return -log(e);
}

// best_v, best_i, beats and reduce_best: argmax_reduce.wgsl, appended by the host.

// Max of the row's non-NaN logits (LOWEST when there are none but −inf).
fn row_max(row: u32, lid: u32) -> f32 {
  var m = LOWEST;
  for (var v = lid; v < p.V; v += WG) {
    let x = logits[row + v];
    if (!is_nan(x)) {
      m = max(m, x);
    }
  }
  best_v[lid] = m;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      best_v[lid] = max(best_v[lid], best_v[lid + k]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    broadcast_f = best_v[0];
  }
  return workgroupUniformLoad(&broadcast_f);
}

// Sums each thread's BINS values over the workgroup into bins[j * LANES] (fixed order).
fn reduce_bins(lid: u32, acc: array<f32, BINS>) {
  let lane = lid % LANES;
  let group = lid / LANES;
  for (var g = 0u; g < WG / LANES; g++) {
    if (group == g) {
      for (var j = 0u; j < BINS; j++) {
        let at = j * LANES + lane;
        bins[at] = select(bins[at] + acc[j], acc[j], g == 0u);
      }
    }
    workgroupBarrier();
  }
  for (var k = LANES / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      for (var j = 0u; j < BINS; j++) {
        bins[j * LANES + lid] += bins[j * LANES + lid + k];
      }
    }
    workgroupBarrier();
  }
}

// The largest key K such that the tokens with key ≥ max(K, lo) weigh ≥ goal: a count
// (mass = false) or their mass exp((x − m) / T). With mass and goal < 0 the goal is
// −goal · (the mass of all tokens ≥ lo), taken from the first pass's bins.
fn search(row: u32, lid: u32, lo: u32, goal_in: f32, mass: bool, m: f32) -> u32 {
  var prefix = 0u;
  var goal = goal_in;
  for (var pass_ = 0u; pass_ < 8u; pass_++) {
    let shift = 28u - 4u * pass_;
    var acc = array<f32, BINS>(); // zeroed every pass (explicitly initialized)
    for (var j = 0u; j < BINS; j++) {
      acc[j] = 0.0;
    }
    for (var v = lid; v < p.V; v += WG) {
      let x = logits[row + v];
      if (is_nan(x)) {
        continue;
      }
      let k = key(x);
      if (k < prefix || k < lo) {
        continue;
      }
      let d = min((k - prefix) >> shift, BINS - 1u);
      acc[d] += select(1.0, exp((x - m) * p.inv_t), mass);
    }
    reduce_bins(lid, acc);
    if (lid == 0u) {
      if (goal < 0.0) {
        var total = 0.0;
        for (var j = 0u; j < BINS; j++) {
          total += bins[j * LANES];
        }
        goal = -goal * total;
      }
      var s = 0.0;
      var pick = 0u;
      for (var j = BINS - 1u; j >= 1u; j--) {
        s += bins[j * LANES];
        if (s >= goal) {
          pick = j;
          break;
        }
      }
      broadcast_u = prefix + (pick << shift);
      broadcast_f = goal;
    }
    prefix = workgroupUniformLoad(&broadcast_u);
    goal = workgroupUniformLoad(&broadcast_f);
  }
  return prefix;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  let row = b * p.V;
  let step = steps[b];
  // the kept set: key ≥ lo
  var lo = 0u;
  if (p.top_k > 0u && p.top_k < p.V) {
    lo = search(row, lid, 0u, f32(p.top_k), false, 0.0);
  }
  if (p.top_p < 1.0) {
    let m = row_max(row, lid);
    if (m > LOWEST) {
      lo = max(lo, search(row, lid, lo, -p.top_p, true, m));
    }
  }
  // Gumbel-max over the kept set
  let stream = pcg(p.seed ^ pcg(b ^ pcg(step)));
  var bv = LOWEST;
  var bi = NONE;
  for (var v = lid; v < p.V; v += WG) {
    let x = logits[row + v];
    if (is_nan(x) || key(x) < lo) {
      continue;
    }
    let s = x * p.inv_t + gumbel(pcg(stream ^ pcg(v)));
    if (beats(s, v, bv, bi)) {
      bv = s;
      bi = v;
    }
  }
  let best = reduce_best(lid, bv, bi);
  storageBarrier();
  if (lid == 0u) {
    ids[b] = select(best, 0u, best == NONE);
    steps[b] = step + 1u;
  }
}
