// Passkey retrieval (Mohtashami & Jaggi, 2023) as the longctx_bench paper (Yuan et al., 2024,
// "KV Cache Compression, But What Must We Give in Return?") and KIVI run it: a 7-digit pass key
// at depth x length over a grid, asked for at the end; scored by exact match and partial match.
//
// Text, from KIVI's passkey_examples.jsonl and longctx_bench's
// config/eval_config/paulgraham_passkey/*.json:
//   "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it.
//    I will quiz you about the important information there.\n"        (both say "memorize it";
//                                      the original Mohtashami & Jaggi text says "memorize them")
//   needle: "The pass key is <KEY>. Remember it. <KEY> is the pass key."
//   question: "\nWhat is the pass key?" then the answer prefix " The pass key is " (longctx_bench's
//             retrieval_question "\nWhat is the pass key? The pass key is ", split where the
//             model's answer starts; KIVI appends the same words with no newline)
// Haystacks:
//   noise: KIVI's layout, byte for byte: the noise sentence once per line, the needle on its own
//          line at line floor(depth * lines) (the tests rebuild KIVI's five examples exactly);
//   essay: longctx_bench's: essays concatenated in order and repeated ("ordered_repetition"),
//          cut to n words (a word keeps its trailing whitespace), the needle after word
//          int(n * depth), pieces joined by " " with a trailing " " (make_content).
// The key is 7 random digits, a leading zero allowed (longctx_bench retrieval_target_len 7,
// style "int"); KIVI's examples use 5. Scores (eval/passkey_utils/eval_metrics.py): exact = the
// normalized key is inside the normalized prediction; partial = longest common substring of key
// and prediction / key length.

import { essayDir, loadEssays, NOISE } from "./haystack.ts";
import { passkeyExact, passkeyPartial } from "./match.ts";
import { checkDepths, linspace, resolveParams } from "./params.ts";
import { type Built, COMMON_PARAMS, generateCell } from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

export const PASSKEY_INSTRUCTION =
  "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.\n";
export const PASSKEY_NEEDLE =
  "The pass key is <PASS KEY>. Remember it. <PASS KEY> is the pass key.";
export const PASSKEY_QUESTION = "\nWhat is the pass key?";
export const PASSKEY_ANSWER_PREFIX = " The pass key is ";
/** longctx_bench passkey configs: max_new_tokens. */
export const PASSKEY_MAX_NEW_TOKENS = 256;

export const PASSKEY_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "depths",
    type: "numbers",
    default: linspace(0, 1, 10),
    min: 0,
    max: 1,
    description: "needle depths, fractions of the haystack (longctx_bench: 10 from 0 to 1)",
  },
  {
    name: "digits",
    type: "int",
    default: 7,
    min: 1,
    max: 128,
    description: "digits in the pass key",
  },
  {
    name: "haystack",
    type: "enum",
    values: ["noise", "essay"],
    default: "noise",
    description: "noise sentences (KIVI) or essays (longctx_bench's paulgraham_passkey)",
  },
  {
    name: "essays",
    type: "path",
    description:
      "folder of .txt essays for haystack=essay (default ../shared/data/PaulGrahamEssays)",
  },
];

/** The noise layout for n noise lines with the needle before line `at`. */
export function passkeyNoiseContext(
  n: number,
  at: number,
  key: string,
): { text: string; needle: [number, number] } {
  const needle = PASSKEY_NEEDLE.replaceAll("<PASS KEY>", key);
  const before = Array(at).fill(NOISE).join("\n");
  const after = Array(n - at).fill(NOISE).join("\n");
  const start = at > 0 ? before.length + 1 : 0;
  const text = [...(at > 0 ? [before] : []), needle, ...(n - at > 0 ? [after] : [])].join("\n");
  return { text, needle: [start, start + needle.length] };
}

// --- the essay background (longctx_bench make_background / make_content) ------------------------

const WORD = /[^\s]+\s*/g;
const pieceCache = new Map<string, string[]>();

/** The first n words (with trailing whitespace) of the essays concatenated and repeated. */
function essayPieces(dir: string, n: number): string[] {
  let pieces = pieceCache.get(dir);
  const files = loadEssays(dir);
  if (!pieces || pieces.length < n) {
    const cycle = files.map((f) => f.text).join("");
    const perCycle = (cycle.match(WORD) ?? []).length;
    if (perCycle === 0) throw new RangeError(`passkey: the essays in ${dir} hold no words`);
    const reps = Math.ceil(n / perCycle) + 1;
    pieces = cycle.repeat(reps).match(WORD) ?? [];
    pieceCache.set(dir, pieces);
  }
  return pieces.slice(0, n);
}

export function passkeyEssayContext(
  pieces: readonly string[],
  depth: number,
  key: string,
): { text: string; needle: [number, number] } {
  const needle = PASSKEY_NEEDLE.replaceAll("<PASS KEY>", key);
  // background_text = ''.join(words[:n]).strip(); its word count is n again
  const pos = Math.floor(pieces.length * depth);
  const chunk0 = pieces.slice(0, pos).join("").trim();
  const chunk1 = pieces.slice(pos).join("").trim();
  const start = chunk0.length + 1;
  return { text: [chunk0, needle, chunk1, ""].join(" "), needle: [start, start + needle.length] };
}

export function generatePasskey(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "passkey";
  const p = resolveParams(task, PASSKEY_PARAMS, given);
  const depths = checkDepths(task, p.depths as readonly number[]);
  const digits = p.digits as number;
  const haystack = p.haystack as "noise" | "essay";
  const dir = haystack === "essay" ? essayDir(task, p.essays as string | undefined) : undefined;
  const out: Sample[] = [];
  for (const depth of depths) {
    out.push(...generateCell({
      task,
      unit: haystack === "essay" ? "essay words" : "noise sentences",
      min: 0,
      maxNewTokens: PASSKEY_MAX_NEW_TOKENS,
      build: (s, n): Built => {
        const key = s("key").digits(digits);
        const c = haystack === "essay"
          ? passkeyEssayContext(essayPieces(dir!, n), depth, key)
          : passkeyNoiseContext(n, Math.floor(n * depth), key);
        const head = PASSKEY_INSTRUCTION;
        return {
          prompt: head + c.text + PASSKEY_QUESTION,
          answerPrefix: PASSKEY_ANSWER_PREFIX,
          answers: [key],
          context: [head.length, head.length + c.text.length],
          needle: [head.length + c.needle[0], head.length + c.needle[1]],
          meta: { haystackKind: haystack },
        };
      },
    }, {
      seed,
      length,
      tokenizer,
      samples: p.samples as number,
      budgetIncludesGeneration: p.budgetIncludesGeneration as boolean,
      key: { depth },
      measureNeedle: true,
    }));
  }
  return out;
}

export function scorePasskey(prediction: string, sample: Sample): Record<string, number> {
  const key = sample.answers[0];
  return { exact: passkeyExact(prediction, key), partial: passkeyPartial(prediction, key) };
}
