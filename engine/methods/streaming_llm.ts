// streaming_llm: keeps the first `sinks` tokens (attention sinks) and the most recent ones, budget − sinks of them (Xiao et al., 2023, "Efficient Streaming Language Models with Attention Sinks", https://arxiv.org/abs/2309.17453).
//
// No scores: every kept token is forced, so every KV head keeps the same positions. After
// prefill (the Compressor) the cache holds the sinks and the last budget − sinks prompt tokens.
// It runs either way: one-shot (mode; decode tokens are then appended into the cache's room), or
// enforced during decode too (DecodeEvictor, rule "oldest"): each step, once the cache holds the
// budget, evicts the oldest non-sink token and stores the new one in its slot, so the cache is
// always the sinks plus the newest budget − sinks tokens (the one being decoded included).

import type { MethodInfo } from "./method.ts";

export const STREAMING_LLM: MethodInfo = {
  name: "streaming_llm",
  family: "eviction",
  mode: "one-shot",
  description: "The first `sinks` tokens (attention sinks) plus the most recent budget − sinks.",
  paper: "https://arxiv.org/abs/2309.17453",
  params: [
    {
      name: "sinks",
      type: "int",
      default: 4,
      min: 0,
      max: 1 << 20,
      description: "attention-sink tokens kept at the start of the prompt",
    },
  ],
  queries: () => 0,
  forced(p, T, budget) {
    if (p.sinks > budget) {
      throw new RangeError(
        `streaming_llm: ${p.sinks} sink tokens do not fit a budget of ${budget} tokens; ` +
          `expected sinks ≤ budget`,
      );
    }
    return { sinks: Math.min(p.sinks, T), recent: budget - p.sinks };
  },
  decode: {
    rank: "oldest",
    forced: (p, budget) => ({ sinks: p.sinks, recent: Math.max(0, budget - p.sinks) }),
  },
};
