// Needle in a haystack over a depth x length grid (the heatmap of Kamradt's NIAH test), with a
// configurable needle and haystack. Defaults are RULER's single-needle text (niah.py needle,
// constants.py template and answer prefix in the singular form, 128 generated tokens) with the
// needle placed at exact depths instead of RULER's random ones; scored with RULER's
// string_match_all. Every record carries `depth` (asked), `needleDepth` (measured in tokens) and
// `length`, for heatmaps.
//
// Placement: essay haystack: at the sentence boundary nearest depth x words (RULER's own rule,
// floor(depth * sentences), drifts with sentence lengths); noise and needle haystacks: before line
// floor(depth * lines).

import {
  essayDir,
  essayWords,
  insertAtSentences,
  joinWithSpans,
  NOISE,
  splitSentences,
  takeWords,
} from "./haystack.ts";
import { checkDepths, linspace, resolveParams } from "./params.ts";
import {
  formatTemplate,
  type NeedleType,
  NIAH_NEEDLE,
  RULER_TEMPLATES,
} from "./ruler_constants.ts";
import { randomNeedle } from "./ruler_niah.ts";
import { type Built, COMMON_PARAMS, generateCell } from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

const DEFAULT_INSTRUCTION =
  "A special magic {type_needle_v} is hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.";
const DEFAULT_QUESTION =
  "What is the special magic {type_needle_v} for {key} mentioned in the provided text?";
const DEFAULT_PREFIX =
  " The special magic {type_needle_v} for {key} mentioned in the provided text is";

export const NIAH_GRID_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "depths",
    type: "numbers",
    default: linspace(0, 1, 10),
    min: 0,
    max: 1,
    description: "needle depths, fractions of the haystack",
  },
  {
    name: "haystack",
    type: "enum",
    values: ["noise", "essay", "needle"],
    default: "noise",
    description: "noise sentences, essays, or distractor needles (RULER's three haystacks)",
  },
  {
    name: "essays",
    type: "path",
    description:
      "folder of .txt essays for haystack=essay (default ../shared/data/PaulGrahamEssays)",
  },
  {
    name: "keyType",
    type: "enum",
    values: ["words", "numbers", "uuids"],
    default: "words",
    description: "what {key} is",
  },
  {
    name: "valueType",
    type: "enum",
    values: ["numbers", "words", "uuids"],
    default: "numbers",
    description: "what {value} is",
  },
  {
    name: "needle",
    type: "string",
    default: NIAH_NEEDLE,
    description:
      "needle text; {key}, {value} and {type_needle_v} (plural, e.g. numbers) are filled in",
  },
  {
    name: "instruction",
    type: "string",
    default: DEFAULT_INSTRUCTION,
    description: "text before the haystack ({type_needle_v} singular)",
  },
  {
    name: "question",
    type: "string",
    default: DEFAULT_QUESTION,
    description: "text after the haystack ({key}, {type_needle_v} singular)",
  },
  {
    name: "answerPrefix",
    type: "string",
    default: DEFAULT_PREFIX,
    description: "the answer's start ({key}, {type_needle_v} singular)",
  },
  { name: "answer", type: "string", description: "the answer when the needle has no {value}" },
];

/** The sentence index whose start is nearest `depth` of the words. */
function nearestBoundary(sents: readonly string[], depth: number): number {
  const lengths = sents.map((x) => x.split(" ").length);
  const total = lengths.reduce((a, b) => a + b, 0);
  const target = depth * total;
  let best = 0;
  let cum = 0;
  let bestGap = Math.abs(target);
  lengths.forEach((l, i) => {
    cum += l;
    const gap = Math.abs(cum - target);
    if (gap < bestGap) {
      bestGap = gap;
      best = i + 1;
    }
  });
  return best;
}

export function generateNiahGrid(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "niah";
  const p = resolveParams(task, NIAH_GRID_PARAMS, given);
  const depths = checkDepths(task, p.depths as readonly number[]);
  const haystack = p.haystack as "noise" | "essay" | "needle";
  const keyType = p.keyType as NeedleType;
  const valueType = p.valueType as NeedleType;
  const needleText = p.needle as string;
  const hasValue = needleText.includes("{value}");
  if (!hasValue && p.answer === undefined) {
    throw new TypeError(
      `${task}: parameter "answer" is required when the needle has no {value}: the needle ${
        JSON.stringify(needleText)
      } fixes the answer`,
    );
  }
  const words = haystack === "essay"
    ? essayWords(essayDir(task, p.essays as string | undefined))
    : undefined;
  const plural = valueType as string;
  const singularType = plural.slice(0, -1);
  const out: Sample[] = [];
  for (const depth of depths) {
    out.push(...generateCell({
      task,
      unit: haystack === "essay"
        ? "essay words"
        : haystack === "noise"
        ? "noise sentences"
        : "distractor needles",
      min: haystack === "essay" ? 1 : 0,
      maxNewTokens: RULER_TEMPLATES.niah.tokensToGenerate,
      build: (s, n): Built => {
        const kv = s("needle");
        const key = randomNeedle(kv, keyType);
        const value = hasValue ? randomNeedle(kv, valueType) : (p.answer as string);
        const needle = formatTemplate(needleText, { key, value, type_needle_v: plural });
        let context: string;
        let span: [number, number];
        if (haystack === "essay") {
          const sents = splitSentences(takeWords(words!, n).join(" "));
          const r = insertAtSentences(sents, [needle], [nearestBoundary(sents, depth)]);
          context = r.text;
          span = r.spans[0];
        } else {
          const hay = s("haystack");
          const lines = Array.from(
            { length: n },
            () =>
              haystack === "noise" ? NOISE : formatTemplate(needleText, {
                key: randomNeedle(hay, keyType),
                value: hasValue ? randomNeedle(hay, valueType) : (p.answer as string),
                type_needle_v: plural,
              }),
          );
          lines.splice(Math.floor(n * depth), 0, needle);
          const r = joinWithSpans(lines, lines.map((_, i) => i === Math.floor(n * depth)), "\n");
          context = r.text;
          span = r.spans[0];
        }
        const fill = { key, type_needle_v: singularType };
        const head = formatTemplate(p.instruction as string, fill) + "\n";
        return {
          prompt: head + context + "\n" + formatTemplate(p.question as string, fill),
          answerPrefix: formatTemplate(p.answerPrefix as string, fill),
          answers: [value],
          context: [head.length, head.length + context.length],
          needle: [head.length + span[0], head.length + span[1]],
          meta: { haystackKind: haystack, key },
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
