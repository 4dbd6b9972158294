// The HTTP API's schemas (zod), one place for validation and for /openapi.json. The RunSpec's
// names come from the engine's registries — formats from FORMATS, method compositions from
// METHODS via parseComposition, model presets from engine/model/presets.ts, built-in models from
// engine/model/builtin/, tasks from engine/tasks/registry.ts, suite presets from PRESETS /
// MODEL_PRESETS / taskPreset — so a format, method, task or model added there is accepted here
// and documented in /openapi.json with no change to this file. After zod, the engine's own
// validators (validateKernelSpec, validateModelSpec, validateTaskSpec) run on the resolved spec
// and stay the authority on cross-field rules (server/suites.ts).
//
// Ranges written here mirror the engine validators' (engine/bench/kernel_spec.ts,
// model_suite.ts, task_spec.ts) so clients get field paths and the document states them; the
// engine checks them again.

import { z } from "zod";
import { formatNames } from "../engine/cache/registry.ts";
import { PRESETS as KERNEL_PRESETS } from "../engine/bench/kernel_spec.ts";
import { MODEL_PRESETS } from "../engine/bench/model_suite.ts";
import { CHAT_MODES, FULL, PREFILL_MODES, TASK_PRESET_NAMES } from "../engine/bench/task_spec.ts";
import type { ParamSpec } from "../engine/methods/method.ts";
import { METHODS, parseComposition } from "../engine/methods/registry.ts";
import { BUILTIN_MODELS } from "../engine/model/builtin/mod.ts";
import { presetNames } from "../engine/model/presets.ts";
import { TASKS } from "../engine/tasks/registry.ts";
import type { ParamSpec as TaskParamSpec } from "../engine/tasks/types.ts";

/** Component schemas of /openapi.json, by id. */
export const registry = z.registry<{ id: string; description?: string }>();

function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  registry.add(schema, { id, description });
  return schema;
}

// --- registry-derived names ----------------------------------------------------------------------

/** Every "<method>" and "<method>+<format>" that parseComposition accepts. */
export function compositionNames(): string[] {
  const out: string[] = [];
  for (const m of METHODS) {
    for (const name of [m.name, ...formatNames().map((f) => `${m.name}+${f}`)]) {
      try {
        parseComposition(name);
        out.push(name);
      } catch {
        // not a valid pairing (the method cannot be stored in that format)
      }
    }
  }
  return out;
}

const enumOf = (values: string[]) => z.enum(values as [string, ...string[]]);

/**
 * A method's parameters as a strict zod object, from its ParamSpecs (types, ranges, defaults).
 * `overrides`: every parameter optional and no default filled in (a RunSpec's params are the
 * overrides the user gave, as the CLI's --params, so the spec hashes as the CLI's does).
 */
export function methodParamsSchema(params: readonly ParamSpec[], overrides = false) {
  const shape: Record<string, z.ZodType> = {};
  for (const p of params) {
    const base = (p.type === "int" ? z.int() : z.number()).min(p.min).max(p.max);
    shape[p.name] = overrides
      ? base.optional().describe(`${p.description} (default ${p.default})`)
      : base.default(p.default).describe(p.description);
  }
  return z.object(shape).strict();
}

/** hf:org/name[@revision], as engine/model/hub.ts parses it. */
export const HF_ID =
  /^hf:[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/** Run ids: "<suite>-<first 12 hex digits of the spec hash>"; nothing else names a folder. */
export const RUN_ID = /^[a-z][a-z0-9]{0,15}-[0-9a-f]{12}$/;

const distinct = <T>(a: readonly T[]) => new Set(a.map((x) => JSON.stringify(x))).size === a.length;
const list = <T extends z.ZodType>(item: T, what: string, max = 64) =>
  z.array(item).min(1).max(max).refine(distinct, `${what}: entries must be distinct`);

const length = z.int().min(1).max(1 << 22);

export const Budget = named(
  "Budget",
  z.union([
    z.object({ ratio: z.number().min(1).describe("keep ceil(T / ratio) of the T prompt tokens") })
      .strict(),
    z.object({ budgetTokens: z.int().min(1).describe("tokens kept per KV head, ≤ T") }).strict(),
  ]),
  "A method budget: a ratio (keep 1/x) or a token count.",
);

// --- RunSpec ---------------------------------------------------------------------------------------

export const KernelRunSpec = named(
  "KernelRunSpec",
  z.object({
    suite: z.literal("kernels"),
    preset: enumOf(Object.keys(KERNEL_PRESETS)).optional().describe(
      "smoke | default | full; omitted: default on a GPU, smoke on a software adapter",
    ),
    formats: list(enumOf(formatNames()), "formats").optional().describe(
      "cache formats (default: every registered format)",
    ),
    lengths: list(length, "lengths").optional().describe(
      "context lengths N (default: the preset's)",
    ),
    batchSize: z.int().min(1).max(1024).optional().describe("B (default 1)"),
    heads: z.int().min(1).max(1024).optional().describe("H query heads (default 32)"),
    kvHeads: z.int().min(1).max(1024).optional().describe("Hkv KV heads, divides H (default 8)"),
    headDim: z.int().min(32).max(256).multipleOf(32).optional().describe("D (default 128)"),
    reps: z.int().min(1).max(10000).optional().describe("timed runs (default: the preset's)"),
    warmup: z.int().min(0).max(10000).optional().describe("discarded warm-up runs"),
    copyMiB: z.int().min(1).max(4096).optional().describe("copy-kernel size for the roofline"),
    needleDepths: z.array(z.number().min(0).max(1)).max(101).refine(
      distinct,
      "needleDepths: entries must be distinct",
    )
      .optional().describe("needle depths as fractions 0–1; [] for none (default: the preset's)"),
    methods: z.array(enumOf(compositionNames())).max(64).refine(
      distinct,
      "methods: entries must be distinct",
    )
      .optional().describe(
        'eviction methods for the needle cells, "<method>[+<format>]"; [] for none (default: every method as fp16)',
      ),
    budgets: z.array(Budget).max(16).refine(distinct, "budgets: entries must be distinct")
      .optional()
      .describe("budgets of the method cells (default: the preset's ratios)"),
    seed: z.int().min(0).max(0xffffffff).optional().describe("input seed (default 0)"),
  }).strict().refine(
    (s) => (s.heads ?? 32) % (s.kvHeads ?? 8) === 0,
    { message: "heads must be a multiple of kvHeads", path: ["kvHeads"] },
  ),
  "The kernel suite: decode attention per format × length, and needle retrieval per method.",
);

export const ModelSource = named(
  "ModelSource",
  z.union([
    enumOf(presetNames().map((n) => `shape:${n}`)).describe(
      "a real architecture's shapes with random weights (speed and memory only)",
    ),
    z.string().regex(HF_ID).describe(
      "hf:org/name[@revision], already in the local Hugging Face cache (the server never downloads)",
    ),
  ]),
);

export const ModelRunSpec = named(
  "ModelRunSpec",
  z.object({
    suite: z.literal("model"),
    preset: enumOf(Object.keys(MODEL_PRESETS)).optional().describe(
      "smoke | default; omitted: default on a GPU, smoke on a software adapter",
    ),
    models: list(ModelSource, "models", 16).optional().describe("models (default: the preset's)"),
    formats: list(enumOf(formatNames()), "formats").optional().describe(
      "cache formats (default: the preset's)",
    ),
    lengths: list(length, "lengths").optional().describe("prompt lengths (default: the preset's)"),
    batchSize: z.int().min(1).max(1024).optional().describe("B (default 1)"),
    newTokens: z.int().min(2).max(1 << 16).optional().describe("greedy decode steps"),
    copyMiB: z.int().min(1).max(4096).optional().describe("copy-kernel size for the roofline"),
    seed: z.int().min(0).max(0xffffffff).optional().describe("seed (default 0)"),
  }).strict(),
  "The model suite: prefill and decode speed and memory per model × format × prompt length.",
);

// --- the task runner's RunSpec ---------------------------------------------------------------

/** local:<name>: a model folder below the server's --models-dir (no "..", no absolute paths). */
export const LOCAL_MODEL = /^local:[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** A path below the server's --task-data dir: relative, no "." or ".." segments. */
export const DATA_PATH = /^[A-Za-z0-9_][A-Za-z0-9._ -]*(\/[A-Za-z0-9_][A-Za-z0-9._ -]*)*$/;

const builtinNames = Object.keys(BUILTIN_MODELS).map((n) => `builtin:${n}`);

export const TaskModelSource = named(
  "TaskModelSource",
  z.union([
    ...(builtinNames.length
      ? [
        enumOf(builtinNames).describe(
          "a model built into kvlab (synthetic mechanism model, not an LLM: retrieval tasks only)",
        ),
      ]
      : []),
    enumOf(presetNames().map((n) => `shape:${n}`)).describe(
      "a real architecture's shapes with random weights (speed and memory; task: fidelity)",
    ),
    z.string().regex(HF_ID).describe(
      "hf:org/name[@revision], already in the local Hugging Face cache (the server never downloads)",
    ),
    z.string().regex(LOCAL_MODEL).describe(
      "local:<name>: a Hugging Face folder below the server's --models-dir",
    ),
  ]),
  "A model for the task runner.",
);

/** Every method name a tasks RunSpec accepts: full, <method>, <method>+<format>. */
export function taskMethodNames(): string[] {
  return [FULL, ...compositionNames()];
}

const compositionsOf = (method: string) =>
  compositionNames().filter((c) => c === method || c.startsWith(`${method}+`));

export const TaskMethod = named(
  "TaskMethod",
  z.union([
    enumOf(taskMethodNames()).describe('"full", "<method>" or "<method>+<format>"'),
    z.discriminatedUnion("name", [
      z.object({ name: z.literal(FULL) }).strict(),
      ...METHODS.map((m) =>
        z.object({
          name: enumOf(compositionsOf(m.name)),
          params: methodParamsSchema(m.params, true).optional().describe(
            `${m.name}'s parameter overrides (MethodParams.${m.name})`,
          ),
        }).strict()
      ),
    ]),
  ]),
  "A method by name, or {name, params} with parameter overrides (checked against its ranges).",
);

export const TaskEntrySchema = named(
  "TaskEntry",
  z.union([
    enumOf(TASKS.map((t) => t.name)).describe("a task from GET /v1/tasks"),
    z.discriminatedUnion(
      "name",
      TASKS.map((t) =>
        z.object({
          name: z.literal(t.name),
          params: taskParamsSchema(t.params, true).optional().describe(
            `${t.name}'s parameter overrides; paths are relative to the server's --task-data dir`,
          ),
          models: z.array(z.string()).min(1).max(16).optional().describe(
            "only these of the spec's models run the task (default: every model that can)",
          ),
        }).strict()
      ) as unknown as [z.ZodObject, ...z.ZodObject[]],
    ),
  ]),
  "A task by name (the preset's parameters for it, if any), or {name, params}.",
);

const dataPath = (what: string) =>
  z.string().regex(DATA_PATH, "expected a relative path without . or .. segments").nullable()
    .optional().describe(
      `${what}, relative to the server's --task-data dir; null: the task's default`,
    );

export const TaskRunSpec = named(
  "TaskRunSpec",
  z.object({
    suite: z.literal("tasks"),
    preset: enumOf([...TASK_PRESET_NAMES]).optional().describe(
      `${TASK_PRESET_NAMES.join(" | ")}; omitted: default on a GPU, smoke on a software adapter`,
    ),
    models: list(TaskModelSource, "models", 16).optional().describe(
      "models (default: the preset's, builtin:induction)",
    ),
    methods: list(TaskMethod, "methods").optional().describe(
      'methods: "full" (no compression) and eviction methods, optionally "+<format>"',
    ),
    formats: list(enumOf(formatNames()), "formats").optional().describe(
      "cache formats for full and for methods named without +<format>",
    ),
    budgets: z.array(Budget).max(16).refine(distinct, "budgets: entries must be distinct")
      .optional().describe("method budgets (full takes none)"),
    tasks: list(TaskEntrySchema, "tasks").optional().describe("tasks (default: the preset's)"),
    lengths: list(z.int().min(16).max(1 << 22), "lengths").optional().describe(
      "context lengths in tokens (each task's token budget)",
    ),
    samples: z.int().min(1).max(100000).optional().describe(
      "samples per task cell (per depth for grid tasks; rows taken for data tasks)",
    ),
    depths: z.array(z.number().min(0).max(1)).min(1).max(101).refine(
      distinct,
      "depths: entries must be distinct",
    ).nullable().optional().describe("needle depths (fractions) for grid tasks; null: each task's"),
    batchSize: z.int().min(1).max(65535).optional().describe("sequences decoded together (B)"),
    memoryBudget: z.int().min(1 << 20).nullable().optional().describe(
      "bytes: also find each variant's largest batch within it (maxBatch records)",
    ),
    prefill: enumOf([...PREFILL_MODES]).optional().describe(
      "dense, or streaming (chunked prefill that compresses as the prompt is read)",
    ),
    prefillChunk: z.int().min(1).max(1 << 20).nullable().optional().describe(
      "streaming prefill's chunk in tokens; null: the runtime's default (512)",
    ),
    maxNewTokens: z.int().min(1).max(1 << 16).nullable().optional().describe(
      "cap on each sample's generation; null: the task's own",
    ),
    chat: enumOf([...CHAT_MODES]).optional().describe(
      "chat template: auto = when the model has one",
    ),
    haystack: dataPath("essay folder for haystack tasks"),
    data: dataPath("data file or folder for loaded tasks (longbench, ruler_jsonl)"),
    seed: z.int().min(0).max(0xffffffff).optional().describe("seed (default 0)"),
    positions: z.object({
      maxPositions: z.int().min(1).max(0xffffffff).optional().describe(
        "raises each model's max_position_embeddings (RoPE extrapolates past it)",
      ),
      ropeFactor: z.number().gt(1).optional().describe(
        "linear RoPE interpolation by this factor (plain-RoPE models)",
      ),
    }).strict().optional().describe(
      "the opt-in to contexts past each model's max_position_embeddings; absent: none",
    ),
  }).strict(),
  "The task runner: model × method(+params) × budget × format × task × length × batch × sample.",
);

export const RunSpec = named(
  "RunSpec",
  z.discriminatedUnion("suite", [KernelRunSpec, ModelRunSpec, TaskRunSpec]),
  "What to run: one suite's spec. Omitted fields take the preset's values, as the CLI does.",
);
export type RunSpecInput = z.infer<typeof RunSpec>;

// --- runs ------------------------------------------------------------------------------------------

export const RUN_STATUSES = [
  "queued",
  "running",
  "done",
  "failed",
  "cancelled",
  "interrupted",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const RunStatusSchema = named("RunStatus", z.enum(RUN_STATUSES));

export const Progress = named(
  "Progress",
  z.object({
    done: z.int().min(0),
    total: z.int().min(0).nullable().describe(
      "null: not known before the run starts (tasks whose sample count comes from data files " +
        "the server could not read, or a model whose head dim it cannot see); the runner's own " +
        "count replaces it once the run starts",
    ),
  }),
  "Cells recorded in records.jsonl and cells in the spec.",
);

export const Run = named(
  "Run",
  z.object({
    id: z.string().regex(RUN_ID),
    suite: z.string(),
    status: RunStatusSchema,
    progress: Progress,
    spec: z.record(z.string(), z.unknown()).describe("the resolved engine spec (spec.json)"),
    specHash: z.string(),
    createdAt: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    error: z.string().nullable(),
    queuePosition: z.int().min(1).nullable().describe("1 = next to run; null unless queued"),
    links: z.record(z.string(), z.string()),
  }),
);

export const RunList = named(
  "RunList",
  z.object({ runs: z.array(Run), nextCursor: z.string().nullable() }),
  "Newest first.",
);

export const Accepted = named(
  "RunAccepted",
  z.object({ id: z.string(), status: RunStatusSchema }),
);

export const ListRunsQuery = z.object({
  status: z.string().optional().transform((s, ctx) => {
    if (s === undefined || s === "") return undefined;
    const parts = s.split(",").map((x) => x.trim());
    for (const p of parts) {
      if (!(RUN_STATUSES as readonly string[]).includes(p)) {
        ctx.addIssue({
          code: "custom",
          message: `unknown status "${p}"; expected one of ${RUN_STATUSES.join(", ")}`,
        });
        return z.NEVER;
      }
    }
    return parts as RunStatus[];
  }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^[1-9][0-9]{0,15}$/, "cursor: expected a nextCursor value").optional(),
});

export const RecordsQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1_000_000).optional(),
});

export const EventsQuery = z.object({
  from: z.coerce.number().int().min(0).optional().describe("skip the first N records"),
});

export const RecordsPage = named(
  "RecordsPage",
  z.object({
    id: z.string(),
    total: z.int().min(0),
    offset: z.int().min(0),
    records: z.array(z.record(z.string(), z.unknown())),
  }),
  "Records as written to records.jsonl (docs/results.md).",
);

// --- catalog and health ---------------------------------------------------------------------------

export const ParamInfo = named(
  "ParamInfo",
  z.object({
    name: z.string(),
    type: z.enum(["int", "number"]),
    default: z.number(),
    min: z.number(),
    max: z.number(),
    description: z.string(),
  }),
);

export const FormatList = named(
  "FormatList",
  z.object({
    formats: z.array(z.object({
      name: z.string(),
      family: z.string(),
      bits: z.number(),
      description: z.string(),
      paper: z.string().nullable(),
      params: z.array(ParamInfo),
    })),
  }),
);

export const MethodList = named(
  "MethodList",
  z.object({
    methods: z.array(z.object({
      name: z.string(),
      family: z.string(),
      mode: z.string(),
      description: z.string(),
      paper: z.string().nullable(),
      params: z.array(ParamInfo),
      paramsSchema: z.record(z.string(), z.unknown()).describe("JSON Schema of the params object"),
      formats: z.array(z.string()).describe("cache formats it can be stored in"),
      compositions: z.array(z.string()).describe("names accepted in a RunSpec's methods"),
    })),
    budgets: z.record(z.string(), z.unknown()).describe("JSON Schema of a budget"),
  }),
);

/** Task parameter types (engine/tasks/types.ts ParamType). */
export const TASK_PARAM_TYPES = [
  "int",
  "number",
  "string",
  "boolean",
  "enum",
  "numbers",
  "path",
] as const;

export const TaskParamInfo = named(
  "TaskParamInfo",
  z.object({
    name: z.string(),
    type: z.enum(TASK_PARAM_TYPES),
    default: z.unknown().optional().describe("absent: required"),
    min: z.number().optional(),
    max: z.number().optional(),
    values: z.array(z.string()).optional().describe("enum: the allowed strings"),
    description: z.string(),
  }),
);

/**
 * Task ParamSpecs → a strict zod object (for the listing's JSON Schema and a tasks RunSpec).
 * `overrides`: every parameter optional, no default filled in (the RunSpec's params).
 */
export function taskParamsSchema(
  params: readonly (z.infer<typeof TaskParamInfo> | TaskParamSpec)[],
  overrides = false,
) {
  const shape: Record<string, z.ZodType> = {};
  for (const p of params) {
    const num = (int: boolean) => {
      let n = int ? z.int() : z.number();
      if (p.min !== undefined) n = n.min(p.min);
      if (p.max !== undefined) n = n.max(p.max);
      return n;
    };
    let t: z.ZodType = p.type === "int" || p.type === "number"
      ? num(p.type === "int")
      : p.type === "boolean"
      ? z.boolean()
      : p.type === "enum"
      ? enumOf([...(p.values ?? [])])
      : p.type === "numbers"
      ? z.array(num(false)).min(1)
      : z.string().min(1);
    if (overrides) {
      const d = p.default === undefined
        ? "required by the task"
        : `default ${JSON.stringify(p.default)}`;
      shape[p.name] = t.optional().describe(`${p.description} (${d})`);
      continue;
    }
    t = t.describe(p.description);
    shape[p.name] = p.default === undefined ? t.optional() : t.default(p.default as never);
  }
  return z.object(shape).strict();
}

export const TaskList = named(
  "TaskList",
  z.object({
    tasks: z.array(z.object({
      name: z.string(),
      family: z.string().nullable(),
      description: z.string().nullable(),
      source: z.string().nullable().describe("the paper or repository (and file) it follows"),
      synthetic: z.boolean().nullable().describe("generated here, or loaded from data files"),
      model: z.string().nullable().describe("llm | retrieval | any: what model it needs"),
      scoring: z.string().nullable(),
      metrics: z.array(z.string()),
      params: z.array(TaskParamInfo),
      paramsSchema: z.record(z.string(), z.unknown()).describe("JSON Schema of the params object"),
      builtinModels: z.array(z.string()).describe("built-in models that can be scored on it"),
    })),
  }),
  "The task registry (engine/tasks/registry.ts).",
);

export const ModelList = named(
  "ModelList",
  z.object({
    presets: z.array(z.object({
      name: z.string(),
      family: z.string(),
      source: z.string(),
      parameters: z.number(),
      accuracy: z.literal("not applicable"),
      config: z.record(z.string(), z.unknown()),
    })),
    cached: z.array(z.object({
      name: z.string(),
      path: z.string(),
      family: z.string().nullable(),
      supported: z.boolean(),
      parameters: z.number().nullable(),
      error: z.string().nullable(),
      config: z.record(z.string(), z.unknown()).nullable(),
    })),
    hubCache: z.string().nullable(),
    builtin: z.array(z.object({
      name: z.string().describe("builtin:<name>"),
      description: z.string(),
      label: z.string().describe("what its scores mean (shown beside every figure)"),
      supportedTasks: z.array(z.string()),
    })).describe("models built into kvlab (task runner only)"),
    local: z.array(z.object({
      name: z.string().describe("local:<name>"),
      path: z.string(),
    })).describe("folders with a config.json below the server's --models-dir (task runner only)"),
    modelsDir: z.string().nullable(),
  }),
  "shape: presets (random weights of real architectures), built-in models, models in the local " +
    "Hugging Face cache and below the server's --models-dir.",
);

export const SuiteList = named(
  "SuiteList",
  z.object({
    suites: z.array(z.object({
      name: z.string(),
      description: z.string(),
      presets: z.record(z.string(), z.unknown()),
      spec: z.record(z.string(), z.unknown()).describe("JSON Schema of its RunSpec"),
    })),
  }),
);

export const Health = named(
  "Health",
  z.object({
    status: z.enum(["ok", "degraded"]),
    version: z.string(),
    deno: z.string(),
    adapter: z.object({
      vendor: z.string(),
      architecture: z.string(),
      description: z.string(),
      fallback: z.boolean(),
    }).nullable(),
    software: z.boolean().nullable().describe(
      "the adapter is a CPU fallback: timings not representative",
    ),
    adapterError: z.string().nullable(),
    queue: z.object({ queued: z.int(), running: z.int() }),
    auth: z.boolean().describe("mutating endpoints require a bearer token"),
  }),
);

export const ErrorBody = named(
  "Error",
  z.object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().describe("for 400: a list of {path, message} field errors"),
    }),
  }),
);
