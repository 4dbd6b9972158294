// Haystack text: the repeated "noise" sentences, essays from a folder of text files, and the
// sentence splitting RULER applies to the essay haystack. Not here: where needles go (each task).

import { TaskDataError } from "./types.ts";

/**
 * The noise sentence of RULER (`haystack` for type_haystack noise/repeat in
 * scripts/data/synthetic/niah.py and variable_tracking.py) and of the passkey test of Mohtashami
 * & Jaggi (2023) as KIVI and longctx_bench use it.
 */
export const NOISE =
  "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

export type HaystackKind = "noise" | "essay" | "needle";

// --- essays ------------------------------------------------------------------------------------

const essayCache = new Map<string, readonly EssayFile[]>();

export interface EssayFile {
  readonly name: string;
  readonly text: string;
}

/** Files that sit beside essays but are not essays (LICENSE.gkamradt-NIAH.txt in the sample). */
const NOT_ESSAY = /^(license|licence|readme|copying|notice)/i;

/**
 * The .txt files of a folder, in name order (a fixed order, unlike os.listdir), skipping
 * licence and readme files. Cached per path.
 */
export function loadEssays(dir: string): readonly EssayFile[] {
  const key = dir.replace(/\/+$/, "");
  const hit = essayCache.get(key);
  if (hit) return hit;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(key)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw new TaskDataError(
        `essay haystack: ${key} is not a folder; expected a folder of .txt files (e.g. ../shared/data/PaulGrahamEssays)`,
      );
    }
    throw e;
  }
  const names = entries
    .filter((e) => e.isFile && e.name.endsWith(".txt") && !NOT_ESSAY.test(e.name))
    .map((e) => e.name)
    .sort();
  if (names.length === 0) {
    throw new TaskDataError(
      `essay haystack: ${key} holds no .txt files; expected a folder of essays`,
    );
  }
  const files = names.map((name) => ({ name, text: Deno.readTextFileSync(`${key}/${name}`) }));
  essayCache.set(key, files);
  return files;
}

/**
 * The essay haystack as RULER builds it: all essays' text with every whitespace run turned into
 * one space, split on spaces (niah.py: `re.sub(r'\s+', " ", essay).split(" ")`). RULER reads one
 * PaulGrahamEssays.json; here the files are joined in name order.
 */
export function essayWords(dir: string): readonly string[] {
  const key = `words:${dir}`;
  const hit = wordsCache.get(key);
  if (hit) return hit;
  const text = loadEssays(dir).map((f) => f.text).join(" ");
  const words = text.replace(/\s+/g, " ").split(" ").filter((w) => w !== "");
  wordsCache.set(key, words);
  return words;
}
const wordsCache = new Map<string, readonly string[]>();

/**
 * The first n words, cycling through the haystack when n exceeds it (RULER's niah.py repeats
 * the haystack "as many times as needed and slice[s] to num_haystack").
 */
export function takeWords(words: readonly string[], n: number): string[] {
  if (n <= words.length) return words.slice(0, n);
  const out: string[] = [];
  while (out.length < n) out.push(...words.slice(0, Math.min(words.length, n - out.length)));
  return out;
}

// --- sentences -----------------------------------------------------------------------------------

/** Abbreviations after which a period does not end a sentence. */
const ABBREVIATIONS = new Set([
  "mr",
  "mrs",
  "ms",
  "dr",
  "prof",
  "sr",
  "jr",
  "st",
  "vs",
  "etc",
  "e.g",
  "i.e",
  "inc",
  "ltd",
  "co",
  "corp",
  "jan",
  "feb",
  "mar",
  "apr",
  "jun",
  "jul",
  "aug",
  "sep",
  "sept",
  "oct",
  "nov",
  "dec",
  "no",
  "vol",
  "fig",
  "u.s",
  "u.k",
  "a.m",
  "p.m",
  "approx",
  "dept",
  "est",
  "mt",
]);

/**
 * Sentences of a space-joined text, standing in for NLTK's `sent_tokenize` (Punkt), which RULER
 * applies to the essay haystack. A sentence ends at `.`, `!` or `?` (closing quotes or brackets
 * may follow) before a space and a word that starts with an uppercase letter, a digit or an
 * opening quote, unless the period ends a known abbreviation or a single initial. Punkt learns
 * abbreviations from data, so its splits differ on rare cases; the haystack's text is the same,
 * only needle insertion points (sentence boundaries) can differ.
 */
export function splitSentences(text: string): string[] {
  const t = text.trim();
  if (t === "") return [];
  const out: string[] = [];
  let start = 0;
  const re = /[.!?]+["'”’)\]]*(?= +["'“‘(\[]?[A-Z0-9])/g;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    const end = m.index + m[0].length;
    if (m[0].startsWith(".") && m[0].length === 1) {
      const before = t.slice(start, m.index);
      const lastWord = before.slice(before.lastIndexOf(" ") + 1).replace(/^["'“‘(\[]+/, "");
      if (ABBREVIATIONS.has(lastWord.toLowerCase()) || /^[A-Z]$/.test(lastWord)) continue;
    }
    out.push(t.slice(start, end).trim());
    start = end;
  }
  const rest = t.slice(start).trim();
  if (rest !== "") out.push(rest);
  return out;
}

/**
 * Inserts `needles` into sentences at fractional depths, as RULER's essay branch does:
 * positions `[0] + sorted(int(len(sents) * depth) ...) + [len(sents)]`, each needle after the
 * sentences before its position, everything joined with spaces. Returns the text and where each
 * needle starts and ends in it.
 */
export function insertIntoSentences(
  sentences: readonly string[],
  needles: readonly string[],
  depths: readonly number[],
): { text: string; spans: [number, number][] } {
  return insertAtSentences(sentences, needles, depths.map((d) => Math.floor(sentences.length * d)));
}

/** Inserts needles before the given sentence indices (sorted first), joined with spaces. */
export function insertAtSentences(
  sentences: readonly string[],
  needles: readonly string[],
  positions: readonly number[],
): { text: string; spans: [number, number][] } {
  const bounds = [0, ...[...positions].sort((a, b) => a - b), sentences.length];
  const parts: string[] = [];
  const isNeedle: boolean[] = [];
  for (let i = 1; i < bounds.length; i++) {
    parts.push(sentences.slice(bounds[i - 1], bounds[i]).join(" "));
    isNeedle.push(false);
    if (i - 1 < needles.length) {
      parts.push(needles[i - 1]);
      isNeedle.push(true);
    }
  }
  return joinWithSpans(parts, isNeedle, " ");
}

/** Joins parts with a separator, recording where the flagged parts land. */
export function joinWithSpans(
  parts: readonly string[],
  flagged: readonly boolean[],
  sep: string,
): { text: string; spans: [number, number][] } {
  let text = "";
  const spans: [number, number][] = [];
  parts.forEach((p, i) => {
    if (i > 0) text += sep;
    if (flagged[i]) spans.push([text.length, text.length + p.length]);
    text += p;
  });
  return { text, spans };
}

// --- where the essays are ------------------------------------------------------------------------

/** ../shared/data/PaulGrahamEssays beside the checkout, where the project's sample data lives. */
export const DEFAULT_ESSAYS = decodeURIComponent(
  new URL("../../../shared/data/PaulGrahamEssays", import.meta.url).pathname,
);

/**
 * The essay folder a task uses: the given path, else the shared sample beside the checkout; a
 * TaskDataError names the parameter when neither is there.
 */
export function essayDir(task: string, given: string | undefined, param = "essays"): string {
  if (given !== undefined) return given;
  try {
    if (Deno.statSync(DEFAULT_ESSAYS).isDirectory) return DEFAULT_ESSAYS;
  } catch {
    // absent: fall through
  }
  throw new TaskDataError(
    `${task}: the essay haystack needs a folder of .txt essays: pass parameter "${param}" (e.g. ../shared/data/PaulGrahamEssays); ${DEFAULT_ESSAYS} is absent`,
  );
}
