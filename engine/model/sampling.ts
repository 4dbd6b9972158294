// The sampling options of generation (temperature, top-p, top-k, seed) as users give them, and
// their validation into the kernel's parameters (engine/kernels/sample.ts). Temperature absent
// or 0 is greedy decoding (argmax, bit-identical to a run without these options); top-p, top-k
// and a seed then have nothing to act on and are refused rather than ignored.

import type { SamplingParams } from "../kernels/sample.ts";

export interface SamplingOptions {
  /** Softmax temperature: 0 or absent = greedy; else in [MIN_TEMPERATURE, MAX_TEMPERATURE]. */
  readonly temperature?: number;
  /** Nucleus sampling: keep the most likely tokens up to this mass, in (0, 1] (default 1: off). */
  readonly topP?: number;
  /** Keep the k most likely tokens (ties at the k-th kept), an integer ≥ 1 (default: off). */
  readonly topK?: number;
  /** RNG seed, an integer in [0, 2^32 − 1] (default 0): same seed, same draws. */
  readonly seed?: number;
}

export const MIN_TEMPERATURE = 1e-3;
export const MAX_TEMPERATURE = 1e3;
/** top-k counts are summed in f32 on the GPU: exact up to 2^24. */
export const MAX_TOP_K = 2 ** 24;

/**
 * The kernel's parameters, or undefined for greedy decoding. Throws RangeError naming the value
 * and its allowed range; `names` spells the options as the caller does (CLI flags).
 */
export function resolveSampling(
  o: SamplingOptions,
  names: Readonly<Record<keyof SamplingOptions, string>> = {
    temperature: "temperature",
    topP: "topP",
    topK: "topK",
    seed: "seed",
  },
): SamplingParams | undefined {
  const t = o.temperature ?? 0;
  if (t !== 0 && !(t >= MIN_TEMPERATURE && t <= MAX_TEMPERATURE)) {
    throw new RangeError(
      `${names.temperature}: got ${o.temperature}, expected 0 (greedy) or a number in ` +
        `[${MIN_TEMPERATURE}, ${MAX_TEMPERATURE}]`,
    );
  }
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) {
    throw new RangeError(`${names.topP}: got ${o.topP}, expected a number in (0, 1]`);
  }
  if (
    o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1 && o.topK <= MAX_TOP_K)
  ) {
    throw new RangeError(`${names.topK}: got ${o.topK}, expected an integer in [1, ${MAX_TOP_K}]`);
  }
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32)) {
    throw new RangeError(`${names.seed}: got ${o.seed}, expected an integer in [0, 2^32 - 1]`);
  }
  if (t === 0) {
    for (const key of ["topP", "topK", "seed"] as const) {
      if (o[key] !== undefined) {
        throw new RangeError(
          `${names[key]} ${o[key]}: needs ${names.temperature} > 0 (sampling); ` +
            `${names.temperature} ${o.temperature ?? "absent"} is greedy decoding`,
        );
      }
    }
    return undefined;
  }
  return { temperature: t, topP: o.topP ?? 1, topK: o.topK ?? 0, seed: o.seed ?? 0 };
}
