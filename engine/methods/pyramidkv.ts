// pyramidkv: SnapKV's scores and kept window with per-layer budgets that fall linearly from the lower layers to the upper ones at the same total (Cai et al., 2024, "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling", https://arxiv.org/abs/2406.02069).
//
// Per-layer budget (pyramidBudgets): with window w, average budget A and a = A − w the average
// of the non-window part, the schedule runs from max = 2a − a/β at layer 0 down to min = a/β at
// the last layer (β = 20 in PyramidKV's code; larger β, steeper pyramid); when max exceeds
// the prompt's T − w non-window tokens it is capped there and min = 2a − max (PyramidKV's code
// does the same). Layer l's share of the line is r_l = max − l·(max − min)/(L − 1) (kvpress's
// real-valued schedule); kvlab keeps floor(r_l), then gives one more token to the lowest layers
// whose r_l is not whole until the total is exactly L·a. So the budgets are integers within one
// token of the line, never increase from one layer to the next, never exceed T, and sum to
// exactly L·A (PyramidKV's own integer steps overshoot the total by up to (L−1)·L/2 tokens).
// Each layer keeps w + its share.

import { checkInt } from "../shapes.ts";
import type { MethodInfo, ParamSpec } from "./method.ts";
import { WINDOW_PARAMS, windowScoring } from "./snapkv.ts";

export interface PyramidOptions {
  /** Prompt tokens. */
  readonly T: number;
  /** The always-kept window (part of every layer's budget). */
  readonly window: number;
  /** Steepness: the last layer's non-window budget is 1/β of the average's. */
  readonly beta: number;
}

/** Budgets of all `numLayers` layers for an average of `average` tokens (window included). */
export function pyramidBudgets(numLayers: number, average: number, o: PyramidOptions): number[] {
  checkInt("numLayers", numLayers);
  checkInt("T (prompt tokens)", o.T);
  checkInt("window", o.window, 0, o.T);
  checkInt("average budget (tokens per layer)", average, Math.max(1, o.window), o.T);
  if (!(o.beta >= 1 && Number.isFinite(o.beta))) {
    throw new RangeError(`beta: got ${o.beta}, expected a finite number ≥ 1`);
  }
  const a = average - o.window;
  if (numLayers === 1) return [average];
  let min = a / o.beta;
  let max = 2 * a - min;
  if (max > o.T - o.window) {
    max = o.T - o.window;
    min = 2 * a - max;
  }
  const step = (max - min) / (numLayers - 1);
  const EPS = 1e-9; // r_l within EPS of an integer counts as that integer
  const line = Array.from({ length: numLayers }, (_, l) => max - l * step);
  const share = line.map((r) => Math.floor(r + EPS));
  let extra = numLayers * a - share.reduce((x, y) => x + y, 0);
  for (let l = 0; l < numLayers && extra > 0; l++) {
    if (line[l] - share[l] > EPS) {
      share[l]++;
      extra--;
    }
  }
  if (extra !== 0) throw new Error(`pyramidBudgets: ${extra} tokens left to place (a bug)`);
  return share.map((x) => o.window + x);
}

/** Budget of layer `layer` of `numLayers` (see pyramidBudgets). */
export function pyramidBudget(
  layer: number,
  numLayers: number,
  average: number,
  o: PyramidOptions,
): number {
  checkInt("layer", layer, 0, numLayers - 1);
  return pyramidBudgets(numLayers, average, o)[layer];
}

const BETA: ParamSpec = {
  name: "beta",
  type: "number",
  default: 20,
  min: 1,
  max: 1e6,
  description: "pyramid steepness: the top layer keeps 1/beta of the average non-window budget",
};

export const PYRAMIDKV: MethodInfo = {
  name: "pyramidkv",
  family: "eviction",
  mode: "one-shot",
  description:
    "SnapKV's scores and window with per-layer budgets falling linearly from the lowest layer " +
    "to the highest, at the same total.",
  paper: "https://arxiv.org/abs/2406.02069",
  params: [...WINDOW_PARAMS, BETA],
  ...windowScoring,
  layerBudget: (p, average, T, layer, numLayers) =>
    pyramidBudget(layer, numLayers, average, { T, window: p.window, beta: p.beta }),
};
