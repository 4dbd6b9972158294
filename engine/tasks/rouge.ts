// ROUGE-L as LongBench computes it: `Rouge().get_scores([pred], [ref], avg=True)["rouge-l"]["f"]`
// from the `rouge` package (pltrdy/rouge 1.0.1: rouge/rouge.py and rouge/rouge_score.py), a
// summary-level union-LCS over sentences split on ".", with set semantics (exclusive=True):
//
//   sentences = [" ".join(s.split()) for s in text.split(".") if len(s) > 0]
//   words     = every sentence split on " "
//   m, n      = distinct words of the reference, of the hypothesis
//   llcs      = size of the union, over reference sentences r and hypothesis sentences c, of
//               the word sets of the LCS(r, c) that _recon_lcs reconstructs
//   f         = 2 * (p * r) / (p + r + 1e-8) with p = llcs / n, r = llcs / m
//
// The LCS reconstruction is the package's (ties go to `table[i, j-1]`), because which words a
// tie picks changes the union. An empty sentence list raises in the package, and LongBench's
// rouge_score turns any exception into 0.0; so does `rougeL` here. One difference: Python's
// recursive reconstruction hits the default recursion limit (1000 frames) on sentences of
// roughly 1,000 words combined, raising and scoring 0.0; kvlab reconstructs iteratively and
// scores those pairs.

import { pySplit } from "./py.ts";

/** `[" ".join(s.split()) for s in text.split(".") if len(s) > 0]` */
function sentences(text: string): string[] {
  return text.split(".").filter((s) => s.length > 0).map((s) => pySplit(s).join(" "));
}

/** The words of _recon_lcs(x, y) (x = reference words, y = hypothesis words), in order. */
export function reconLcs(x: readonly string[], y: readonly string[]): string[] {
  const n = x.length, m = y.length;
  const w = m + 1;
  const table = new Uint32Array((n + 1) * (m + 1));
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      table[i * w + j] = x[i - 1] === y[j - 1]
        ? table[(i - 1) * w + j - 1] + 1
        : Math.max(table[(i - 1) * w + j], table[i * w + j - 1]);
    }
  }
  const out: string[] = [];
  let i = n, j = m;
  while (i > 0 && j > 0) {
    if (x[i - 1] === y[j - 1]) {
      out.push(x[i - 1]);
      i--;
      j--;
    } else if (table[(i - 1) * w + j] > table[i * w + j - 1]) i--;
    else j--;
  }
  return out.reverse();
}

export interface RougeL {
  readonly f: number;
  readonly p: number;
  readonly r: number;
}

/** rouge_l_summary_level(hyp_sentences, ref_sentences, exclusive=True); throws on empty input. */
export function rougeLSummaryLevel(hyp: readonly string[], ref: readonly string[]): RougeL {
  if (hyp.length <= 0 || ref.length <= 0) {
    throw new RangeError("Collections must contain at least 1 sentence.");
  }
  const words = (ss: readonly string[]) => ss.flatMap((s) => s.split(" "));
  const m = new Set(words(ref)).size;
  const n = new Set(words(hyp)).size;
  const union = new Set<string>();
  for (const r of ref) {
    const rw = r.split(" ");
    for (const h of hyp) for (const wd of reconLcs(rw, h.split(" "))) union.add(wd);
  }
  const llcs = union.size;
  const rL = llcs / m;
  const pL = llcs / n;
  const f = 2.0 * ((pL * rL) / (pL + rL + 1e-8));
  return { f, p: pL, r: rL };
}

/** LongBench rouge_score: ROUGE-L F of one prediction against one reference; 0.0 on error. */
export function rougeL(prediction: string, reference: string): number {
  try {
    return rougeLSummaryLevel(sentences(prediction), sentences(reference)).f;
  } catch {
    return 0.0;
  }
}
