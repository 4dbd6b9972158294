// `deno task bench`: the benchmark CLI. Today it runs the kernel suite (decode attention over
// every cache format, against the copy-kernel roofline); the model/task runner joins it later.
// Flags are parsed with node:util parseArgs (JSR's @std/cli cannot be installed here).

import { parseArgs } from "node:util";
import { formatNames } from "../cache/registry.ts";
import { AdapterError, DEVICE_CHOICES, type DeviceChoice, Gpu } from "../gpu/mod.ts";
import {
  defaultMethods,
  formatTable,
  type KernelSpec,
  needleTable,
  PRESETS,
  runKernelSuite,
  summarize,
  validateKernelSpec,
  writeSummary,
} from "./kernel_suite.ts";
import { acquireLock, LockError } from "./lock.ts";
import { type ResultsDir, resultsDir, ResultsError, specHash, writeJson } from "./results.ts";
import {
  budgetsFrom,
  list,
  listing,
  parseDepth,
  parseLength,
  TASK_OPTIONS,
  taskSpecFromArgs,
  taskSpecFromValues,
  type TaskValues,
} from "./task_cli.ts";
import { runTaskSuite } from "./task_suite.ts";
import { summarizeTasks, taskTable } from "./task_summary.ts";
import type { TaskRunSpec } from "./task_spec.ts";
import { TaskDataError } from "../tasks/types.ts";
import { ModelError } from "../model/errors.ts";

export { parseDepth, parseLength };
import {
  MODEL_PRESETS,
  type ModelSpec,
  modelTable,
  runModelSuite,
  summarizeModel,
  validateModelSpec,
  writeModelSummary,
} from "./model_suite.ts";

const HELP = `deno task bench [options]

With no options: the kernel suite (decode attention over every cache format, with the
kernel-level needle grid) and then the task suite (accuracy, memory and speed of every method on
the embedded builtin:induction model), each into its own results folder under data/results/.

  --suite all|kernels|model|tasks
                            all (default): kernels, then tasks. kernels: decode attention per
                            cache format vs the copy-kernel roofline, and the needle grid.
                            model: end-to-end speed of --models per format (random-weight
                            shape: models). tasks: the runner: model × method × budget × format
                            × task × length × batch × sample, scored and measured
  --preset smoke|quick|default|paper|full
                            smoke: seconds; quick: minutes on a software adapter; default: a GPU
                            host; paper: the longctx_bench comparison (needs --model and
                            --data); full: everything. Without --preset: default on a GPU,
                            smoke on a software adapter (said in the output)
  --list                    every method, format, task and model, with parameters

task suite (--suite tasks|all):
  --model M | --models a,b  builtin:induction (default), shape:<preset>, hf:org/name[@rev], or a
                            Hugging Face folder
  --methods a,b             full and/or methods, "<method>[+<format>]" (see --list)
  --params m.p=v,...        method parameters, e.g. snapkv.window=64,h2o.recent=32
  --formats a,b             cache formats for full and bare methods
  --ratios 2,4,8            keep 1/x of the prompt; --budgets 128,1k: tokens per KV head
  --tasks a,b               tasks (see --list); --samples N per cell; --depths 0,50,100 (%)
  --lengths 1k,4k           context lengths (k = 1024)
  --batch N                 sequences decoded together (the sample repeated N times)
  --memory-budget 8GiB      per method: the largest batch whose peak GPU bytes fit, and its
                            decode throughput
  --prefill dense|streaming prefill mode (streaming: compress chunk by chunk as the prompt is
                            read); --prefill-chunk N tokens per chunk
  --new-tokens N            cap each sample's generation length
  --max-positions N         allow contexts past a model's max_position_embeddings (RoPE
                            extrapolates); --rope-factor F: linear interpolation (plain RoPE)
  --chat auto|on|off        wrap prompts in the model's chat template (auto: when it has one)
  --haystack DIR            essay folder for haystack tasks (e.g. ../shared/data/PaulGrahamEssays)
  --data PATH               data for loaded tasks (LongBench folder, RULER jsonl)
  --config run.json         spec fields as JSON (flags override it)
  --json                    print summary.json to stdout (progress goes to stderr)

kernel suite (--suite kernels|all):
  --formats a,b             cache formats (default all: ${formatNames().join(", ")})
  --lengths 1k,4k,...       context lengths (k = 1024); overrides the preset's
  --batch N                 batch size B (default 1)
  --heads N --kv-heads N --head-dim N
                            layer shape (default Llama-3-8B: 32, 8, 128)
  --reps N --warmup N       timed runs (median reported) and discarded warm-up runs
  --copy-mib N              copy-kernel size for the bandwidth roofline
  --needle-depths 0,50,100  needle depths in percent, or none
  --methods a,b+kivi4|none  eviction methods for the needle cells
  --ratios 2,4,8 / --budgets 128,1k
                            method budgets for the needle cells

model suite (--suite model): --models, --formats, --lengths, --batch, --new-tokens, --copy-mib

common:
  --seed N                  input seed (default 0)
  --device auto|gpu|software
                            adapter choice (default auto: a software adapter is used but every
                            record is labelled non-representative)
  --out DIR                 results folder (default data/results/<run id>); an existing folder
                            with the same spec resumes, skipping finished cells
  --help

examples:
  deno task bench                                   # the embedded default
  deno task bench --suite tasks --preset quick      # minutes on a software adapter
  deno task bench --suite tasks --methods full,snapkv,snapkv+kivi4 --ratios 4,8 \\
      --tasks passkey --lengths 4k,16k --depths 0,50,100
  deno task bench --suite tasks --model hf:meta-llama/Llama-3.2-1B-Instruct --preset paper \\
      --data ../shared/data/LongBench
  deno task bench --suite tasks --model shape:llama-3-8b --tasks fidelity --memory-budget 40GiB`;

function deviceFlag(text: string | undefined): DeviceChoice {
  const device = (text ?? "auto") as DeviceChoice;
  if (!DEVICE_CHOICES.includes(device)) {
    throw new RangeError(`--device: got "${device}", expected one of ${DEVICE_CHOICES.join(", ")}`);
  }
  return device;
}

/** --preset, or without it: default on a GPU, smoke on a software adapter. */
function presetFlag<P extends string>(
  text: string | undefined,
  presets: Record<P, unknown>,
  software: boolean,
): P {
  const preset = text ?? (software ? "smoke" : "default");
  if (!(preset in presets)) {
    throw new RangeError(
      `--preset: got "${preset}", expected one of ${Object.keys(presets).join(", ")}`,
    );
  }
  return preset as P;
}

function intFlag(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new RangeError(`--${name}: got "${text}", expected an integer`);
  return n;
}

export interface CliResult {
  spec: KernelSpec;
  device: DeviceChoice;
  out?: string;
}

/** Parses flags into a validated spec. `software` says whether the adapter is a software one. */
export function specFromArgs(args: string[], software: boolean): CliResult | "help" {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      suite: { type: "string", default: "kernels" },
      preset: { type: "string" },
      formats: { type: "string" },
      lengths: { type: "string" },
      batch: { type: "string" },
      heads: { type: "string" },
      "kv-heads": { type: "string" },
      "head-dim": { type: "string" },
      reps: { type: "string" },
      warmup: { type: "string" },
      "copy-mib": { type: "string" },
      "needle-depths": { type: "string" },
      methods: { type: "string" },
      ratios: { type: "string" },
      budgets: { type: "string" },
      seed: { type: "string" },
      device: { type: "string", default: "auto" },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return "help";
  if (values.suite !== "kernels") {
    throw new RangeError(`--suite: got "${values.suite}", expected one of ${SUITES.join(", ")}`);
  }
  const device = deviceFlag(values.device);
  const preset = presetFlag(values.preset, PRESETS, software);
  const p = PRESETS[preset];
  const spec: KernelSpec = {
    suite: "kernels",
    preset,
    formats: values.formats ? list(values.formats) : formatNames(),
    lengths: values.lengths ? list(values.lengths).map(parseLength) : p.lengths,
    batchSize: intFlag("batch", values.batch, 1),
    heads: intFlag("heads", values.heads, 32),
    kvHeads: intFlag("kv-heads", values["kv-heads"], 8),
    headDim: intFlag("head-dim", values["head-dim"], 128),
    reps: intFlag("reps", values.reps, p.reps),
    warmup: intFlag("warmup", values.warmup, p.warmup),
    copyMiB: intFlag("copy-mib", values["copy-mib"], p.copyMiB),
    needleDepths: values["needle-depths"] === undefined
      ? p.needleDepths
      : values["needle-depths"] === "none"
      ? []
      : list(values["needle-depths"]).map(parseDepth),
    methods: values.methods === undefined
      ? defaultMethods()
      : values.methods === "none"
      ? []
      : list(values.methods),
    budgets: budgetsFrom(values.ratios, values.budgets) ?? p.ratios.map((ratio) => ({ ratio })),
    seed: intFlag("seed", values.seed, 0),
  };
  validateKernelSpec(spec);
  return { spec, device, out: values.out };
}

export const SUITES = ["kernels", "model", "tasks", "all"] as const;

/** Parses the flags of `--suite model` into a validated spec. */
export function modelSpecFromArgs(
  args: string[],
  software: boolean,
): { spec: ModelSpec; device: DeviceChoice; out?: string } {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      suite: { type: "string" },
      preset: { type: "string" },
      models: { type: "string" },
      formats: { type: "string" },
      lengths: { type: "string" },
      batch: { type: "string" },
      "new-tokens": { type: "string" },
      "copy-mib": { type: "string" },
      seed: { type: "string" },
      device: { type: "string", default: "auto" },
      out: { type: "string" },
    },
  });
  const device = deviceFlag(values.device);
  const preset = presetFlag(values.preset, MODEL_PRESETS, software);
  const p = MODEL_PRESETS[preset];
  const spec: ModelSpec = {
    suite: "model",
    preset,
    models: values.models ? list(values.models) : p.models,
    formats: values.formats ? list(values.formats) : p.formats,
    lengths: values.lengths ? list(values.lengths).map(parseLength) : p.lengths,
    batchSize: intFlag("batch", values.batch, 1),
    newTokens: intFlag("new-tokens", values["new-tokens"], p.newTokens),
    copyMiB: intFlag("copy-mib", values["copy-mib"], p.copyMiB),
    seed: intFlag("seed", values.seed, 0),
  };
  validateModelSpec(spec);
  return { spec, device, out: values.out };
}

function suiteOf(args: string[]): string {
  const i = args.indexOf("--suite");
  if (i >= 0) return args[i + 1] ?? "";
  return args.find((a) => a.startsWith("--suite="))?.slice(8) ?? "all";
}

/** Flags only one suite reads; everything else in `--suite all` goes to both. */
const KERNEL_ONLY = [
  "heads",
  "kv-heads",
  "head-dim",
  "reps",
  "warmup",
  "copy-mib",
  "needle-depths",
];
const ALL_OPTIONS = {
  ...TASK_OPTIONS,
  heads: { type: "string" },
  "kv-heads": { type: "string" },
  "head-dim": { type: "string" },
  reps: { type: "string" },
  warmup: { type: "string" },
  "copy-mib": { type: "string" },
  "needle-depths": { type: "string" },
} as const;

/** The kernel preset a task preset implies in `--suite all`. */
const KERNEL_PRESET: Record<string, string> = {
  smoke: "smoke",
  quick: "smoke",
  default: "default",
  paper: "default",
  full: "full",
};

/** `--suite all` flags → the kernel suite's args and the task suite's values. */
export function splitAll(
  args: string[],
): { kernelArgs: string[]; taskValues: Record<string, unknown> } {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: ALL_OPTIONS,
  });
  const kernelArgs: string[] = [];
  const taskValues: Record<string, unknown> = {};
  const kernelKeys = new Set([
    ...KERNEL_ONLY,
    "formats",
    "lengths",
    "ratios",
    "budgets",
    "seed",
    "device",
    "batch",
    "out",
  ]);
  for (const [k, v] of Object.entries(values)) {
    if (k === "suite") continue;
    if (!KERNEL_ONLY.includes(k)) taskValues[k] = v;
    if (k === "preset") {
      const kp = KERNEL_PRESET[String(v)];
      if (kp) kernelArgs.push("--preset", kp);
    } else if (k === "methods") {
      const m = list(String(v)).filter((x) => x !== "full");
      kernelArgs.push("--methods", m.length > 0 ? m.join(",") : "none");
    } else if (kernelKeys.has(k)) {
      kernelArgs.push(`--${k}`, String(v));
    }
  }
  return { kernelArgs, taskValues };
}

function deviceOf(args: string[]): DeviceChoice {
  return deviceFlag(
    args.indexOf("--device") >= 0
      ? args[args.indexOf("--device") + 1]
      : (args.find((a) => a.startsWith("--device="))?.slice(9) ?? "auto"),
  );
}

export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  if (args.includes("--list")) {
    console.log(listing());
    return 0;
  }
  const suite = suiteOf(args);
  if (!(SUITES as readonly string[]).includes(suite)) {
    throw new RangeError(`--suite: got "${suite}", expected one of ${SUITES.join(", ")}`);
  }
  const device = deviceOf(args);
  if (suite === "model") {
    modelSpecFromArgs(args, false); // bad flags fail before the GPU is touched
    const gpu = await Gpu.open({ device });
    announce(gpu, args);
    return await runModel(gpu, modelSpecFromArgs(args, gpu.report.fallback), args);
  }
  if (suite === "kernels") {
    specFromArgs(args, false); // bad flags fail before the GPU is touched
    const gpu = await Gpu.open({ device });
    announce(gpu, args);
    const parsed = specFromArgs(args, gpu.report.fallback);
    if (parsed === "help") return 0;
    await runKernels(gpu, parsed, args);
    return 0;
  }
  if (suite === "tasks") {
    taskSpecFromArgs(args, false);
    const gpu = await Gpu.open({ device });
    announce(gpu, args);
    await runTasks(gpu, taskSpecFromArgs(args, gpu.report.fallback), args);
    return 0;
  }
  // all: the kernel suite (with its needle grid), then the task runner
  const { kernelArgs, taskValues } = splitAll(args);
  specFromArgs(kernelArgs, false);
  taskSpecFromValues(taskValues as TaskValues, false);
  const gpu = await Gpu.open({ device });
  announce(gpu, args);
  const software = gpu.report.fallback;
  const kernels = specFromArgs(kernelArgs, software);
  const tasks = taskSpecFromValues(taskValues as TaskValues, software);
  if (kernels === "help") return 0;
  console.log("== kernel suite ==");
  const k = await runKernels(gpu, kernels, args, tasks.out);
  console.log("\n== task suite ==");
  const t = await runTasks(gpu, tasks, args, tasks.out);
  console.log(`\nresults: ${k} and ${t}`);
  return 0;
}

/** A run's folder, once started by inRunFolder. */
interface RunFolder {
  readonly runId: string;
  readonly hash: string;
  readonly dir: string;
  readonly out: ResultsDir;
}

/**
 * Runs `body` in a run's folder: the spec's hash and run id ("<suite>-<12 hex>"), the folder
 * (`place`: --out, a function of the run id, or data/results/<run id>), its run.lock for the
 * duration, and spec.json with the command that made it.
 */
async function inRunFolder<T>(
  suite: string,
  spec: object,
  place: string | ((runId: string) => string) | undefined,
  args: string[],
  body: (run: RunFolder) => Promise<T>,
): Promise<T> {
  const hash = await specHash(spec);
  const runId = `${suite}-${hash.slice(0, 12)}`;
  const dir = typeof place === "function" ? place(runId) : place ?? `data/results/${runId}`;
  const out = resultsDir(dir);
  Deno.mkdirSync(dir, { recursive: true });
  const lock = acquireLock(`${dir}/run.lock`, `deno task bench (${runId})`);
  try {
    writeJson(out.specPath, {
      ...spec,
      runId,
      specHash: hash,
      command: ["deno", "task", "bench", ...args].join(" "),
    });
    return await body({ runId, hash, dir, out });
  } finally {
    lock.release();
  }
}

/** `parent` (--suite all with --out): the run goes to parent/<run id> instead of --out itself. */
const placeIn = (out: string | undefined, parent: string | undefined) =>
  parent === undefined ? out : (id: string) => `${parent}/${id}`;

async function runKernels(
  gpu: Gpu,
  parsed: CliResult,
  args: string[],
  parent?: string,
): Promise<string> {
  const { spec } = parsed;
  const a = gpu.report;
  return await inRunFolder(
    "kernels",
    spec,
    placeIn(parsed.out, parent),
    args,
    async ({ runId, hash, dir, out }) => {
      console.log(
        `run ${runId}: ${spec.formats.length} formats × ${spec.lengths.length} lengths, H=${spec.heads} Hkv=${spec.kvHeads} D=${spec.headDim} B=${spec.batchSize} → ${dir}`,
      );
      const records = await runKernelSuite({
        gpu,
        spec,
        runId,
        specHash: hash,
        out,
        log: (l) => console.log(l),
      });
      const summary = summarize(spec, records);
      writeSummary(out, summary);
      console.log("");
      console.log(formatTable(records));
      console.log("");
      const needles = needleTable(records);
      if (needles) console.log(needles + "\n");
      for (const t of summary.targets) {
        const detail = t.values.map((v) => `${v.T}: ${v.value.toFixed(2)}`).join(", ");
        console.log(
          `target ${t.name} ${t.name.includes("fraction") ? "≥" : "≤"} ${t.limit}: ${t.status}${
            detail ? ` (${detail})` : " (needs a GPU and N ≥ 32K)"
          }`,
        );
      }
      if (a.fallback) console.log("(software adapter: timings above are not representative)");
      console.log(`results: ${out.recordsPath}, ${out.summaryPath}`);
      return dir;
    },
  );
}

async function runTasks(
  gpu: Gpu,
  parsed: { spec: TaskRunSpec; out?: string; json: boolean },
  args: string[],
  parent?: string,
): Promise<string> {
  const { spec } = parsed;
  return await inRunFolder(
    "tasks",
    spec,
    placeIn(parsed.out, parent),
    args,
    async ({ runId, hash, dir, out }) => {
      const log = parsed.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
      log(
        `run ${runId}: ${spec.models.join(", ")} × ${spec.tasks.map((t) => t.name).join(", ")} × ${
          spec.methods.map((m) => m.name).join(", ")
        } × ${spec.formats.join(", ")} at ${
          spec.lengths.join(", ")
        } tokens, B=${spec.batchSize} → ${dir}`,
      );
      const records = await runTaskSuite({ gpu, spec, runId, specHash: hash, out, log });
      const summary = summarizeTasks(spec, records);
      writeJson(out.summaryPath, summary);
      if (parsed.json) {
        console.log(JSON.stringify(summary));
      } else {
        console.log("\n" + taskTable(records) + "\n");
        if (gpu.report.fallback) {
          console.log("(software adapter: timings above are not representative)");
        }
        console.log(`results: ${out.recordsPath}, ${out.summaryPath}`);
      }
      return dir;
    },
  );
}

function announce(gpu: Gpu, args: string[]): void {
  const a = gpu.report;
  console.log(
    `kvlab bench: adapter ${a.description || a.vendor} (${a.vendor}${
      a.architecture ? " " + a.architecture : ""
    }), shader-f16 ${gpu.f16 ? "yes" : "no"}, timing ${
      gpu.timestamps ? "timestamp queries" : "wall clock"
    }`,
  );
  if (a.fallback) {
    console.log(
      "WARNING: this is a SOFTWARE adapter (CPU): every timing is non-representative, and every record says so.",
    );
    if (!args.some((x) => x.startsWith("--preset"))) {
      console.log("         no --preset given: running the smoke preset");
    }
  }
}

async function runModel(
  gpu: Gpu,
  parsed: { spec: ModelSpec; out?: string },
  args: string[],
): Promise<number> {
  const { spec } = parsed;
  return await inRunFolder("model", spec, parsed.out, args, async ({ runId, hash, dir, out }) => {
    console.log(
      `run ${runId}: ${spec.models.join(", ")} × ${spec.formats.join(", ")} × T=${
        spec.lengths.join(",")
      } B=${spec.batchSize} → ${dir}`,
    );
    const records = await runModelSuite({
      gpu,
      spec,
      runId,
      specHash: hash,
      out,
      log: (l) => console.log(l),
    });
    const summary = summarizeModel(spec, records);
    writeModelSummary(out, summary);
    console.log("\n" + modelTable(records) + "\n");
    console.log(`target ${summary.target.name}: ${summary.target.status}`);
    if (gpu.report.fallback) {
      console.log("(software adapter: timings above are not representative)");
    }
    console.log(`results: ${out.recordsPath}, ${out.summaryPath}`);
    return 0;
  });
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (
      e instanceof RangeError || e instanceof TypeError || e instanceof AdapterError ||
      e instanceof ResultsError || e instanceof ModelError || e instanceof TaskDataError ||
      e instanceof LockError
    ) {
      console.error(`kvlab bench: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
