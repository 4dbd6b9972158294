// knorm: keeps, per KV head, the tokens whose keys have the lowest L2 norm (Devoto et al., 2024, "A Simple and Effective L2 Norm-Based Strategy for KV Cache Compression", https://arxiv.org/abs/2406.11430).
//
// Score −‖k‖₂ of the post-RoPE key (RoPE rotates pairs of channels, so the norm is the pre-RoPE
// norm too). No forced tokens, as kvpress's KnormPress.

import { keyNormScoresRef } from "../reference/methods.ts";
import { KeyNormScores } from "./key_norm.ts";
import type { MethodInfo } from "./method.ts";

export const KNORM: MethodInfo = {
  name: "knorm",
  family: "eviction",
  mode: "one-shot",
  description: "Per KV head, the tokens whose keys have the lowest L2 norm.",
  paper: "https://arxiv.org/abs/2406.11430",
  params: [],
  queries: () => 0,
  forced: () => ({ sinks: 0, recent: 0 }),
  scorer: (gpu, _p, heads) => KeyNormScores.create(gpu, heads),
  scoreRef: (_p, l) => keyNormScoresRef(l.k, l.shape),
};
