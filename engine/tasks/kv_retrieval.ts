// Key-value retrieval, kvlab's variant for retrieval by in-context copying (the built-in
// induction model of issue 8 supports it): lines "key <K>: value <V>", and the answer prefix
// "key <K>: value" repeats the context that precedes the asked value, so the answer is the next
// token(s) after a match. Asked key at depth x length over a grid; scored by exact match.
// In the spirit of LongEval's line retrieval and InfiniteBench's kv_retrieval, with its own text
// (theirs use different wording, JSON or "line <k>: REGISTER_CONTENT is <v>"), so it is kvlab's
// task, not a reproduction of either.

import { joinWithSpans } from "./haystack.ts";
import { checkDepths, linspace, resolveParams } from "./params.ts";
import { pySplit } from "./py.ts";
import { randomNeedle } from "./ruler_niah.ts";
import type { NeedleType } from "./ruler_constants.ts";
import { type Built, COMMON_PARAMS, generateCell } from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";
import type { Rng } from "./rng.ts";

export const KV_INSTRUCTION =
  "Below is a list of keys and their values. Remember them. I will ask you for the value of one key.\n";
export const KV_LINE = "key <K>: value <V>";
/** After the last line: the asked key's line up to its value. */
export const KV_ANSWER_PREFIX = "key <K>: value";
export const KV_MAX_NEW_TOKENS = 16;

export const KV_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "depths",
    type: "numbers",
    default: linspace(0, 1, 10),
    min: 0,
    max: 1,
    description: "depths of the asked key's line, fractions of the list",
  },
  {
    name: "keyDigits",
    type: "int",
    default: 6,
    min: 1,
    max: 64,
    description: "digits in each key (keyType numbers)",
  },
  {
    name: "valueDigits",
    type: "int",
    default: 7,
    min: 1,
    max: 64,
    description: "digits in each value (valueType numbers)",
  },
  {
    name: "keyType",
    type: "enum",
    values: ["numbers", "uuids", "words"],
    default: "numbers",
    description: "what keys are",
  },
  {
    name: "valueType",
    type: "enum",
    values: ["numbers", "uuids", "words"],
    default: "numbers",
    description: "what values are",
  },
];

function draw(rng: Rng, type: NeedleType, digits: number): string {
  return type === "numbers" ? rng.digits(digits) : randomNeedle(rng, type);
}

export function generateKvRetrieval(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "kv_retrieval";
  const p = resolveParams(task, KV_PARAMS, given);
  const depths = checkDepths(task, p.depths as readonly number[]);
  const keyType = p.keyType as NeedleType;
  const valueType = p.valueType as NeedleType;
  const keyDigits = p.keyDigits as number;
  const valueDigits = p.valueDigits as number;
  const out: Sample[] = [];
  for (const depth of depths) {
    out.push(...generateCell({
      task,
      unit: "key-value lines",
      // the asked line plus at least one other
      min: 2,
      // no more lines than distinct keys (the draw below would never end)
      max: keyType === "numbers" ? 10 ** keyDigits : undefined,
      maxNewTokens: KV_MAX_NEW_TOKENS,
      build: (s, n): Built => {
        // distinct keys, drawn from one stream so n lines extend n - 1 lines
        const rng = s("pairs");
        const keys = new Set<string>();
        const pairs: [string, string][] = [];
        while (pairs.length < n) {
          const k = draw(rng, keyType, keyDigits);
          const v = draw(rng, valueType, valueDigits);
          if (keys.has(k)) continue;
          keys.add(k);
          pairs.push([k, v]);
        }
        const at = Math.min(n - 1, Math.floor(n * depth));
        const lines = pairs.map(([k, v]) => KV_LINE.replace("<K>", k).replace("<V>", v));
        const { text, spans } = joinWithSpans(lines, lines.map((_, i) => i === at), "\n");
        const head = KV_INSTRUCTION;
        const [key, value] = pairs[at];
        return {
          prompt: head + text + "\n",
          answerPrefix: KV_ANSWER_PREFIX.replace("<K>", key),
          answers: [value],
          context: [head.length, head.length + text.length],
          needle: [head.length + spans[0][0], head.length + spans[0][1]],
          meta: { key, line: at, lines: n },
        };
      },
    }, {
      seed,
      length,
      tokenizer,
      samples: p.samples as number,
      budgetIncludesGeneration: p.budgetIncludesGeneration as boolean,
      key: { depth },
      measureNeedle: true,
    }));
  }
  return out;
}

/**
 * Exact match: the prediction's first whitespace-separated word, with trailing sentence
 * punctuation removed, equals the value.
 */
export function kvExact(prediction: string, value: string): number {
  const first = pySplit(prediction)[0] ?? "";
  return first.replace(/[.,;:!?]+$/, "") === value ? 1 : 0;
}
