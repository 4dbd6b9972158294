// Word lists for RULER-style keys and common words, read from data/tasks/words/ (lists kvlab
// wrote; see the README there) on first use, plus made-up pronounceable words for when a task
// needs more distinct words than the lists hold. RULER draws the same kinds of words from the
// `wonderwords` package (adjectives, nouns, verbs) and, past those, from english_words.json.

import { Rng } from "./rng.ts";

const DIR = new URL("../../data/tasks/words/", import.meta.url);
const lists = new Map<string, readonly string[]>();

function list(name: "adjectives" | "nouns" | "verbs"): readonly string[] {
  let l = lists.get(name);
  if (!l) {
    l = Deno.readTextFileSync(new URL(`${name}.txt`, DIR)).split("\n").map((w) => w.trim())
      .filter((w) => w !== "");
    lists.set(name, l);
  }
  return l;
}

export function adjectives(): readonly string[] {
  return list("adjectives");
}

export function nouns(): readonly string[] {
  return list("nouns");
}

export function verbs(): readonly string[] {
  return list("verbs");
}

let keyWords: readonly string[] | undefined;

/**
 * RULER's word keys: every "adjective-noun" pair, sorted and deduplicated (niah.py:
 * `words = [f"{adj}-{noun}" for adj in adjs for noun in nouns]; sorted(set(words))`).
 */
export function adjNounWords(): readonly string[] {
  if (!keyWords) {
    const out: string[] = [];
    for (const a of adjectives()) for (const n of nouns()) out.push(`${a}-${n}`);
    keyWords = [...new Set(out)].sort();
  }
  return keyWords;
}

/**
 * RULER cwe's vocabulary: nouns + adjectives + verbs, deduplicated and sorted
 * (common_words_extraction.py: `sorted(list(set(nouns + adjs + verbs)))`), before its seeded
 * shuffle.
 */
export function commonWords(): readonly string[] {
  return [...new Set([...nouns(), ...adjectives(), ...verbs()])].sort();
}

const ONSETS = [
  "b",
  "br",
  "d",
  "dr",
  "f",
  "fl",
  "g",
  "gr",
  "h",
  "j",
  "k",
  "l",
  "m",
  "n",
  "p",
  "pl",
  "r",
  "s",
  "sk",
  "st",
  "t",
  "tr",
  "v",
  "w",
  "z",
];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo"];
const CODAS = ["", "", "n", "r", "l", "s", "t", "m", "nd", "st"];

/**
 * `count` distinct made-up words of two or three syllables, none of them in `exclude`, the same
 * for the same seed. Used where a task runs out of listed words.
 */
export function pseudoWords(count: number, seed: number, exclude: ReadonlySet<string>): string[] {
  const rng = new Rng(seed);
  const seen = new Set<string>();
  const out: string[] = [];
  while (out.length < count) {
    const syllables = rng.int(2, 3);
    let w = "";
    for (let i = 0; i < syllables; i++) {
      w += rng.choice(ONSETS) + rng.choice(VOWELS) + (i === syllables - 1 ? rng.choice(CODAS) : "");
    }
    if (!seen.has(w) && !exclude.has(w)) {
      seen.add(w);
      out.push(w);
    }
  }
  return out;
}
