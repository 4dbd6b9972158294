// Reference of engine/kernels/sample.wgsl: temperature / top-k / top-p sampling by Gumbel-max,
// in float64 with the kernel's RNG (the same pcg hash of (seed, b, step, v) and the same f32
// uniform), so a GPU draw and a reference draw agree exactly unless two candidates are closer
// than f32 rounding: each result carries its margins, so tests can tell such near-ties apart.
//
//   kept set      non-NaN logits ≥ threshold; top-k: the k-th largest value (ties all kept);
//                 top-p over the top-k set: walking its distinct values from the largest, the
//                 first value at which the mass exp((x − max)/T) so far reaches topP (as f32)
//                 of the set's mass.
//   the draw      argmax over the kept set of x/T + g_v (lowest index on ties), g_v Gumbel.
//   distribution  samplingProbsRef: the kept set's renormalised softmax(x / T), which the
//                 draw follows exactly (Gumbel-max), for statistical tests.

import type { SamplingParams } from "../kernels/sample.ts";

/** The pcg hash of sample.wgsl (and random_fill.wgsl), on u32. */
export function pcg(x: number): number {
  const s = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The hash of row b's draw number `step`: every token's variate derives from it. */
export function streamKey(seed: number, b: number, step: number): number {
  return pcg((seed ^ pcg((b ^ pcg(step)) >>> 0)) >>> 0);
}

const U_MIN = 2 ** -32;
const U_MAX = 1 - 2 ** -24;

/** The Gumbel variate of token v in a stream: u = hash · 2^−32 as the kernel rounds it. */
export function gumbelRef(stream: number, v: number): number {
  const h = pcg((stream ^ pcg(v)) >>> 0);
  const u0 = Math.fround((h >>> 8) + (h & 255) / 256) * 2 ** -24;
  const u = Math.min(Math.max(u0, U_MIN), U_MAX);
  return -Math.log(-Math.log1p(-u));
}

export interface KeptSet {
  /** Tokens with a non-NaN logit ≥ threshold are kept (−Infinity: all non-NaN). */
  readonly threshold: number;
  /**
   * How far the top-p boundary is from being decided otherwise: min over the chosen value's
   * group and the one before of |cumulative mass − topP·Z| / Z (Infinity without top-p).
   */
  readonly margin: number;
}

/** The kept set of one row of logits (see the header). */
export function keptSet(row: ArrayLike<number>, s: SamplingParams): KeptSet {
  const V = row.length;
  const values: number[] = [];
  for (let v = 0; v < V; v++) if (!Number.isNaN(row[v])) values.push(row[v]);
  values.sort((a, b) => b - a);
  let threshold = -Infinity;
  if (s.topK > 0 && s.topK < V && s.topK <= values.length) threshold = values[s.topK - 1];
  let margin = Infinity;
  const m = values.length > 0 ? values[0] : -Infinity;
  if (s.topP < 1 && m > -Infinity) {
    const kept = values.filter((x) => x >= threshold);
    const w = kept.map((x) => Math.exp((x - m) / s.temperature));
    const Z = w.reduce((a, b) => a + b, 0);
    const target = Math.fround(s.topP) * Z;
    let cum = 0, before = 0;
    for (let i = 0; i < kept.length; i++) {
      cum += w[i];
      const groupEnd = i + 1 === kept.length || kept[i + 1] !== kept[i];
      if (!groupEnd) continue;
      if (cum >= target) {
        threshold = Math.max(threshold, kept[i]);
        margin = Math.min(cum - target, target - before) / Z;
        break;
      }
      before = cum;
    }
  }
  return { threshold, margin };
}

/** The distribution a draw follows: renormalised softmax(x / T) over the kept set, float64. */
export function samplingProbsRef(row: ArrayLike<number>, s: SamplingParams): Float64Array {
  const { threshold } = keptSet(row, s);
  const out = new Float64Array(row.length);
  let m = -Infinity;
  for (let v = 0; v < row.length; v++) if (row[v] >= threshold && row[v] > m) m = row[v];
  if (m === -Infinity) {
    out[0] = 1; // no finite logit: token 0, as the kernel
    return out;
  }
  let Z = 0;
  for (let v = 0; v < row.length; v++) {
    if (row[v] >= threshold) Z += out[v] = Math.exp((row[v] - m) / s.temperature);
  }
  for (let v = 0; v < row.length; v++) out[v] /= Z;
  return out;
}

export interface SampleRefResult {
  readonly id: number;
  /** Score gap between the drawn token and the runner-up (Infinity with one candidate). */
  readonly margin: number;
  /** |score| of the drawn token (to scale the margin by). */
  readonly score: number;
  /** The top-p boundary's margin (keptSet). */
  readonly keptMargin: number;
  /** Tokens in the kept set. */
  readonly kept: number;
}

/** One draw per row of logits [B, V]; row b uses RNG counter steps[b]. */
export function sampleRef(
  logits: ArrayLike<number>,
  V: number,
  s: SamplingParams,
  steps: readonly number[],
): SampleRefResult[] {
  const B = steps.length;
  if (logits.length !== B * V) {
    throw new RangeError(`sampleRef: ${logits.length} logits for B=${B} rows of V=${V}`);
  }
  const out: SampleRefResult[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.prototype.slice.call(logits, b * V, (b + 1) * V) as number[];
    const { threshold, margin: keptMargin } = keptSet(row, s);
    const stream = streamKey(s.seed, b, steps[b]);
    let best = -Infinity, second = -Infinity, id = -1, kept = 0;
    for (let v = 0; v < V; v++) {
      const x = row[v];
      if (Number.isNaN(x) || x < threshold) continue;
      kept++;
      const score = x / s.temperature + gumbelRef(stream, v);
      if (score > best) {
        second = best;
        best = score;
        id = v;
      } else if (score > second) {
        second = score;
      }
    }
    out.push({
      id: id < 0 ? 0 : id,
      margin: best - second,
      score: Math.abs(best),
      keptMargin,
      kept,
    });
  }
  return out;
}
