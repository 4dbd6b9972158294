// Tasks by registry name. The CLI, server and site refer to tasks by these names only; each entry
// says what the task is, where its definition comes from, its parameters (types, defaults,
// ranges), whether it is generated or loaded, what model it needs, and how it scores.
//
// Scores: every task scores one prediction (the text generated after `answerPrefix`) as a number
// in [0, 1]. RULER and LongBench report a task as 100 x the mean over samples, rounded to 2
// decimals (`rulerPercent` in match.ts; LongBench's eval.py does the same); kvlab records the
// per-sample fraction and leaves the aggregation to the summary.
//
// Adding a task: a file in this folder with its generator and scorer, an entry here, a test in
// tests/tasks_*_test.ts.

import { FIDELITY_PARAMS, generateFidelity } from "./fidelity.ts";
import { generateKvRetrieval, KV_PARAMS, kvExact } from "./kv_retrieval.ts";
import { generateLongBench, LONGBENCH_PARAMS, scoreLongBench } from "./longbench.ts";
import { rulerPostprocess, stringMatchAll, stringMatchPart } from "./match.ts";
import { generateNiahGrid, NIAH_GRID_PARAMS } from "./niah.ts";
import { checkLength, checkSeed } from "./params.ts";
import { generatePasskey, PASSKEY_PARAMS, scorePasskey } from "./passkey.ts";
import { CWE_PARAMS, generateCwe } from "./ruler_cwe.ts";
import { FWE_PARAMS, generateFwe } from "./ruler_fwe.ts";
import { importRulerJsonl, RULER_JSONL_PARAMS } from "./ruler_jsonl.ts";
import { NIAH_CONFIGS, type NiahTaskName } from "./ruler_constants.ts";
import { generateRulerNiah, NIAH_PARAMS } from "./ruler_niah.ts";
import { generateVt, VT_PARAMS } from "./ruler_vt.ts";
import type { ModelNeed, ParamSpec, Sample, TaskDef, TaskFamily, TaskTokenizer } from "./types.ts";

type Generate = (
  seed: number,
  length: number,
  tok: TaskTokenizer,
  params?: Readonly<Record<string, unknown>>,
) => Sample[];
type ScoreAll = (prediction: string, sample: Sample) => Record<string, number>;

interface Entry {
  readonly name: string;
  readonly family: TaskFamily;
  readonly description: string;
  readonly source: string;
  readonly synthetic: boolean;
  readonly model: ModelNeed;
  readonly scoring: "text" | "logits";
  readonly metrics: readonly string[];
  readonly params: readonly ParamSpec[];
  readonly generate: Generate;
  readonly scoreAll: ScoreAll;
}

function define(e: Entry): TaskDef {
  return Object.freeze({
    name: e.name,
    family: e.family,
    description: e.description,
    source: e.source,
    synthetic: e.synthetic,
    model: e.model,
    scoring: e.scoring,
    metrics: e.metrics,
    params: e.params,
    generate: (
      seed: number,
      length: number,
      tok: TaskTokenizer,
      params?: Readonly<Record<string, unknown>>,
    ) => {
      // validate before any work; errors surface as rejected promises
      try {
        checkSeed(e.name, seed);
        checkLength(e.name, length);
        return Promise.resolve(e.generate(seed, length, tok, params ?? {}));
      } catch (err) {
        return Promise.reject(err);
      }
    },
    score: (prediction: string, sample: Sample) => e.scoreAll(prediction, sample)[e.metrics[0]],
    scoreAll: e.scoreAll,
  });
}

/** RULER's per-sample string_match_all on the post-processed prediction. */
const rulerAll: ScoreAll = (pred, s) => ({
  string_match_all: stringMatchAll(rulerPostprocess(pred), s.answers),
});

const RULER_SOURCE = "NVIDIA/RULER scripts/data/synthetic/";

const NIAH_DESCRIPTIONS: Record<NiahTaskName, string> = {
  niah_single_1: "one needle (word key, 7-digit value) in noise sentences (~passkey)",
  niah_single_2: "one needle (word key, 7-digit value) in essays (~vanilla NIAH)",
  niah_single_3: "one needle (word key, UUID value) in essays",
  niah_multikey_1: "four needles in essays, one asked for",
  niah_multikey_2: "one needle among distractor needles (word keys, number values)",
  niah_multikey_3: "one needle among distractor needles (UUID keys and values)",
  niah_multivalue: "one key with four values in essays, all asked for",
  niah_multiquery: "four keys in essays, all asked for",
};

const rulerNiah = (Object.keys(NIAH_CONFIGS) as NiahTaskName[]).map((name) =>
  define({
    name,
    family: "ruler",
    description: `RULER ${NIAH_DESCRIPTIONS[name]}`,
    source: `${RULER_SOURCE}niah.py, scripts/synthetic.yaml (${name})`,
    synthetic: true,
    model: "llm",
    scoring: "text",
    metrics: ["string_match_all"],
    params: NIAH_PARAMS,
    generate: (seed, length, tok, params) => generateRulerNiah(name, seed, length, tok, params),
    scoreAll: rulerAll,
  })
);

export const TASKS: readonly TaskDef[] = [
  ...rulerNiah,
  define({
    name: "vt",
    family: "ruler",
    description: "RULER variable tracking: every variable a value passes to along a chain",
    source: `${RULER_SOURCE}variable_tracking.py, scripts/synthetic.yaml (vt)`,
    synthetic: true,
    model: "llm",
    scoring: "text",
    metrics: ["string_match_all"],
    params: VT_PARAMS,
    generate: generateVt,
    scoreAll: rulerAll,
  }),
  define({
    name: "cwe",
    family: "ruler",
    description: "RULER common words extraction: the 10 most frequent words of a numbered list",
    source: `${RULER_SOURCE}common_words_extraction.py, scripts/synthetic.yaml (cwe)`,
    synthetic: true,
    model: "llm",
    scoring: "text",
    metrics: ["string_match_all"],
    params: CWE_PARAMS,
    generate: generateCwe,
    scoreAll: rulerAll,
  }),
  define({
    name: "fwe",
    family: "ruler",
    description: "RULER frequent words extraction: the 3 most frequent coded words (Zipf counts)",
    source: `${RULER_SOURCE}freq_words_extraction.py, scripts/synthetic.yaml (fwe)`,
    synthetic: true,
    model: "llm",
    scoring: "text",
    metrics: ["string_match_all"],
    params: FWE_PARAMS,
    generate: generateFwe,
    scoreAll: rulerAll,
  }),
  define({
    name: "ruler_jsonl",
    family: "ruler",
    description:
      "prompts from a jsonl file made by RULER's own scripts ({index, input, outputs, length})",
    source:
      "NVIDIA/RULER scripts/data/prepare.py output; metric from scripts/eval/synthetic/constants.py",
    synthetic: false,
    model: "llm",
    scoring: "text",
    metrics: ["ruler"],
    params: RULER_JSONL_PARAMS,
    generate: importRulerJsonl,
    scoreAll: (pred, s) => {
      const p = rulerPostprocess(pred);
      return {
        ruler: s.meta.metric === "string_match_part"
          ? stringMatchPart(p, s.answers)
          : stringMatchAll(p, s.answers),
      };
    },
  }),
  define({
    name: "passkey",
    family: "retrieval",
    description: "a 7-digit pass key at depth x length in noise (KIVI) or essays (longctx_bench)",
    source:
      "Mohtashami & Jaggi 2023; KIVI passkey_examples.jsonl; henryzhongsc/longctx_bench eval/passkey_utils/",
    synthetic: true,
    model: "retrieval",
    scoring: "text",
    metrics: ["exact", "partial"],
    params: PASSKEY_PARAMS,
    generate: generatePasskey,
    scoreAll: scorePasskey,
  }),
  define({
    name: "kv_retrieval",
    family: "retrieval",
    description: 'lines "key <K>: value <V>", asked by "key <K>: value" at depth x length',
    source: "kvlab (issue 8); in the spirit of LongEval lines and InfiniteBench kv_retrieval",
    synthetic: true,
    model: "retrieval",
    scoring: "text",
    metrics: ["exact"],
    params: KV_PARAMS,
    generate: generateKvRetrieval,
    scoreAll: (pred, s) => ({ exact: kvExact(pred, s.answers[0]) }),
  }),
  define({
    name: "niah",
    family: "retrieval",
    description:
      "needle in a haystack over a depth x length grid (configurable needle and haystack)",
    source: `Kamradt's NIAH test; RULER ${RULER_SOURCE}niah.py text and string_match_all`,
    synthetic: true,
    model: "llm",
    scoring: "text",
    metrics: ["string_match_all"],
    params: NIAH_GRID_PARAMS,
    generate: generateNiahGrid,
    scoreAll: rulerAll,
  }),
  define({
    name: "longbench",
    family: "longbench",
    description:
      "a LongBench dataset from its jsonl: official prompt, generation length, truncation and metric",
    source:
      "THUDM/LongBench (v1) config/dataset2prompt.json, config/dataset2maxlen.json, pred.py, eval.py, metrics.py",
    synthetic: false,
    model: "llm",
    scoring: "text",
    metrics: ["longbench"],
    params: LONGBENCH_PARAMS,
    generate: generateLongBench,
    scoreAll: (pred, s) => ({ longbench: scoreLongBench(pred, s) }),
  }),
  define({
    name: "fidelity",
    family: "fidelity",
    description:
      "agreement with the full cache: top-1 agreement and mean KL over generated steps, perplexity of the text",
    source: "kvlab; scoring functions in engine/tasks/fidelity.ts",
    synthetic: true,
    model: "any",
    scoring: "logits",
    metrics: ["top1_agreement", "mean_kl", "perplexity"],
    params: FIDELITY_PARAMS,
    generate: generateFidelity,
    scoreAll: () => {
      throw new TypeError(
        "fidelity is scored from logits, not text: use top1Agreement, meanKl and perplexity from engine/tasks/fidelity.ts",
      );
    },
  }),
];

export function taskNames(): string[] {
  return TASKS.map((t) => t.name);
}

/** The task of a registry name; a RangeError naming the known tasks otherwise. */
export function getTask(name: string): TaskDef {
  const t = TASKS.find((x) => x.name === name);
  if (!t) throw new RangeError(`unknown task "${name}"; expected one of ${taskNames().join(", ")}`);
  return t;
}

/** Tasks a retrieval-only model (the built-in induction model) can be scored on. */
export function retrievalTasks(): string[] {
  return TASKS.filter((t) => t.model === "retrieval").map((t) => t.name);
}
