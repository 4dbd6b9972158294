// References for the compression-method kernels (engine/methods/*.wgsl): plain loops, float64
// where the kernel accumulates floats, bit-exact where it does not (hash, selection, gather).
// They are the specification the kernel tests hold the GPU to. Not fast, and not meant to be.
//
// Shapes (letters from engine/shapes.ts): k [B, T, Hkv, D], qw [B, WQ, H, D] (the prompt's last
// WQ queries), scores [B, Hkv, T], kept [B, Hkv, K].

import { checkLength, groupSize } from "../shapes.ts";
import { dequant, QG, quantizeGroup } from "./quant.ts";

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

// --- attention column sums (H2O, TOVA prefill statistic) --------------------------------------

export interface SumsShape {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Rows of qw per sequence: the prompt's last WQ queries. */
  readonly WQ: number;
}

/**
 * Column sums of the causal attention of the prompt's last `rows` queries (rows ≤ WQ; h2o: all
 * WQ given, which is every prompt query when WQ = T; tova: the last one). Row i (0 ≤ i < rows)
 * is the query at position T − rows + i (row WQ − rows + i of qw); its softmax runs over keys
 * 0 ..= T − rows + i. Per KV head hk and key j:
 *   scores[b, hk, j] = (1/G) Σ_{h in hk's group} Σ_i softmax_i(j)    (0 where no row sees j)
 * — the mean over the group's G query heads of each head's accumulated attention.
 */
export function attentionSumsRef(
  qw: ArrayLike<number>,
  k: ArrayLike<number>,
  shape: SumsShape,
  o: { readonly rows: number; readonly scale?: number },
): Float64Array {
  const { B, T, H, Hkv, D, WQ } = shape;
  const G = groupSize(H, Hkv);
  checkLength("qw [B, WQ, H, D]", qw, [B, WQ, H, D]);
  checkLength("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
  const R = o.rows;
  if (!(Number.isInteger(R) && R >= 1 && R <= Math.min(WQ, T))) {
    throw new RangeError(`rows: got ${R}, expected an integer in [1, ${Math.min(WQ, T)}]`);
  }
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const out = new Float64Array(B * Hkv * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / G);
      for (let i = 0; i < R; i++) {
        const qAt = ((b * WQ + WQ - R + i) * H + h) * D;
        const n = T - R + i + 1;
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
        for (let j = 0; j < n; j++) out[(b * Hkv + hk) * T + j] += Math.exp(s[j] - max) / sum / G;
      }
    }
  }
  return out;
}

// --- decode-time eviction ----------------------------------------------------------------------

/** How a decode-time method picks the token it evicts (engine/methods/method.ts DecodeRule). */
export interface EvictRuleRef {
  /** oldest: lowest position; accumulated / current: lowest statistic, ties to the older. */
  readonly rank: "oldest" | "accumulated" | "current";
  /** Positions < sinks are never evicted. */
  readonly sinks: number;
  /** The newest `recent` positions, the incoming token included, are never evicted. */
  readonly recent: number;
}

/** No eviction: the step appended (the `evicted` value for a sequence below capacity). */
export const NO_EVICTION = 0xffffffff;

/**
 * The slot each (b, hk) writes its incoming token into, as the select kernel chooses it
 * (evict.wgsl). Sequence b holds lens[b] tokens; its incoming token has position next[b]. Below
 * capacity: slot lens[b], nothing evicted. At capacity: among slots whose position p is neither a
 * sink (p < sinks) nor recent (next[b] − p < recent), the lowest (key, position), key = p
 * (oldest) or the slot's statistic in the f32 total order (accumulated, current); its position
 * is the one evicted.
 * pos, stat [B, Hkv, capacity]; returns slots and evicted positions [B, Hkv].
 */
export function selectVictimRef(
  pos: Uint32Array,
  stat: ArrayLike<number>,
  lens: readonly number[],
  next: readonly number[],
  shape: { readonly B: number; readonly Hkv: number; readonly capacity: number },
  rule: EvictRuleRef,
): { slots: Uint32Array; evicted: Uint32Array } {
  const { B, Hkv, capacity } = shape;
  const slots = new Uint32Array(B * Hkv);
  const evicted = new Uint32Array(B * Hkv);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const key = (x: number) => {
    f[0] = x;
    return orderKey(u[0]);
  };
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      const row = b * Hkv + hk;
      if (lens[b] < capacity) {
        slots[row] = lens[b];
        evicted[row] = NO_EVICTION;
        continue;
      }
      let best = -1, bk = Infinity, bp = Infinity;
      for (let s = 0; s < lens[b]; s++) {
        const p = pos[row * capacity + s];
        if (p < rule.sinks || next[b] - p < rule.recent) continue;
        const k = rule.rank === "oldest" ? p : key(stat[row * capacity + s]);
        if (k < bk || (k === bk && p < bp)) [best, bk, bp] = [s, k, p];
      }
      if (best < 0) throw new RangeError(`(b ${b}, hk ${hk}): no token may be evicted`);
      slots[row] = best;
      evicted[row] = bp;
    }
  }
  return { slots, evicted };
}

/**
 * The stats kernel: one decode step's attention probabilities from its raw scores and per-split
 * softmax statistics. For slot s < lens[b] of (b, hk):
 *   a = (1/G) Σ_g exp(att[b, h, s] − m_h) / l_h,   h = hk·G + g,
 * (m_h, l_h) merged over the S splits of part_ml [B, H, S, 2] as decode_reduce merges them
 * (splits with l = 0 drop out); stat = stat + a (accumulate) or a. att [B, H, capacity];
 * stat [B, Hkv, capacity] (slots ≥ lens[b] unchanged).
 */
export function stepStatsRef(
  att: ArrayLike<number>,
  partMl: ArrayLike<number>,
  lens: readonly number[],
  stat: ArrayLike<number>,
  shape: {
    readonly B: number;
    readonly H: number;
    readonly Hkv: number;
    readonly capacity: number;
    readonly S: number;
  },
  accumulate: boolean,
): Float64Array {
  const { B, H, Hkv, capacity, S } = shape;
  const G = groupSize(H, Hkv);
  checkLength("att [B, H, capacity]", att, [B, H, capacity]);
  checkLength("part_ml [B, H, S, 2]", partMl, [B, H, S, 2]);
  checkLength("stat [B, Hkv, capacity]", stat, [B, Hkv, capacity]);
  const out = Float64Array.from(stat);
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      const ml: [number, number][] = [];
      for (let g = 0; g < G; g++) {
        const r = (b * H + hk * G + g) * S;
        let m = -3.0e38;
        for (let s = 0; s < S; s++) {
          if (partMl[(r + s) * 2 + 1] > 0) m = Math.max(m, partMl[(r + s) * 2]);
        }
        let l = 0;
        for (let s = 0; s < S; s++) {
          const ls = partMl[(r + s) * 2 + 1];
          if (ls > 0) l += ls * Math.exp(partMl[(r + s) * 2] - m);
        }
        ml.push([m, l]);
      }
      for (let s = 0; s < lens[b]; s++) {
        let a = 0;
        for (let g = 0; g < G; g++) {
          a += Math.exp(att[(b * H + hk * G + g) * capacity + s] - ml[g][0]) / ml[g][1];
        }
        a /= G;
        const i = (b * Hkv + hk) * capacity + s;
        out[i] = accumulate ? out[i] + a : a;
      }
    }
  }
  return out;
}

/**
 * A cache under decode-time eviction, simulated: per (b, hk) `capacity` slots holding the
 * stored (possibly dequantized: `store`) keys and values, their positions and the method's
 * statistic in float64. step() does what DecodeEvictor.encodeStep records: pick the slot
 * (selectVictimRef), store the incoming token there, attend over the held tokens, then add
 * (accumulated) or set (current) each held token's attention probability of this step, averaged
 * over the group's G query heads. The specification the conformance suite holds the GPU to.
 */
export class EvictorRef {
  readonly G: number;
  readonly k: Float32Array; // [B, Hkv, capacity, D] what the cache holds, as attention reads it
  readonly v: Float32Array;
  readonly pos: Uint32Array; // [B, Hkv, capacity]
  readonly stat: Float64Array; // [B, Hkv, capacity]
  readonly lens: number[];
  readonly next: number[];

  constructor(
    readonly shape: {
      readonly B: number;
      readonly H: number;
      readonly Hkv: number;
      readonly D: number;
      readonly capacity: number;
      readonly scale?: number;
    },
    readonly rule: EvictRuleRef,
    /** What the format stores for one token's D values (default: f32 as given). */
    readonly store: (x: Float32Array) => Float32Array = (x) => x,
  ) {
    const { B, Hkv, D, capacity } = shape;
    this.G = groupSize(shape.H, Hkv);
    this.k = new Float32Array(B * Hkv * capacity * D);
    this.v = new Float32Array(B * Hkv * capacity * D);
    this.pos = new Uint32Array(B * Hkv * capacity);
    this.stat = new Float64Array(B * Hkv * capacity);
    this.lens = new Array(B).fill(0);
    this.next = new Array(B).fill(0);
  }

  /**
   * The state after a one-shot compression of a T-token prompt: slot s of (b, hk) holds position
   * kept[b, hk, s] (K per row, ascending) with statistic scores[b, hk, kept]; the next token
   * has position T. k, v [B, T, Hkv, D]; scores [B, Hkv, T].
   */
  fill(
    kept: Uint32Array,
    K: number,
    k: ArrayLike<number>,
    v: ArrayLike<number>,
    scores: ArrayLike<number>,
    T: number,
  ): void {
    const { B, Hkv, D, capacity } = this.shape;
    checkLength("kept [B, Hkv, K]", kept, [B, Hkv, K]);
    checkLength("scores [B, Hkv, T]", scores, [B, Hkv, T]);
    if (K > capacity) throw new RangeError(`K: ${K} kept tokens exceed capacity ${capacity}`);
    for (let b = 0; b < B; b++) {
      for (let hk = 0; hk < Hkv; hk++) {
        const row = b * Hkv + hk;
        for (let s = 0; s < K; s++) {
          const j = kept[row * K + s];
          const src = ((b * T + j) * Hkv + hk) * D;
          this.#put(row, s, Float32Array.from({ length: D }, (_, d) => k[src + d]), false);
          this.#put(row, s, Float32Array.from({ length: D }, (_, d) => v[src + d]), true);
          this.pos[row * capacity + s] = j;
          this.stat[row * capacity + s] = scores[row * T + j];
        }
      }
      this.lens[b] = K;
      this.next[b] = T;
    }
  }

  #put(row: number, s: number, x: Float32Array, isV: boolean): void {
    const { D, capacity } = this.shape;
    (isV ? this.v : this.k).set(this.store(x), (row * capacity + s) * D);
  }

  /** The slots the next step writes and the positions it evicts, per (b, hk). */
  victims(): { slots: Uint32Array; evicted: Uint32Array } {
    return selectVictimRef(this.pos, this.stat, this.lens, this.next, this.shape, this.rule);
  }

  /**
   * One decode step: q [B, H, D], k, v [B, Hkv, D] (the incoming token). `slots` overrides the
   * choice (a test resynchronising at a float near-tie); default victims(). Returns the
   * attention output [B, H, D], the slots written and the positions evicted.
   */
  step(
    q: ArrayLike<number>,
    k: ArrayLike<number>,
    v: ArrayLike<number>,
    slots?: Uint32Array,
  ): { out: Float32Array; slots: Uint32Array; evicted: Uint32Array } {
    const { B, H, Hkv, D, capacity } = this.shape;
    checkLength("q [B, H, D]", q, [B, H, D]);
    checkLength("k [B, Hkv, D]", k, [B, Hkv, D]);
    checkLength("v [B, Hkv, D]", v, [B, Hkv, D]);
    const choice = this.victims();
    const use = slots ?? choice.slots;
    const evicted = new Uint32Array(B * Hkv);
    for (let b = 0; b < B; b++) {
      for (let hk = 0; hk < Hkv; hk++) {
        const row = b * Hkv + hk;
        const s = use[row];
        evicted[row] = this.lens[b] < capacity ? NO_EVICTION : this.pos[row * capacity + s];
        const at = row * D;
        this.#put(row, s, Float32Array.from({ length: D }, (_, d) => k[at + d]), false);
        this.#put(row, s, Float32Array.from({ length: D }, (_, d) => v[at + d]), true);
        this.pos[row * capacity + s] = this.next[b];
        this.stat[row * capacity + s] = 0;
      }
      this.lens[b] = Math.min(this.lens[b] + 1, capacity);
      this.next[b]++;
    }
    const scale = this.shape.scale ?? 1 / Math.sqrt(D);
    const out = new Float32Array(B * H * D);
    for (let b = 0; b < B; b++) {
      const n = this.lens[b];
      for (let hk = 0; hk < Hkv; hk++) {
        const row = b * Hkv + hk;
        const mean = new Float64Array(n);
        for (let g = 0; g < this.G; g++) {
          const h = hk * this.G + g;
          const qAt = (b * H + h) * D;
          const s = new Float64Array(n);
          let max = -Infinity;
          for (let j = 0; j < n; j++) {
            const kAt = (row * capacity + j) * D;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q[qAt + d] * this.k[kAt + d];
            s[j] = dot * scale;
            if (s[j] > max) max = s[j];
          }
          let sum = 0;
          for (let j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
          const acc = new Float64Array(D);
          for (let j = 0; j < n; j++) {
            const p = s[j] / sum;
            mean[j] += p / this.G;
            const vAt = (row * capacity + j) * D;
            for (let d = 0; d < D; d++) acc[d] += p * this.v[vAt + d];
          }
          out.set(acc, qAt);
        }
        if (this.rule.rank === "oldest") continue;
        for (let j = 0; j < n; j++) {
          const i = row * capacity + j;
          this.stat[i] = this.rule.rank === "accumulated" ? this.stat[i] + mean[j] : mean[j];
        }
      }
    }
    return { out, slots: Uint32Array.from(use), evicted };
  }
}

/**
 * What a cache format stores for one token's D values, as decode attention reads it back:
 * fp32 as is, fp16 rounded, int8 / int4 quantized per group of 32 channels and dequantized
 * (engine/reference/quant.ts). KIVI is not per token, so it has no entry.
 */
export function storedTokenRef(format: string): (x: Float32Array) => Float32Array {
  if (format === "fp32") return (x) => Float32Array.from(x);
  if (format === "fp16") return (x) => Float32Array.from(x, (v) => Math.f16round(v));
  const bits = { int8: 8, int4: 4 }[format];
  if (!bits) throw new RangeError(`storedTokenRef: no per-token reference for format "${format}"`);
  return (x) => {
    const out = new Float32Array(x.length);
    for (let j = 0; j < x.length; j += QG) {
      const q = quantizeGroup(x.subarray(j, j + QG), bits);
      for (let e = 0; e < QG; e++) out[j + e] = dequant(q.codes[e], q.sh, q.mh);
    }
    return out;
  };
}
