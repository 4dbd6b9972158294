// NVIDIA/RULER's task constants, verbatim: templates, answer prefixes and generation lengths
// (scripts/data/synthetic/constants.py), the 11 synthetic task configurations kvlab runs
// (scripts/synthetic.yaml), and the metric of each task family
// (scripts/eval/synthetic/constants.py). The "assgined" typo in the vt answer prefix is RULER's.

export interface RulerTemplate {
  readonly tokensToGenerate: number;
  readonly template: string;
  readonly answerPrefix: string;
}

/** scripts/data/synthetic/constants.py, TASKS. */
export const RULER_TEMPLATES = {
  niah: {
    tokensToGenerate: 128,
    template:
      "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?",
    answerPrefix:
      " The special magic {type_needle_v} for {query} mentioned in the provided text are",
  },
  variable_tracking: {
    tokensToGenerate: 30,
    template:
      "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.",
    answerPrefix:
      " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assgined the value {query}, they are: ",
  },
  common_words_extraction: {
    tokensToGenerate: 120,
    template:
      "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?",
    answerPrefix: " Answer: The top 10 words that appear most often in the list are:",
  },
  freq_words_extraction: {
    tokensToGenerate: 50,
    template:
      "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?",
    answerPrefix:
      " Answer: According to the coded text above, the three most frequently appeared words are:",
  },
  qa: {
    tokensToGenerate: 32,
    template:
      "Answer the question based on the given documents. Only give me the answer and do not output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}",
    answerPrefix: " Answer:",
  },
} as const satisfies Record<string, RulerTemplate>;

export type RulerFamily = keyof typeof RULER_TEMPLATES;

/** RULER's niah needle (niah.py). */
export const NIAH_NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}.";

export type NeedleType = "numbers" | "words" | "uuids";

export interface NiahConfig {
  readonly typeHaystack: "noise" | "essay" | "needle";
  readonly typeNeedleK: NeedleType;
  readonly typeNeedleV: NeedleType;
  readonly numNeedleK: number;
  readonly numNeedleV: number;
  readonly numNeedleQ: number;
}

/**
 * scripts/synthetic.yaml: the niah variants. (RULER named the noise haystack "repeat" before it
 * renamed it "noise"; the text is the same.)
 */
export const NIAH_CONFIGS = {
  niah_single_1: {
    typeHaystack: "noise",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    numNeedleK: 1,
    numNeedleV: 1,
    numNeedleQ: 1,
  },
  niah_single_2: {
    typeHaystack: "essay",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    numNeedleK: 1,
    numNeedleV: 1,
    numNeedleQ: 1,
  },
  niah_single_3: {
    typeHaystack: "essay",
    typeNeedleK: "words",
    typeNeedleV: "uuids",
    numNeedleK: 1,
    numNeedleV: 1,
    numNeedleQ: 1,
  },
  niah_multikey_1: {
    typeHaystack: "essay",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    numNeedleK: 4,
    numNeedleV: 1,
    numNeedleQ: 1,
  },
  niah_multikey_2: {
    typeHaystack: "needle",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    numNeedleK: 1,
    numNeedleV: 1,
    numNeedleQ: 1,
  },
  niah_multikey_3: {
    typeHaystack: "needle",
    typeNeedleK: "uuids",
    typeNeedleV: "uuids",
    numNeedleK: 1,
    numNeedleV: 1,
    numNeedleQ: 1,
  },
  niah_multivalue: {
    typeHaystack: "essay",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    numNeedleK: 1,
    numNeedleV: 4,
    numNeedleQ: 1,
  },
  niah_multiquery: {
    typeHaystack: "essay",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    numNeedleK: 1,
    numNeedleV: 1,
    numNeedleQ: 4,
  },
} as const satisfies Record<string, NiahConfig>;

export type NiahTaskName = keyof typeof NIAH_CONFIGS;

/** scripts/synthetic.yaml: vt, cwe, fwe arguments. */
export const VT_CONFIG = { typeHaystack: "noise", numChains: 1, numHops: 4 } as const;
export const CWE_CONFIG = { freqCw: 30, freqUcw: 3, numCw: 10, numFewshot: 1 } as const;
export const FWE_CONFIG = { alpha: 2.0, codedWordlen: 6 } as const;

/**
 * scripts/eval/synthetic/constants.py: string_match_all for niah, variable_tracking,
 * common_words_extraction, freq_words_extraction; string_match_part for qa.
 */
export const RULER_METRIC: Readonly<Record<RulerFamily, "string_match_all" | "string_match_part">> =
  {
    niah: "string_match_all",
    variable_tracking: "string_match_all",
    common_words_extraction: "string_match_all",
    freq_words_extraction: "string_match_all",
    qa: "string_match_part",
  };

/** The RULER family a synthetic.yaml task name belongs to (niah_*, vt, cwe, fwe, qa_*). */
export function rulerFamilyOf(task: string): RulerFamily | undefined {
  if (task.startsWith("niah")) return "niah";
  if (task === "vt" || task === "variable_tracking") return "variable_tracking";
  if (task === "cwe" || task === "common_words_extraction") return "common_words_extraction";
  if (task === "fwe" || task === "freq_words_extraction") return "freq_words_extraction";
  if (task.startsWith("qa")) return "qa";
  return undefined;
}

/**
 * Python str.format for RULER's templates: replaces {name} for the given names, leaves nothing
 * else (the templates hold no other braces), and never re-reads inserted text.
 */
export function formatTemplate(
  template: string,
  values: Readonly<Record<string, string | number>>,
): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => k in values ? String(values[k]) : m);
}
