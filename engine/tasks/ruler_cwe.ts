// RULER common words extraction, `cwe` (Hsieh et al., 2024): a numbered list in which 10 words
// appear 30 times and the rest 3 times; the answer is the 10 common words. Follows NVIDIA/RULER
// scripts/data/synthetic/common_words_extraction.py (get_example, generate_input_output,
// sys_word_pair_random) with scripts/synthetic.yaml's cwe (freq_cw 30, freq_ucw 3, num_cw 10),
// one few-shot example, and constants.py's template, answer prefix and 120 generated tokens;
// scored with string_match_all.
//
// Same as RULER: the vocabulary (nouns + adjectives + verbs, deduplicated, sorted, shuffled once
// per run), words drawn without replacement, the list repeated and shuffled by a stream fixed
// for the run (RULER reseeds random.Random(random_seed) for each list), "1. w 2. w ..." numbering,
// the example (40 words, 10 x10 + 30 x3; below 4096 tokens: 20 words, 10 x3 + 10 x1, and 6/1
// repeats for the task) written with its answer prefix and numbered answers, then "\n" and the
// task.
// Different: our word lists are smaller than wonderwords'; past them, made-up words fill in where
// RULER switches to its english_words.json (see words.ts). Randomness and fit as in ruler_niah.ts.

import { resolveParams } from "./params.ts";
import { Rng } from "./rng.ts";
import { CWE_CONFIG, formatTemplate, RULER_TEMPLATES } from "./ruler_constants.ts";
import { type Built, COMMON_PARAMS, generateCell, splitAtContext } from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";
import { commonWords, pseudoWords } from "./words.ts";

const T = RULER_TEMPLATES.common_words_extraction;

export const CWE_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "freqCw",
    type: "int",
    default: CWE_CONFIG.freqCw,
    min: 2,
    max: 1000,
    description: "repeats of each common word (at 4096+ tokens)",
  },
  {
    name: "freqUcw",
    type: "int",
    default: CWE_CONFIG.freqUcw,
    min: 1,
    max: 1000,
    description: "repeats of each uncommon word (at 4096+ tokens)",
  },
];

function numbered(words: readonly string[]): string {
  return words.map((w, i) => `${i + 1}. ${w}`).join(" ");
}

export function generateCwe(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "cwe";
  const p = resolveParams(task, CWE_PARAMS, given);
  const numCw = CWE_CONFIG.numCw;
  const short = length < 4096; // RULER tests args.max_seq_length < 4096
  const [exCount, exCr, exUr] = short ? [20, 3, 1] : [40, 10, 3];
  const [cr, ur] = short ? [6, 1] : [p.freqCw as number, p.freqUcw as number];
  if (cr <= ur) {
    throw new RangeError(
      `${task}: freqCw ${cr} must exceed freqUcw ${ur}, or no word is more common`,
    );
  }
  // random.Random(args.random_seed).shuffle(words), once for the run
  const listed = Rng.of(seed, task, "vocabulary").shuffle([...commonWords()]);
  // an item "N. word" is at least 2 tokens and every word appears at least once
  const poolSize = Math.max(listed.length, Math.ceil(length / 2) + numCw);
  const pool = listed.length >= poolSize ? listed : [
    ...listed,
    ...pseudoWords(
      poolSize - listed.length,
      Rng.of(seed, task, "made-up-words").uint32(),
      new Set(listed),
    ),
  ];
  const listShuffle = (items: string[]) => Rng.of(seed, task, "list-order").shuffle(items);

  const example = (rng: Rng, n: number, rc: number, ru: number) => {
    const full = rng.sample(n <= listed.length ? listed : pool, n);
    const common = full.slice(0, numCw);
    const uncommon = full.slice(numCw);
    const list: string[] = [];
    for (let r = 0; r < rc; r++) list.push(...common);
    for (let r = 0; r < ru; r++) list.push(...uncommon);
    return { context: numbered(listShuffle(list)), answer: common };
  };
  const [pre, post] = splitAtContext(T.template);

  return generateCell({
    task,
    unit: "words",
    min: numCw + 1,
    max: pool.length,
    maxNewTokens: T.tokensToGenerate,
    build: (s, n): Built => {
      const rng = s("words");
      const shots: string[] = [];
      for (let k = 0; k < CWE_CONFIG.numFewshot; k++) {
        const ex = example(rng, exCount, exCr, exUr);
        shots.push(
          `${formatTemplate(T.template, { context: ex.context })}${T.answerPrefix} ${
            numbered(ex.answer)
          }`,
        );
      }
      const main = example(rng, n, cr, ur);
      const head = shots.join("\n") + "\n" + pre;
      return {
        prompt: head + main.context + post,
        answerPrefix: T.answerPrefix,
        answers: main.answer,
        context: [head.length, head.length + main.context.length],
      };
    },
  }, {
    seed,
    length,
    tokenizer,
    samples: p.samples as number,
    budgetIncludesGeneration: p.budgetIncludesGeneration as boolean,
  });
}
