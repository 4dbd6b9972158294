// The kernel-level needle: one "needle" key/value pair planted at depth d (0–100%) of a
// context of N tokens. The needle key points along the mean of its GQA group's queries, so the
// final query matches it strongly, as a retrieval head's would. Retrieval is measured as the
// cosine between each head's attention output and the needle value (retrieved when > 0.9).
// It gives NIAH-style depth × length data with no model, and separates eviction's failure
// (the needle was dropped) from quantization's (the needle was blurred).

import type { LayerShape } from "./kernel_data.ts";
import { randn } from "../reference/random.ts";

/** Logit margin of the needle: q·k_needle·scale for every query head of the group. */
export const NEEDLE_LOGIT = 24;
/** Cosine above which the needle counts as retrieved. */
export const RETRIEVED_COSINE = 0.9;

/** The needle's position for a depth in [0, 1]: 0 is the first token, 1 the last. */
export function needlePosition(T: number, depth: number): number {
  if (!(depth >= 0 && depth <= 1)) {
    throw new RangeError(`needle depth: got ${depth}, expected a fraction in [0, 1]`);
  }
  return Math.round(depth * (T - 1));
}

/**
 * Copies k and v [B, T, Hkv, D] and plants the needle at `position` of every sequence and KV
 * head: key = c · mean(q of the group) with c chosen so the mean query scores NEEDLE_LOGIT,
 * value = a fresh normal vector. Returns the copies and the needle values [B, Hkv, D].
 */
export function plantNeedle(
  shape: LayerShape,
  T: number,
  data: { k: Float32Array; v: Float32Array; q: Float32Array },
  position: number,
  seed: number,
) {
  const { B, H, Hkv, D } = shape;
  const g = H / Hkv;
  const k = data.k.slice();
  const v = data.v.slice();
  const needles = randn(seed, B * Hkv * D);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      const mean = new Float64Array(D);
      for (let j = 0; j < g; j++) {
        const h = hk * g + j;
        for (let d = 0; d < D; d++) mean[d] += data.q[(b * H + h) * D + d] / g;
      }
      const norm2 = mean.reduce((s, x) => s + x * x, 0);
      const c = NEEDLE_LOGIT / (scale * norm2);
      const at = ((b * T + position) * Hkv + hk) * D;
      for (let d = 0; d < D; d++) {
        k[at + d] = c * mean[d];
        v[at + d] = needles[(b * Hkv + hk) * D + d];
      }
    }
  }
  return { k, v, needles };
}

/** Mean over (b, h) of cos(out[b, h], needle[b, h / g]); out [B, H, D], needles [B, Hkv, D]. */
export function needleCosine(shape: LayerShape, out: Float32Array, needles: Float32Array): number {
  const { B, H, Hkv, D } = shape;
  const g = H / Hkv;
  let sum = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      let dot = 0, no = 0, nn = 0;
      for (let d = 0; d < D; d++) {
        const o = out[(b * H + h) * D + d];
        const n = needles[(b * Hkv + Math.floor(h / g)) * D + d];
        dot += o * n;
        no += o * o;
        nn += n * n;
      }
      sum += no > 0 && nn > 0 ? dot / Math.sqrt(no * nn) : 0;
    }
  }
  return sum / (B * H);
}
