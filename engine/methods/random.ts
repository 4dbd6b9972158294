// random: keeps a seeded uniformly random set of tokens per KV head and layer, the baseline every method should beat (no paper: kvpress's RandomPress, https://github.com/NVIDIA/kvpress).
//
// Scores are a hash of (seed, layer, b, hk, t) (random_scores.wgsl), so a run is reproducible
// and layers and heads draw independent sets.

import { randomScoresRef } from "../reference/methods.ts";
import type { MethodInfo } from "./method.ts";
import { RandomScores } from "./random_scores.ts";

export const RANDOM: MethodInfo = {
  name: "random",
  family: "eviction",
  mode: "one-shot",
  description: "A seeded random set of tokens per KV head and layer: the baseline.",
  paper: "https://github.com/NVIDIA/kvpress",
  params: [
    {
      name: "seed",
      type: "int",
      default: 0,
      min: 0,
      max: 0xffffffff,
      description: "random seed (with the layer index)",
    },
  ],
  queries: () => 0,
  forced: () => ({ sinks: 0, recent: 0 }),
  scorer: (gpu, p) => RandomScores.create(gpu, p.seed),
  scoreRef: (p, l) => randomScoresRef(l.shape, p.seed, l.layer ?? 0),
};
