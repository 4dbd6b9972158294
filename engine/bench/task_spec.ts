// The task runner's RunSpec (`deno task bench --suite tasks`): which models, methods (with
// parameters), budgets, cache formats, tasks (with parameters), context lengths, batch size and
// samples; its presets; validation (once, before any GPU work; every error names the value and
// what was expected); and the expansion into cells. The run id derives from the spec's hash.
//
// Cells are the cross product model × method(+params) × budget × format × task × length ×
// batch × sample. Two rules shape it:
//   - "full" (no compression) takes no budget: one cell per format, not one per budget;
//   - a method named with its format ("snapkv+kivi4") runs in that format only; a bare method
//     runs in every listed format it combines with. A pair the user named explicitly that cannot
//     combine is an error; pairs the cross product implies are skipped and listed (`skipped`).
// Not here: running cells (task_suite.ts), records (task_records.ts).

import { formatNames, getFormat } from "../cache/registry.ts";
import { type Budget, checkBudget } from "../methods/budget.ts";
import { planEviction } from "../methods/evict.ts";
import { type Params as MethodParams, resolveParams } from "../methods/method.ts";
import { getMethod, parseComposition } from "../methods/registry.ts";
import type { PositionOverride } from "../model/config.ts";
import { sourceInfo } from "../model/source.ts";
import { checkInt } from "../shapes.ts";
import { getTask } from "../tasks/registry.ts";
import type { ModelNeed } from "../tasks/types.ts";

export const FULL = "full";
export const PREFILL_MODES = ["dense", "streaming"] as const;
export type PrefillMode = (typeof PREFILL_MODES)[number];
export const CHAT_MODES = ["auto", "on", "off"] as const;
export type ChatMode = (typeof CHAT_MODES)[number];

/** A method with its parameters: "full", "<method>" or "<method>+<format>". */
export interface MethodEntry {
  readonly name: string;
  /** Parameter overrides (defaults from the method's registry entry). */
  readonly params?: Readonly<Record<string, number>>;
}

/** A task with its parameter overrides (defaults from engine/tasks/registry.ts). */
export interface TaskEntry {
  readonly name: string;
  readonly params?: Readonly<Record<string, unknown>>;
  /** Only these of the spec's models run the task (default: every model that can). */
  readonly models?: readonly string[];
}

export interface TaskRunSpec {
  readonly suite: "tasks";
  readonly preset: string;
  /** Sources (engine/model/source.ts): builtin:, shape:, hf: or a folder. */
  readonly models: readonly string[];
  readonly methods: readonly MethodEntry[];
  /** Cache formats for "full" and for methods named without "+<format>". */
  readonly formats: readonly string[];
  /** Method budgets (ignored by "full"). */
  readonly budgets: readonly Budget[];
  readonly tasks: readonly TaskEntry[];
  /** Context lengths in tokens (each task's length budget). */
  readonly lengths: readonly number[];
  /** Samples per task cell (per depth for grid tasks). */
  readonly samples: number;
  /** Grid tasks' needle depths (fractions), when given. */
  readonly depths: readonly number[] | null;
  /** Sequences decoded together; every sequence of a batch gets the same sample. */
  readonly batchSize: number;
  /** With a byte budget: per method, the largest batch whose peak GPU bytes fit, and its speed. */
  readonly memoryBudget: number | null;
  /**
   * dense: the prefill attends over the whole prompt, then the method compresses. streaming:
   * chunks of `prefillChunk` tokens, each layer compacted to its budget after every chunk (methods
   * that evict; full and quest prefill dense either way, and their records say so).
   */
  readonly prefill: PrefillMode;
  /** Streaming prefill's chunk in tokens (null: the runtime's default, 512). */
  readonly prefillChunk: number | null;
  /** A cap on each sample's generation length (tasks set their own; null: the task's). */
  readonly maxNewTokens: number | null;
  /** Chat template: auto = when the model has one. */
  readonly chat: ChatMode;
  /** An essay folder for haystack tasks (haystack "essay"), or null for each task's default. */
  readonly haystack: string | null;
  /** A data folder or file for loaded tasks (longbench, ruler_jsonl), or null. */
  readonly data: string | null;
  readonly seed: number;
  /**
   * The user's opt-in to contexts past each model's max_position_embeddings (model/config.ts
   * extendPositions): absent, none. Absent from the spec (and its hash) unless given.
   */
  readonly positions?: PositionOverride;
}

// --- presets ----------------------------------------------------------------------------------

export type TaskPreset = "smoke" | "quick" | "default" | "paper" | "full";
export const TASK_PRESET_NAMES: readonly TaskPreset[] = [
  "smoke",
  "quick",
  "default",
  "paper",
  "full",
];

const EVICTION = ["streaming_llm", "snapkv", "pyramidkv", "h2o", "tova", "knorm", "random"];
const QUANT = ["fp16", "kivi4", "kivi2", "int8", "int4"];
const entries = (names: readonly string[]): MethodEntry[] => names.map((name) => ({ name }));
const ratios = (xs: readonly number[]): Budget[] => xs.map((ratio) => ({ ratio }));

/**
 * Each preset's spec before flags override it. Without a model (the embedded default), accuracy
 * cells run on builtin:induction (retrieval tasks: passkey, kv_retrieval) and efficiency cells on a
 * random-weight shape: model (the fidelity task: agreement with the full cache, memory, speed),
 * every method on both. With `model` (a --model given), the preset's tasks for a real LLM run on
 * it instead.
 */
export function taskPreset(name: TaskPreset, model?: string): TaskRunSpec {
  const base = {
    suite: "tasks" as const,
    preset: name,
    samples: 1,
    depths: null,
    batchSize: 1,
    memoryBudget: null,
    prefill: "dense" as const,
    prefillChunk: null,
    chat: "auto" as const,
    haystack: null,
    data: null,
    seed: 0,
  };
  const INDUCTION = "builtin:induction";
  /** The embedded default's models and tasks: retrieval on the induction model, fidelity on a shape. */
  const embedded = (depths: number[], shape: string, steps: number) => ({
    models: [INDUCTION, shape],
    tasks: [
      { name: "passkey", params: { depths }, models: [INDUCTION] },
      { name: "kv_retrieval", params: { depths }, models: [INDUCTION] },
      { name: "fidelity", params: { steps }, models: [shape] },
    ],
  });
  switch (name) {
    case "smoke":
      return {
        ...base,
        ...(model ? { models: [model], tasks: [{ name: "passkey", params: { depths: [0.5] } }] } : {
          models: [INDUCTION, "shape:tiny"],
          tasks: [
            { name: "passkey", params: { depths: [0.5] }, models: [INDUCTION] },
            { name: "fidelity", params: { steps: 8 }, models: ["shape:tiny"] },
          ],
        }),
        methods: entries([FULL, "streaming_llm", "snapkv", "h2o"]),
        formats: ["fp16", "kivi2"],
        budgets: ratios([4]),
        lengths: [256],
        maxNewTokens: 8,
      };
    case "quick":
      return {
        ...base,
        ...(model
          ? { models: [model], tasks: [{ name: "passkey", params: { depths: [0.1, 0.5, 0.9] } }] }
          : embedded([0.1, 0.5, 0.9], "shape:tiny", 8)),
        methods: entries([FULL, ...EVICTION]),
        formats: ["fp16", "kivi4", "kivi2", "int4"],
        budgets: ratios([2, 4, 8]),
        lengths: [512, 1024],
        maxNewTokens: 10,
      };
    case "default":
      return {
        ...base,
        ...(model
          ? {
            models: [model],
            tasks: [{ name: "passkey" }, { name: "niah_single_1" }, { name: "niah_multikey_1" }],
          }
          : embedded([0, 0.25, 0.5, 0.75, 1], "shape:llama-3.2-1b", 32)),
        methods: entries([FULL, ...EVICTION]),
        formats: QUANT,
        budgets: ratios([2, 4, 8]),
        lengths: [1024, 4096, 16384, 32768],
        maxNewTokens: model ? null : 12,
      };
    case "paper":
      // longctx_bench (Yuan et al., 2024): KIVI-2/4, int4, StreamingLLM, H2O, SnapKV, PyramidKV
      // and Quest at 2/4/6/8x on LongBench, passkey and RULER, dense prefill; needs a real model
      // (without one, the same methods on the embedded models).
      return {
        ...base,
        ...(model
          ? {
            models: [model],
            tasks: [
              { name: "longbench" },
              { name: "passkey" },
              ...["niah_single_1", "niah_single_2", "niah_multikey_1", "vt", "cwe", "fwe"].map((
                name,
              ) => ({ name })),
            ],
          }
          : embedded([0, 0.25, 0.5, 0.75, 1], "shape:llama-3-8b", 32)),
        methods: entries([FULL, "streaming_llm", "h2o", "snapkv", "pyramidkv", "quest"]),
        formats: ["fp16", "kivi2", "kivi4", "int4"],
        budgets: ratios([2, 4, 6, 8]),
        lengths: [4096, 8192, 16384],
        maxNewTokens: model ? null : 12,
      };
    case "full":
      return {
        ...base,
        ...(model
          ? { models: [model], tasks: [{ name: "passkey" }, { name: "kv_retrieval" }] }
          : embedded(
            [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
            "shape:llama-3-8b",
            32,
          )),
        methods: entries([FULL, ...EVICTION]),
        formats: formatNames(),
        budgets: ratios([2, 4, 6, 8]),
        lengths: [1024, 2048, 4096, 8192, 16384, 32768],
        maxNewTokens: model ? null : 12,
      };
  }
}

// --- validation -------------------------------------------------------------------------------

/** What a model source can be asked: which task needs it meets. */
export function modelNeeds(source: string): { needs: readonly ModelNeed[]; why: string } {
  const info = sourceInfo(source);
  if (info.kind === "shape") {
    return {
      needs: ["any"],
      why: `${source} has random weights: only tasks that need no real model (fidelity) mean ` +
        `anything on it`,
    };
  }
  if (info.kind === "builtin") {
    return {
      needs: ["retrieval", "any"],
      why: `${source} is a synthetic mechanism model, not an LLM; it supports ${
        info.builtin!.supportedTasks.join(", ")
      }`,
    };
  }
  return { needs: ["llm", "retrieval", "any"], why: "" };
}

/** Throws unless `task` can be scored on `source`, naming what the model supports. */
export function checkModelTask(source: string, task: string): void {
  const t = getTask(task);
  const info = sourceInfo(source);
  if (t.model === "any") return; // fidelity to the full cache means something on any model
  if (info.kind === "builtin") {
    const supported = info.builtin!.supportedTasks;
    if (!supported.includes(task)) {
      throw new RangeError(
        `task "${task}" on ${source}: ${source} is a synthetic mechanism model, not an LLM, and ` +
          `cannot solve it; it supports: ${supported.join(", ")}`,
      );
    }
    return;
  }
  const { needs, why } = modelNeeds(source);
  if (!needs.includes(t.model)) {
    throw new RangeError(`task "${task}" on ${source}: ${why}; use --tasks fidelity`);
  }
}

function checkMethodEntry(m: MethodEntry): void {
  if (m.name === FULL) {
    if (m.params && Object.keys(m.params).length > 0) {
      throw new RangeError(`method "full": takes no parameters, got ${JSON.stringify(m.params)}`);
    }
    return;
  }
  const c = parseComposition(m.name);
  resolveParams(c.method, m.params ?? {});
}

/** Why `method` cannot run in `format`, or undefined when it can. */
export function incompatibility(method: string, format: string): string | undefined {
  if (method === FULL) return undefined;
  const c = parseComposition(method);
  try {
    parseComposition(`${c.method.name}+${format}`);
    if (c.method.mode === "decode") {
      planEviction({ method: `${c.method.name}+${format}`, budget: { ratio: 2 } });
    }
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

export function validateTaskSpec(s: TaskRunSpec): void {
  if (!TASK_PRESET_NAMES.includes(s.preset as TaskPreset)) {
    throw new RangeError(
      `preset: got "${s.preset}", expected one of ${TASK_PRESET_NAMES.join(", ")}`,
    );
  }
  if (s.models.length === 0) throw new RangeError("models: expected at least one model");
  for (const m of s.models) sourceInfo(m);
  if (s.methods.length === 0) {
    throw new RangeError(`methods: expected at least one (full or a method name)`);
  }
  for (const m of s.methods) checkMethodEntry(m);
  if (s.formats.length === 0) {
    throw new RangeError(`formats: expected at least one of ${formatNames().join(", ")}`);
  }
  for (const f of s.formats) getFormat(f);
  for (const m of s.methods) {
    if (m.name.includes("+")) {
      const why = incompatibility(m.name, parseComposition(m.name).format);
      if (why) throw new RangeError(why);
    }
  }
  if (s.methods.some((m) => m.name !== FULL) && s.budgets.length === 0) {
    throw new RangeError("budgets: methods need at least one --ratios or --budgets value");
  }
  for (const b of s.budgets) checkBudget(b);
  if (s.tasks.length === 0) throw new RangeError("tasks: expected at least one task");
  for (const t of s.tasks) getTask(t.name);
  modelTaskPairs(s);
  if (s.lengths.length === 0) throw new RangeError("lengths: expected at least one length");
  for (const n of s.lengths) checkInt("context length", n, 16);
  for (const b of s.budgets) {
    if ("budgetTokens" in b) {
      const short = Math.min(...s.lengths);
      if (b.budgetTokens > short) {
        throw new RangeError(
          `budget ${b.budgetTokens} tokens: larger than the shortest context length ${short}; ` +
            `expected a budget in [1, ${short}]`,
        );
      }
    }
  }
  checkInt("samples", s.samples, 1, 100000);
  if (s.depths !== null) {
    if (s.depths.length === 0) throw new RangeError("depths: expected at least one depth");
    for (const d of s.depths) {
      if (!(d >= 0 && d <= 1)) throw new RangeError(`depth ${d}: expected a fraction in [0, 1]`);
    }
  }
  checkInt("batch size", s.batchSize, 1, 65535);
  if (s.memoryBudget !== null) checkInt("memory budget (bytes)", s.memoryBudget, 1 << 20);
  if (!PREFILL_MODES.includes(s.prefill)) {
    throw new RangeError(
      `prefill: got "${s.prefill}", expected one of ${PREFILL_MODES.join(", ")}`,
    );
  }
  if (s.prefillChunk !== null) checkInt("prefill chunk (tokens)", s.prefillChunk, 1, 1 << 20);
  if (s.prefillChunk !== null && s.prefill !== "streaming") {
    throw new RangeError(
      `prefill chunk ${s.prefillChunk}: applies to --prefill streaming (dense prefill reads the ` +
        `whole prompt at once)`,
    );
  }
  if (s.maxNewTokens !== null) checkInt("max new tokens", s.maxNewTokens, 1, 1 << 16);
  if (!CHAT_MODES.includes(s.chat)) {
    throw new RangeError(`chat: got "${s.chat}", expected one of ${CHAT_MODES.join(", ")}`);
  }
  checkInt("seed", s.seed, 0);
  if (s.positions !== undefined) {
    const { maxPositions, ropeFactor } = s.positions;
    if (maxPositions === undefined && ropeFactor === undefined) {
      throw new RangeError("positions: give maxPositions, ropeFactor or both (or leave it out)");
    }
    if (maxPositions !== undefined) {
      checkInt("positions: maxPositions", maxPositions, 1, 2 ** 32 - 1);
    }
    if (ropeFactor !== undefined && !(Number.isFinite(ropeFactor) && ropeFactor > 1)) {
      throw new RangeError(`positions: ropeFactor: got ${ropeFactor}, expected a number > 1`);
    }
  }
}

/**
 * The (model, task) pairs a spec runs, and the pairs it skips because the model cannot be scored
 * on the task (a random-weight shape: model on an accuracy task, a builtin on a task it does not
 * solve). Throws when a model would run no task, or a task no model, naming what is supported.
 */
export function modelTaskPairs(
  s: Pick<TaskRunSpec, "models" | "tasks">,
): { pairs: [string, string][]; skipped: string[] } {
  const pairs: [string, string][] = [];
  const skipped: string[] = [];
  const why = new Map<string, string>();
  for (const t of s.tasks) {
    for (const m of t.models ?? []) {
      if (!s.models.includes(m)) {
        throw new RangeError(
          `task "${t.name}": its models list names ${m}, which is not among the run's models ` +
            `(${s.models.join(", ")})`,
        );
      }
    }
  }
  for (const m of s.models) {
    for (const t of s.tasks) {
      if (t.models && !t.models.includes(m)) continue;
      try {
        checkModelTask(m, t.name);
        pairs.push([m, t.name]);
      } catch (e) {
        why.set(`${m}|${t.name}`, (e as Error).message);
        skipped.push((e as Error).message);
      }
    }
  }
  const reason = (m: string, t: string) =>
    why.get(`${m}|${t}`) ?? `${m} runs no task of ${s.tasks.map((x) => x.name).join(", ")}`;
  for (const m of s.models) {
    if (!pairs.some(([pm]) => pm === m)) throw new RangeError(reason(m, s.tasks[0].name));
  }
  for (const t of s.tasks) {
    if (!pairs.some(([, pt]) => pt === t.name)) {
      throw new RangeError(reason(t.models?.[0] ?? s.models[0], t.name));
    }
  }
  return { pairs, skipped };
}

// --- cells ------------------------------------------------------------------------------------

/** One (model-independent) method configuration: what a cell runs, sample by sample. */
export interface Variant {
  /** "full" or the bare method name. */
  readonly method: string;
  readonly params: MethodParams;
  readonly format: string;
  /** Absent for full. */
  readonly budget?: Budget;
}

export function variantKey(v: Variant): string {
  const b = v.budget === undefined
    ? "-"
    : "ratio" in v.budget
    ? `r${v.budget.ratio}`
    : `t${v.budget.budgetTokens}`;
  const p = Object.entries(v.params).sort(([a], [b]) => a < b ? -1 : 1).map(([k, x]) => `${k}=${x}`)
    .join(",");
  return `${v.method}(${p})+${v.format}@${b}`;
}

/** The method × format × budget variants a spec runs, and the pairs it skips (with why). */
export function variants(s: TaskRunSpec): { variants: Variant[]; skipped: string[] } {
  const out: Variant[] = [];
  const skipped: string[] = [];
  for (const m of s.methods) {
    if (m.name === FULL) {
      for (const format of s.formats) out.push({ method: FULL, params: {}, format });
      continue;
    }
    const c = parseComposition(m.name);
    const params = resolveParams(getMethod(c.method.name), m.params ?? {});
    const formats = m.name.includes("+") ? [c.format] : s.formats;
    for (const format of formats) {
      const why = incompatibility(c.method.name, format);
      if (why) {
        skipped.push(`${c.method.name}+${format}: ${why}`);
        continue;
      }
      for (const budget of s.budgets) out.push({ method: c.method.name, params, format, budget });
    }
  }
  const seen = new Set<string>();
  return {
    variants: out.filter((v) => {
      const k = variantKey(v);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    }),
    skipped,
  };
}
