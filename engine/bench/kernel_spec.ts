// The kernel suite's RunSpec: presets, fields and validation.

import { formatNames, getFormat } from "../cache/registry.ts";
import { type Budget, checkBudget, resolveBudget } from "../methods/budget.ts";
import { methodNames, parseComposition } from "../methods/registry.ts";
import { checkInt, groupSize } from "../shapes.ts";

/** Needle depths 0%, 10%, …, 100%. */
const DEPTHS_10 = Array.from({ length: 11 }, (_, i) => i / 10);

export type Preset = "smoke" | "default" | "full";
export const PRESETS: Record<
  Preset,
  {
    lengths: number[];
    reps: number;
    warmup: number;
    copyMiB: number;
    needleDepths: number[];
    ratios: number[];
  }
> = {
  smoke: {
    lengths: [256, 1024],
    reps: 3,
    warmup: 1,
    copyMiB: 8,
    needleDepths: [0, 0.5, 1],
    ratios: [4],
  },
  default: {
    lengths: [1024, 2048, 4096, 8192, 16384, 32768],
    reps: 20,
    warmup: 5,
    copyMiB: 256,
    needleDepths: DEPTHS_10,
    ratios: [2, 4, 8],
  },
  full: {
    lengths: [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072],
    reps: 50,
    warmup: 10,
    copyMiB: 1024,
    needleDepths: DEPTHS_10,
    ratios: [2, 4, 8],
  },
};

export interface KernelSpec {
  readonly suite: "kernels";
  readonly preset: Preset;
  readonly formats: readonly string[];
  readonly lengths: readonly number[];
  readonly batchSize: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly reps: number;
  readonly warmup: number;
  readonly copyMiB: number;
  /** Needle depths as fractions in [0, 1]; empty: no needle cells. */
  readonly needleDepths: readonly number[];
  /**
   * Methods for the needle cells, "<method>[+<format>]": eviction, and sparse (quest: the full
   * cache, pages selected per step); the full cache always runs.
   */
  readonly methods: readonly string[];
  /** Budgets of the method cells: { ratio } (keep 1/x of the context) or { budgetTokens }. */
  readonly budgets: readonly Budget[];
  readonly seed: number;
}

export function validateKernelSpec(s: KernelSpec): void {
  if (!(s.preset in PRESETS)) {
    throw new RangeError(
      `preset: got "${s.preset}", expected one of ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  if (s.formats.length === 0) {
    throw new RangeError(`formats: expected at least one of ${formatNames().join(", ")}`);
  }
  for (const f of s.formats) getFormat(f);
  if (s.lengths.length === 0) throw new RangeError("lengths: expected at least one context length");
  for (const n of s.lengths) checkInt("context length", n);
  checkInt("batch size", s.batchSize);
  groupSize(s.heads, s.kvHeads);
  checkInt("head dim", s.headDim, 32, 256);
  if (s.headDim % 32 !== 0) {
    throw new RangeError(`head dim: got ${s.headDim}, expected a multiple of 32`);
  }
  checkInt("reps", s.reps, 1, 10000);
  checkInt("warmup", s.warmup, 0, 10000);
  checkInt("copy MiB", s.copyMiB, 1, 4096);
  for (const d of s.needleDepths) {
    if (!(d >= 0 && d <= 1)) throw new RangeError(`needle depth: got ${d * 100}%, expected 0–100%`);
  }
  for (const m of s.methods) parseComposition(m);
  if (s.methods.length > 0 && s.budgets.length === 0) {
    throw new RangeError(
      `budgets: methods ${s.methods.join(", ")} need at least one ratio or budget`,
    );
  }
  for (const b of s.budgets) {
    checkBudget(b);
    for (const T of s.lengths) resolveBudget(b, T);
  }
  checkInt("seed", s.seed, 0);
}

/** Every registered method (quest included), stored as fp16: the needle cells' default. */
export function defaultMethods(): string[] {
  return methodNames();
}
