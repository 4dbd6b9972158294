// Reference attention: plain loops with float64 accumulation. This is the specification the
// attention kernels are tested against (prefill: engine/kernels/prefill_attention.ts).
// It is not fast and not meant to be: no tiling, no f16, no masking beyond causal and a sliding
// window (Mistral's: the query at position p sees keys p - window + 1 ..= p, `window` keys).
//
// Shapes (letters from engine/shapes.ts): q [B, Tq, H, D], k and v [B, Tk, Hkv, D],
// out [B, Tq, H, D]. Query head h reads KV head floor(h / g), g = H / Hkv (GQA; g = 1 is MHA,
// Hkv = 1 is MQA). Softmax scale defaults to 1 / sqrt(D).

import { checkInt, checkLength, groupSize } from "../shapes.ts";

export interface PrefillShape {
  readonly B: number;
  /** Queries per sequence (this chunk). */
  readonly Tq: number;
  /** Keys per sequence: earlier chunks already in the cache plus this chunk; Tq ≤ Tk. */
  readonly Tk: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Score scale; default 1 / sqrt(D). */
  readonly scale?: number;
  /** Sliding window: keys at most window - 1 positions before the query (default: none). */
  readonly window?: number;
}

export interface DecodeShape {
  readonly B: number;
  /** Key capacity per sequence; sequence b uses its first lens[b] keys. */
  readonly T: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Score scale; default 1 / sqrt(D). */
  readonly scale?: number;
  /** Sliding window: the query sees the last `window` of its lens[b] keys (default: all). */
  readonly window?: number;
}

/** The first key a query at position `pos` sees under `window` (undefined: key 0). */
export function windowStart(pos: number, window: number | undefined): number {
  return window === undefined ? 0 : Math.max(0, pos - window + 1);
}

function checkWindow(window: number | undefined): void {
  if (window !== undefined) checkInt("window (sliding window, keys)", window);
}

/** The softmax scale: `scale` if given (finite, > 0), else 1 / sqrt(D). */
export function attentionScale(D: number, scale?: number): number {
  if (scale === undefined) return 1 / Math.sqrt(D);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new RangeError(`scale: got ${scale}, expected a finite number > 0`);
  }
  return scale;
}

// --- prefill -----------------------------------------------------------------------------------

/**
 * Causal prefill attention. Query i of a sequence sits at absolute position Tk - Tq + i and
 * attends to keys 0 ..= Tk - Tq + i (chunked prefill: the first Tk - Tq keys are earlier chunks);
 * with `window` W only to keys Tk - Tq + i - W + 1 ..= Tk - Tq + i.
 * q [B, Tq, H, D], k and v [B, Tk, Hkv, D] → out [B, Tq, H, D].
 */
export function prefillAttentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  shape: PrefillShape,
): Float32Array {
  const { B, Tq, Tk, H, Hkv, D } = shape;
  checkInt("B (batch)", B);
  checkInt("Tk (keys)", Tk);
  checkInt("Tq (queries)", Tq, 1, Tk);
  checkInt("D (head dim)", D);
  const g = groupSize(H, Hkv);
  checkLength("q [B, Tq, H, D]", q, [B, Tq, H, D]);
  checkLength("k [B, Tk, Hkv, D]", k, [B, Tk, Hkv, D]);
  checkLength("v [B, Tk, Hkv, D]", v, [B, Tk, Hkv, D]);
  checkWindow(shape.window);
  const scale = attentionScale(D, shape.scale);
  const out = new Float32Array(B * Tq * H * D);
  const off = Tk - Tq;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      for (let h = 0; h < H; h++) {
        attendRow(
          q,
          ((b * Tq + i) * H + h) * D,
          k,
          v,
          (j) => ((b * Tk + j) * Hkv + Math.floor(h / g)) * D,
          windowStart(off + i, shape.window),
          off + i + 1,
          D,
          scale,
          out,
        );
      }
    }
  }
  return out;
}

// --- decode ------------------------------------------------------------------------------------

/**
 * Decode attention: one query per sequence attending to the first lens[b] keys (1 ≤ lens[b] ≤ T);
 * with `window` W to the last min(W, lens[b]) of them (keys at positions = indices, a full cache).
 * q [B, H, D], k and v [B, T, Hkv, D], lens [B] → out [B, H, D].
 */
export function decodeAttentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  lens: readonly number[],
  shape: DecodeShape,
): Float32Array {
  const { B, T, H, Hkv, D } = shape;
  checkInt("B (batch)", B);
  checkInt("T (key capacity)", T);
  checkInt("D (head dim)", D);
  const g = groupSize(H, Hkv);
  checkLength("q [B, H, D]", q, [B, H, D]);
  checkLength("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
  checkLength("v [B, T, Hkv, D]", v, [B, T, Hkv, D]);
  checkLength("lens [B]", lens, [B]);
  lens.forEach((n, b) => checkInt(`lens[${b}]`, n, 1, T));
  checkWindow(shape.window);
  const scale = attentionScale(D, shape.scale);
  const out = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      attendRow(
        q,
        (b * H + h) * D,
        k,
        v,
        (j) => ((b * T + j) * Hkv + Math.floor(h / g)) * D,
        windowStart(lens[b] - 1, shape.window),
        lens[b],
        D,
        scale,
        out,
      );
    }
  }
  return out;
}

// --- one query row -----------------------------------------------------------------------------

/** out[qAt .. qAt+D) = softmax(scale · q·k_j, from ≤ j < n) · v, k_j at keyAt(j) in k and v. */
function attendRow(
  q: ArrayLike<number>,
  qAt: number,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  keyAt: (j: number) => number,
  from: number,
  n: number,
  D: number,
  scale: number,
  out: Float32Array,
): void {
  const s = new Float64Array(n);
  let max = -Infinity;
  for (let j = from; j < n; j++) {
    const kAt = keyAt(j);
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qAt + d] * k[kAt + d];
    s[j] = dot * scale;
    if (s[j] > max) max = s[j];
  }
  let sum = 0;
  for (let j = from; j < n; j++) {
    s[j] = Math.exp(s[j] - max);
    sum += s[j];
  }
  const acc = new Float64Array(D);
  for (let j = from; j < n; j++) {
    const vAt = keyAt(j);
    const p = s[j] / sum;
    for (let d = 0; d < D; d++) acc[d] += p * v[vAt + d];
  }
  out.set(acc, qAt);
}
