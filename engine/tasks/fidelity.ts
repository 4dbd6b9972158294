// Fidelity to the full cache: how close a compressed cache keeps the model to its own uncompressed
// self, for any model (`shape:` random weights included, where task accuracy means nothing).
// Scoring only; the runner produces the logits (the full-cache run and the method's run on the
// same prompt, teacher-forced on the same tokens) and the log-probabilities. Every sum is in
// float64; softmax is max-shifted.
//
//   top1Agreement(full, method) = fraction of steps whose argmax agrees (ties: lowest index)
//   meanKl(full, method)        = mean over steps of KL(P_full || P_method), in nats
//   perplexity(logprobs)        = exp(-mean(log p(token))), natural-log log-probs

import { essayDir, essayWords, NOISE, takeWords } from "./haystack.ts";
import { resolveParams } from "./params.ts";
import { type Built, COMMON_PARAMS, generateCell } from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

/** One step's logits over the vocabulary. */
export type Logits = ArrayLike<number>;

function checkSteps(what: string, a: readonly Logits[], b: readonly Logits[]): void {
  if (a.length === 0) {
    throw new RangeError(`${what}: no steps; expected at least one step of logits`);
  }
  if (a.length !== b.length) {
    throw new RangeError(
      `${what}: ${a.length} steps of full-cache logits but ${b.length} of the method's; expected equal`,
    );
  }
  a.forEach((x, i) => {
    if (x.length === 0 || x.length !== b[i].length) {
      throw new RangeError(
        `${what}: step ${i} has ${x.length} full-cache logits and ${
          b[i].length
        } method logits; expected the same non-zero vocabulary size`,
      );
    }
  });
}

/** Index of the largest value; the lowest index among ties; NaN is never the max. */
export function argmax(x: Logits): number {
  let best = 0;
  let v = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] > v) {
      v = x[i];
      best = i;
    }
  }
  return best;
}

/** log-softmax in float64. */
export function logSoftmax(x: Logits): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > m) m = x[i];
  if (!Number.isFinite(m)) {
    throw new RangeError(`logSoftmax: the largest logit is ${m}; expected a finite value`);
  }
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - lse;
  return out;
}

/** Fraction of steps where the method's next-token argmax equals the full cache's. */
export function top1Agreement(full: readonly Logits[], method: readonly Logits[]): number {
  checkSteps("top1Agreement", full, method);
  let agree = 0;
  for (let t = 0; t < full.length; t++) if (argmax(full[t]) === argmax(method[t])) agree++;
  return agree / full.length;
}

/** KL(P || Q) in nats for one step, P = softmax(p), Q = softmax(q). */
export function klDivergence(p: Logits, q: Logits): number {
  const lp = logSoftmax(p);
  const lq = logSoftmax(q);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const pi = Math.exp(lp[i]);
    if (pi > 0) kl += pi * (lp[i] - lq[i]);
  }
  return Math.max(0, kl);
}

/** Mean over steps of KL(P_full || P_method), nats. 0 when the two agree everywhere. */
export function meanKl(full: readonly Logits[], method: readonly Logits[]): number {
  checkSteps("meanKl", full, method);
  let s = 0;
  for (let t = 0; t < full.length; t++) s += klDivergence(full[t], method[t]);
  return s / full.length;
}

/** Natural-log probability of `token` under each step's logits (teacher forcing). */
export function tokenLogProbs(logits: readonly Logits[], tokens: readonly number[]): number[] {
  if (logits.length !== tokens.length) {
    throw new RangeError(
      `tokenLogProbs: ${logits.length} steps of logits for ${tokens.length} tokens; expected equal`,
    );
  }
  return logits.map((l, t) => {
    const id = tokens[t];
    if (!Number.isInteger(id) || id < 0 || id >= l.length) {
      throw new RangeError(
        `tokenLogProbs: token ${id} at step ${t} is outside the vocabulary [0, ${l.length})`,
      );
    }
    return logSoftmax(l)[id];
  });
}

/** exp(-mean log p): the perplexity of a text from its per-token natural-log probabilities. */
export function perplexity(logProbs: readonly number[]): number {
  if (logProbs.length === 0) {
    throw new RangeError("perplexity: no tokens; expected at least one log-probability");
  }
  let s = 0;
  logProbs.forEach((lp, i) => {
    if (!(lp <= 0)) {
      throw new RangeError(
        `perplexity: log-probability ${lp} at token ${i}; expected a value <= 0`,
      );
    }
    s += lp;
  });
  return Math.exp(-s / logProbs.length);
}

// --- prompts ----------------------------------------------------------------------------------

export const FIDELITY_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "haystack",
    type: "enum",
    values: ["essay", "noise"],
    default: "noise",
    description: "the text: essays (natural text, for perplexity) or noise sentences",
  },
  {
    name: "essays",
    type: "path",
    description:
      "folder of .txt essays for haystack=essay (default ../shared/data/PaulGrahamEssays)",
  },
  {
    name: "steps",
    type: "int",
    default: 32,
    min: 1,
    max: 4096,
    description: "generated steps compared with the full cache",
  },
];

/**
 * Plain text fitted to the budget: the runner prefills it with the full cache and with the
 * method, then compares `steps` decode steps (top-1 agreement, KL) and the text's perplexity.
 */
export function generateFidelity(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "fidelity";
  const p = resolveParams(task, FIDELITY_PARAMS, given);
  const essay = p.haystack === "essay";
  const words = essay ? essayWords(essayDir(task, p.essays as string | undefined)) : undefined;
  return generateCell({
    task,
    unit: essay ? "essay words" : "noise sentences",
    min: 1,
    maxNewTokens: p.steps as number,
    build: (s, n): Built => {
      // a different start in the essays for each sample
      const start = words ? s("start").int(0, words.length - 1) : 0;
      const text = words
        ? takeWords([...words.slice(start), ...words.slice(0, start)], n).join(" ")
        : Array(n).fill(NOISE).join("\n");
      return { prompt: text, answerPrefix: "", answers: [] };
    },
  }, {
    seed,
    length,
    tokenizer,
    samples: p.samples as number,
    budgetIncludesGeneration: p.budgetIncludesGeneration as boolean,
  });
}
