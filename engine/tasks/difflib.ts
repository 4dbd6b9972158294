// Python's difflib.SequenceMatcher (CPython 3.11 Lib/difflib.py), ported line for line for what
// the official scorers call: find_longest_match, get_matching_blocks and ratio, with no junk
// function and the "autojunk" popularity heuristic (for b of 200+ items, items occurring more
// than len(b) // 100 + 1 times are left out of the match search). Sequences are arrays of
// Python characters (code points: pass [...str]).
//
// Used by: LongBench code_sim_score (fuzzywuzzy's fuzz.ratio falls back to difflib when
// python-Levenshtein is absent, as in LongBench's environment), classification_score's
// fallback, and longctx_bench's passkey partial_match (autojunk=False).

export interface Match {
  readonly a: number;
  readonly b: number;
  readonly size: number;
}

export class SequenceMatcher {
  private readonly b2j = new Map<string, number[]>();
  private readonly popular = new Set<string>();
  private blocks?: Match[];

  constructor(readonly a: readonly string[], readonly b: readonly string[], autojunk = true) {
    b.forEach((elt, i) => {
      const idx = this.b2j.get(elt);
      if (idx) idx.push(i);
      else this.b2j.set(elt, [i]);
    });
    const n = b.length;
    if (autojunk && n >= 200) {
      const ntest = Math.floor(n / 100) + 1;
      for (const [elt, idxs] of this.b2j) if (idxs.length > ntest) this.popular.add(elt);
      for (const elt of this.popular) this.b2j.delete(elt);
    }
  }

  /** The longest junk-free matching block in a[alo:ahi] and b[blo:bhi], earliest on ties. */
  findLongestMatch(alo = 0, ahi = this.a.length, blo = 0, bhi = this.b.length): Match {
    const { a, b, b2j } = this;
    let besti = alo, bestj = blo, bestsize = 0;
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const newj2len = new Map<number, number>();
      for (const j of b2j.get(a[i]) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        newj2len.set(j, k);
        if (k > bestsize) {
          besti = i - k + 1;
          bestj = j - k + 1;
          bestsize = k;
        }
      }
      j2len = newj2len;
    }
    // No junk function, so "junk" is empty: extend by equal (popular) elements on each side.
    while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
      besti--;
      bestj--;
      bestsize++;
    }
    while (
      besti + bestsize < ahi && bestj + bestsize < bhi &&
      a[besti + bestsize] === b[bestj + bestsize]
    ) {
      bestsize++;
    }
    return { a: besti, b: bestj, size: bestsize };
  }

  getMatchingBlocks(): Match[] {
    if (this.blocks) return this.blocks;
    const la = this.a.length, lb = this.b.length;
    const queue: [number, number, number, number][] = [[0, la, 0, lb]];
    const found: Match[] = [];
    while (queue.length > 0) {
      const [alo, ahi, blo, bhi] = queue.pop()!;
      const x = this.findLongestMatch(alo, ahi, blo, bhi);
      const { a: i, b: j, size: k } = x;
      if (k) {
        found.push(x);
        if (alo < i && blo < j) queue.push([alo, i, blo, j]);
        if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
      }
    }
    found.sort((x, y) => x.a - y.a || x.b - y.b || x.size - y.size);
    const out: Match[] = [];
    let i1 = 0, j1 = 0, k1 = 0;
    for (const { a: i2, b: j2, size: k2 } of found) {
      if (i1 + k1 === i2 && j1 + k1 === j2) k1 += k2;
      else {
        if (k1) out.push({ a: i1, b: j1, size: k1 });
        i1 = i2;
        j1 = j2;
        k1 = k2;
      }
    }
    if (k1) out.push({ a: i1, b: j1, size: k1 });
    out.push({ a: la, b: lb, size: 0 });
    this.blocks = out;
    return out;
  }

  /** 2 * matches / (len(a) + len(b)); 1.0 when both are empty. */
  ratio(): number {
    const matches = this.getMatchingBlocks().reduce((s, m) => s + m.size, 0);
    const length = this.a.length + this.b.length;
    return length ? (2.0 * matches) / length : 1.0;
  }
}

/** SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)). */
export function longestMatch(a: readonly string[], b: readonly string[]): Match {
  return new SequenceMatcher(a, b, false).findLongestMatch();
}

/**
 * fuzzywuzzy's fuzz.ratio without python-Levenshtein: None/equal/empty checks, then
 * `int(round(100 * SequenceMatcher(None, s1, s2).ratio()))` (Python's round: ties to even).
 */
export function fuzzRatio(s1: string, s2: string): number {
  if (s1 === s2) return 100; // check_for_equivalence runs before check_empty_string
  if (s1.length === 0 || s2.length === 0) return 0;
  const r = 100 * new SequenceMatcher([...s1], [...s2]).ratio();
  return roundHalfEven(r);
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
