// Task-suite records (docs/results.md, schema version in results.ts): one `sample` record per
// (model, method variant, task sample, context length, batch size) — its score and the
// measurements of the run that produced it — and one `maxBatch` record per (model, variant,
// length) when a memory budget is given. Both carry the shared envelope (kernel_records.ts).

import type { Gpu } from "../gpu/mod.ts";
import type { Budget } from "../methods/budget.ts";
import type { RopeScaling } from "../model/config.ts";
import { type Envelope, envelope } from "./kernel_records.ts";
import type { PrefillMode, Variant } from "./task_spec.ts";
import { FULL, variantKey } from "./task_spec.ts";
import { getMethod } from "../methods/registry.ts";

export interface TaskEnvelope extends Omit<Envelope, "suite"> {
  suite: "tasks";
}

export function taskEnvelope(
  gpu: Gpu,
  runId: string,
  specHash: string,
  simulated: boolean,
): TaskEnvelope {
  return { ...envelope(gpu, runId, specHash), suite: "tasks", simulated };
}

/** What a record says of its method variant. */
export interface VariantFields {
  /** "full" or the method's registry name. */
  method: string;
  /** The method's parameters, defaults filled in ({} for full). */
  params: Record<string, number>;
  /** Cache format (engine/cache/registry.ts). */
  format: string;
  /** One of ratio / budgetTokens for a method; neither for full. */
  ratio?: number;
  budgetTokens?: number;
  /** one-shot (compressed after prefill), decode (evicts every step), sparse (reads a subset per step) or none (full). */
  methodMode: "one-shot" | "decode" | "sparse" | "none";
  prefillMode: PrefillMode;
}

export function variantFields(v: Variant, prefillMode: PrefillMode): VariantFields {
  return {
    method: v.method,
    params: { ...v.params },
    format: v.format,
    ...(v.budget ?? {}),
    methodMode: "none",
    prefillMode: streams(v) ? prefillMode : "dense",
  };
}

/** Whether a variant's prefill can stream: methods that evict (not full, not quest). */
export function streams(v: Variant): boolean {
  return v.method !== FULL && getMethod(v.method).mode !== "sparse";
}

/** What a record says of its model. */
export interface ModelFields {
  model: string;
  modelKind: "shape" | "builtin" | "hub" | "folder";
  /** "synthetic mechanism model, not an LLM" (builtin), "random weights" (shape), or null. */
  modelLabel: string | null;
  weightBytes: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  /**
   * The model's sliding window (tokens), applied by full caches' attention; null where it has
   * none. Methods run only within it (the runner refuses them past it).
   */
  slidingWindow: number | null;
  /** The position limit the model ran with (max_position_embeddings, or the user's extension). */
  maxPositions: number;
  /** RoPE scaling as run (config.json's, or the user's rope factor as linear); null: none. */
  ropeScaling: RopeScaling | null;
}

export interface SampleRecord extends TaskEnvelope, VariantFields, ModelFields {
  kind: "sample";
  task: string;
  taskFamily: string;
  sampleId: string;
  /** The requested context length (the task's token budget). */
  contextLength: number;
  /** Tokens the model read (prompt + answer prefix, template included). */
  promptTokens: number;
  /** Grid tasks: the requested depth (0..1) and where the needle landed. */
  depth: number | null;
  needleDepth: number | null;
  chat: boolean;
  batchSize: number;
  /** The primary metric, in [0, 1]; null where accuracy is not applicable. */
  score: number | null;
  /** Every metric of the task, by name. */
  scores: Record<string, number>;
  /** The generated text (first 200 characters) and the reference answers. */
  prediction: string;
  answers: string[];
  newTokens: number;
  /** Tokens kept per (b, KV head), mean over layers (the prompt's length for full). */
  keptTokens: number;
  /** KV-cache bytes after prefill (compression included), from the allocations. */
  kvBytes: number;
  /** The most KV-cache bytes live during decode (allocations are fixed after prefill: = kvBytes). */
  kvBytesPeak: number;
  /** KV bytes the last decode step read (quest: its selected pages and metadata; else the caches). */
  bytesReadPerStep: number;
  /** Streaming prefill's chunk in tokens (null for dense). */
  prefillChunk: number | null;
  /** The full cache in fp16 for the same tokens, from a probe allocation. */
  kvBytesFp16: number;
  /** kvBytesFp16 / kvBytes: what the cache really shrank by. */
  compression: number;
  /** The token ratio asked for: ratio, or prompt tokens / budgetTokens (1 for full). */
  nominalRatio: number;
  peakGpuBytes: number;
  ttftMs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
}

export interface MaxBatchRecord extends TaskEnvelope, VariantFields, ModelFields {
  kind: "maxBatch";
  contextLength: number;
  promptTokens: number;
  memoryBudget: number;
  /** The largest batch whose peak GPU bytes stayed within the budget (0: not even one). */
  maxBatch: number;
  /** Peak GPU bytes = fixed + perSequence x B, fitted from B = 1 and 2 (allocations). */
  fixedBytes: number;
  bytesPerSequence: number;
  /** Measured at maxBatch. */
  peakGpuBytes: number;
  kvBytes: number;
  decodeTokensPerSec: number;
  ttftMs: number;
  newTokens: number;
}

export type TaskRecord = SampleRecord | MaxBatchRecord;

/** The resume key of a sample cell. */
export function sampleKey(
  r: {
    model: string;
    task: string;
    sampleId: string;
    contextLength: number;
    batchSize: number;
  } & VariantLike,
): string {
  return `sample|${r.model}|${r.task}|${r.sampleId}|${r.contextLength}|${r.batchSize}|${keyOf(r)}`;
}

/** The resume key of a max-batch cell. */
export function maxBatchKey(r: { model: string; contextLength: number } & VariantLike): string {
  return `maxBatch|${r.model}|${r.contextLength}|${keyOf(r)}`;
}

type VariantLike = {
  method: string;
  params: Record<string, number>;
  format: string;
  ratio?: number;
  budgetTokens?: number;
};

function keyOf(r: VariantLike): string {
  const budget: Budget | undefined = r.ratio !== undefined
    ? { ratio: r.ratio }
    : r.budgetTokens !== undefined
    ? { budgetTokens: r.budgetTokens }
    : undefined;
  return variantKey({ method: r.method, params: r.params, format: r.format, budget });
}

export function recordKey(r: TaskRecord): string {
  return r.kind === "maxBatch" ? maxBatchKey(r) : sampleKey(r);
}
