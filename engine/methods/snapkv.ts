// snapkv: keeps the prompt's last `window` tokens and, per KV head, the tokens the window's queries attend to most (Li et al., 2024, "SnapKV: LLM Knows What You are Looking for Before Generation", https://arxiv.org/abs/2404.14469).
//
// Score of prefix token j for KV head hk: each query head h of the group sums its window rows'
// causal softmax over j, max-pools that over j ± (kernel−1)/2 (within the prefix), and the
// group's G heads are averaged (kvpress's GQA rule). The top budget − window prefix tokens per KV
// head are kept beside the window. SnapKV's own code defaults to avg-pooling with kernel 5 and a
// window of 64; kvlab follows the paper's max-pool (issue 3: window 32, kernel 7).

import { windowScoresRef } from "../reference/methods.ts";
import type { MethodInfo, Params, ParamSpec } from "./method.ts";
import { WindowScores } from "./window_scores.ts";

export const WINDOW_PARAMS: readonly ParamSpec[] = [
  {
    name: "window",
    type: "int",
    default: 32,
    min: 1,
    max: 256,
    description: "observation window: the prompt's last queries that score, always kept",
  },
  {
    name: "kernel",
    type: "int",
    default: 7,
    min: 1,
    max: 1023,
    description: "max-pool kernel over positions (odd; 1 = no pooling)",
  },
];

/** The SnapKV scoring hooks, shared with pyramidkv. */
export const windowScoring = {
  validate(p: Params): void {
    if (p.kernel % 2 !== 1) {
      throw new RangeError(`kernel (pooling): got ${p.kernel}, expected an odd integer`);
    }
  },
  queries: (p: Params) => p.window,
  forced: (p: Params) => ({ sinks: 0, recent: p.window }),
  scorer: (gpu, p, heads) =>
    WindowScores.create(gpu, heads, { window: p.window, kernel: p.kernel }),
  scoreRef(p, l) {
    if (!l.qw) throw new RangeError("window scores need qw [B, W, H, D]: got none");
    const { B, T, H, Hkv, D, W = 0, scale } = l.shape;
    return windowScoresRef(l.qw, l.k, { B, T, H, Hkv, D, WQ: W }, {
      window: p.window,
      kernel: p.kernel,
      scale,
    });
  },
} satisfies Pick<MethodInfo, "validate" | "queries" | "forced" | "scorer" | "scoreRef">;

export const SNAPKV: MethodInfo = {
  name: "snapkv",
  family: "eviction",
  mode: "one-shot",
  description:
    "Once after prefill: the last `window` tokens, plus per KV head the tokens the window's " +
    "queries attend to most (summed softmax, max-pooled, mean over the group's query heads).",
  paper: "https://arxiv.org/abs/2404.14469",
  params: WINDOW_PARAMS,
  ...windowScoring,
};
