// RULER variable tracking, `vt` (Hsieh et al., 2024): chains "VAR X = 12345", "VAR Y = VAR X",
// ... hidden in a haystack; the answer is every variable of the first chain. Follows NVIDIA/RULER
// scripts/data/synthetic/variable_tracking.py (generate_chains, generate_input_output,
// randomize_icl, sys_vartrack_w_noise_random) with scripts/synthetic.yaml's vt (1 chain, 4 hops,
// noise haystack) and constants.py's template, answer prefix and 30 generated tokens; scored with
// string_match_all.
//
// Same as RULER: 5-letter uppercase names, values from np.random.randint(10000, 99999), the
// trailing space after "VAR Y = VAR X ", chain lines inserted at sorted random positions of the
// noise lines (shifted by the lines already inserted), the heap-interleaved chains at RULER depths
// for the essay haystack (each line stripped, "." appended), the ". \n" clean-up, and the one-shot
// example: a chain of 3-letter names with value 12345 fitted to 500 tokens, then re-randomized
// for each sample (its answer names replaced everywhere, 12345 replaced by a fresh value) and put
// before the task text.
// Different: randomness, sentence splitting and the exact fit (see ruler_niah.ts); duplicate
// names are redrawn instead of appended.

import {
  essayDir,
  essayWords,
  insertIntoSentences,
  joinWithSpans,
  NOISE,
  splitSentences,
  takeWords,
} from "./haystack.ts";
import { fitToBudget } from "./budget.ts";
import { resolveParams } from "./params.ts";
import { Rng } from "./rng.ts";
import { formatTemplate, RULER_TEMPLATES, VT_CONFIG } from "./ruler_constants.ts";
import { RULER_DEPTHS } from "./ruler_niah.ts";
import {
  type Built,
  COMMON_PARAMS,
  generateCell,
  splitAtContext,
  type Streams,
} from "./synthetic.ts";
import type { ParamSpec, Sample, TaskTokenizer } from "./types.ts";

const T = RULER_TEMPLATES.variable_tracking;

export const VT_PARAMS: readonly ParamSpec[] = [
  ...COMMON_PARAMS,
  {
    name: "haystack",
    type: "enum",
    values: ["noise", "essay"],
    default: VT_CONFIG.typeHaystack,
    description: "noise sentences (RULER's vt) or essay text",
  },
  {
    name: "chains",
    type: "int",
    default: VT_CONFIG.numChains,
    min: 1,
    max: 20,
    description: "variable chains (the answer is the first)",
  },
  {
    name: "hops",
    type: "int",
    default: VT_CONFIG.numHops,
    min: 1,
    max: 50,
    description: "assignments after the first in each chain",
  },
  {
    name: "essays",
    type: "path",
    description:
      "folder of .txt essays for haystack=essay (default ../shared/data/PaulGrahamEssays)",
  },
];

/** generate_chains: names (unique), then one value line and `hops` copy lines per chain. */
export function generateChains(
  rng: Rng,
  chains: number,
  hops: number,
  icl: boolean,
): { vars: string[][]; lines: string[][] } {
  const k = icl ? 3 : 5;
  const h = icl ? Math.min(10, hops) : hops;
  const names = new Set<string>();
  while (names.size < (h + 1) * chains) names.add(rng.upper(k));
  const all = [...names];
  const vars: string[][] = [];
  const lines: string[][] = [];
  for (let c = 0; c < chains; c++) {
    const v = all.slice(c * (h + 1), (c + 1) * (h + 1));
    vars.push(v);
    const chain = [`VAR ${v[0]} = ${icl ? 12345 : rng.int(10000, 99998)}`];
    for (let j = 0; j < h; j++) chain.push(`VAR ${v[j + 1]} = VAR ${v[j]} `);
    lines.push(chain);
  }
  return { vars, lines };
}

/** shuffle_sublists_heap: merge the chains in random order, each chain's lines in order. */
function shuffleSublists(rng: Rng, lists: readonly string[][]): string[] {
  const heap: [number, number, number][] = lists.map((_, i) => [rng.float(), i, 0]);
  const out: string[] = [];
  while (heap.length > 0) {
    heap.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const [, li, ei] = heap.shift()!;
    out.push(lists[li][ei]);
    if (ei + 1 < lists[li].length) heap.push([rng.float(), li, ei + 1]);
  }
  return out;
}

interface VtLayout {
  readonly task: string;
  readonly answerPrefix: string;
  readonly answers: string[];
  readonly context: [number, number];
}

/** generate_input_output: the task text (template formatted) and the answer prefix. */
function vtLayout(
  s: Streams,
  n: number,
  haystack: "noise" | "essay",
  words: readonly string[] | undefined,
  chains: number,
  hops: number,
  icl: boolean,
): VtLayout {
  const { vars, lines } = generateChains(s("chains"), chains, hops, icl);
  const value = lines[0][0].split("=").at(-1)!.trim();
  let context: string;
  if (haystack === "essay") {
    const sents = splitSentences(takeWords(words!, n).join(" "));
    const flat = shuffleSublists(s("interleave"), lines);
    const depths = s("depths").sample(RULER_DEPTHS, flat.length).map((d) => d / 100);
    context = insertIntoSentences(sents, flat.map((l) => l.trim() + "."), depths).text;
  } else {
    const sentences: string[] = Array(n).fill(NOISE);
    const pos = s("positions");
    for (const chain of lines) {
      const positions = pos.sampleIndices(sentences.length, chain.length).sort((a, b) => a - b);
      positions.forEach((p, j) => sentences.splice(p + j, 0, chain[j]));
    }
    context = joinWithSpans(sentences, [], "\n").text;
  }
  context = context.replaceAll(". \n", ".\n");
  const numV = (icl ? Math.min(10, hops) : hops) + 1;
  const [pre, post] = splitAtContext(T.template);
  const head = formatTemplate(pre, { query: value, num_v: numV });
  return {
    task: head + context + formatTemplate(post, { query: value, num_v: numV }),
    answerPrefix: formatTemplate(T.answerPrefix, { query: value, num_v: numV }),
    answers: vars[0],
    context: [head.length, head.length + context.length],
  };
}

/** randomize_icl: new names for the example's answers (every occurrence), a new value for 12345. */
function randomizeIcl(example: string, hops: number, rng: Rng): string {
  const targets = example.trim().split(/\s+/).slice(-(hops + 1));
  let out = example;
  for (const item of targets) out = out.replaceAll(item, rng.upper(item.length));
  return out.replaceAll("12345", String(rng.int(10000, 99998)));
}

/** RULER main(): the example is made with max_seq_length=500. */
const ICL_TOKENS = 500;

/** The one-shot example: fitted to 500 tokens, followed by its answers (RULER's main()). */
function iclExample(
  seed: number,
  tokenizer: TaskTokenizer,
  haystack: "noise" | "essay",
  words: readonly string[] | undefined,
  chains: number,
  hops: number,
): string {
  const streams: Streams = (label) => Rng.of(seed, "vt", "icl", label);
  const min = haystack === "essay" ? 1 : Math.min(10, hops) + 1;
  const build = (n: number) => vtLayout(streams, n, haystack, words, chains, hops, true);
  const count = (l: VtLayout) => tokenizer.encode(l.task + l.answerPrefix).length;
  // RULER's 500 tokens suit its tokenizers; a tokenizer with a small vocabulary may need more
  // than 500 for the least haystack, and then the example keeps the least haystack.
  const budget = Math.max(ICL_TOKENS, count(build(min)));
  const fit = fitToBudget({
    task: "vt",
    unit: haystack === "essay" ? "essay words" : "noise sentences",
    build,
    count,
    budget,
    min,
  });
  const l = fit.value;
  return `${l.task}${l.answerPrefix} ${l.answers.join(" ")}\n`;
}

export function generateVt(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "vt";
  const p = resolveParams(task, VT_PARAMS, given);
  const haystack = p.haystack as "noise" | "essay";
  const chains = p.chains as number;
  const hops = p.hops as number;
  const words = haystack === "essay"
    ? essayWords(essayDir(task, p.essays as string | undefined))
    : undefined;
  const example = iclExample(seed, tokenizer, haystack, words, chains, hops);
  return generateCell({
    task,
    unit: haystack === "essay" ? "essay words" : "noise sentences",
    // random.sample(range(len(sentences)), len(chain)) needs at least a chain's worth of lines
    min: haystack === "essay" ? 1 : hops + 1,
    maxNewTokens: T.tokensToGenerate,
    build: (s, n): Built => {
      const l = vtLayout(s, n, haystack, words, chains, hops, false);
      // RULER takes the last num_hops + 1 words of the example as its answer names
      const icl = randomizeIcl(example, hops, s("icl"));
      const shift = icl.length + 1;
      return {
        prompt: `${icl}\n${l.task}`,
        answerPrefix: l.answerPrefix,
        answers: l.answers,
        context: [l.context[0] + shift, l.context[1] + shift],
        meta: { example: true },
      };
    },
  }, {
    seed,
    length,
    tokenizer,
    samples: p.samples as number,
    budgetIncludesGeneration: p.budgetIncludesGeneration as boolean,
  });
}
