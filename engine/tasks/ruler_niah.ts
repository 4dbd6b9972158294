// RULER's needle-in-a-haystack family (Hsieh et al., 2024): niah_single_1/2/3,
// niah_multikey_1/2/3, niah_multivalue, niah_multiquery, following NVIDIA/RULER
// scripts/data/synthetic/niah.py (generate_input_output) with the configurations of
// scripts/synthetic.yaml and the template, answer prefix and 128 generated tokens of
// scripts/data/synthetic/constants.py; scored with string_match_all
// (scripts/eval/synthetic/constants.py).
//
// Same as RULER: the needle text, key/value kinds (7-digit numbers, adjective-noun words, v4
// UUIDs), needle counts, RULER's 40 insertion depths for the essay haystack (sampled without
// replacement, one per needle, inserted at sentence boundaries), random line positions for the
// noise and needle haystacks, the needle order shuffled by a stream fixed for the whole run (RULER
// reseeds random.Random(random_seed) for it), the query wording for several keys, and the
// singular rewrite of the template for one answer.
// Different: the randomness (kvlab's seeded streams, not Python's Mersenne Twister), the word
// lists (data/tasks/words, not wonderwords), sentence splitting (a rule-based stand-in for NLTK
// punkt), and the fit (exact largest haystack per sample rather than steps of 500 words / 25
// lines; the budget counts the prompt with BOS, see types.ts).

import {
  essayDir,
  essayWords,
  insertIntoSentences,
  joinWithSpans,
  NOISE,
  splitSentences,
  takeWords,
} from "./haystack.ts";
import { type Resolved, resolveParams } from "./params.ts";
import { Rng } from "./rng.ts";
import {
  formatTemplate,
  type NeedleType,
  NIAH_CONFIGS,
  NIAH_NEEDLE,
  type NiahConfig,
  type NiahTaskName,
  RULER_TEMPLATES,
} from "./ruler_constants.ts";
import {
  type Built,
  COMMON_PARAMS,
  generateCell,
  splitAtContext,
  type Streams,
} from "./synthetic.ts";
import { adjNounWords } from "./words.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

/** np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int) */
export const RULER_DEPTHS: readonly number[] = Array.from(
  { length: 40 },
  (_, i) => Math.round((i * 100) / 39),
);

export function randomNeedle(rng: Rng, type: NeedleType): string {
  switch (type) {
    case "numbers":
      return rng.number(7);
    case "words":
      return rng.choice(adjNounWords());
    case "uuids":
      return rng.uuid4();
  }
}

export const NIAH_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "essays",
    type: "path",
    description:
      "folder of .txt essays for the essay haystack (default ../shared/data/PaulGrahamEssays beside the checkout)",
  },
];

/** The singular rewrite niah.py applies when one value is asked for (num_needle_q * num_needle_v == 1). */
function singular(t: string): string {
  return t.replaceAll("Some", "A").replaceAll("are all", "is").replaceAll("are", "is").replaceAll(
    "answers",
    "answer",
  );
}

export interface NiahLayout {
  readonly prompt: string;
  readonly answerPrefix: string;
  readonly answers: string[];
  readonly context: [number, number];
  /** Spans of the real needles in the prompt, in prompt order. */
  readonly needles: [number, number][];
  readonly keys: string[];
}

/** niah.py generate_input_output for one haystack size. */
export function niahLayout(
  cfg: NiahConfig,
  s: Streams,
  n: number,
  words: readonly string[] | undefined,
  runSeed: number,
  task: string,
): NiahLayout {
  const kv = s("needles");
  const numK = Math.max(cfg.numNeedleK, cfg.numNeedleQ);
  const keys: string[] = [];
  const values: string[][] = [];
  let needles: string[] = [];
  for (let k = 0; k < numK; k++) {
    keys.push(randomNeedle(kv, cfg.typeNeedleK));
    const vs: string[] = [];
    for (let v = 0; v < cfg.numNeedleV; v++) {
      vs.push(randomNeedle(kv, cfg.typeNeedleV));
      needles.push(
        formatTemplate(NIAH_NEEDLE, { type_needle_v: cfg.typeNeedleV, key: keys[k], value: vs[v] }),
      );
    }
    values.push(vs);
  }
  // random.Random(args.random_seed).shuffle(needles): one permutation for the whole run
  needles = Rng.of(runSeed, task, "needle-order").shuffle(needles);

  let context: string;
  let spans: [number, number][];
  if (cfg.typeHaystack === "essay") {
    const sents = splitSentences(takeWords(words!, n).join(" "));
    const depths = s("depths").sample(RULER_DEPTHS, needles.length).map((d) => d / 100);
    ({ text: context, spans } = insertIntoSentences(sents, needles, depths));
  } else {
    const hay = s("haystack");
    const lines: { text: string; needle: boolean }[] = [];
    for (let i = 0; i < n; i++) {
      const text = cfg.typeHaystack === "noise" ? NOISE : formatTemplate(NIAH_NEEDLE, {
        type_needle_v: cfg.typeNeedleV,
        key: randomNeedle(hay, cfg.typeNeedleK),
        value: randomNeedle(hay, cfg.typeNeedleV),
      });
      lines.push({ text, needle: false });
    }
    const indexes = s("positions").sampleIndices(n, needles.length).sort((a, b) => b - a);
    indexes.forEach((index, i) => lines.splice(index, 0, { text: needles[i], needle: true }));
    ({ text: context, spans } = joinWithSpans(
      lines.map((l) => l.text),
      lines.map((l) => l.needle),
      "\n",
    ));
  }

  const q = s("query").sample(Array.from({ length: numK }, (_, i) => i), cfg.numNeedleQ);
  const queries = q.map((i) => keys[i]);
  const answers = q.flatMap((i) => values[i]);
  const query = queries.length > 1
    ? `${queries.slice(0, -1).join(", ")}, and ${queries[queries.length - 1]}`
    : queries[0];
  let template: string = RULER_TEMPLATES.niah.template;
  let prefix: string = RULER_TEMPLATES.niah.answerPrefix;
  let typeV: string = cfg.typeNeedleV;
  if (cfg.numNeedleQ * cfg.numNeedleV === 1) {
    template = singular(template);
    prefix = singular(prefix);
    typeV = typeV.slice(0, -1);
  }
  const [pre, post] = splitAtContext(template);
  const head = formatTemplate(pre, { type_needle_v: typeV, query });
  const prompt = head + context + formatTemplate(post, { type_needle_v: typeV, query });
  return {
    prompt,
    answerPrefix: formatTemplate(prefix, { type_needle_v: typeV, query }),
    answers,
    context: [head.length, head.length + context.length],
    needles: spans.map(([a, b]) => [head.length + a, head.length + b]),
    keys,
  };
}

/** Generates one cell of a RULER niah task. */
export function generateRulerNiah(
  task: NiahTaskName,
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const cfg = NIAH_CONFIGS[task];
  const p: Resolved = resolveParams(task, NIAH_PARAMS, given);
  const words = cfg.typeHaystack === "essay"
    ? essayWords(essayDir(task, p.essays as string | undefined))
    : undefined;
  const numNeedles = Math.max(cfg.numNeedleK, cfg.numNeedleQ) * cfg.numNeedleV;
  return generateCell({
    task,
    unit: cfg.typeHaystack === "essay"
      ? "essay words"
      : cfg.typeHaystack === "noise"
      ? "noise sentences"
      : "distractor needles",
    // RULER samples len(needles) distinct line positions, so a line haystack needs that many lines
    min: cfg.typeHaystack === "essay" ? 1 : numNeedles,
    maxNewTokens: RULER_TEMPLATES.niah.tokensToGenerate,
    build: (s, n): Built => {
      const l = niahLayout(cfg, s, n, words, seed, task);
      // the needle RULER reports (token_position_answer): the one holding the first answer
      const needle = l.needles.find(([a, b]) => l.prompt.slice(a, b).includes(l.answers[0]));
      return {
        prompt: l.prompt,
        answerPrefix: l.answerPrefix,
        answers: l.answers,
        context: l.context,
        needle,
        meta: { haystackKind: cfg.typeHaystack, keys: l.keys },
      };
    },
  }, {
    seed,
    length,
    tokenizer,
    samples: p.samples as number,
    budgetIncludesGeneration: p.budgetIncludesGeneration as boolean,
    measureNeedle: true,
  });
}
