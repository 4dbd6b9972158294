// RULER frequent words extraction, `fwe` (Hsieh et al., 2024): coded words drawn with Zipf
// frequencies; the answer is the three most frequent after the noise word "...". Follows
// NVIDIA/RULER scripts/data/synthetic/freq_words_extraction.py (generate_input_output, gen_text,
// sys_kwext) with scripts/synthetic.yaml's fwe (alpha 2.0) and constants.py's template, answer
// prefix and 50 generated tokens; scored with string_match_all.
//
// Same as RULER: a vocabulary of max_seq_length // 50 random 6-letter words (deduplicated,
// sorted, shuffled by a stream fixed for the run), the top-ranked word replaced by "...", counts
// int(num_words * k^-alpha / zeta(alpha)) for rank k, the word list shuffled by the fixed
// stream, and vocab[1:4] as the answer.
// Different: RULER sizes the text by stepping num_words up by max_seq_length // 32 until the
// template alone passes max_seq_length (so its prompts can overrun the budget by up to one step,
// and ignore tokens_to_generate); kvlab fits num_words exactly under the budget. The smallest
// num_words is 2 zeta(alpha) 4^alpha, so the three answers appear, more often than the fourth word.

import { resolveParams } from "./params.ts";
import { Rng } from "./rng.ts";
import { formatTemplate, FWE_CONFIG, RULER_TEMPLATES } from "./ruler_constants.ts";
import { type Built, COMMON_PARAMS, generateCell, splitAtContext } from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

const T = RULER_TEMPLATES.freq_words_extraction;

export const FWE_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "alpha",
    type: "number",
    default: FWE_CONFIG.alpha,
    min: 1.1,
    max: 10,
    description: "Zipf exponent of the word counts",
  },
];

const BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730];

/** Riemann zeta(s) for s > 1 (scipy.special.zeta(s)): Euler-Maclaurin with N = 16 terms. */
export function zeta(s: number): number {
  if (!(s > 1)) throw new RangeError(`zeta(${s}): expected s > 1`);
  const N = 16;
  let sum = 0;
  for (let k = 1; k < N; k++) sum += k ** -s;
  sum += N ** (1 - s) / (s - 1) + 0.5 * N ** -s;
  let rising = s; // s (s+1) ... (s+2j-2)
  let fact = 2; // (2j)!
  let pow = N ** (-s - 1);
  for (let j = 1; j <= BERNOULLI.length; j++) {
    sum += (BERNOULLI[j - 1] / fact) * rising * pow;
    rising *= (s + 2 * j - 1) * (s + 2 * j);
    fact *= (2 * j + 1) * (2 * j + 2);
    pow /= N * N;
  }
  return sum;
}

export function generateFwe(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "fwe";
  const p = resolveParams(task, FWE_PARAMS, given);
  const alpha = p.alpha as number;
  const vocabSize = Math.floor(length / 50);
  if (vocabSize < 5) {
    throw new RangeError(
      `${task}: length ${length} is too small: RULER's vocabulary is length // 50 = ${vocabSize} words and the task needs at least 5 (length >= 250)`,
    );
  }
  const z = zeta(alpha);
  const [pre, post] = splitAtContext(T.template);
  return generateCell({
    task,
    unit: "coded words",
    min: Math.ceil(2 * z * 4 ** alpha),
    maxNewTokens: T.tokensToGenerate,
    build: (s, n): Built => {
      const rng = s("vocabulary");
      const set = new Set<string>();
      while (set.size < vocabSize) set.add(rng.lower(FWE_CONFIG.codedWordlen));
      const vocab = Rng.of(seed, task, "vocabulary-order").shuffle([...set].sort());
      vocab[0] = "...";
      const words: string[] = [];
      vocab.forEach((w, i) => {
        const count = Math.trunc((n * (i + 1) ** -alpha) / z);
        for (let c = 0; c < count; c++) words.push(w);
      });
      Rng.of(seed, task, "text-order").shuffle(words);
      const context = words.join(" ");
      const head = formatTemplate(pre, {});
      return {
        prompt: head + context + post,
        answerPrefix: T.answerPrefix,
        answers: vocab.slice(1, 4),
        context: [head.length, head.length + context.length],
        meta: { vocabulary: vocabSize },
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
