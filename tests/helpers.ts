// Test helpers: one shared GPU context (whatever adapter exists; CI has lavapipe), and array
// comparisons that report the worst index and delta.

import { Gpu } from "../engine/gpu/mod.ts";

let shared: Promise<Gpu> | undefined;

/** The test GPU: `auto` device choice, so CI's software adapter is accepted (and labelled). */
export function testGpu(): Promise<Gpu> {
  shared ??= Gpu.open({ device: "auto" });
  return shared;
}

export interface CloseOptions {
  readonly atol?: number;
  readonly rtol?: number;
}

/** Worst |a - e| - (atol + rtol·|e|) over all elements, with its index. */
export function worst(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  o: CloseOptions = {},
) {
  const atol = o.atol ?? 1e-5;
  const rtol = o.rtol ?? 1e-4;
  let index = -1;
  let excess = -Infinity;
  let delta = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const ex = Number.isNaN(d) ? Infinity : d - (atol + rtol * Math.abs(expected[i]));
    if (ex > excess) {
      excess = ex;
      index = i;
      delta = d;
    }
  }
  return { index, delta, excess };
}

/** Throws naming the worst index, both values and the delta unless all elements are close. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  o: CloseOptions & { readonly label?: string } = {},
): void {
  const label = o.label ? `${o.label}: ` : "";
  if (actual.length !== expected.length) {
    throw new Error(`${label}length ${actual.length} != expected ${expected.length}`);
  }
  const w = worst(actual, expected, o);
  if (w.excess > 0) {
    throw new Error(
      `${label}mismatch at index ${w.index}: got ${actual[w.index]}, expected ${
        expected[w.index]
      }, ` +
        `|delta| ${w.delta.toExponential(3)} > atol ${o.atol ?? 1e-5} + rtol ${
          o.rtol ?? 1e-4
        }·|expected|`,
    );
  }
}

/** Throws naming the first differing index unless both arrays are identical. */
export function assertExact(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label = "",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length ${actual.length} != expected ${expected.length}`);
  }
  let first = -1;
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) {
    throw new Error(
      `${label}: ${count} of ${expected.length} differ; first at index ${first}: got ${
        actual[first]
      }, expected ${expected[first]}`,
    );
  }
}
