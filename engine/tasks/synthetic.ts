// The loop every generated task shares: for each sample, a stream of randomness of its own, a
// builder that lays out the prompt for a haystack of n units, the fit of n to the token budget,
// and the sample record with its measured needle position. Each task file supplies the builder.

import { fitToBudget, needlePosition } from "./budget.ts";
import { Rng, seedFrom } from "./rng.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

/** What a builder lays out for one haystack size. */
export interface Built {
  readonly prompt: string;
  readonly answerPrefix: string;
  readonly answers: readonly string[];
  /** The haystack's span in `prompt` [start, end), for depth measurement. */
  readonly context?: readonly [number, number];
  /** The span of the needle whose depth is reported, inside `context`. */
  readonly needle?: readonly [number, number];
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** Streams for one sample, by label: the same label gives the same draws for every n. */
export type Streams = (label: string) => Rng;

export interface SyntheticSpec {
  readonly task: string;
  /** What the haystack size counts, for errors ("noise sentences", "words"). */
  readonly unit: string;
  readonly min: number;
  readonly max?: number;
  readonly maxNewTokens: number;
  readonly build: (streams: Streams, n: number) => Built;
}

export interface CellOptions {
  readonly seed: number;
  readonly length: number;
  readonly tokenizer: TaskTokenizer;
  readonly samples: number;
  readonly budgetIncludesGeneration: boolean;
  /** Extra labels that make samples differ (e.g. the depth), and go into the id. */
  readonly key?: Readonly<Record<string, string | number>>;
  /** Measure the reported needle's token position (costs four prefix tokenizations). */
  readonly measureNeedle?: boolean;
}

/** Parameters every generated task takes. */
export const COMMON_PARAMS: readonly ParamSpec[] = [
  {
    name: "samples",
    type: "int",
    default: 1,
    min: 1,
    max: 100000,
    description: "samples per cell (per depth, for grid tasks)",
  },
  {
    name: "budgetIncludesGeneration",
    type: "boolean",
    default: false,
    description:
      "count maxNewTokens inside the length budget (RULER's max_seq_length convention); by default the budget is the prompt's tokens",
  },
];

/** Samples of one cell, each fitted to the budget. */
export function generateCell(spec: SyntheticSpec, o: CellOptions): Sample[] {
  const extra = o.key ? Object.entries(o.key).flatMap(([k, v]) => [k, v]) : [];
  const reserve = o.budgetIncludesGeneration ? spec.maxNewTokens : 0;
  const out: Sample[] = [];
  let hint: number | undefined;
  for (let i = 0; i < o.samples; i++) {
    const sampleSeed = seedFrom(o.seed, spec.task, o.length, ...extra, i);
    const streams: Streams = (label) => Rng.of(sampleSeed, label);
    const fit = fitToBudget({
      task: spec.task,
      unit: spec.unit,
      build: (n) => spec.build(streams, n),
      count: (b) => o.tokenizer.encode(b.prompt + b.answerPrefix).length + reserve,
      budget: o.length,
      min: spec.min,
      max: spec.max,
      hint,
    });
    hint = fit.n;
    const b = fit.value;
    const meta: Record<string, unknown> = {
      length: o.length,
      tokens: fit.tokens - reserve,
      haystack: fit.n,
      ...(o.key ?? {}),
      ...(b.meta ?? {}),
    };
    if (o.measureNeedle && b.context && b.needle) {
      Object.assign(
        meta,
        needlePosition(o.tokenizer, b.prompt, b.context[0], b.context[1], b.needle[0], b.needle[1]),
      );
    }
    const keyPart = o.key ? Object.entries(o.key).map(([k, v]) => `:${k}=${v}`).join("") : "";
    out.push({
      id: `${spec.task}:${o.length}:${o.seed}${keyPart}:${i}`,
      task: spec.task,
      prompt: b.prompt,
      answerPrefix: b.answerPrefix,
      answers: b.answers,
      maxNewTokens: spec.maxNewTokens,
      meta,
    });
  }
  return out;
}

/** Splits a template at "{context}" so the context's span in the formatted prompt is known. */
export function splitAtContext(template: string): [string, string] {
  const i = template.indexOf("{context}");
  if (i < 0) throw new Error(`template has no {context}: ${template.slice(0, 60)}`);
  return [template.slice(0, i), template.slice(i + "{context}".length)];
}
