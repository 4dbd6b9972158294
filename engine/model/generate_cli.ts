// `deno task generate`: generation (greedy, or sampled on the GPU with --temperature) with any
// KV-cache format, to eyeball what a format does to a model's answer (and, on shape: presets, how
// fast it runs).
//
//   --model DIR | hf:org/name[@rev] | shape:PRESET
//   --prompt TEXT [--chat] | --prompt-tokens N (a seeded random prompt; shape: models need it)
//   [--format NAME] [--method NAME[+FORMAT] (--ratio X | --budget N) [--params k=v,...]
//    [--decode-evict]] [--prefill dense|streaming] [--prefill-chunk N]
//   [--max-new-tokens N] [--json] [--device auto|gpu|software] [--weights auto|f32|f16]
//   [--read-every N] [--temperature T [--top-p P] [--top-k K] [--seed S]]
//   [--max-positions N] [--rope-factor F]   (allow a context past max_position_embeddings:
//                                            RoPE extrapolation, or linear interpolation by F)
//   [--gemv auto|vector|scalar]              (decode's matmul kernel, for A/B timings)
//
// Prints the generated text (ids for shape: models, which have no tokenizer), or with --json
// {ids, text, kvBytes, kvBytesFull, bytesReadPerStep, method, budget, prefill, ms, ...}. Bad input — a missing model or
// tokenizer, an unknown format, method or preset, a budget of 0 or over the prompt, a method
// with a format it cannot use, a prompt longer than the model's context, a sampling flag out of
// its range or without --temperature, a bad flag — prints one line and exits 2.

import { sourceDir, sourceInfo } from "./source.ts";
import { parseArgs } from "node:util";
import { AdapterError, DEVICE_CHOICES, type DeviceChoice, Gpu } from "../gpu/mod.ts";
import { formatNames } from "../cache/registry.ts";
import type { Budget } from "../methods/budget.ts";
import type { Params } from "../methods/method.ts";
import { methodNames } from "../methods/registry.ts";
import { GEMV_CHOICES, type GemvChoice } from "../kernels/matmul.ts";
import { cacheFormat } from "./compression.ts";
import { positionLimit, type PositionOverride } from "./config.ts";
import { ModelError } from "./errors.ts";
import { DEFAULT_FORMAT, generate, type GenerateResult, randomPrompt } from "./generate.ts";
import { Model } from "./model.ts";
import { presetConfig, presetNames } from "./presets.ts";
import {
  MAX_TEMPERATURE,
  MAX_TOP_K,
  MIN_TEMPERATURE,
  resolveSampling,
  type SamplingOptions,
} from "./sampling.ts";
import { PREFILL_MODES, type PrefillMode } from "./session.ts";
import { ModelTokenizer } from "./tokenizer.ts";
import { WEIGHTS_POLICIES, type WeightsPolicy } from "./weights.ts";

const USAGE = `usage: deno task generate --model DIR|hf:org/name[@rev]|shape:PRESET
       (--prompt TEXT [--chat] | --prompt-tokens N) [--format NAME]
       [--method NAME[+FORMAT] (--ratio X | --budget N) [--params k=v,...] [--decode-evict]]
       [--prefill dense|streaming] [--prefill-chunk N] [--max-new-tokens N] [--json]
       [--device auto|gpu|software]
       [--weights auto|f32|f16] [--read-every N]
       [--temperature T [--top-p P] [--top-k K] [--seed S]]
       [--max-positions N] [--rope-factor F] [--gemv auto|vector|scalar]
sampling: T = 0 (default) is greedy, else ${MIN_TEMPERATURE} ≤ T ≤ ${MAX_TEMPERATURE}; 0 < P ≤ 1;
          1 ≤ K ≤ ${MAX_TOP_K}; 0 ≤ S < 2^32 (default 0)
formats: ${formatNames().join(", ")} (default ${DEFAULT_FORMAT})
methods: ${methodNames().join(", ")} (default: none, the full cache)
presets: ${presetNames().join(", ")}
context: a prompt + new tokens past max_position_embeddings is refused unless --max-positions N
         raises it (RoPE extrapolates) or --rope-factor F > 1 interpolates positions linearly
         (plain-RoPE models; max positions × F unless given)`;

export interface CliArgs {
  readonly model: string;
  /** Text prompt, or undefined with promptTokens. */
  readonly prompt?: string;
  readonly promptTokens?: number;
  readonly chat: boolean;
  /** The cache format: --format, or the method's "+<format>" part, or the default. */
  readonly format: string;
  /** A one-shot compression method as given ("snapkv" or "snapkv+kivi4"); absent: full cache. */
  readonly method?: string;
  readonly budget?: Budget;
  readonly params?: Params;
  /** --decode-evict: evict during decode too (methods with a decode rule; h2o, tova always do). */
  readonly decodeEviction?: boolean;
  /**
   * --prefill streaming: chunked prefill that compresses as it goes (needs an eviction method);
   * dense (default): attention over the whole prompt, then compression.
   */
  readonly prefill?: PrefillMode;
  /** --prefill-chunk N: prefill N prompt tokens at a time (full caches, quest, streaming). */
  readonly prefillChunk?: number;
  readonly maxNewTokens: number;
  readonly json: boolean;
  readonly device: DeviceChoice;
  readonly weights: WeightsPolicy;
  readonly readEvery: number;
  /** --temperature, --top-p, --top-k, --seed (validated; all absent: greedy). */
  readonly sampling: SamplingOptions;
  /** --max-positions, --rope-factor: the opt-in to a longer context; absent: none. */
  readonly positions?: PositionOverride;
  /** --gemv: decode's matmul kernel (kernels/matmul.ts). */
  readonly gemv: GemvChoice;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`${flag}: got "${v}", expected an integer ≥ 1`);
  }
  return n;
}

function ratio(v: string): number {
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || x < 1) {
    throw new RangeError(`--ratio: got "${v}", expected a number ≥ 1 (keep 1/ratio of the prompt)`);
  }
  return x;
}

/** "window=16,kernel=5" → { window: 16, kernel: 5 } (values are checked by the method). */
function params(v: string): Params {
  const out: Record<string, number> = {};
  for (const part of v.split(",")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*$/.exec(part);
    const x = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(x)) {
      throw new RangeError(`--params: got "${part}" in "${v}", expected name=number[,name=number]`);
    }
    if (m[1] in out) throw new RangeError(`--params: "${m[1]}" given twice in "${v}"`);
    out[m[1]] = x;
  }
  return out;
}

/** A flag's number, or undefined when absent; "abc" is refused (the range is checked later). */
function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) {
    throw new RangeError(`${flag}: got "${v}", expected a number`);
  }
  return x;
}

/** --max-positions / --rope-factor → the override (checked again by extendPositions). */
function positionOverride(
  max: string | undefined,
  factor: string | undefined,
): PositionOverride | undefined {
  if (max === undefined && factor === undefined) return undefined;
  const ropeFactor = num("--rope-factor", factor);
  if (ropeFactor !== undefined && !(ropeFactor > 1)) {
    throw new RangeError(`--rope-factor: got "${factor}", expected a number > 1`);
  }
  return {
    maxPositions: max === undefined ? undefined : positiveInt("--max-positions", max),
    ropeFactor,
  };
}

function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new RangeError(`${flag}: got "${v}", expected one of ${allowed.join(", ")}`);
  }
  return v as T;
}

/** Parses and validates the flags; a RangeError names the first bad one. */
export function parseCli(args: readonly string[]): CliArgs {
  const { values: v } = parseArgs({
    args: [...args],
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      "prompt-tokens": { type: "string" },
      chat: { type: "boolean", default: false },
      format: { type: "string" },
      method: { type: "string" },
      ratio: { type: "string" },
      budget: { type: "string" },
      params: { type: "string" },
      "decode-evict": { type: "boolean" },
      prefill: { type: "string" },
      "prefill-chunk": { type: "string" },
      "max-new-tokens": { type: "string", default: "64" },
      json: { type: "boolean", default: false },
      device: { type: "string", default: "auto" },
      weights: { type: "string", default: "auto" },
      "read-every": { type: "string", default: "16" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      "top-k": { type: "string" },
      seed: { type: "string" },
      "max-positions": { type: "string" },
      "rope-factor": { type: "string" },
      gemv: { type: "string", default: "auto" },
    },
    strict: true,
  });
  if (v.model === undefined) {
    throw new RangeError("--model: required (a folder, hf:org/name[@revision] or shape:PRESET)");
  }
  if ((v.prompt === undefined) === (v["prompt-tokens"] === undefined)) {
    throw new RangeError('give one of --prompt TEXT (may be "") or --prompt-tokens N');
  }
  if (v.chat && v.prompt === undefined) throw new RangeError("--chat: needs --prompt TEXT");
  const format = cacheFormat(v.method, v.format, DEFAULT_FORMAT);
  const sampling: SamplingOptions = {
    temperature: num("--temperature", v.temperature),
    topP: num("--top-p", v["top-p"]),
    topK: num("--top-k", v["top-k"]),
    seed: num("--seed", v.seed),
  };
  resolveSampling(sampling, {
    temperature: "--temperature",
    topP: "--top-p",
    topK: "--top-k",
    seed: "--seed",
  });
  const prefill = v.prefill === undefined
    ? undefined
    : oneOf("--prefill", v.prefill, PREFILL_MODES);
  let budget: Budget | undefined;
  if (v.method === undefined) {
    for (const flag of ["ratio", "budget", "params", "decode-evict"] as const) {
      if (v[flag] !== undefined) throw new RangeError(`--${flag}: needs --method NAME`);
    }
    if (v.prefill === "streaming") {
      throw new RangeError(
        "--prefill streaming: needs --method NAME (it compresses each chunk to the method's " +
          "budget); for a full cache in chunks, give --prefill-chunk N alone",
      );
    }
  } else {
    if ((v.ratio === undefined) === (v.budget === undefined)) {
      throw new RangeError(
        `--method ${v.method}: give one of --ratio X (keep 1/X of the prompt) or ` +
          "--budget N (keep N tokens per KV head and layer)",
      );
    }
    budget = v.ratio !== undefined
      ? { ratio: ratio(v.ratio) }
      : { budgetTokens: positiveInt("--budget", v.budget!) };
  }
  return {
    model: v.model,
    prompt: v.prompt,
    promptTokens: v["prompt-tokens"] === undefined
      ? undefined
      : positiveInt("--prompt-tokens", v["prompt-tokens"]),
    chat: v.chat,
    format,
    method: v.method,
    budget,
    params: v.params === undefined ? undefined : params(v.params),
    decodeEviction: v["decode-evict"] || undefined,
    prefill,
    prefillChunk: v["prefill-chunk"] === undefined
      ? undefined
      : positiveInt("--prefill-chunk", v["prefill-chunk"]),
    maxNewTokens: positiveInt("--max-new-tokens", v["max-new-tokens"]),
    json: v.json,
    device: oneOf("--device", v.device, DEVICE_CHOICES),
    weights: oneOf("--weights", v.weights, WEIGHTS_POLICIES),
    readEvery: positiveInt("--read-every", v["read-every"]),
    sampling,
    positions: positionOverride(v["max-positions"], v["rope-factor"]),
    gemv: oneOf("--gemv", v.gemv, GEMV_CHOICES),
  };
}

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Runs the CLI; returns the exit code: 0, or 2 for bad input (one line on err, no stack). */
export async function run(
  args: readonly string[],
  io: Io = { out: console.log, err: console.error },
  /** A GPU context to use instead of opening one (tests); --device is then not consulted. */
  gpu?: Gpu,
): Promise<number> {
  try {
    await generateCli(parseCli(args), io, gpu);
    return 0;
  } catch (e) {
    const known = e instanceof ModelError || e instanceof RangeError || e instanceof AdapterError ||
      (e instanceof TypeError && (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"));
    if (!known) throw e;
    io.err(`kvlab generate: ${(e as Error).message}`);
    if (e instanceof TypeError) io.err(USAGE);
    return 2;
  }
}

/** The tokenizer and folder of a folder or hf: model; undefined for shape: presets. */
async function openSource(
  a: CliArgs,
): Promise<{ dir: string; tokenizer: ModelTokenizer } | undefined> {
  if (a.model.startsWith("shape:")) {
    presetConfig(a.model.slice(6)); // an unknown preset fails before the GPU starts
    if (a.prompt !== undefined) {
      throw new RangeError(
        `--prompt: ${a.model} has random weights and no tokenizer; give --prompt-tokens N`,
      );
    }
    return undefined;
  }
  const dir = await sourceDir(sourceInfo(a.model));
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new ModelError(`--model: ${dir} is not a folder`);
    }
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`--model: cannot read ${dir} (${(e as Error).message})`);
  }
  return { dir, tokenizer: await ModelTokenizer.load(dir) };
}

async function generateCli(a: CliArgs, io: Io, given?: Gpu): Promise<void> {
  const source = await openSource(a);
  // template and encoding errors before the GPU starts
  const textIds = source && a.prompt !== undefined
    ? source.tokenizer.promptIds(a.prompt, a.chat)
    : undefined;
  const gpu = given ?? await Gpu.open({ device: a.device });
  const t0 = performance.now();
  const model = source
    ? await Model.load(gpu, source.dir, { dtype: a.weights, positions: a.positions, gemv: a.gemv })
    : await Model.fromPreset(gpu, a.model.slice(6), {
      dtype: a.weights === "f32" ? "f32" : "f16",
      positions: a.positions,
      gemv: a.gemv,
    });
  try {
    const load = performance.now() - t0;
    const ids = textIds ?? randomPrompt(model.config, a.promptTokens!);
    const max = model.config.maxPositions;
    if (ids.length > max) {
      throw new RangeError(
        `prompt: ${ids.length} tokens, longer than the model's ${positionLimit(model.config)}` +
          (a.positions ? "" : " (--max-positions N or --rope-factor F allows a longer context)"),
      );
    }
    const r: GenerateResult = await generate(model, [ids], {
      format: a.format,
      method: a.method,
      params: a.params,
      budget: a.budget,
      decodeEviction: a.decodeEviction,
      prefill: a.prefill,
      prefillChunk: a.prefillChunk,
      maxNewTokens: a.maxNewTokens,
      readEvery: a.readEvery,
      ...a.sampling,
    });
    const text = source ? source.tokenizer.decode(r.newIds[0]) : r.newIds[0].join(" ");
    if (!a.json) {
      io.out(text);
      return;
    }
    io.out(JSON.stringify({
      ids: r.ids[0],
      text,
      kvBytes: r.kvBytes,
      kvBytesFull: r.kvBytesFull,
      bytesReadPerStep: r.bytesReadPerStep,
      ms: { load, ...r.ms },
      model: a.model,
      format: a.format,
      method: r.compression?.method ?? null,
      methodMode: r.compression?.mode ?? null,
      params: r.compression?.params ?? null,
      ...(a.budget ?? {}),
      budget: r.compression?.budgets ?? null,
      promptTokens: ids.length,
      maxPositions: model.config.maxPositions,
      slidingWindow: model.config.slidingWindow,
      ropeScaling: model.config.ropeScaling,
      prefill: r.compression?.prefill ?? "dense",
      prefillChunk: r.compression?.prefillChunk ?? a.prefillChunk ?? null,
      sampling: r.sampling ?? null,
      newTokens: r.newIds[0].length,
      weightBytes: model.weights.bytes,
      randomWeights: !source,
      adapter: gpu.report.description,
      softwareAdapter: gpu.report.fallback,
    }));
  } finally {
    model.destroy();
  }
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}
