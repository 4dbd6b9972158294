// h2o: keeps per KV head the heavy hitters, the tokens with the most accumulated attention, plus a recent window (half the budget each by default), and keeps evicting during decode so the cache never exceeds the budget (Zhang et al., 2023, "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models", https://arxiv.org/abs/2306.14048).
//
// Prefill (once, the Compressor): the accumulated attention of prompt token j for KV head hk is
// the column sum of the causal attention probabilities over the prompt's query rows given in qw
// (attention_sums.wgsl, with per-row log-sum-exp), averaged over the group's G query heads
// (kvpress's GQA rule; H2O's own code is multi-head and keeps one sum per head). The exact method
// is given every prompt query (W = T: the model's prompt queries); given fewer rows, the sum runs
// over those (the kernel bench's needle cells pass `queries()` = 1). The cache keeps the last
// recent = ⌊budget·recent_ratio⌋ prompt tokens and the budget − recent others with the largest
// sums (as longctx_bench: heavy and recent halves).
// Decode (DecodeEvictor, rule "accumulated"): every step adds the new query's attention
// probabilities (mean over the group) to each held token's sum; once the cache holds the budget,
// the step first evicts, per KV head, the held token with the lowest sum outside the recent window
// (ties to the older) and stores the new token in its slot. The budget counts the new token, so
// this is H2O's evict-after-attend loop with a cache of budget − 1 plus the token being decoded,
// and memory never exceeds the budget.

import { slotFormatNames } from "../cache/registry.ts";
import { attentionSumsRef } from "../reference/methods.ts";
import { AttentionSums } from "./attention_sums.ts";
import type { MethodInfo, Params } from "./method.ts";

/** Recent tokens of a layer budget: ⌊budget·recent_ratio⌋. */
export function h2oRecent(p: Params, budget: number): number {
  return Math.floor(budget * p.recent_ratio);
}

export const H2O: MethodInfo = {
  name: "h2o",
  family: "eviction",
  mode: "decode",
  description:
    "Heavy hitters by accumulated attention (column sums over the prompt's queries, then every " +
    "decode step's) plus a recent window, half the budget each; evicts during decode.",
  paper: "https://arxiv.org/abs/2306.14048",
  params: [
    {
      name: "recent_ratio",
      type: "number",
      default: 0.5,
      min: 0,
      max: 1,
      description: "share of the budget kept as the recent window (the rest: heavy hitters)",
    },
  ],
  queries: () => 1,
  forced: (p, _T, budget) => ({ sinks: 0, recent: h2oRecent(p, budget) }),
  scorer: (gpu, _p, heads) => AttentionSums.create(gpu, heads),
  scoreRef(_p, l) {
    if (!l.qw) throw new RangeError("h2o scores need qw [B, W, H, D]: got none");
    const { B, T, H, Hkv, D, W = 0, scale } = l.shape;
    return attentionSumsRef(l.qw, l.k, { B, T, H, Hkv, D, WQ: W }, { rows: W, scale });
  },
  formats: slotFormatNames(),
  decode: {
    rank: "accumulated",
    forced: (p, budget) => ({ sinks: 0, recent: h2oRecent(p, budget) }),
  },
};
