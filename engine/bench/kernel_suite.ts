// The kernel suite: for each cache format × context length, one attention layer (default the
// Llama-3-8B shape H=32, Hkv=8, D=128, B=1) is filled through the format's append path and
// decode attention is timed over the stored form, next to a copy kernel measured in the same
// run (`decode` records). For each depth it also plants a needle and measures whether decode
// attention over the stored form still retrieves it (`needle` records). Each cell is one
// record in records.jsonl (docs/results.md).
// Not here: models, tasks, accuracy on text (the runner issue).

import { createCache, getFormat } from "../cache/registry.ts";
import type { KvCache } from "../cache/format.ts";
import type { Gpu } from "../gpu/mod.ts";
import { median, timeRuns } from "../gpu/mod.ts";
import { CopyKernel } from "../kernels/copy.ts";
import { DecodeAttention } from "../kernels/decode_attention.ts";
import { decodeAttentionRef } from "../reference/attention.ts";
import { layerData, type LayerShape, relativeError } from "./kernel_data.ts";
import {
  cellKey,
  type DecodeRecord,
  envelope,
  type KernelRecord,
  type NeedleRecord,
} from "./kernel_records.ts";
import type { KernelSpec } from "./kernel_spec.ts";
import { needleCosine, needlePosition, plantNeedle, RETRIEVED_COSINE } from "./needle.ts";
import { openRecords, type ResultsDir } from "./results.ts";
import { Compressor } from "../methods/compress.ts";
import type { Budget } from "../methods/budget.ts";
import { parseComposition } from "../methods/registry.ts";
import { questNeedleCell } from "./quest_needle.ts";
import { randn } from "../reference/random.ts";

export * from "./kernel_records.ts";
export * from "./kernel_spec.ts";
export * from "./kernel_summary.ts";

export interface SuiteContext {
  readonly gpu: Gpu;
  readonly spec: KernelSpec;
  readonly runId: string;
  readonly specHash: string;
  readonly out: ResultsDir;
  readonly log: (line: string) => void;
}

type Layer = { k: Float32Array; v: Float32Array; q: Float32Array };

// --- copy roofline -------------------------------------------------------------------------------

export async function measureCopy(gpu: Gpu, mib: number, reps: number, warmup: number) {
  const bytes = Math.min(
    mib * 1024 * 1024,
    Math.floor(gpu.limits.maxStorageBufferBindingSize / 16) * 16,
  );
  const src = gpu.createBuffer("copy.src", bytes);
  const dst = gpu.createBuffer("copy.dst", bytes);
  const copy = await CopyKernel.create(gpu, src, dst, bytes);
  try {
    const t = await timeRuns(gpu, warmup + reps, (pass) => copy.encode(pass));
    const ms = median(t.ms.slice(warmup));
    return { bytes, ms, gbPerSec: (2 * bytes) / (ms * 1e6), timing: t.source };
  } finally {
    copy.destroy();
    gpu.destroy(src);
    gpu.destroy(dst);
  }
}

// --- cells ---------------------------------------------------------------------------------------

/** Runs every cell not already in records.jsonl; returns all records, prior ones first. */
export async function runKernelSuite(ctx: SuiteContext): Promise<KernelRecord[]> {
  const { gpu, spec, log } = ctx;
  const { writer, prior } = openRecords<KernelRecord>(ctx.out, gpu.report.description);
  const done = new Set(prior.map(cellKey));
  if (done.size > 0) log(`resuming: ${done.size} cells already recorded in ${ctx.out.recordsPath}`);

  // Fail before generating gigabytes of inputs: the f32 K/V inputs are the largest bindings.
  for (const T of spec.lengths) {
    const bytes = spec.batchSize * T * spec.kvHeads * spec.headDim * 4;
    gpu.checkBinding(
      `context length ${T}: the f32 K input [B=${spec.batchSize}, T=${T}, Hkv=${spec.kvHeads}, D=${spec.headDim}]`,
      bytes,
    );
  }
  const copy = await measureCopy(gpu, spec.copyMiB, spec.reps, spec.warmup);
  log(
    `copy kernel: ${(copy.bytes / 2 ** 20).toFixed(0)} MiB in ${copy.ms.toFixed(3)} ms = ${
      copy.gbPerSec.toFixed(1)
    } GB/s (${copy.timing})`,
  );

  const records = [...prior];
  const record = (r: KernelRecord) => {
    writer.append(r as unknown as Record<string, unknown>);
    records.push(r);
  };
  const shape: LayerShape = {
    B: spec.batchSize,
    H: spec.heads,
    Hkv: spec.kvHeads,
    D: spec.headDim,
  };
  const variants = needleVariants(spec);
  for (const T of spec.lengths) {
    const decodeTodo = spec.formats.filter((format) =>
      !done.has(cellKey({ format, contextLength: T }))
    );
    const needleTodo = spec.needleDepths.flatMap((needleDepth) =>
      variants.filter((x) =>
        !done.has(cellKey({ kind: "needle", contextLength: T, needleDepth, ...x.key }))
      )
        .map((variant) => ({ variant, needleDepth }))
    );
    if (decodeTodo.length === 0 && needleTodo.length === 0) continue;
    const layer = layerData(shape, T, spec.seed + T);
    const fp16 = await createCache(gpu, "fp16", {
      B: shape.B,
      Hkv: shape.Hkv,
      D: shape.D,
      capacity: T,
    });
    const kvBytesFp16 = fp16.bytes();
    fp16.destroy();
    if (decodeTodo.length > 0) {
      const ref = decodeAttentionRef(layer.q, layer.k, layer.v, new Array(shape.B).fill(T), {
        ...shape,
        T,
      });
      for (const format of decodeTodo) {
        const r = await decodeCell(ctx, format, T, layer, ref, kvBytesFp16, copy.gbPerSec);
        record(r);
        log(
          `${format.padEnd(6)} T=${String(T).padStart(6)}  relErr ${
            r.relError.toExponential(2)
          }  ` +
            `${(r.kvBytes / 2 ** 20).toFixed(2)} MiB  ${r.ms.toFixed(3)} ms  ${
              r.gbPerSec.toFixed(1)
            } GB/s ` +
            `(${(100 * r.bandwidthFraction).toFixed(0)}% of copy)`,
        );
      }
    }
    for (const depth of [...new Set(needleTodo.map((x) => x.needleDepth))]) {
      const position = needlePosition(T, depth);
      const planted = plantNeedle(shape, T, layer, position, spec.seed + 7919 * T + position);
      for (const { variant } of needleTodo.filter((x) => x.needleDepth === depth)) {
        const r = await needleCell(
          ctx,
          variant,
          T,
          depth,
          position,
          { ...planted, q: layer.q },
          kvBytesFp16,
        );
        record(r);
        log(
          `${variant.label.padEnd(22)} T=${String(T).padStart(6)}  needle at ${
            (100 * depth).toFixed(0).padStart(3)
          }%  ` +
            `cos ${r.needleCosine.toFixed(3)}  ${
              r.retrieved
                ? "retrieved"
                : r.needleKept
                ? "LOST (blurred)"
                : r.bytesReadPerStep !== undefined
                ? "LOST (page not read)"
                : "LOST (evicted)"
            }${
              r.bytesReadPerStep !== undefined && r.bytesReadDense
                ? `  reads ${(100 * r.bytesReadPerStep / r.bytesReadDense).toFixed(0)}% of dense`
                : ""
            }`,
        );
      }
    }
  }
  return records;
}

/** A filled cache of `format` holding the layer's T tokens, and decode attention over it. */
async function filled(ctx: SuiteContext, format: string, T: number, layer: Layer) {
  const { gpu, spec } = ctx;
  const cache: KvCache = await createCache(gpu, format, {
    B: spec.batchSize,
    Hkv: spec.kvHeads,
    D: spec.headDim,
    capacity: T,
  });
  const attn = await DecodeAttention.create(gpu, cache, { H: spec.heads });
  const kb = gpu.upload("bench.k", layer.k);
  const vb = gpu.upload("bench.v", layer.v);
  gpu.submit((pass) => cache.append(pass, kb, vb, T));
  gpu.destroy(kb);
  gpu.destroy(vb);
  const qb = gpu.upload("bench.q", layer.q);
  const ob = gpu.createBuffer("bench.out", spec.batchSize * spec.heads * spec.headDim * 4);
  const release = () => {
    gpu.destroy(qb);
    gpu.destroy(ob);
    attn.destroy();
    cache.destroy();
  };
  return { cache, attn, qb, ob, release };
}

async function decodeCell(
  ctx: SuiteContext,
  format: string,
  T: number,
  layer: Layer,
  ref: Float32Array,
  kvBytesFp16: number,
  copyGbPerSec: number,
): Promise<DecodeRecord> {
  const { gpu, spec } = ctx;
  gpu.resetPeak();
  const { cache, attn, qb, ob, release } = await filled(ctx, format, T, layer);
  try {
    const t = await timeRuns(gpu, spec.warmup + spec.reps, (pass) => attn.encode(pass, qb, ob));
    const runs = t.ms.slice(spec.warmup);
    const ms = median(runs);
    const [out] = await gpu.read([{ buffer: ob }]);
    const kvBytes = cache.bytes();
    // Bytes a decode step moves: the stored cache once, the query, the partials written and
    // read back by the reduce pass, and the output.
    const bytesMoved = kvBytes + qb.size + ob.size + 2 * attn.workspaceBytes();
    const gbPerSec = bytesMoved / (ms * 1e6);
    return {
      ...envelope(gpu, ctx.runId, ctx.specHash),
      kind: "decode",
      format,
      bits: getFormat(format).bits,
      contextLength: T,
      batchSize: spec.batchSize,
      heads: spec.heads,
      kvHeads: spec.kvHeads,
      headDim: spec.headDim,
      relError: relativeError(new Float32Array(out), ref),
      kvBytes,
      kvBytesFp16,
      bytesPerToken: kvBytes / (spec.batchSize * T),
      compression: kvBytesFp16 / kvBytes,
      ms,
      msRuns: runs,
      timing: t.source,
      bytesMoved,
      gbPerSec,
      copyGbPerSec,
      bandwidthFraction: gbPerSec / copyGbPerSec,
      splits: attn.splits,
      peakGpuBytes: gpu.peakBytes,
    };
  } finally {
    release();
  }
}

/** One needle configuration: the full cache in a format, or a method at a budget. */
export interface NeedleVariant {
  readonly label: string;
  /** The fields of the record that identify the cell. */
  readonly key: { method: string; format: string; ratio?: number; budgetTokens?: number };
  readonly composition?: string;
  readonly budget?: Budget;
}

export function needleVariants(spec: KernelSpec): NeedleVariant[] {
  const full = spec.formats.map((format) => ({
    label: `full+${format}`,
    key: { method: "full", format },
  }));
  const methods = spec.methods.flatMap((composition) => {
    const { method, format } = parseComposition(composition);
    return spec.budgets.map((budget) => ({
      label: `${method.name}+${format} ${
        "ratio" in budget ? `1/${budget.ratio}` : `${budget.budgetTokens} tok`
      }`,
      key: { method: method.name, format, ...budget },
      composition,
      budget,
    }));
  });
  return [...full, ...methods];
}

/** The prompt's last W queries for window-scoring methods: the final query plus noise. */
function windowQueries(q: Float32Array, shape: LayerShape, W: number, seed: number): Float32Array {
  const { B, H, D } = shape;
  const noise = randn(seed, B * W * H * D);
  const qw = new Float32Array(B * W * H * D);
  for (let b = 0; b < B; b++) {
    for (let w = 0; w < W; w++) {
      for (let i = 0; i < H * D; i++) {
        const at = (b * W + w) * H * D + i;
        qw[at] = q[b * H * D + i] + (w === W - 1 ? 0 : noise[at]);
      }
    }
  }
  return qw;
}

async function needleCell(
  ctx: SuiteContext,
  variant: NeedleVariant,
  T: number,
  depth: number,
  position: number,
  planted: Layer & { needles: Float32Array },
  kvBytesFp16: number,
): Promise<NeedleRecord> {
  const { gpu, spec } = ctx;
  if (variant.composition && parseComposition(variant.composition).method.mode === "sparse") {
    return await questNeedleCell(ctx, variant, T, depth, position, planted, kvBytesFp16);
  }
  const shape = { B: spec.batchSize, H: spec.heads, Hkv: spec.kvHeads, D: spec.headDim };
  let cache: KvCache;
  let keptTokens = T;
  let kept: GPUBuffer | undefined;
  let params: Record<string, number> = {};
  if (variant.composition && variant.budget) {
    const compressor = Compressor.create(gpu, {
      method: variant.composition,
      budget: variant.budget,
      inspect: true,
    });
    params = { ...compressor.params };
    const W = compressor.method.queries(compressor.params);
    const k = gpu.upload("needle.k", planted.k);
    const v = gpu.upload("needle.v", planted.v);
    const qw = W > 0
      ? gpu.upload("needle.qw", windowQueries(planted.q, shape, W, spec.seed + position))
      : undefined;
    try {
      const c = await compressor.compress({ shape: { ...shape, T, W }, k, v, qw });
      cache = c.cache;
      keptTokens = c.budget;
      kept = c.kept;
      if (c.scores) gpu.destroy(c.scores);
    } finally {
      for (const b of [k, v, qw]) if (b) gpu.destroy(b);
    }
  } else {
    cache = await createCache(gpu, variant.key.format, {
      B: shape.B,
      Hkv: shape.Hkv,
      D: shape.D,
      capacity: T,
    });
    const k = gpu.upload("needle.k", planted.k);
    const v = gpu.upload("needle.v", planted.v);
    gpu.submit((pass) => cache.append(pass, k, v, T));
    gpu.destroy(k);
    gpu.destroy(v);
  }
  const attn = await DecodeAttention.create(gpu, cache, { H: shape.H });
  const qb = gpu.upload("needle.q", planted.q);
  const ob = gpu.createBuffer("needle.out", shape.B * shape.H * shape.D * 4);
  try {
    gpu.submit((pass) => attn.encode(pass, qb, ob));
    const [out, keptRaw] = await gpu.read([{ buffer: ob }, ...(kept ? [{ buffer: kept }] : [])]);
    const cos = needleCosine(shape, new Float32Array(out), planted.needles);
    let needleKept = true;
    if (keptRaw) {
      const ids = new Uint32Array(keptRaw);
      for (let row = 0; row < shape.B * shape.Hkv; row++) {
        if (!ids.subarray(row * keptTokens, (row + 1) * keptTokens).includes(position)) {
          needleKept = false;
        }
      }
    }
    return {
      ...envelope(gpu, ctx.runId, ctx.specHash),
      kind: "needle",
      format: variant.key.format,
      bits: getFormat(variant.key.format).bits,
      method: variant.key.method,
      params,
      ...(variant.budget ?? {}),
      ...(variant.budget ? { prefillMode: "dense" as const } : {}),
      keptTokens,
      needleKept,
      contextLength: T,
      batchSize: spec.batchSize,
      heads: spec.heads,
      kvHeads: spec.kvHeads,
      headDim: spec.headDim,
      needleDepth: depth,
      needlePosition: position,
      needleCosine: cos,
      retrieved: cos > RETRIEVED_COSINE,
      kvBytes: cache.bytes(),
      kvBytesFp16,
    };
  } finally {
    for (const b of [qb, ob, kept]) if (b) gpu.destroy(b);
    attn.destroy();
    cache.destroy();
  }
}
