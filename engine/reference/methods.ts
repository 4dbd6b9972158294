// References for the compression-method kernels (engine/methods/*.wgsl): plain loops, float64
// where the kernel accumulates floats, bit-exact where it does not (hash, selection, gather).
// They are the specification the kernel tests hold the GPU to. Not fast, and not meant to be.
//
// Shapes (letters from engine/shapes.ts): k [B, T, Hkv, D], qw [B, WQ, H, D] (the prompt's last
// WQ queries), scores [B, Hkv, T], kept [B, Hkv, K].

import { checkLength, groupSize } from "../shapes.ts";

// --- window attention scores (SnapKV family) ---------------------------------------------------

export interface WindowShape {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Rows of qw per sequence; the window is the last `window` of them. */
  readonly WQ: number;
}

export interface WindowOptions {
  /** Window rows scored, 1 ≤ window ≤ min(WQ, T). */
  readonly window: number;
  /** Max-pool kernel (odd); 1 = no pooling. */
  readonly kernel: number;
  readonly scale?: number;
}

/**
 * SnapKV scores. Window row i (0 ≤ i < W) is the query at position T - W + i; its causal softmax
 * runs over keys 0 ..= T - W + i. Per query head h and prefix key j < Tp = T - W:
 *   a[h, j] = Σ_i softmax_i(j)                                  (summed over the window)
 *   p[h, j] = max { a[h, j'] : |j' - j| ≤ (kernel-1)/2, 0 ≤ j' < Tp }   (max-pool, same padding)
 *   scores[b, hk, j] = mean over the G heads h of KV head hk of p[h, j]
 * Window positions j ≥ Tp score 0 (they are kept by the forced rule, not by score).
 */
export function windowScoresRef(
  qw: ArrayLike<number>,
  k: ArrayLike<number>,
  shape: WindowShape,
  o: WindowOptions,
): Float64Array {
  const { B, T, H, Hkv, D, WQ } = shape;
  const G = groupSize(H, Hkv);
  checkLength("qw [B, WQ, H, D]", qw, [B, WQ, H, D]);
  checkLength("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
  const W = o.window;
  const Tp = T - W;
  const half = (o.kernel - 1) / 2;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const out = new Float64Array(B * Hkv * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / G);
      const a = new Float64Array(Math.max(Tp, 0));
      for (let i = 0; i < W; i++) {
        const qAt = ((b * WQ + WQ - W + i) * H + h) * D;
        const n = T - W + i + 1; // keys this row sees
        const s = new Float64Array(n);
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          const kAt = ((b * T + j) * Hkv + hk) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qw[qAt + d] * k[kAt + d];
          s[j] = dot * scale;
          if (s[j] > max) max = s[j];
        }
        let sum = 0;
        for (let j = 0; j < n; j++) sum += Math.exp(s[j] - max);
        for (let j = 0; j < Tp; j++) a[j] += Math.exp(s[j] - max) / sum;
      }
      for (let j = 0; j < Tp; j++) {
        let m = -Infinity;
        for (let x = Math.max(0, j - half); x <= Math.min(Tp - 1, j + half); x++) {
          if (a[x] > m) m = a[x];
        }
        out[(b * Hkv + hk) * T + j] += m / G;
      }
    }
  }
  return out;
}

// --- key norm ----------------------------------------------------------------------------------

/** knorm scores: −‖k‖₂ per (b, hk, t), so the lowest-norm keys score highest. */
export function keyNormScoresRef(
  k: ArrayLike<number>,
  shape: { B: number; T: number; Hkv: number; D: number },
): Float64Array {
  const { B, T, Hkv, D } = shape;
  checkLength("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
  const out = new Float64Array(B * Hkv * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let hk = 0; hk < Hkv; hk++) {
        const at = ((b * T + t) * Hkv + hk) * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += k[at + d] * k[at + d];
        out[(b * Hkv + hk) * T + t] = -Math.sqrt(s);
      }
    }
  }
  return out;
}

// --- seeded random scores ----------------------------------------------------------------------

/** The lowbias32 integer hash (Chris Wellons' hash-prospector), as the WGSL kernel computes it. */
export function lowbias32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * random scores: for flat index i = (b·Hkv + hk)·T + t,
 * h = lowbias32(i + lowbias32(seed + lowbias32(layer))) (u32 wrapping adds), score = (h >> 8) / 2²⁴
 * — uniform in [0, 1), exact in f32.
 */
export function randomScoresRef(
  shape: { B: number; T: number; Hkv: number },
  seed: number,
  layer: number,
): Float32Array {
  const n = shape.B * shape.Hkv * shape.T;
  const key = lowbias32((seed + lowbias32(layer)) >>> 0);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (lowbias32((i + key) >>> 0) >>> 8) / 16777216;
  return out;
}

// --- selection ---------------------------------------------------------------------------------

/**
 * The u32 whose unsigned order is the f32 total order of `bits` (IEEE-754 bits of a score):
 * negatives flipped whole, positives with the sign bit set. −0 sorts just below +0.
 */
export function orderKey(bits: number): number {
  return (bits >>> 31) === 1 ? (~bits) >>> 0 : (bits | 0x80000000) >>> 0;
}

/**
 * The kept set per (b, hk): every forced position (j < sinks or j ≥ T − recent), then the
 * highest-scoring others — by score descending, ties to the lower position — until `budget`
 * are kept; returned ascending by position, kept [B, Hkv, budget] u32.
 */
export function selectKeptRef(
  scores: Float32Array,
  shape: { B: number; Hkv: number; T: number },
  budget: number,
  forced: { sinks: number; recent: number },
): Uint32Array {
  const { B, Hkv, T } = shape;
  checkLength("scores [B, Hkv, T]", scores, [B, Hkv, T]);
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const isForced = (j: number) => j < forced.sinks || j >= T - forced.recent;
  const out = new Uint32Array(B * Hkv * budget);
  for (let r = 0; r < B * Hkv; r++) {
    const keep: number[] = [];
    const rest: number[] = [];
    for (let j = 0; j < T; j++) (isForced(j) ? keep : rest).push(j);
    if (keep.length > budget) {
      throw new RangeError(`${keep.length} forced tokens exceed the budget ${budget}`);
    }
    rest.sort((a, b) => {
      const ka = orderKey(bits[r * T + a]), kb = orderKey(bits[r * T + b]);
      return ka !== kb ? kb - ka : a - b;
    });
    keep.push(...rest.slice(0, budget - keep.length));
    keep.sort((a, b) => a - b);
    out.set(keep, r * budget);
  }
  return out;
}

/** Gathers the kept tokens: x [B, T, Hkv, D], kept [B, Hkv, K] → [B, K, Hkv, D]. */
export function gatherRef(
  x: Float32Array,
  kept: Uint32Array,
  shape: { B: number; T: number; Hkv: number; D: number; K: number },
): Float32Array {
  const { B, T, Hkv, D, K } = shape;
  checkLength("x [B, T, Hkv, D]", x, [B, T, Hkv, D]);
  checkLength("kept [B, Hkv, K]", kept, [B, Hkv, K]);
  const out = new Float32Array(B * K * Hkv * D);
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      for (let t = 0; t < K; t++) {
        const j = kept[(b * Hkv + hk) * K + t];
        const src = ((b * T + j) * Hkv + hk) * D;
        out.set(x.subarray(src, src + D), ((b * K + t) * Hkv + hk) * D);
      }
    }
  }
  return out;
}
