// The task runner (`deno task bench --suite tasks`): for each model, generate every task's
// samples at every length with the model's own tokenizer (no GPU yet: every prompt is checked
// against the model's context and the budgets before anything runs), then load the model once
// and run each (sample × method variant) cell: prefill (dense), compression, greedy decode,
// score, and measurements. Each finished cell is appended to records.jsonl at once; a re-run of
// the same spec skips the cells already there, so a killed run loses nothing it finished.
//
// Per cell (batch B): the sample's prompt goes in B times (every sequence the same prompt, so
// methods' equal-length rule holds and the batch measures serving throughput for that prompt);
// the score is sequence 0's. Timings: TTFT = prefill submit → GPU idle; decode tokens/s = B ×
// decode steps ÷ decode wall time (steps after the first token, readbacks included).
// Memory: kvBytes from the caches' allocations after prefill (fixed from then on, so it is also
// the decode peak); kvBytesFp16 from a probe allocation of the full fp16 cache of the same
// shape; peakGpuBytes from the context's allocation high-water mark (weights included).
// Not here: the spec (task_spec.ts), the summary (task_summary.ts).

import { heldTokens } from "../cache/format.ts";
import { headDimProblem } from "../cache/registry.ts";
import type { Gpu } from "../gpu/mod.ts";
import type { Budget } from "../methods/budget.ts";
import { resolveBudget } from "../methods/budget.ts";
import { getMethod } from "../methods/registry.ts";
import { fullCacheBytes, layerCacheShapes } from "../model/compression.ts";
import { fidelityRun, perplexityRun } from "../model/fidelity_run.ts";
import { extendPositions, type ModelConfig, positionLimit, readConfig } from "../model/config.ts";
import { generate, type GenerateResult, randomPrompt } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { presetConfig } from "../model/presets.ts";
import {
  openModel,
  openTokenizer,
  sourceDir,
  type SourceInfo,
  sourceInfo,
} from "../model/source.ts";
import type { ModelTokenizer } from "../model/tokenizer.ts";
import { getTask } from "../tasks/registry.ts";
import type { Sample, TaskDef } from "../tasks/types.ts";
import { progress } from "./progress.ts";
import { openRecords, type ResultsDir } from "./results.ts";
import {
  maxBatchKey,
  type MaxBatchRecord,
  type ModelFields,
  recordKey,
  sampleKey,
  type SampleRecord,
  streams,
  taskEnvelope,
  type TaskRecord,
  variantFields,
} from "./task_records.ts";
import { FULL, modelTaskPairs, type TaskRunSpec, type Variant, variants } from "./task_spec.ts";

export interface TaskSuiteContext {
  readonly gpu: Gpu;
  readonly spec: TaskRunSpec;
  readonly runId: string;
  readonly specHash: string;
  readonly out: ResultsDir;
  readonly log: (line: string) => void;
  /** Draw a progress bar (default: when stderr is a terminal). */
  readonly tty?: boolean;
}

/** One task sample, tokenized for one model. */
export interface SampleCell {
  readonly task: TaskDef;
  readonly sample: Sample;
  readonly ids: number[];
  readonly chat: boolean;
  readonly length: number;
  readonly maxNewTokens: number;
}

export interface ModelPlan {
  readonly info: SourceInfo;
  readonly config: ModelConfig;
  readonly tokenizer?: ModelTokenizer;
  readonly cells: readonly SampleCell[];
}

// --- planning (no GPU) ------------------------------------------------------------------------

/** A task's parameters for one model: builtin needs, the spec's entry, then the spec's flags. */
export function taskParams(
  spec: TaskRunSpec,
  info: SourceInfo,
  entry: { name: string; params?: Readonly<Record<string, unknown>> },
): Record<string, unknown> {
  const t = getTask(entry.name);
  const has = (n: string) => t.params.some((p) => p.name === n);
  const p: Record<string, unknown> = {
    ...(info.builtin?.taskParams[entry.name] ?? {}),
    ...(entry.params ?? {}),
  };
  if (has("samples")) p.samples = spec.samples;
  if (spec.depths !== null && has("depths")) p.depths = spec.depths;
  if (spec.haystack !== null && has("essays")) {
    p.essays = spec.haystack;
    const h = t.params.find((x) => x.name === "haystack");
    if (h?.values?.includes("essay")) p.haystack = "essay";
  }
  if (spec.data !== null && has("path")) p.path = spec.data;
  return p;
}

async function modelConfig(info: SourceInfo): Promise<ModelConfig> {
  if (info.kind === "shape") return presetConfig(info.source.slice(6));
  return await readConfig(await sourceDir(info));
}

/** Prompt ids of a sample: the chat template around the prompt when `chat`, then the prefix. */
export function sampleIds(tok: ModelTokenizer, s: Sample, chat: boolean): number[] {
  if (!chat) return tok.encode(s.prompt + s.answerPrefix);
  const text = tok.applyChatTemplate([{ role: "user", content: s.prompt }]) + s.answerPrefix;
  return tok.encode(text, false);
}

/** Generates and tokenizes every sample a model runs; checks contexts and budgets. */
export async function planModel(spec: TaskRunSpec, source: string): Promise<ModelPlan> {
  const info = sourceInfo(source);
  const read = await modelConfig(info);
  let config = read;
  if (spec.positions) {
    try {
      config = extendPositions(read, spec.positions);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw new RangeError(`positions for ${source}: ${e.message}`);
    }
  }
  const tokenizer = await openTokenizer(info);
  const chat = tokenizer !== undefined &&
    (spec.chat === "on" || (spec.chat === "auto" && tokenizer.chatTemplate !== undefined));
  if (spec.chat === "on" && tokenizer?.chatTemplate === undefined) {
    throw new RangeError(`chat "on": ${source} has no chat template; use --chat off or auto`);
  }
  const cells: SampleCell[] = [];
  const { pairs } = modelTaskPairs(spec);
  for (const entry of spec.tasks) {
    if (!pairs.some(([m, t]) => m === source && t === entry.name)) continue;
    const task = getTask(entry.name);
    const params = taskParams(spec, info, entry);
    for (const length of spec.lengths) {
      let samples: Sample[];
      if (!tokenizer) {
        samples = randomSamples(task, config, length, spec, params);
      } else {
        samples = await task.generate(spec.seed, length, tokenizer, params);
      }
      for (const sample of samples) {
        const ids = tokenizer ? sampleIds(tokenizer, sample, chat) : sampleRandomIds(sample);
        const maxNewTokens = Math.min(sample.maxNewTokens, spec.maxNewTokens ?? Infinity);
        if (ids.length + maxNewTokens > config.maxPositions) {
          throw new RangeError(
            `${task.name} at length ${length}: ${ids.length} prompt tokens + ${maxNewTokens} new ` +
              `tokens exceed ${source}'s context of ${config.maxPositions} ` +
              `(${positionLimit(config)}); expected lengths ≤ ${
                config.maxPositions - maxNewTokens
              }` +
              (spec.positions ? "" : " (positions { maxPositions, ropeFactor } allows longer)"),
          );
        }
        const window = config.slidingWindow;
        if (window !== null && ids.length + maxNewTokens > window) {
          const methods = spec.methods.filter((m) => m.name !== FULL).map((m) => m.name);
          if (methods.length > 0) {
            throw new RangeError(
              `${task.name} at length ${length}: ${ids.length} prompt tokens + ${maxNewTokens} ` +
                `new tokens exceed ${source}'s sliding_window ${window}, which only full caches ` +
                `apply; methods ${methods.join(", ")} need lengths ≤ ${window - maxNewTokens} ` +
                `(or run "${FULL}" alone)`,
            );
          }
        }
        for (const b of spec.budgets) {
          if ("budgetTokens" in b && b.budgetTokens > ids.length) {
            throw new RangeError(
              `budget ${b.budgetTokens} tokens: larger than ${task.name}'s prompt of ${ids.length} ` +
                `tokens at length ${length}; expected a budget in [1, ${ids.length}]`,
            );
          }
        }
        cells.push({ task, sample, ids, chat, length, maxNewTokens });
      }
    }
  }
  return { info, config, tokenizer, cells };
}

/** Models without a tokenizer (shape:) read seeded random ids; only `any`-need tasks get here. */
function randomSamples(
  task: TaskDef,
  config: ModelConfig,
  length: number,
  spec: TaskRunSpec,
  params: Record<string, unknown>,
): Sample[] {
  const n = typeof params.samples === "number" ? params.samples : 1;
  const steps = typeof params.steps === "number" ? params.steps : 16;
  return Array.from({ length: n }, (_, i) => ({
    id: `${task.name}:${length}:${spec.seed}:random:${i}`,
    task: task.name,
    prompt: "",
    answerPrefix: "",
    answers: [],
    maxNewTokens: steps,
    meta: {
      length,
      tokens: length,
      ids: randomPrompt(config, length, spec.seed * 1000 + i + 1),
    },
  }));
}

function sampleRandomIds(s: Sample): number[] {
  return s.meta.ids as number[];
}

// --- running ----------------------------------------------------------------------------------

interface Todo {
  readonly cell: SampleCell;
  readonly variant: Variant;
}

export async function runTaskSuite(ctx: TaskSuiteContext): Promise<TaskRecord[]> {
  const { gpu, spec, log } = ctx;
  const { writer, prior } = openRecords<TaskRecord>(ctx.out, gpu.report.description);
  const done = new Set(prior.map(recordKey));
  const records: TaskRecord[] = [...prior];
  const { variants: vs, skipped } = variants(spec);
  for (const s of skipped) log(`skipped ${s}`);
  for (const s of modelTaskPairs(spec).skipped) log(`skipped ${s}`);
  const plans: ModelPlan[] = [];
  for (const source of spec.models) plans.push(await planModel(spec, source));
  const work = plans.map((plan) => {
    const usable = vs.filter((v) => {
      const why = headDimProblem(v.format, plan.config.D);
      if (why) log(`skipped ${label(v)} on ${plan.info.source}: ${why}`);
      return !why;
    });
    const todo: Todo[] = [];
    for (const cell of plan.cells) {
      for (const variant of usable) {
        const key = sampleKey({
          model: plan.info.source,
          task: cell.task.name,
          sampleId: cell.sample.id,
          contextLength: cell.length,
          batchSize: spec.batchSize,
          ...variantFields(variant, spec.prefill),
        });
        if (!done.has(key)) todo.push({ cell, variant });
      }
    }
    const batches = spec.memoryBudget === null ? [] : maxBatchCells(spec, plan, usable)
      .filter((m) => !done.has(maxBatchKey({ ...m, ...variantFields(m.variant, spec.prefill) })));
    return { plan, todo, batches };
  });
  const total = work.reduce((s, w) => s + w.todo.length + w.batches.length, 0);
  if (prior.length > 0) {
    log(`resuming: ${prior.length} records already there, ${total} cells to go`);
  }
  const bar = progress(total, log, ctx.tty);
  try {
    for (const { plan, todo, batches } of work) {
      if (todo.length === 0 && batches.length === 0) continue;
      // the plan already holds the tokenizer
      const opened = await openModel(gpu, plan.info.source, {
        seed: spec.seed,
        tokenizer: false,
        positions: spec.positions,
      });
      const model = opened.model;
      try {
        const fields = modelFields(plan, model);
        for (const { cell, variant } of todo) {
          const rec = await runSample(ctx, model, plan, fields, cell, variant);
          writer.append(rec as unknown as Record<string, unknown>);
          records.push(rec);
          bar.tick(
            `${shortModel(plan.info.source)} ${cell.task.name}@${cell.length} ${label(variant)}`,
            `score ${rec.score === null ? "n/a" : rec.score.toFixed(2)}  KV ${
              (rec.kvBytes / 2 ** 20).toFixed(2)
            } MiB (×${rec.compression.toFixed(2)} vs fp16)`,
          );
        }
        for (const m of batches) {
          const rec = await runMaxBatch(ctx, model, fields, m);
          writer.append(rec as unknown as Record<string, unknown>);
          records.push(rec);
          bar.tick(
            `${shortModel(plan.info.source)} max batch @${m.cell.length} ${label(m.variant)}`,
            `B=${rec.maxBatch}  ${rec.decodeTokensPerSec.toFixed(1)} tok/s`,
          );
        }
      } finally {
        model.destroy();
      }
    }
  } finally {
    bar.stop();
  }
  return records;
}

function shortModel(source: string): string {
  return source.length > 28 ? "…" + source.slice(-27) : source;
}

/** "snapkv+kivi4 r4", "full fp16". */
export function label(v: Variant): string {
  const b = v.budget === undefined
    ? ""
    : "ratio" in v.budget
    ? ` ${v.budget.ratio}x`
    : ` ${v.budget.budgetTokens}t`;
  return v.method === FULL ? `full ${v.format}` : `${v.method}+${v.format}${b}`;
}

function modelFields(plan: ModelPlan, model: Model): ModelFields {
  const c = model.config;
  return {
    model: plan.info.source,
    modelKind: plan.info.kind,
    modelLabel: plan.info.kind === "builtin"
      ? plan.info.builtin!.label
      : plan.info.kind === "shape"
      ? "random weights"
      : null,
    weightBytes: model.weights.bytes,
    layers: c.layers,
    kvHeads: c.Hkv,
    headDim: c.D,
    slidingWindow: c.slidingWindow,
    maxPositions: c.maxPositions,
    ropeScaling: c.ropeScaling,
  };
}

interface Run {
  readonly r: GenerateResult;
  readonly kvBytesFp16: number;
  readonly peakGpuBytes: number;
}

/** Generates B copies of `ids` under a variant and measures it. */
async function measure(
  gpu: Gpu,
  model: Model,
  ids: readonly number[],
  B: number,
  v: Variant,
  maxNewTokens: number,
  stopAtEos: boolean,
  spec: TaskRunSpec,
): Promise<Run> {
  gpu.resetPeak();
  const r = await generate(model, Array.from({ length: B }, () => ids), {
    maxNewTokens,
    ...variantOptions(v, spec),
    stopAtEos,
  });
  const peakGpuBytes = gpu.peakBytes;
  const c = model.config;
  // the fp16 full cache the runtime would allocate: rolling where a sliding window allows
  const shape = { B, Hkv: c.Hkv, D: c.D, capacity: ids.length + maxNewTokens };
  const kvBytesFp16 = await fullCacheBytes(gpu, "fp16", layerCacheShapes(c, shape, "fp16"));
  return { r, kvBytesFp16, peakGpuBytes };
}

/** A variant as generate()/fidelityRun() options (streaming prefill only where it streams). */
function variantOptions(v: Variant, spec: TaskRunSpec) {
  const streaming = spec.prefill === "streaming" && streams(v);
  return {
    format: v.format,
    method: v.method === FULL ? undefined : v.method,
    params: v.method === FULL ? undefined : v.params,
    budget: v.budget,
    ...(streaming
      ? { prefill: "streaming" as const, prefillChunk: spec.prefillChunk ?? undefined }
      : {}),
  };
}

function rates(r: GenerateResult, B: number, T: number) {
  return {
    ttftMs: r.ms.prefill,
    prefillTokensPerSec: (B * T) / (r.ms.prefill / 1000),
    decodeTokensPerSec: r.steps > 0 ? (B * r.steps) / (r.ms.decode / 1000) : 0,
  };
}

function nominalRatio(budget: Budget | undefined, T: number): number {
  if (budget === undefined) return 1;
  return T / resolveBudget(budget, T);
}

async function runSample(
  ctx: TaskSuiteContext,
  model: Model,
  plan: ModelPlan,
  fields: ModelFields,
  cell: SampleCell,
  v: Variant,
): Promise<SampleRecord> {
  const { gpu, spec } = ctx;
  const B = spec.batchSize;
  const run = await measure(gpu, model, cell.ids, B, v, cell.maxNewTokens, true, spec);
  const { r } = run;
  const newIds = r.newIds[0];
  const prediction = plan.tokenizer ? plan.tokenizer.decode(newIds) : newIds.join(" ");
  const logits = cell.task.scoring === "logits";
  const applicable = logits || plan.info.kind !== "shape";
  const scores = logits
    ? await fidelityScores(model, cell, v, spec)
    : applicable
    ? cell.task.scoreAll(prediction, cell.sample)
    : {};
  // per layer: the method's budget, or what the full cache holds of the prompt (a rolling
  // sliding-window layer: its window)
  const c = model.config;
  const kept = r.compression?.budgets ??
    layerCacheShapes(
      c,
      { B, Hkv: c.Hkv, D: c.D, capacity: cell.ids.length + cell.maxNewTokens },
      v.format,
    )
      .map((shape) => heldTokens(shape, cell.ids.length));
  const meta = cell.sample.meta;
  const vf = variantFields(v, spec.prefill);
  if (v.method !== FULL) vf.methodMode = r.compression?.mode ?? getMethod(v.method).mode;
  return {
    ...taskEnvelope(gpu, ctx.runId, ctx.specHash, false),
    kind: "sample",
    ...fields,
    ...vf,
    task: cell.task.name,
    taskFamily: cell.task.family,
    sampleId: cell.sample.id,
    contextLength: cell.length,
    promptTokens: cell.ids.length,
    depth: typeof meta.depth === "number" ? meta.depth : null,
    needleDepth: typeof meta.needleDepth === "number" ? meta.needleDepth : null,
    chat: cell.chat,
    batchSize: B,
    score: applicable ? scores[cell.task.metrics[0]] : null,
    scores,
    prediction: prediction.slice(0, 200),
    answers: [...cell.sample.answers],
    newTokens: newIds.length,
    keptTokens: kept.reduce((s, x) => s + x, 0) / kept.length,
    kvBytes: r.kvBytes,
    kvBytesPeak: r.kvBytes,
    bytesReadPerStep: r.bytesReadPerStep,
    prefillChunk: r.compression?.prefill === "streaming"
      ? r.compression.prefillChunk ?? null
      : null,
    kvBytesFp16: run.kvBytesFp16,
    compression: run.kvBytesFp16 / r.kvBytes,
    nominalRatio: nominalRatio(v.budget, cell.ids.length),
    peakGpuBytes: run.peakGpuBytes,
    ...rates(r, B, cell.ids.length),
  };
}

/**
 * Scores of a logits-scored task (fidelity): the variant against the full fp16 cache on the same
 * prompt, teacher-forced on the full run's greedy tokens for the cell's steps (top-1 agreement,
 * mean KL), and the perplexity of the prompt's last `steps` tokens with the rest compressed.
 */
async function fidelityScores(
  model: Model,
  cell: SampleCell,
  v: Variant,
  spec: TaskRunSpec,
): Promise<Record<string, number>> {
  const steps = cell.maxNewTokens;
  const o = variantOptions(v, spec);
  const f = await fidelityRun(model, cell.ids, { ...o, steps });
  const ppl = await perplexityRun(model, cell.ids, cell.ids.length - steps, o);
  return { top1_agreement: f.top1Agreement, mean_kl: f.meanKl, perplexity: ppl.perplexity };
}

// --- the largest batch in a memory budget -----------------------------------------------------

interface MaxBatchCell {
  readonly model: string;
  readonly contextLength: number;
  readonly cell: SampleCell;
  readonly variant: Variant;
}

/** One max-batch cell per (variant, length): the first sample of that length. */
function maxBatchCells(spec: TaskRunSpec, plan: ModelPlan, vs: readonly Variant[]): MaxBatchCell[] {
  const out: MaxBatchCell[] = [];
  for (const length of spec.lengths) {
    const cell = plan.cells.find((c) => c.length === length);
    if (!cell) continue;
    for (const variant of vs) {
      out.push({ model: plan.info.source, contextLength: length, cell, variant });
    }
  }
  return out;
}

/** New tokens a max-batch measurement decodes (enough steps for a stable rate). */
export const MAX_BATCH_NEW_TOKENS = 16;

/**
 * Peak GPU bytes are affine in B (every per-sequence buffer scales with B; weights and kernels
 * do not): measure B = 1 and 2, solve for fixed + perSequence x B, predict the largest B within
 * the budget, then run it and step down while the measured peak exceeds the budget (or the
 * device refuses an allocation), and up while B + 1 still fits, so B is the largest measured to
 * fit with B + 1 measured not to.
 */
async function runMaxBatch(
  ctx: TaskSuiteContext,
  model: Model,
  fields: ModelFields,
  m: MaxBatchCell,
): Promise<MaxBatchRecord> {
  const { gpu, spec } = ctx;
  const budget = spec.memoryBudget!;
  const n = MAX_BATCH_NEW_TOKENS;
  const at = async (B: number): Promise<Run | undefined> => {
    try {
      return await measure(gpu, model, m.cell.ids, B, m.variant, n, false, spec);
    } catch (e) {
      if (e instanceof RangeError || /out of memory|allocation|exceeds/i.test(String(e))) {
        return undefined;
      }
      throw e;
    }
  };
  // a batch of 1 must run: its error, whatever it is, is the cell's
  const one = await measure(gpu, model, m.cell.ids, 1, m.variant, n, false, spec);
  const two = await at(2);
  if (!two) throw new RangeError(`max batch: a batch of 2 does not run at all`);
  const per = two.peakGpuBytes - one.peakGpuBytes;
  const fixed = one.peakGpuBytes - per;
  let B = per > 0 ? Math.floor((budget - fixed) / per) : 1;
  B = Math.max(0, Math.min(B, gpu.limits.maxComputeWorkgroupsPerDimension));
  let run: Run | undefined;
  while (B >= 1) {
    run = B === 1 ? one : B === 2 ? two : await at(B);
    if (run && run.peakGpuBytes <= budget) break;
    B--;
    run = undefined;
  }
  // the fit may be conservative (the peak need not be exactly affine): step up while B + 1 fits
  while (run && B < gpu.limits.maxComputeWorkgroupsPerDimension) {
    const next = B + 1 === 2 ? two : await at(B + 1);
    if (!next || next.peakGpuBytes > budget) break;
    B++;
    run = next;
  }
  const vf = variantFields(m.variant, spec.prefill);
  if (m.variant.method !== FULL) vf.methodMode = getMethod(m.variant.method).mode;
  const r = run?.r;
  return {
    ...taskEnvelope(gpu, ctx.runId, ctx.specHash, false),
    kind: "maxBatch",
    ...fields,
    ...vf,
    contextLength: m.contextLength,
    promptTokens: m.cell.ids.length,
    memoryBudget: budget,
    maxBatch: B,
    fixedBytes: fixed,
    bytesPerSequence: per,
    peakGpuBytes: run?.peakGpuBytes ?? 0,
    kvBytes: r?.kvBytes ?? 0,
    decodeTokensPerSec: r ? rates(r, B, m.cell.ids.length).decodeTokensPerSec : 0,
    ttftMs: r?.ms.prefill ?? 0,
    newTokens: n,
  };
}
