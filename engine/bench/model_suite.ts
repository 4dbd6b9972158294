// The model suite (`deno task bench --suite model`): end-to-end prefill and decode speed and
// memory of a model with each cache format, and decode as a fraction of the weight-bandwidth
// roofline (the bytes of weights a decode step reads ÷ the copy kernel's bandwidth, measured in
// the same run). `shape:` models have a real architecture's shapes and random weights: their
// speed and memory are real, their accuracy is not applicable (and not reported).
// Not here: task accuracy (the runner issue).

import { formatNames, getFormat } from "../cache/registry.ts";
import type { Gpu } from "../gpu/mod.ts";
import { type Matrix } from "../kernels/matrix.ts";
import { generate, randomPrompt } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { openModel } from "../model/source.ts";
import { presetConfig } from "../model/presets.ts";
import { checkInt } from "../shapes.ts";
import { type Envelope, envelope } from "./kernel_records.ts";
import { measureCopy } from "./kernel_suite.ts";
import { table } from "./kernel_summary.ts";
import { openRecords, type ResultsDir, SCHEMA_VERSION, writeJson } from "./results.ts";

export type ModelPreset = "smoke" | "default";
export const MODEL_PRESETS: Record<
  ModelPreset,
  { models: string[]; lengths: number[]; newTokens: number; formats: string[]; copyMiB: number }
> = {
  smoke: {
    models: ["shape:tiny"],
    lengths: [64],
    newTokens: 8,
    formats: ["fp16", "kivi4"],
    copyMiB: 8,
  },
  default: {
    models: ["shape:llama-3.2-1b", "shape:llama-3-8b"],
    lengths: [128, 2048],
    newTokens: 64,
    formats: ["fp16", "kivi4", "kivi2"],
    copyMiB: 256,
  },
};

export interface ModelSpec {
  readonly suite: "model";
  readonly preset: ModelPreset;
  /** Model sources: `shape:<preset>` or a local Hugging Face folder. */
  readonly models: readonly string[];
  readonly formats: readonly string[];
  /** Prompt lengths (random ids). */
  readonly lengths: readonly number[];
  readonly batchSize: number;
  readonly newTokens: number;
  readonly copyMiB: number;
  readonly seed: number;
}

export function validateModelSpec(s: ModelSpec): void {
  if (!(s.preset in MODEL_PRESETS)) {
    throw new RangeError(
      `preset: got "${s.preset}", expected one of ${Object.keys(MODEL_PRESETS).join(", ")}`,
    );
  }
  if (s.models.length === 0) throw new RangeError("models: expected at least one model");
  for (const m of s.models) if (m.startsWith("shape:")) presetConfig(m.slice(6));
  if (s.formats.length === 0) {
    throw new RangeError(`formats: expected at least one of ${formatNames().join(", ")}`);
  }
  for (const f of s.formats) getFormat(f);
  if (s.lengths.length === 0) throw new RangeError("lengths: expected at least one prompt length");
  for (const n of s.lengths) checkInt("prompt length", n);
  checkInt("batch size", s.batchSize);
  checkInt("new tokens", s.newTokens, 2);
  checkInt("copy MiB", s.copyMiB, 1, 4096);
  checkInt("seed", s.seed, 0);
}

export interface ModelRecord extends Omit<Envelope, "suite"> {
  suite: "model";
  kind: "generate";
  model: string;
  format: string;
  method: "full";
  contextLength: number;
  batchSize: number;
  newTokens: number;
  /** Accuracy is not applicable to random-weight `shape:` models. */
  accuracy: null;
  weightBytes: number;
  /** Weight bytes one decode step reads (every matrix; the embedding only as the tied lm_head). */
  weightBytesPerStep: number;
  kvBytes: number;
  peakGpuBytes: number;
  ttftMs: number;
  prefillTokensPerSec: number;
  decodeMsPerStep: number;
  decodeTokensPerSec: number;
  copyGbPerSec: number;
  /** (weightBytesPerStep / copy bandwidth) / decodeMsPerStep: 1 = at the weight roofline. */
  rooflineFraction: number;
}

function matrixBytes(m: Matrix): number {
  return m.chunks.reduce((s, c) => s + c.buffer.size, 0);
}

/** Weight bytes a decode step reads: all layer matrices and the lm head (not the embedding table). */
export function weightBytesPerStep(model: Model): number {
  const w = model.weights;
  let bytes = matrixBytes(w.lmHead) + w.norm.size;
  for (const l of w.layers) {
    for (const m of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) bytes += matrixBytes(m);
  }
  return bytes;
}

export interface ModelSuiteContext {
  readonly gpu: Gpu;
  readonly spec: ModelSpec;
  readonly runId: string;
  readonly specHash: string;
  readonly out: ResultsDir;
  readonly log: (line: string) => void;
}

const key = (r: { model: string; format: string; contextLength: number }) =>
  `${r.model}|${r.format}|${r.contextLength}`;

export async function runModelSuite(ctx: ModelSuiteContext): Promise<ModelRecord[]> {
  const { gpu, spec, log } = ctx;
  const { writer, prior } = openRecords<ModelRecord>(ctx.out, gpu.report.description);
  const done = new Set(prior.map(key));
  const records = [...prior];
  const copy = await measureCopy(gpu, spec.copyMiB, 10, 3);
  log(`copy kernel: ${copy.gbPerSec.toFixed(1)} GB/s (${copy.timing})`);
  for (const source of spec.models) {
    const todo = spec.lengths.flatMap((T) =>
      spec.formats.filter((format) => !done.has(key({ model: source, format, contextLength: T })))
        .map((format) => ({ T, format }))
    );
    if (todo.length === 0) continue;
    const { model } = await openModel(gpu, source, { seed: spec.seed, tokenizer: false });
    try {
      const perStep = weightBytesPerStep(model);
      for (const { T, format } of todo) {
        if (T + spec.newTokens > model.config.maxPositions) {
          throw new RangeError(
            `prompt length ${T} + ${spec.newTokens} new tokens exceeds ${source}'s max_position_embeddings ${model.config.maxPositions}`,
          );
        }
        const prompts = Array.from(
          { length: spec.batchSize },
          (_, b) => randomPrompt(model.config, T, spec.seed + b),
        );
        gpu.resetPeak();
        const r = await generate(model, prompts, {
          maxNewTokens: spec.newTokens,
          format,
          stopAtEos: false,
        });
        const msPerStep = r.ms.perToken;
        const rec: ModelRecord = {
          ...envelope(gpu, ctx.runId, ctx.specHash),
          suite: "model",
          kind: "generate",
          model: source,
          format,
          method: "full",
          contextLength: T,
          batchSize: spec.batchSize,
          newTokens: spec.newTokens,
          accuracy: null,
          weightBytes: model.weights.bytes,
          weightBytesPerStep: perStep,
          kvBytes: r.kvBytes,
          peakGpuBytes: gpu.peakBytes,
          ttftMs: r.ms.prefill,
          prefillTokensPerSec: (spec.batchSize * T) / (r.ms.prefill / 1000),
          decodeMsPerStep: msPerStep,
          decodeTokensPerSec: (spec.batchSize * 1000) / msPerStep,
          copyGbPerSec: copy.gbPerSec,
          rooflineFraction: perStep / (copy.gbPerSec * 1e6) / msPerStep,
        };
        writer.append(rec as unknown as Record<string, unknown>);
        records.push(rec);
        log(
          `${source} ${format.padEnd(6)} T=${T}  TTFT ${rec.ttftMs.toFixed(1)} ms  prefill ${
            rec.prefillTokensPerSec.toFixed(0)
          } tok/s  decode ${rec.decodeTokensPerSec.toFixed(1)} tok/s  ${
            (100 * rec.rooflineFraction).toFixed(1)
          }% of weight roofline`,
        );
      }
    } finally {
      model.destroy();
    }
  }
  return records;
}

export function summarizeModel(spec: ModelSpec, records: readonly ModelRecord[]) {
  return {
    schemaVersion: SCHEMA_VERSION,
    suite: "model",
    spec,
    representative: records.every((r) => r.representative),
    adapters: [...new Set(records.map((r) => JSON.stringify(r.adapter)))].map((s) => JSON.parse(s)),
    rows: records.map((r) => ({
      model: r.model,
      format: r.format,
      contextLength: r.contextLength,
      batchSize: r.batchSize,
      kvBytes: r.kvBytes,
      peakGpuBytes: r.peakGpuBytes,
      ttftMs: r.ttftMs,
      prefillTokensPerSec: r.prefillTokensPerSec,
      decodeTokensPerSec: r.decodeTokensPerSec,
      rooflineFraction: r.rooflineFraction,
    })),
    target: {
      name: "decode ≥ 50% of the weight-bandwidth roofline at batch 1, short context",
      status: records.some((r) => r.representative && r.batchSize === 1)
        ? (records.filter((r) => r.representative && r.batchSize === 1 && r.contextLength <= 512)
            .every((r) => r.rooflineFraction >= 0.5)
          ? "met"
          : "missed")
        : "unmeasured",
    },
  };
}

export function writeModelSummary(out: ResultsDir, summary: unknown): void {
  writeJson(out.summaryPath, summary);
}

export function modelTable(records: readonly ModelRecord[]): string {
  const head = [
    "model",
    "format",
    "T",
    "B",
    "KV MiB",
    "peak MiB",
    "TTFT ms",
    "prefill tok/s",
    "decode tok/s",
    "% roofline",
  ];
  const rows = records.map((r) => [
    r.model,
    r.format,
    String(r.contextLength),
    String(r.batchSize),
    (r.kvBytes / 2 ** 20).toFixed(2),
    (r.peakGpuBytes / 2 ** 20).toFixed(1),
    r.ttftMs.toFixed(1),
    r.prefillTokensPerSec.toFixed(0),
    r.decodeTokensPerSec.toFixed(1),
    (100 * r.rooflineFraction).toFixed(1),
  ]);
  return table(head, rows, 2);
}
