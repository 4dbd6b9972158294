// Suites as the server sees them: how an HTTP RunSpec becomes the engine's spec (the CLI's
// defaults, then the engine's validator), how many cells it has, how its records are counted,
// and how the GPU worker runs and summarises it. A new suite (the model/task runner) plugs in by
// adding one SuiteAdapter here and its RunSpec to server/schemas.ts; the store, executor,
// routes and worker handle every suite alike.
// Not here: the GPU (the worker calls run()), HTTP (routes/runs.ts).

import type { z } from "zod";
import { formatNames } from "../engine/cache/registry.ts";
import {
  defaultMethods,
  type KernelRecord,
  type KernelSpec,
  needleVariants,
  PRESETS as KERNEL_PRESETS,
  runKernelSuite,
  summarize,
  validateKernelSpec,
  writeSummary,
} from "../engine/bench/kernel_suite.ts";
import {
  MODEL_PRESETS,
  type ModelRecord,
  type ModelSpec,
  runModelSuite,
  summarizeModel,
  validateModelSpec,
  writeModelSummary,
} from "../engine/bench/model_suite.ts";
import type { ResultsDir } from "../engine/bench/results.ts";
import type { Gpu } from "../engine/gpu/mod.ts";
import { cachedSnapshot, type Env, parseHubId } from "../engine/model/hub.ts";
import { ApiError } from "./errors.ts";
import { KernelRunSpec, ModelRunSpec } from "./schemas.ts";
import { TASKS } from "./suite_tasks.ts";

/** What normalize() may look at besides the request. */
export interface NormalizeEnv {
  /** The server's adapter is a software fallback (undefined: unknown, treated as software). */
  readonly software: boolean | undefined;
  /** Environment for the Hugging Face cache lookup. */
  readonly env: Env;
  /** Where `local:<name>` models live (the server's --models-dir); none: they are refused. */
  readonly modelsDir?: string;
  /** What task data paths are relative to (--task-data); none: paths are refused. */
  readonly taskDataDir?: string;
}

export interface RunContext<S> {
  readonly gpu: Gpu;
  readonly spec: S;
  readonly runId: string;
  readonly specHash: string;
  readonly out: ResultsDir;
  readonly log: (line: string) => void;
}

export interface SuiteAdapter<S = unknown> {
  readonly name: string;
  readonly description: string;
  readonly presets: Readonly<Record<string, unknown>>;
  /** The RunSpec schema for this suite (discriminated by `suite`). */
  readonly schema: z.ZodType;
  /** Request (already schema-valid) → the engine's spec; RangeError/TypeError/ApiError if bad. */
  normalize(input: Record<string, unknown>, env: NormalizeEnv): Promise<S>;
  /** The engine's validator on a spec read back (spec.json, the index). */
  validate(spec: S): void;
  /**
   * Distinct cells the spec expands to; null where that is not knowable before the run (the
   * executor then takes the runner's own count once it starts).
   */
  totalCells(spec: S): number | null;
  /**
   * The equivalent `deno task bench` command (spec.json's `command`); `dir`: the run folder
   * (default: the CLI's, data/results/<run id>).
   */
  command(spec: S, dir?: string): string;
  /** Files written beside spec.json when the run is submitted (name → JSON value). */
  files?(spec: S): Readonly<Record<string, unknown>>;
  run(ctx: RunContext<S>): Promise<readonly unknown[]>;
  summarize(spec: S, records: readonly unknown[]): unknown;
  writeSummary(out: ResultsDir, summary: unknown): void;
}

// --- kernels -----------------------------------------------------------------------------------

const pct = (d: number) => String(Math.round(d * 1e6) / 1e4);

export const KERNELS: SuiteAdapter<KernelSpec> = {
  name: "kernels",
  description:
    "Decode attention per cache format × context length on one attention layer (error, bytes, " +
    "time, bandwidth vs a copy kernel), and needle retrieval per format and eviction method.",
  presets: KERNEL_PRESETS,
  schema: KernelRunSpec,
  normalize(input, env) {
    const i = input as z.infer<typeof KernelRunSpec>;
    const software = env.software ?? true;
    const preset = (i.preset as KernelSpec["preset"] | undefined) ??
      (software ? "smoke" : "default");
    const p = KERNEL_PRESETS[preset];
    const spec: KernelSpec = {
      suite: "kernels",
      preset,
      formats: i.formats ?? formatNames(),
      lengths: i.lengths ?? p.lengths,
      batchSize: i.batchSize ?? 1,
      heads: i.heads ?? 32,
      kvHeads: i.kvHeads ?? 8,
      headDim: i.headDim ?? 128,
      reps: i.reps ?? p.reps,
      warmup: i.warmup ?? p.warmup,
      copyMiB: i.copyMiB ?? p.copyMiB,
      needleDepths: i.needleDepths ?? p.needleDepths,
      methods: i.methods ?? defaultMethods(),
      budgets: i.budgets ?? p.ratios.map((ratio) => ({ ratio })),
      seed: i.seed ?? 0,
    };
    validateKernelSpec(spec);
    return Promise.resolve(spec);
  },
  validate: validateKernelSpec,
  totalCells(s) {
    const variants = needleVariants(s).map((v) => JSON.stringify(v.key));
    return new Set(s.formats).size * new Set(s.lengths).size +
      new Set(s.lengths).size * new Set(s.needleDepths).size * new Set(variants).size;
  },
  command(s) {
    const ratios = s.budgets.flatMap((b) => ("ratio" in b ? [b.ratio] : []));
    const tokens = s.budgets.flatMap((b) => ("budgetTokens" in b ? [b.budgetTokens] : []));
    return [
      "deno task bench --suite kernels",
      `--preset ${s.preset}`,
      `--formats ${s.formats.join(",")}`,
      `--lengths ${s.lengths.join(",")}`,
      `--batch ${s.batchSize} --heads ${s.heads} --kv-heads ${s.kvHeads} --head-dim ${s.headDim}`,
      `--reps ${s.reps} --warmup ${s.warmup} --copy-mib ${s.copyMiB}`,
      `--needle-depths ${s.needleDepths.length ? s.needleDepths.map(pct).join(",") : "none"}`,
      `--methods ${s.methods.length ? s.methods.join(",") : "none"}`,
      ratios.length ? `--ratios ${ratios.join(",")}` : "",
      tokens.length ? `--budgets ${tokens.join(",")}` : "",
      `--seed ${s.seed}`,
    ].filter((x) => x !== "").join(" ");
  },
  run: (ctx) => runKernelSuite(ctx),
  summarize: (spec, records) => summarize(spec, records as KernelRecord[]),
  writeSummary,
};

// --- model -------------------------------------------------------------------------------------

export const MODEL: SuiteAdapter<ModelSpec> = {
  name: "model",
  description:
    "End-to-end prefill and greedy decode of a model per cache format × prompt length: TTFT, " +
    "tokens/s, KV and peak bytes, decode vs the weight-bandwidth roofline.",
  presets: MODEL_PRESETS,
  schema: ModelRunSpec,
  async normalize(input, env) {
    const i = input as z.infer<typeof ModelRunSpec>;
    const software = env.software ?? true;
    const preset = (i.preset as ModelSpec["preset"] | undefined) ??
      (software ? "smoke" : "default");
    const p = MODEL_PRESETS[preset];
    const given = i.models ?? p.models;
    // hf: ids resolve to their snapshot folder in the local cache; the server never downloads.
    const models: string[] = [];
    for (const [at, m] of given.entries()) {
      if (!m.startsWith("hf:")) {
        models.push(m);
        continue;
      }
      const dir = await cachedSnapshot(parseHubId(m), env.env).catch(() => undefined);
      if (!dir) {
        throw new ApiError(400, "invalid_spec", "the run spec is not valid", [{
          path: ["models", at],
          message: `${m} is not in the local Hugging Face cache (see GET /v1/models)`,
        }]);
      }
      models.push(dir);
    }
    const spec: ModelSpec = {
      suite: "model",
      preset,
      models,
      formats: i.formats ?? p.formats,
      lengths: i.lengths ?? p.lengths,
      batchSize: i.batchSize ?? 1,
      newTokens: i.newTokens ?? p.newTokens,
      copyMiB: i.copyMiB ?? p.copyMiB,
      seed: i.seed ?? 0,
    };
    validateModelSpec(spec);
    return spec;
  },
  validate: validateModelSpec,
  totalCells: (s) => new Set(s.models).size * new Set(s.formats).size * new Set(s.lengths).size,
  command: (s) =>
    [
      "deno task bench --suite model",
      `--preset ${s.preset}`,
      `--models ${s.models.join(",")}`,
      `--formats ${s.formats.join(",")}`,
      `--lengths ${s.lengths.join(",")}`,
      `--batch ${s.batchSize} --new-tokens ${s.newTokens} --copy-mib ${s.copyMiB} --seed ${s.seed}`,
    ].join(" "),
  run: (ctx) => runModelSuite(ctx),
  summarize: (spec, records) => summarizeModel(spec, records as ModelRecord[]),
  writeSummary: writeModelSummary,
};

// ---------------------------------------------------------------------------------------------

export const SUITES: Readonly<Record<string, SuiteAdapter>> = {
  kernels: KERNELS as SuiteAdapter,
  model: MODEL as SuiteAdapter,
  tasks: TASKS as SuiteAdapter,
};

export function getSuite(name: string): SuiteAdapter {
  const s = SUITES[name];
  if (!s) throw new RangeError(`unknown suite "${name}"; expected one of ${Object.keys(SUITES)}`);
  return s;
}

/** Fields spec.json carries besides the engine spec. */
const SPEC_EXTRAS = ["runId", "specHash", "command"];

/** spec.json → the engine spec. */
export function engineSpec(specJson: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(specJson).filter(([k]) => !SPEC_EXTRAS.includes(k)));
}
