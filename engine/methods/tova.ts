// tova: once the cache holds its budget, each decode step drops, per KV head, the token with the lowest current attention averaged over the group's query heads (Oren et al., 2024, "Transformers are Multi-State RNNs", https://arxiv.org/abs/2401.06104).
//
// Prefill (once, the Compressor): TOVA's rule applied to the prompt — per KV head, the budget
// tokens the last prompt query attends to most (attention_sums.wgsl over one row, mean over the
// group's G query heads; no forced tokens). Decode (DecodeEvictor, rule "current"): each step's
// attention probabilities (mean over the group) replace every held token's statistic; once the
// cache holds the budget, the next step first evicts the held token with the lowest one (ties to
// the older) and stores its new token in that slot. The budget counts the new token, so this is
// TOVA's attend-then-drop loop with a cache of budget − 1 plus the token being decoded.

import { slotFormatNames } from "../cache/registry.ts";
import { attentionSumsRef } from "../reference/methods.ts";
import { AttentionSums } from "./attention_sums.ts";
import type { MethodInfo } from "./method.ts";

export const TOVA: MethodInfo = {
  name: "tova",
  family: "eviction",
  mode: "decode",
  description:
    "Token Omission Via Attention: keeps the tokens the latest query attends to most (mean " +
    "over the group's heads), dropping the lowest one every decode step.",
  paper: "https://arxiv.org/abs/2401.06104",
  params: [],
  queries: () => 1,
  forced: () => ({ sinks: 0, recent: 0 }),
  scorer: (gpu, _p, heads) => AttentionSums.create(gpu, heads, { rows: 1 }),
  scoreRef(_p, l) {
    if (!l.qw) throw new RangeError("tova scores need qw [B, W, H, D]: got none");
    const { B, T, H, Hkv, D, W = 0, scale } = l.shape;
    return attentionSumsRef(l.qw, l.k, { B, T, H, Hkv, D, WQ: W }, { rows: 1, scale });
  },
  formats: slotFormatNames(),
  decode: { rank: "current", forced: () => ({ sinks: 0, recent: 0 }) },
};
