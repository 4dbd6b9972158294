// LongBench's official metrics (THUDM/LongBench metrics.py and eval.py), one prediction against
// one ground truth, each in [0, 1]; `longbenchScore` applies eval.py's rules for a sample (first
// line for trec/triviaqa/samsum/lsht, the best over ground truths). LongBench reports a dataset as
// round(100 * mean, 2).
//
// Libraries the official code calls, and what stands in here:
//   jieba.cut(.., cut_all=False)  -> jieba-rs (npm jieba-wasm), same dictionary and HMM (jieba.ts)
//   rouge.Rouge (pltrdy 1.0.1)    -> rouge.ts, ported from its source
//   fuzzywuzzy fuzz.ratio         -> difflib.ts's fuzzRatio: fuzzywuzzy's pure-Python path
//                                    (difflib.SequenceMatcher), which LongBench's environment
//                                    (pip install fuzzywuzzy, no python-Levenshtein) runs
//   difflib.SequenceMatcher       -> difflib.ts

import { fuzzRatio, SequenceMatcher } from "./difflib.ts";
import { jiebaCut } from "./jieba.ts";
import {
  LONGBENCH_FIRST_LINE,
  LONGBENCH_METRIC,
  type LongBenchMetric,
} from "./longbench_config.ts";
import {
  commonCount,
  findNumbers,
  PUNCTUATION,
  pyLstrip,
  pySplit,
  removeArticles,
  removeChars,
} from "./py.ts";
import { rougeL } from "./rouge.ts";

/** metrics.py normalize_answer: lower, drop punctuation, drop articles (a space), collapse spaces. */
export function normalizeAnswer(s: string): string {
  return pySplit(removeArticles(removeChars(s.toLowerCase()), " ")).join(" ");
}

const CN_PUNCTUATION =
  "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.";
const ZH_PUNCT = new Set([...PUNCTUATION, ...CN_PUNCTUATION]);

/** metrics.py normalize_zh_answer: lower, drop English and Chinese punctuation, drop whitespace. */
export function normalizeZhAnswer(s: string): string {
  return pySplit(removeChars(s.toLowerCase(), ZH_PUNCT)).join("");
}

/** metrics.py f1_score over token lists (0 when nothing is shared). */
export function f1Score(prediction: readonly string[], groundTruth: readonly string[]): number {
  const same = commonCount(prediction, groundTruth);
  if (same === 0) return 0;
  const precision = same / prediction.length;
  const recall = same / groundTruth.length;
  return (2 * precision * recall) / (precision + recall);
}

export function qaF1Score(prediction: string, groundTruth: string): number {
  return f1Score(pySplit(normalizeAnswer(prediction)), pySplit(normalizeAnswer(groundTruth)));
}

export function qaF1ZhScore(prediction: string, groundTruth: string): number {
  const tok = (s: string) => jiebaCut(s).map(normalizeZhAnswer).filter((t) => t.length > 0);
  return f1Score(tok(prediction), tok(groundTruth));
}

export function rougeScore(prediction: string, groundTruth: string): number {
  return rougeL(prediction, groundTruth);
}

export function rougeZhScore(prediction: string, groundTruth: string): number {
  return rougeL(jiebaCut(prediction).join(" "), jiebaCut(groundTruth).join(" "));
}

/**
 * metrics.py classification_score, with its quirks kept: removing from the list while iterating
 * over it skips the element after each removal, and `if em_match_list != 0` is always true (a
 * list is never 0), so the difflib fallback (`classificationFallback`) never runs: a prediction
 * naming no class scores 0, one naming k classes including the right one scores 1/k.
 */
export function classificationScore(
  prediction: string,
  groundTruth: string,
  allClasses: readonly string[],
): number {
  const em: string[] = allClasses.filter((c) => prediction.includes(c));
  // for match_term in em_match_list: if ...: em_match_list.remove(match_term)
  for (let i = 0; i < em.length; i++) {
    const term = em[i];
    if (groundTruth.includes(term) && term !== groundTruth) {
      em.splice(em.indexOf(term), 1); // Python's iterator still advances: the next one is skipped
    }
  }
  return em.includes(groundTruth) ? 1.0 / em.length : 0.0;
}

/** The branch metrics.py never reaches, kept for reference and tested on its own. */
export function classificationFallback(
  prediction: string,
  groundTruth: string,
  allClasses: readonly string[],
): number {
  let best: string | undefined;
  let highest = 0;
  for (const c of allClasses) {
    const sim = new SequenceMatcher([...c], [...prediction]).ratio();
    if (sim > highest) {
      highest = sim;
      best = c;
    }
  }
  return best === groundTruth ? 1 : 0;
}

function retrieval(prediction: string, groundTruth: string, pattern: RegExp): number {
  const m = groundTruth.match(pattern);
  if (!m) {
    throw new RangeError(
      `retrieval score: ground truth ${JSON.stringify(groundTruth)} does not match ${pattern}`,
    );
  }
  const id = m[1];
  const numbers = findNumbers(prediction);
  const right = numbers.filter((n) => n === id).length;
  return numbers.length === 0 ? 0 : right / numbers.length;
}

export function retrievalScore(prediction: string, groundTruth: string): number {
  return retrieval(prediction, groundTruth, /Paragraph (\p{Nd}+)/u);
}

export function retrievalZhScore(prediction: string, groundTruth: string): number {
  return retrieval(prediction, groundTruth, /段落(\p{Nd}+)/u);
}

export function countScore(prediction: string, groundTruth: string): number {
  const numbers = findNumbers(prediction);
  const right = numbers.filter((n) => n === String(groundTruth)).length;
  return numbers.length === 0 ? 0 : right / numbers.length;
}

/** metrics.py code_sim_score: the first line without `, # or //, then fuzz.ratio / 100. */
export function codeSimScore(prediction: string, groundTruth: string): number {
  let line = "";
  for (const l of pyLstrip(prediction, "\n").split("\n")) {
    if (!l.includes("`") && !l.includes("#") && !l.includes("//")) {
      line = l;
      break;
    }
  }
  return fuzzRatio(line, groundTruth) / 100;
}

export function longbenchMetric(
  metric: LongBenchMetric,
  prediction: string,
  groundTruth: string,
  allClasses: readonly string[] = [],
): number {
  switch (metric) {
    case "qa_f1_score":
      return qaF1Score(prediction, groundTruth);
    case "qa_f1_zh_score":
      return qaF1ZhScore(prediction, groundTruth);
    case "rouge_score":
      return rougeScore(prediction, groundTruth);
    case "rouge_zh_score":
      return rougeZhScore(prediction, groundTruth);
    case "classification_score":
      return classificationScore(prediction, groundTruth, allClasses);
    case "retrieval_score":
      return retrievalScore(prediction, groundTruth);
    case "retrieval_zh_score":
      return retrievalZhScore(prediction, groundTruth);
    case "count_score":
      return countScore(prediction, groundTruth);
    case "code_sim_score":
      return codeSimScore(prediction, groundTruth);
  }
}

/** eval.py scorer for one sample: first line where it applies, then the best over ground truths. */
export function longbenchScore(
  dataset: string,
  prediction: string,
  groundTruths: readonly string[],
  allClasses: readonly string[] = [],
): number {
  const metric = LONGBENCH_METRIC[dataset];
  if (!metric) {
    throw new RangeError(
      `LongBench dataset "${dataset}" has no metric; expected one of ${
        Object.keys(LONGBENCH_METRIC).join(", ")
      }`,
    );
  }
  const pred = LONGBENCH_FIRST_LINE.has(dataset)
    ? pyLstrip(prediction, "\n").split("\n")[0]
    : prediction;
  let score = 0;
  for (const gt of groundTruths) {
    score = Math.max(score, longbenchMetric(metric, pred, gt, allClasses));
  }
  return score;
}
