// Split-K decode attention, pass 1 of 2: one new query per sequence against a stored KV cache.
// Workgroup (s, hk·HG + hg, b) covers split s of sequence b's tokens for KV head hk and GC of the
// G query heads of its GQA group (chunk hg; HG = ⌈G / GC⌉ chunks, one when G ≤ 8), so every KV
// element is read from global memory once per group. K and V go from global memory straight
// into registers, dequantized there by the storage format's read snippet, which is spliced in
// after this body (contract: engine/cache/format.ts). Workgroup memory holds only broadcasts
// (queries, probabilities) and reductions. Pass 2 (decode_reduce.wgsl) merges the splits.
// Masks: the stored length, and with WINDOW > 0 a sliding window (Mistral's sliding_window over
// a full cache, where a token's slot is its position): only the last WINDOW stored tokens.
// Not here: prefill (prefill_attention.wgsl), any other mask.
//
// --- the loop -------------------------------------------------------------------------------
// A split is walked in tiles of C = WG·TPT tokens. Per tile:
//   1. scores   thread i owns TPT consecutive tokens of one 32-token group (32/TPT threads per
//               group) and computes their scores for all GC heads: for each 8-channel slice it
//               loads the slice of its TPT tokens (k_block / k_get), reads the GC query slices
//               from workgroup memory (same address in every lane: a broadcast) and does
//               8·GC·TPT FMAs into TPT·GC register accumulators. No partial sums to combine.
//   2. softmax  per-thread maxima → red [GC, WG] → 16 partial maxima per head → every thread
//               takes the tile max per head from those 16 (so all threads hold the same running
//               max), rescales its running sums, and writes its tokens' probabilities p to pb.
//   3. P·V      thread i owns channels 8·d8 .. 8·d8+7 (d8 = i mod D/8) and token phase
//               i / (D/8) < P = ⌊WG / (D/8)⌋ (the WG mod D/8 threads left over sit it out;
//               none for D = 8, 16, 32, 64, 128, 256): it walks the tile's tokens of its phase,
//               U loads in flight, and does
//               acc[h] += p[h]·v for GC heads in 2·GC vec4 registers. The D/8 lanes of one token
//               read one contiguous row: with 16-byte fp16 loads a warp reads whole rows.
//   Three barriers per tile. At the end of the split: running sums over threads (red), outputs
//   over token phases (pb reused), written as part_o [B, H, S, D] unnormalised and part_ml
//   [B, H, S, 2] (max, sum); an empty split writes sum 0 and drops out in pass 2.
//   With SCORES (decode-time eviction), phase 1 also writes each owned token's raw score per
//   head, scale·q·k, to att_scores [B, H, SCAP]: G·4 bytes per token per KV head written, next
//   to the 2·D·(bytes per value) read — a small kernel then turns them into probabilities with
//   part_ml (engine/methods/evict.wgsl), without reading K again.
//
// --- cost per token of one KV head (Llama-3-8B layer: G = 4, D = 128; WG = 128, TPT = 4) ------
// An estimate by construction, not a measurement (engine/bench measures).
// Global bytes read (K + V):  fp16 512, fp32 1024, int8 288, int4 160, kivi4 160, kivi2 96
//   (codes + f16 scale/min per 32 values; KIVI's f16 residual is ≤ R tokens per sequence).
// Workgroup-memory traffic, counted per lane as for the tile-staging kernel this replaces
//   (~16–18 bytes per byte of fp16 read): queries G·D·4/TPT = 512 B, probabilities written
//   G·4 = 16 B and read by the token's D/8 lanes D/8·G·4 = 256 B, reductions ≈ 70 B (mostly
//   each thread reading the 16 partial maxima per head): ≈ 1.7 B per fp16 byte. Nearly all of
//   it is broadcast (every lane of a warp at one address); in distinct bank words ≈ 50 B per
//   token, 0.1 B per fp16 byte. Shared memory stops being a bound: HBM is.
// ALU (lane-ops): the irreducible 2·G·D = 1024 FMAs (scores and P·V), plus the decode of each
//   of the 2·D values: fp16 one f16→f32 conversion; quantized codes one shift, one and-or and
//   one fma (quant_read.wgsl: a code under the exponent of 1.0 reads as 1 + c/2^b — no
//   integer-to-float conversion, which runs at a fraction of the FMA rate on NVIDIA GPUs) plus
//   ≈ 1 op of scale/min unpacking amortised over a block. fp16 ≈ 1.3 k lane-ops per token,
//   quantized ≈ 2.1 k.
// H100 (132 SMs, 128 FP32 lanes/SM, ~1.8 GHz, 3.35 TB/s) per token per SM: fp16 needs 512 B ·
//   132 / 3.35 TB/s ≈ 20 ns ≈ 36 cycles of HBM time against ≈ 10 cycles of issue → bandwidth
//   bound with room to spare, so fp16 can approach the copy kernel's bandwidth (target ≥ 70%).
//   The quantized formats read 3–5× fewer bytes (kivi4 ≈ 11 cycles, kivi2 ≈ 7 of HBM time)
//   and do ≈ 16 cycles of issue: time ≈ 0.3–0.45× fp16 — they now gain from their smaller
//   reads, but at G = 4 they are issue bound, not bandwidth bound: the 1024 FMAs alone are
//   ≈ 8 cycles, 0.2× fp16's HBM time, a floor for any f32 kernel (kivi2's 0.25× target needs
//   the decode below ~1 lane-op per value).
// Registers: TPT·GC score accumulators + 8·TPT loaded values in phase 1, 8·GC output
//   accumulators + 8·U loaded values in phase 3: ≈ 100–130 per thread for GC = 4, which is why
//   the host picks TPT = 2 and U = 2 when GC > 4. Private arrays are sized for the maxima
//   (8 heads, 4 tokens) and indexed only by loops whose bounds are constants once the override
//   constants are set, so they stay in registers.
// Loads in flight per thread: TPT 16-byte rows in phase 1, U in phase 3 — 64 B for fp16, ~40 KB
//   per SM at 5 workgroups, above the ~18 KB per SM that Little's law asks of HBM3.

override D: u32 = 128u;  // head dim, a multiple of 8 (the quantized formats need 32)
override G: u32 = 4u;    // query heads per KV head (H / Hkv)
override GC: u32 = 4u;   // query heads per workgroup, ≤ 8: ⌈G / ⌈G / 8⌉⌉
override TPT: u32 = 4u;  // tokens per thread in the score phase: 1, 2 or 4
override U: u32 = 4u;    // tokens per thread per step of the P·V loop, ≤ 4
override PB: u32 = 512u; // vec4 slots of pb: max(WG·TPT·⌈GC/4⌉, 2·WG)
override WG: u32 = 128u; // threads per workgroup, a multiple of 16 and ≥ D/8
// Decode-time eviction (engine/methods/evict.ts): also write each stored token's raw score
// scale·q·k per query head through emit_score (att_scores [B, H, SCAP]); the host splices in
// emit_score — a no-op when SCORES is false, so the branch compiles away.
override SCORES: bool = false;
override SCAP: u32 = 1u; // row stride of att_scores: the cache's capacity
// Sliding window in tokens (0: none): the splits cover the last WINDOW tokens (from the 32-token
// group holding the first), and tokens before the first are masked out.
override WINDOW: u32 = 0u;

const MAXH: u32 = 8u; // largest GC (register accumulators)
const NEG: f32 = -3.0e38;

struct Params {
  B: u32,
  H: u32,
  S: u32,      // splits per sequence
  scale: f32,  // softmax scale, usually 1/sqrt(D)
}

// Eight consecutive channels 8·d8 .. 8·d8+7 of one token, dequantized: 0..3 in lo, 4..7 in hi.
struct F8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;            // [B, H, D/4]
@group(0) @binding(2) var<storage, read_write> part_o: array<vec4<f32>>; // [B, H, S, D/4] unnormalised
@group(0) @binding(3) var<storage, read_write> part_ml: array<f32>;      // [B, H, S, 2] (max, sum)

var<workgroup> qs: array<vec4<f32>, GC * D / 4u>; // [GC, D/4] this workgroup's queries × scale
var<workgroup> pb: array<vec4<f32>, PB>;          // [C, ⌈GC/4⌉] probabilities, 4 heads per vec4;
                                                  // at the end [heads, WG/(D/8), D/4] partial outputs
var<workgroup> red: array<f32, GC * WG>;          // [GC, WG] one value per head per thread
var<workgroup> red2: array<vec4<f32>, GC * 4u>;   // [GC, 16] second reduction stage

// Eight f16 values (four pack2x16float words) as f32: a helper for the read snippets.
fn half8(w: vec4<u32>) -> F8 {
  return F8(
    vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
    vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)),
  );
}

// x + qa·k.lo + qb·k.hi as a chain of 8 fmas (two dot() calls would add a multiply and two adds,
// which the compiler may not reassociate away).
fn dot8(x: f32, qa: vec4<f32>, qb: vec4<f32>, k: F8) -> f32 {
  var y = fma(qa.x, k.lo.x, x);
  y = fma(qa.y, k.lo.y, y);
  y = fma(qa.z, k.lo.z, y);
  y = fma(qa.w, k.lo.w, y);
  y = fma(qb.x, k.hi.x, y);
  y = fma(qb.y, k.hi.y, y);
  y = fma(qb.z, k.hi.z, y);
  return fma(qb.w, k.hi.w, y);
}

// red2[h, r] = max or sum of red[h, r + 16·j] over j < WG/16 (lanes on consecutive banks).
fn reduce_stage2(lid: u32, is_max: bool) {
  for (var i = lid; i < GC * 16u; i += WG) {
    let h = i / 16u;
    let r = i % 16u;
    var x = red[h * WG + r];
    for (var j = 1u; j < WG / 16u; j++) {
      let y = red[h * WG + r + 16u * j];
      x = select(x + y, max(x, y), is_max);
    }
    red2[i / 4u][i % 4u] = x;
  }
}

// The max or sum of red2[h, 0 .. 16).
fn red2_total(h: u32, is_max: bool) -> f32 {
  let a = red2[4u * h];
  let b = red2[4u * h + 1u];
  let c = red2[4u * h + 2u];
  let d = red2[4u * h + 3u];
  if (is_max) {
    let m = max(max(a, b), max(c, d));
    return max(max(m.x, m.y), max(m.z, m.w));
  }
  let s = (a + b) + (c + d);
  return (s.x + s.y) + (s.z + s.w);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let HG = (G + GC - 1u) / GC;
  let s = wid.x;
  let hk = wid.y / HG;
  let hg = wid.y % HG;
  let b = wid.z;
  let len = kv_len(b);
  let lo = select(0u, len - WINDOW, WINDOW > 0u && len > WINDOW); // first visible token
  let base = (lo / 32u) * 32u;
  let per = (len - base + p.S - 1u) / p.S;
  let chunk = ((per + 31u) / 32u) * 32u; // splits and tiles start on 32-token groups
  let start = min(base + s * chunk, len);
  let end = min(start + chunk, len);
  let nh = min(GC, G - hg * GC);         // heads of this chunk (the last may be short)
  let row0 = b * p.H + hk * G + hg * GC; // q / output row of this workgroup's head 0
  let D4 = D / 4u;
  let D8 = D / 8u;
  let C = WG * TPT;                      // tokens per tile
  let GQ = (GC + 3u) / 4u;               // vec4 slots per token in pb
  let P = WG / D8;                       // token phases of the P·V step

  for (var i = lid; i < GC * D4; i += WG) {
    var x = vec4<f32>(0.0);
    if (i / D4 < nh) {
      x = q[row0 * D4 + i] * p.scale;
    }
    qs[i] = x;
  }

  var m_run: array<f32, MAXH>; // running max per head (the same in every thread)
  var l_own: array<f32, MAXH>; // running sum of this thread's own probabilities per head
  var acc: array<vec4<f32>, 16>; // [MAXH, 2] running unnormalised output, this thread's channels
  for (var h = 0u; h < GC; h++) {
    m_run[h] = NEG;
  }
  let own = (lid / (32u / TPT)) * 32u + (lid % (32u / TPT)) * TPT; // first owned token of a tile
  let d8 = lid % D8; // P·V: this thread's 8 channels
  let ph = lid / D8; // and its token phase
  workgroupBarrier();

  for (var t0 = start; t0 < end; t0 += C) {
    // --- 1. scores of the owned tokens for all GC heads, K from global memory into registers
    let first = t0 + own;
    // [TPT, MAXH]; an explicit initializer: naga zeroes an uninitialised `var` declared in a
    // loop only once, not on every iteration
    var sc = array<f32, 32>();
    if (first < end) {
      let last = min(first + TPT - 1u, end - 1u);
      for (var c = 0u; c < D8; c++) {
        let blk = k_block(b, hk, first, last, c);
        var kv: array<F8, 4>;
        for (var k = 0u; k < TPT; k++) {
          kv[k] = k_get(blk, k);
        }
        for (var h = 0u; h < GC; h++) {
          let qa = qs[h * D4 + 2u * c];
          let qb = qs[h * D4 + 2u * c + 1u];
          for (var k = 0u; k < TPT; k++) {
            sc[k * MAXH + h] = dot8(sc[k * MAXH + h], qa, qb, kv[k]);
          }
        }
      }
    }
    if (SCORES) {
      for (var k = 0u; k < TPT; k++) {
        for (var h = 0u; h < GC; h++) {
          if (first + k < end && h < nh) {
            emit_score((row0 + h) * SCAP + first + k, sc[k * MAXH + h]);
          }
        }
      }
    }
    for (var h = 0u; h < GC; h++) {
      var mx = NEG;
      for (var k = 0u; k < TPT; k++) {
        if (first + k < end && first + k >= lo) {
          mx = max(mx, sc[k * MAXH + h]);
        }
      }
      red[h * WG + lid] = mx;
    }
    workgroupBarrier();

    // --- 2. the tile's max per head, the rescale, and the owners' probabilities
    reduce_stage2(lid, true);
    workgroupBarrier();
    var alpha: array<f32, MAXH>;
    for (var h = 0u; h < GC; h++) {
      let m_new = max(m_run[h], red2_total(h, true));
      alpha[h] = exp(m_run[h] - m_new);
      m_run[h] = m_new;
      l_own[h] *= alpha[h];
    }
    for (var k = 0u; k < TPT; k++) {
      let valid = first + k < end && first + k >= lo;
      for (var g4 = 0u; g4 < GQ; g4++) {
        var pv = vec4<f32>(0.0);
        for (var j = 0u; j < 4u; j++) {
          let h = 4u * g4 + j;
          if (valid && h < GC) {
            let e = exp(sc[k * MAXH + h] - m_run[h]);
            pv[j] = e;
            l_own[h] += e;
          }
        }
        pb[(own + k) * GQ + g4] = pv;
      }
    }
    workgroupBarrier();

    // --- 3. P·V over this thread's token phase, V from global memory into registers. No
    // barrier after it: the next tile writes red before its first barrier, red2 and pb only
    // after it, and every thread reaches that barrier only when done with this tile.
    for (var h = 0u; h < GC; h++) {
      acc[2u * h] *= alpha[h];
      acc[2u * h + 1u] *= alpha[h];
    }
    // when D/8 does not divide WG (D = 24, 96, 160, ...) the last WG mod D/8 threads have
    // ph = P and sit this loop out (n is 0 for them)
    let n = select(0u, min(end - t0, C), ph < P);
    for (var i = ph; i < n; i += U * P) {
      var v: array<F8, 4>;
      for (var u = 0u; u < U; u++) {
        v[u] = load_v8(b, hk, t0 + min(i + u * P, n - 1u), d8);
      }
      for (var u = 0u; u < U; u++) {
        let j = i + u * P;
        if (j < n) {
          for (var g4 = 0u; g4 < GQ; g4++) {
            let pv = pb[j * GQ + g4];
            for (var e = 0u; e < 4u; e++) {
              let h = 4u * g4 + e;
              if (h < GC) {
                acc[2u * h] = fma(vec4<f32>(pv[e]), v[u].lo, acc[2u * h]);
                acc[2u * h + 1u] = fma(vec4<f32>(pv[e]), v[u].hi, acc[2u * h + 1u]);
              }
            }
          }
        }
      }
    }
  }

  // --- 4. combine: running sums over threads, outputs over token phases (pb reused)
  for (var h = 0u; h < GC; h++) {
    red[h * WG + lid] = l_own[h];
  }
  workgroupBarrier();
  reduce_stage2(lid, false);
  let HR = PB / (2u * WG); // heads per round: one head's partials are WG·8 floats
  for (var r = 0u; r < (GC + HR - 1u) / HR; r++) {
    // acc is indexed by the unrolled head loop only (a dynamic index would move it to memory)
    for (var h = 0u; h < GC; h++) {
      if (h / HR == r && ph < P) {
        let at = ((h % HR) * P + ph) * D4 + 2u * d8;
        pb[at] = acc[2u * h];
        pb[at + 1u] = acc[2u * h + 1u];
      }
    }
    workgroupBarrier();
    for (var i = lid; i < HR * D4; i += WG) {
      let hh = i / D4;
      let d4 = i % D4;
      if (r * HR + hh < nh) {
        var o = vec4<f32>(0.0);
        for (var j = 0u; j < P; j++) {
          o += pb[(hh * P + j) * D4 + d4];
        }
        part_o[((row0 + r * HR + hh) * p.S + s) * D4 + d4] = o;
      }
    }
    workgroupBarrier();
  }
  for (var h = 0u; h < GC; h++) {
    if (lid == h && h < nh) {
      let at = ((row0 + h) * p.S + s) * 2u;
      part_ml[at] = m_run[h];
      part_ml[at + 1u] = red2_total(h, false);
    }
  }
}
