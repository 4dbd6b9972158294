// Reference for quest (engine/methods/quest.ts and its kernels quest_pages.wgsl,
// quest_select.wgsl, quest_attention.wgsl): page metadata, upper-bound scores, page selection and
// attention over the selected pages. Plain loops; float64 where the kernels accumulate floats,
// bit-exact where they do not (metadata, selection). The specification the tests hold the GPU to.
//
// Shapes (letters from engine/shapes.ts; P = ceil(T / page) pages of capacity, KP = pages read
// per step): k, v [B, T, Hkv, D] the STORED keys and values as decode reads them (f32; f16-rounded
// for fp16, dequantized for the quantized formats), q [B, H, D], lens [B] (1 ≤ lens[b] ≤ T),
// meta max/min [B, Hkv, P, D] (f16 values), scores [B, Hkv, P], sel [B, Hkv, KP] u32.

import { checkInt, checkLength, groupSize } from "../shapes.ts";
import { attentionScale } from "./attention.ts";
import { orderKey } from "./methods.ts";
import { f16Bits, f16FromBits } from "./quant.ts";

export const NO_PAGE = 0xffffffff;
const F16_MAX = 65504;

// --- outward f16 rounding ----------------------------------------------------------------------

/** The smallest f16 ≥ x (x clamped to ±65504), as a number. */
export function f16Up(x: number): number {
  const c = Math.min(F16_MAX, Math.max(-F16_MAX, x));
  const h = f16Bits(c);
  if (f16FromBits(h) >= c) return f16FromBits(h);
  if ((h & 0x8000) === 0) return f16FromBits(h + 1);
  if (h === 0x8000) return f16FromBits(1);
  return f16FromBits(h - 1);
}

/** The largest f16 ≤ x (x clamped to ±65504), as a number. */
export function f16Down(x: number): number {
  return -f16Up(-x);
}

// --- page metadata -----------------------------------------------------------------------------

export interface QuestShape {
  readonly B: number;
  /** Key capacity per sequence. */
  readonly T: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
}

export interface PageMeta {
  /** [B, Hkv, P, D]: per-channel max of each page's keys, rounded up to f16. */
  readonly max: Float32Array;
  /** [B, Hkv, P, D]: per-channel min, rounded down to f16. */
  readonly min: Float32Array;
  /** Pages of capacity: ceil(T / page). */
  readonly P: number;
}

function checkInputs(shape: QuestShape, lens: readonly number[], page: number): number {
  const { B, T, D } = shape;
  checkInt("B (batch)", B);
  checkInt("T (key capacity)", T);
  checkInt("D (head dim)", D);
  checkInt("quest page", page);
  checkLength("lens [B]", lens, [B]);
  lens.forEach((n, b) => checkInt(`lens[${b}]`, n, 1, T));
  return groupSize(shape.H, shape.Hkv);
}

/** Per (b, hk, page): max and min of each channel over the page's first tokens below lens[b]. */
export function pageMetaRef(
  k: Float32Array,
  lens: readonly number[],
  shape: QuestShape,
  page: number,
): PageMeta {
  checkInputs(shape, lens, page);
  const { B, T, Hkv, D } = shape;
  checkLength("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
  const P = Math.ceil(T / page);
  const max = new Float32Array(B * Hkv * P * D);
  const min = new Float32Array(B * Hkv * P * D);
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      for (let p = 0; p * page < lens[b]; p++) {
        for (let d = 0; d < D; d++) {
          let hi = -Infinity, lo = Infinity;
          for (let t = p * page; t < Math.min((p + 1) * page, lens[b]); t++) {
            const x = k[((b * T + t) * Hkv + hk) * D + d];
            hi = Math.max(hi, x);
            lo = Math.min(lo, x);
          }
          const at = ((b * Hkv + hk) * P + p) * D + d;
          max[at] = f16Up(hi);
          min[at] = f16Down(lo);
        }
      }
    }
  }
  return { max, min, P };
}

// --- bounds ------------------------------------------------------------------------------------

/**
 * Score of page p for KV head hk: max over the group's query heads h of
 * Σ_d max(q_hd·max_d, q_hd·min_d) (float64). Pages at or past ceil(lens[b] / page): −Infinity.
 */
export function pageBoundsRef(
  q: Float32Array,
  meta: PageMeta,
  lens: readonly number[],
  shape: QuestShape,
  page: number,
): Float64Array {
  const g = checkInputs(shape, lens, page);
  const { B, H, Hkv, D } = shape;
  const P = meta.P;
  checkLength("q [B, H, D]", q, [B, H, D]);
  const out = new Float64Array(B * Hkv * P).fill(-Infinity);
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      for (let p = 0; p < Math.ceil(lens[b] / page); p++) {
        const at = ((b * Hkv + hk) * P + p) * D;
        let best = -Infinity;
        for (let j = 0; j < g; j++) {
          const qAt = (b * H + hk * g + j) * D;
          let s = 0;
          for (let d = 0; d < D; d++) {
            const x = q[qAt + d];
            s += Math.max(x * meta.max[at + d], x * meta.min[at + d]);
          }
          best = Math.max(best, s);
        }
        out[(b * Hkv + hk) * P + p] = best;
      }
    }
  }
  return out;
}

// --- selection ---------------------------------------------------------------------------------

/**
 * Pages read per (b, hk): with held = ceil(lens[b] / page) and K = min(KP, held), the last page
 * (held − 1) and the K − 1 highest-scoring others — by the f32 score's total order descending,
 * ties to the lower page — ascending; slots K .. KP − 1 are NO_PAGE. `scores` [B, Hkv, P] f32
 * (the GPU's, to check its selection bit for bit, or Math.fround of pageBoundsRef).
 */
export function selectPagesRef(
  scores: Float32Array,
  lens: readonly number[],
  shape: { B: number; Hkv: number; P: number },
  page: number,
  KP: number,
): Uint32Array {
  const { B, Hkv, P } = shape;
  checkLength("scores [B, Hkv, P]", scores, [B, Hkv, P]);
  checkInt("quest pages per step", KP);
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const out = new Uint32Array(B * Hkv * KP).fill(NO_PAGE);
  for (let b = 0; b < B; b++) {
    const held = Math.min(Math.ceil(lens[b] / page), P);
    const K = Math.min(KP, held);
    for (let hk = 0; hk < Hkv; hk++) {
      const r = b * Hkv + hk;
      const rest = Array.from({ length: held - 1 }, (_, j) => j);
      rest.sort((x, y) => {
        const kx = orderKey(bits[r * P + x]), ky = orderKey(bits[r * P + y]);
        return kx !== ky ? ky - kx : x - y;
      });
      const keep = [...rest.slice(0, K - 1), held - 1].sort((x, y) => x - y);
      out.set(keep, r * KP);
    }
  }
  return out;
}

/** The stored positions of the selected pages of row (b, hk), ascending. */
export function selectedTokens(
  sel: Uint32Array,
  row: number,
  KP: number,
  page: number,
  len: number,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < KP; i++) {
    const p = sel[row * KP + i];
    if (p === NO_PAGE) break;
    for (let t = p * page; t < Math.min((p + 1) * page, len); t++) out.push(t);
  }
  return out;
}

// --- attention ---------------------------------------------------------------------------------

/**
 * Decode attention of each query head over exactly the tokens of its KV head's selected pages
 * (float64): q [B, H, D], k, v [B, T, Hkv, D], sel [B, Hkv, KP] → out [B, H, D].
 */
export function questAttentionRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  lens: readonly number[],
  sel: Uint32Array,
  shape: QuestShape & { readonly scale?: number },
  page: number,
  KP: number,
): Float32Array {
  const g = checkInputs(shape, lens, page);
  const { B, T, H, Hkv, D } = shape;
  checkLength("q [B, H, D]", q, [B, H, D]);
  checkLength("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
  checkLength("v [B, T, Hkv, D]", v, [B, T, Hkv, D]);
  checkLength("sel [B, Hkv, KP]", sel, [B, Hkv, KP]);
  const scale = attentionScale(D, shape.scale);
  const out = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / g);
      const tokens = selectedTokens(sel, b * Hkv + hk, KP, page, lens[b]);
      const qAt = (b * H + h) * D;
      const s = tokens.map((t) => {
        const kAt = ((b * T + t) * Hkv + hk) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qAt + d] * k[kAt + d];
        return dot * scale;
      });
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, x) => a + x, 0);
      const acc = new Float64Array(D);
      tokens.forEach((t, i) => {
        const vAt = ((b * T + t) * Hkv + hk) * D;
        for (let d = 0; d < D; d++) acc[d] += (e[i] / sum) * v[vAt + d];
      });
      out.set(acc, qAt);
    }
  }
  return out;
}

/** The whole step: metadata, bounds (rounded to f32, as the GPU stores them), selection, attention. */
export function questRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  lens: readonly number[],
  shape: QuestShape & { readonly scale?: number },
  page: number,
  KP: number,
): { meta: PageMeta; scores: Float64Array; sel: Uint32Array; out: Float32Array } {
  const meta = pageMetaRef(k, lens, shape, page);
  const scores = pageBoundsRef(q, meta, lens, shape, page);
  const sel = selectPagesRef(
    Float32Array.from(scores, (x) => Math.fround(x)),
    lens,
    { B: shape.B, Hkv: shape.Hkv, P: meta.P },
    page,
    KP,
  );
  const out = questAttentionRef(q, k, v, lens, sel, shape, page, KP);
  return { meta, scores, sel, out };
}
