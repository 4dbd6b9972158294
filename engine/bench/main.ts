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
import { resultsDir, ResultsError, specHash, writeJson } from "./results.ts";
import type { Budget } from "../methods/budget.ts";
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

  --suite kernels|model     what to run (default kernels). model: end-to-end prefill and
                            decode of --models (shape:<preset> or a folder) with each of
                            --formats, at --lengths prompt tokens, --batch, --new-tokens; TTFT,
                            tokens/s, KV and peak bytes, decode vs the weight-bandwidth roofline
                            (smoke: shape:tiny; default: shape:llama-3.2-1b, shape:llama-3-8b)
  --preset smoke|default|full
                            smoke: 256 and 1K tokens, finishes in about a minute on a software
                            adapter; default: 1K–32K; full: 1K–128K. Without --preset: default
                            on a GPU, smoke on a software adapter (said in the output)
  --formats a,b             cache formats (default all: ${formatNames().join(", ")})
  --lengths 1k,4k,...       context lengths (k = 1024); overrides the preset's
  --batch N                 batch size B (default 1)
  --heads N --kv-heads N --head-dim N
                            layer shape (default Llama-3-8B: 32, 8, 128)
  --reps N --warmup N       timed runs (median reported) and discarded warm-up runs
  --copy-mib N              copy-kernel size for the bandwidth roofline
  --needle-depths 0,50,100  needle depths in percent, or none (default: the preset's:
                            smoke 0,50,100; default and full 0,10,...,100)
  --methods a,b+kivi4|none  eviction methods for the needle cells, each "<method>[+<format>]"
                            (default: every method, stored as fp16)
  --ratios 2,4,8            method budgets as ratios: keep 1/x of the context (default: the
                            preset's: smoke 4; default and full 2,4,8)
  --budgets 128,1k          method budgets in tokens per KV head (with or instead of --ratios)
  --seed N                  input seed (default 0)
  --device auto|gpu|software
                            adapter choice (default auto: a software adapter is used but every
                            record is labelled non-representative)
  --out DIR                 results folder (default data/results/<run id>); an existing folder
                            with the same spec resumes
  --help`;

export function parseLength(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text);
  const value = m
    ? Number(m[1]) *
      (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1024 * 1024 : 1)
    : NaN;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `context length: got "${text}", expected a positive integer such as 512, 4k or 32k`,
    );
  }
  return value;
}

/** A needle depth in percent ("25" or "25%") → a fraction. */
export function parseDepth(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const value = m ? Number(m[1]) : NaN;
  if (!(value >= 0 && value <= 100)) {
    throw new RangeError(`needle depth: got "${text}", expected a percentage from 0 to 100`);
  }
  return value / 100;
}

/** --ratios and --budgets → budgets; neither given: the preset's ratios. */
function budgetsFrom(
  ratios: string | undefined,
  budgets: string | undefined,
  presetRatios: readonly number[],
): Budget[] {
  const num = (flag: string, text: string) => {
    const n = Number(text);
    if (text === "" || !Number.isFinite(n)) {
      throw new RangeError(`--${flag}: got "${text}", expected a number`);
    }
    return n;
  };
  const out: Budget[] = [];
  if (ratios !== undefined) out.push(...list(ratios).map((r) => ({ ratio: num("ratios", r) })));
  if (budgets !== undefined) {
    out.push(
      ...list(budgets).map((b) => ({ budgetTokens: num("budgets", String(parseLength(b))) })),
    );
  }
  if (ratios === undefined && budgets === undefined) {
    out.push(...presetRatios.map((ratio) => ({ ratio })));
  }
  return out;
}

/** A comma-separated flag value → its non-empty, trimmed items. */
function list(text: string): string[] {
  return text.split(",").map((x) => x.trim()).filter((x) => x !== "");
}

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
    budgets: budgetsFrom(values.ratios, values.budgets, p.ratios),
    seed: intFlag("seed", values.seed, 0),
  };
  validateKernelSpec(spec);
  return { spec, device, out: values.out };
}

export const SUITES = ["kernels", "model"] as const;

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
  return args.find((a) => a.startsWith("--suite="))?.slice(8) ?? "kernels";
}

export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  const deviceArg = args.indexOf("--device") >= 0
    ? args[args.indexOf("--device") + 1]
    : (args.find((a) => a.startsWith("--device="))?.slice(9) ?? "auto");
  const suite = suiteOf(args);
  if (suite === "model") {
    modelSpecFromArgs(args, false); // bad flags fail before the GPU is touched
    const gpu = await Gpu.open({ device: deviceArg as DeviceChoice });
    announce(gpu, args);
    return await runModel(gpu, modelSpecFromArgs(args, gpu.report.fallback), args);
  }
  // Validate flags that do not depend on the adapter before touching the GPU.
  specFromArgs(args, false);
  const gpu = await Gpu.open({ device: deviceArg as DeviceChoice });
  const parsed = specFromArgs(args, gpu.report.fallback);
  if (parsed === "help") return 0;
  const { spec } = parsed;
  const a = gpu.report;
  announce(gpu, args);
  const hash = await specHash(spec);
  const runId = `kernels-${hash.slice(0, 12)}`;
  const dir = parsed.out ?? `data/results/${runId}`;
  const out = resultsDir(dir);
  Deno.mkdirSync(dir, { recursive: true });
  writeJson(out.specPath, {
    ...spec,
    runId,
    specHash: hash,
    command: ["deno", "task", "bench", ...args].join(" "),
  });
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
  return 0;
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
  const hash = await specHash(spec);
  const runId = `model-${hash.slice(0, 12)}`;
  const dir = parsed.out ?? `data/results/${runId}`;
  const out = resultsDir(dir);
  Deno.mkdirSync(dir, { recursive: true });
  writeJson(out.specPath, {
    ...spec,
    runId,
    specHash: hash,
    command: ["deno", "task", "bench", ...args].join(" "),
  });
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
  if (gpu.report.fallback) console.log("(software adapter: timings above are not representative)");
  console.log(`results: ${out.recordsPath}, ${out.summaryPath}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (
      e instanceof RangeError || e instanceof TypeError || e instanceof AdapterError ||
      e instanceof ResultsError
    ) {
      console.error(`kvlab bench: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
