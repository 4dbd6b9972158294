// Fitting a prompt to a token budget with the model's own tokenizer: the largest haystack size n
// whose prompt still fits. RULER does this with a binary search over the haystack size
// (scripts/data/synthetic/niah.py, generate_samples: lower bound `incremental`, upper bound three
// times an estimate, `total_tokens <= max_seq_length`), then steps down by `incremental` for any
// sample that overflows. Here the search is exact per sample (no `incremental` granularity): a
// secant step on the token count, guarded by bisection, usually settles in 3-6 tokenizations.
// The builder must be deterministic in n (same draws for every n), so counts grow with n.

import type { TaskTokenizer } from "./types.ts";

export interface FitOptions<T> {
  /** The task, for error messages. */
  readonly task: string;
  /** What n counts ("noise sentences", "words", "key-value lines"), for error messages. */
  readonly unit: string;
  readonly build: (n: number) => T;
  readonly count: (value: T) => number;
  readonly budget: number;
  /** The smallest acceptable n (the template with the least haystack). */
  readonly min: number;
  /** The largest n the haystack can supply. */
  readonly max?: number;
  /** A starting guess, e.g. the previous sample's n. */
  readonly hint?: number;
}

export interface Fit<T> {
  readonly n: number;
  readonly value: T;
  readonly tokens: number;
  /** Tokenizations the search used. */
  readonly evaluations: number;
}

/** The largest n in [min, max] with count(build(n)) <= budget. */
export function fitToBudget<T>(o: FitOptions<T>): Fit<T> {
  const max = o.max ?? 50_000_000;
  let evaluations = 0;
  const cache = new Map<number, { value: T; tokens: number }>();
  const at = (n: number) => {
    let r = cache.get(n);
    if (!r) {
      const value = o.build(n);
      r = { value, tokens: o.count(value) };
      evaluations++;
      cache.set(n, r);
    }
    return r;
  };
  const first = at(o.min);
  if (first.tokens > o.budget) {
    throw new RangeError(
      `${o.task}: length ${o.budget} is too small to fit the template: with the least haystack (${o.min} ${o.unit}) the prompt is ${first.tokens} tokens; expected a length of at least ${first.tokens}`,
    );
  }
  let lo = o.min;
  let cLo = first.tokens;
  let hi = Infinity; // smallest n known not to fit
  let cHi = Infinity;
  // per-unit slope, from the first probe above min
  let slope = NaN;
  let next = o.hint !== undefined && o.hint > lo ? Math.min(o.hint, max) : Math.min(lo + 1, max);
  let lastWidth = Infinity;
  let stalls = 0;
  while (hi - lo > 1 && lo < max) {
    if (evaluations > 200) {
      throw new Error(
        `${o.task}: the prompt stopped growing with the haystack (${lo} ${o.unit} give ${cLo} tokens); cannot fit the budget`,
      );
    }
    if (next <= lo || next >= hi) next = Number.isFinite(hi) ? Math.floor((lo + hi) / 2) : lo + 1;
    next = Math.min(next, max);
    const r = at(next);
    if (r.tokens <= o.budget) {
      if (Number.isNaN(slope) && next > o.min) slope = (r.tokens - first.tokens) / (next - o.min);
      lo = next;
      cLo = r.tokens;
    } else {
      hi = next;
      cHi = r.tokens;
    }
    if (lo >= max) break;
    const width = hi - lo;
    stalls = width > lastWidth / 2 ? stalls + 1 : 0;
    lastWidth = width;
    if (!Number.isFinite(hi)) {
      if (!(slope > 0)) {
        slope = (cLo - first.tokens) / Math.max(1, lo - o.min);
        if (!(slope > 0)) {
          // the count did not grow: probe further out, and give up past max
          next = lo * 2 + 1;
          continue;
        }
      }
      // aim just past the budget so the next probe usually brackets it
      next = lo + Math.max(1, Math.ceil((o.budget - cLo) / slope) + 1);
    } else if (stalls >= 2) {
      next = Math.floor((lo + hi) / 2);
      stalls = 0;
    } else {
      const s = (cHi - cLo) / (hi - lo);
      next = s > 0 ? lo + Math.floor((o.budget - cLo) / s) : Math.floor((lo + hi) / 2);
      if (next <= lo) next = lo + 1;
      if (next >= hi) next = hi - 1;
    }
  }
  const best = at(lo);
  return { n: lo, value: best.value, tokens: best.tokens, evaluations };
}

/** Tokens the model reads for a prompt and its answer prefix. */
export function promptTokens(
  tokenizer: TaskTokenizer,
  prompt: string,
  answerPrefix: string,
): number {
  return tokenizer.encode(prompt + answerPrefix).length;
}

/**
 * The token positions of a needle inside a prompt: where the haystack starts and ends and where
 * the needle starts, each as the number of tokens of the text before it (BOS included), and the
 * needle's depth in tokens: (needle - start) / (end - start - needle tokens).
 */
export function needlePosition(
  tokenizer: TaskTokenizer,
  text: string,
  contextStart: number,
  contextEnd: number,
  needleStart: number,
  needleEnd: number,
): { needleTokenIndex: number; needleDepth: number } {
  const t = (i: number) => tokenizer.encode(text.slice(0, i)).length;
  const start = t(contextStart);
  const end = t(contextEnd);
  const nStart = t(needleStart);
  const nEnd = t(needleEnd);
  const hay = end - start - (nEnd - nStart);
  const depth = hay > 0 ? (nStart - start) / hay : 0;
  return { needleTokenIndex: nStart, needleDepth: Math.min(1, Math.max(0, depth)) };
}
