// String-match scoring: RULER's string_match_all / string_match_part and its prediction
// post-processing (NVIDIA/RULER scripts/eval/synthetic/constants.py and scripts/eval/evaluate.py),
// and the passkey exact/partial match of longctx_bench (eval/passkey_utils/eval_metrics.py).
//
// Scale: kvlab scores one sample at a time as a fraction in [0, 1]. RULER reports a task as the
// mean over samples × 100 rounded to 2 decimals; `rulerPercent` gives that number from the
// per-sample fractions (the two agree: sum(per-sample) / n * 100).

import { longestMatch } from "./difflib.ts";
import { pyRound, pySplit, pyStrip, removeArticles, removeChars } from "./py.ts";

/**
 * RULER's postprocess_pred: strip, turn control characters (\x00-\x1f) into newlines, strip.
 * (evaluate.py; matching is by substring, so this changes a score only through the strips.)
 */
export function rulerPostprocess(prediction: string): string {
  // deno-lint-ignore no-control-regex
  return pyStrip(pyStrip(prediction).replace(/[\x00-\x1f]/g, "\n"));
}

/**
 * One sample of string_match_all: the fraction of references found, case-insensitively, as
 * substrings of the prediction: `sum(r.lower() in pred.lower() for r in ref) / len(ref)`.
 */
export function stringMatchAll(prediction: string, references: readonly string[]): number {
  if (references.length === 0) throw new RangeError("string_match_all: no references to match");
  const p = prediction.toLowerCase();
  let hit = 0;
  for (const r of references) if (p.includes(r.toLowerCase())) hit++;
  return hit / references.length;
}

/** One sample of string_match_part: 1 if any reference is a substring of the prediction. */
export function stringMatchPart(prediction: string, references: readonly string[]): number {
  if (references.length === 0) throw new RangeError("string_match_part: no references to match");
  const p = prediction.toLowerCase();
  return references.some((r) => p.includes(r.toLowerCase())) ? 1 : 0;
}

/** RULER's reported number for a task: mean of per-sample fractions × 100, rounded to 2 places. */
export function rulerPercent(scores: readonly number[]): number {
  if (scores.length === 0) throw new RangeError("rulerPercent: no scores");
  return pyRound((scores.reduce((a, b) => a + b, 0) / scores.length) * 100, 2);
}

// --- passkey (longctx_bench) ---------------------------------------------------------------------

/**
 * longctx_bench's normalize_answer: lower-case, drop string.punctuation, drop the articles
 * a/an/the (replaced by nothing, unlike SQuAD's space), collapse whitespace.
 */
export function normalizePasskey(s: string): string {
  return pySplit(removeArticles(removeChars(s.toLowerCase()), "")).join(" ");
}

/** longctx_bench exact_match: 1 if the normalized answer is inside the normalized response. */
export function passkeyExact(prediction: string, answer: string): number {
  return normalizePasskey(prediction).includes(normalizePasskey(answer)) ? 1 : 0;
}

/**
 * longctx_bench partial_match: the longest common substring of answer and response (difflib
 * SequenceMatcher.find_longest_match, autojunk=False) over the answer's length.
 */
export function passkeyPartial(prediction: string, answer: string): number {
  const a = [...answer];
  if (a.length === 0) throw new RangeError("passkey partial match: empty answer");
  return longestMatch(a, [...prediction]).size / a.length;
}
