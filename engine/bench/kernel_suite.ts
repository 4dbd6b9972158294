// The kernel suite: for each cache format × context length, one attention layer (default the
// Llama-3-8B shape H=32, Hkv=8, D=128, B=1) is filled through the format's append path and
// decode attention is timed over the stored form, next to a copy kernel measured in the same
// run. Each cell becomes one record in records.jsonl (docs/results.md).
// Not here: models, tasks, accuracy on text (the runner issue).

import { createCache, formatNames, getFormat } from "../cache/registry.ts";
import type { Gpu } from "../gpu/mod.ts";
import { median, timeRuns } from "../gpu/mod.ts";
import { CopyKernel } from "../kernels/copy.ts";
import { DecodeAttention } from "../kernels/decode_attention.ts";
import { decodeAttentionRef } from "../reference/attention.ts";
import { checkInt, groupSize } from "../shapes.ts";
import { denoVersion, gitCommit, KVLAB_VERSION } from "../version.ts";
import { layerData, relativeError } from "./kernel_data.ts";
import {
  readRecords,
  RecordWriter,
  type ResultsDir,
  SCHEMA_VERSION,
  writeJson,
} from "./results.ts";

export type Preset = "smoke" | "default" | "full";
export const PRESETS: Record<
  Preset,
  { lengths: number[]; reps: number; warmup: number; copyMiB: number }
> = {
  smoke: { lengths: [256, 1024], reps: 3, warmup: 1, copyMiB: 8 },
  default: { lengths: [1024, 2048, 4096, 8192, 16384, 32768], reps: 20, warmup: 5, copyMiB: 256 },
  full: {
    lengths: [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072],
    reps: 50,
    warmup: 10,
    copyMiB: 1024,
  },
};

export interface KernelSpec {
  readonly suite: "kernels";
  readonly preset: Preset;
  readonly formats: readonly string[];
  readonly lengths: readonly number[];
  readonly batchSize: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly reps: number;
  readonly warmup: number;
  readonly copyMiB: number;
  readonly seed: number;
}

export function validateKernelSpec(s: KernelSpec): void {
  if (!(s.preset in PRESETS)) {
    throw new RangeError(
      `preset: got "${s.preset}", expected one of ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  if (s.formats.length === 0) {
    throw new RangeError(`formats: expected at least one of ${formatNames().join(", ")}`);
  }
  for (const f of s.formats) getFormat(f);
  if (s.lengths.length === 0) throw new RangeError("lengths: expected at least one context length");
  for (const n of s.lengths) checkInt("context length", n);
  checkInt("batch size", s.batchSize);
  groupSize(s.heads, s.kvHeads);
  checkInt("head dim", s.headDim, 32, 256);
  if (s.headDim % 32 !== 0) {
    throw new RangeError(`head dim: got ${s.headDim}, expected a multiple of 32`);
  }
  checkInt("reps", s.reps, 1, 10000);
  checkInt("warmup", s.warmup, 0, 10000);
  checkInt("copy MiB", s.copyMiB, 1, 4096);
  checkInt("seed", s.seed, 0);
}

export interface KernelRecord {
  schemaVersion: number;
  suite: "kernels";
  runId: string;
  specHash: string;
  format: string;
  bits: number;
  contextLength: number;
  batchSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  relError: number;
  kvBytes: number;
  kvBytesFp16: number;
  bytesPerToken: number;
  compression: number;
  ms: number;
  msRuns: number[];
  timing: string;
  bytesMoved: number;
  gbPerSec: number;
  copyGbPerSec: number;
  bandwidthFraction: number;
  splits: number;
  peakGpuBytes: number;
  simulated: boolean;
  representative: boolean;
  adapter: { vendor: string; architecture: string; description: string; fallback: boolean };
  deno: string;
  kvlab: string;
  commit: string;
  timestamp: string;
}

export interface SuiteContext {
  readonly gpu: Gpu;
  readonly spec: KernelSpec;
  readonly runId: string;
  readonly specHash: string;
  readonly out: ResultsDir;
  readonly log: (line: string) => void;
}

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

/** Runs every (length, format) cell not already in records.jsonl; returns all records. */
export async function runKernelSuite(ctx: SuiteContext): Promise<KernelRecord[]> {
  const { gpu, spec, log } = ctx;
  const writer = new RecordWriter(ctx.out.recordsPath);
  writer.repair();
  const prior = readRecords(ctx.out.recordsPath).records as unknown as KernelRecord[];
  for (const r of prior) {
    if (r.adapter?.description !== gpu.report.description) {
      throw new RangeError(
        `${ctx.out.recordsPath} holds records from adapter "${r.adapter?.description}", this run has ` +
          `"${gpu.report.description}"; pass a different --out to keep them apart`,
      );
    }
  }
  const done = new Set(prior.map((r) => `${r.format}@${r.contextLength}`));
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
  const shape = { B: spec.batchSize, H: spec.heads, Hkv: spec.kvHeads, D: spec.headDim };
  for (const T of spec.lengths) {
    const todo = spec.formats.filter((f) => !done.has(`${f}@${T}`));
    if (todo.length === 0) continue;
    const { k, v, q } = layerData(shape, T, spec.seed + T);
    const lens = new Array(shape.B).fill(T);
    const ref = decodeAttentionRef(q, k, v, lens, {
      B: shape.B,
      T,
      H: shape.H,
      Hkv: shape.Hkv,
      D: shape.D,
    });
    const fp16 = await createCache(gpu, "fp16", {
      B: shape.B,
      Hkv: shape.Hkv,
      D: shape.D,
      capacity: T,
    });
    const kvBytesFp16 = fp16.bytes();
    fp16.destroy();
    for (const format of todo) {
      const r = await runCell(ctx, format, T, { k, v, q, ref }, kvBytesFp16, copy.gbPerSec);
      writer.append(r as unknown as Record<string, unknown>);
      records.push(r);
      log(
        `${format.padEnd(6)} T=${String(T).padStart(6)}  relErr ${r.relError.toExponential(2)}  ` +
          `${(r.kvBytes / 2 ** 20).toFixed(2)} MiB  ${r.ms.toFixed(3)} ms  ${
            r.gbPerSec.toFixed(1)
          } GB/s ` +
          `(${(100 * r.bandwidthFraction).toFixed(0)}% of copy)`,
      );
    }
  }
  return records;
}

async function runCell(
  ctx: SuiteContext,
  format: string,
  T: number,
  data: { k: Float32Array; v: Float32Array; q: Float32Array; ref: Float32Array },
  kvBytesFp16: number,
  copyGbPerSec: number,
): Promise<KernelRecord> {
  const { gpu, spec } = ctx;
  const B = spec.batchSize, H = spec.heads, Hkv = spec.kvHeads, D = spec.headDim;
  gpu.resetPeak();
  const cache = await createCache(gpu, format, { B, Hkv, D, capacity: T });
  const attn = await DecodeAttention.create(gpu, cache, { H });
  const kb = gpu.upload("bench.k", data.k);
  const vb = gpu.upload("bench.v", data.v);
  const qb = gpu.upload("bench.q", data.q);
  const ob = gpu.createBuffer("bench.out", B * H * D * 4);
  try {
    gpu.submit((pass) => cache.append(pass, kb, vb, T));
    gpu.destroy(kb);
    gpu.destroy(vb);
    const t = await timeRuns(gpu, spec.warmup + spec.reps, (pass) => attn.encode(pass, qb, ob));
    const runs = t.ms.slice(spec.warmup);
    const ms = median(runs);
    const [out] = await gpu.read([{ buffer: ob }]);
    const kvBytes = cache.bytes();
    // Bytes a decode step moves: the stored cache once, the query, the partials written and
    // read back by the reduce pass, and the output.
    const bytesMoved = kvBytes + qb.size + ob.size + 2 * attn.workspaceBytes();
    const gbPerSec = bytesMoved / (ms * 1e6);
    const a = gpu.report;
    return {
      schemaVersion: SCHEMA_VERSION,
      suite: "kernels",
      runId: ctx.runId,
      specHash: ctx.specHash,
      format,
      bits: getFormat(format).bits,
      contextLength: T,
      batchSize: B,
      heads: H,
      kvHeads: Hkv,
      headDim: D,
      relError: relativeError(new Float32Array(out), data.ref),
      kvBytes,
      kvBytesFp16,
      bytesPerToken: kvBytes / (B * T),
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
      simulated: false,
      representative: !a.fallback,
      adapter: {
        vendor: a.vendor,
        architecture: a.architecture,
        description: a.description,
        fallback: a.fallback,
      },
      deno: denoVersion(),
      kvlab: KVLAB_VERSION,
      commit: gitCommit(),
      timestamp: new Date().toISOString(),
    };
  } finally {
    gpu.destroy(qb);
    gpu.destroy(ob);
    attn.destroy();
    cache.destroy();
  }
}

// --- summary -------------------------------------------------------------------------------------

/** Targets from the engine-core issue, checked on the records at N ≥ 32K. */
export const TARGETS = {
  minLength: 32768,
  fp16BandwidthFraction: 0.7,
  kivi4TimeVsFp16: 0.4,
  kivi2TimeVsFp16: 0.25,
};

export function summarize(spec: KernelSpec, records: readonly KernelRecord[]) {
  const at = (f: string, T: number) => records.find((r) => r.format === f && r.contextLength === T);
  const rows = records.map((r) => {
    const base = at("fp16", r.contextLength);
    return {
      format: r.format,
      contextLength: r.contextLength,
      relError: r.relError,
      kvBytes: r.kvBytes,
      compression: r.compression,
      ms: r.ms,
      gbPerSec: r.gbPerSec,
      bandwidthFraction: r.bandwidthFraction,
      timeVsFp16: base ? r.ms / base.ms : null,
    };
  });
  const big = records.filter((r) => r.contextLength >= TARGETS.minLength && r.representative);
  const check = (name: string, f: (T: number) => number | null, limit: number, higher: boolean) => {
    const values = [...new Set(big.map((r) => r.contextLength))].map((T) => ({ T, value: f(T) }))
      .filter((x) => x.value !== null) as { T: number; value: number }[];
    if (values.length === 0) return { name, limit, status: "unmeasured" as const, values };
    const ok = values.every((x) => (higher ? x.value >= limit : x.value <= limit));
    return { name, limit, status: ok ? "met" as const : "missed" as const, values };
  };
  const ratio = (f: string) => (T: number) => {
    const a = at(f, T), b = at("fp16", T);
    return a && b ? a.ms / b.ms : null;
  };
  const adapters = [...new Set(records.map((r) => JSON.stringify(r.adapter)))].map((s) =>
    JSON.parse(s)
  );
  return {
    schemaVersion: SCHEMA_VERSION,
    suite: "kernels",
    spec,
    adapters,
    representative: records.every((r) => r.representative),
    copyGbPerSec: records[0]?.copyGbPerSec ?? null,
    rows,
    targets: [
      check(
        "fp16 decode bandwidth fraction of copy",
        (T) => at("fp16", T)?.bandwidthFraction ?? null,
        TARGETS.fp16BandwidthFraction,
        true,
      ),
      check("kivi4 decode time / fp16", ratio("kivi4"), TARGETS.kivi4TimeVsFp16, false),
      check("kivi2 decode time / fp16", ratio("kivi2"), TARGETS.kivi2TimeVsFp16, false),
    ],
  };
}

export function writeSummary(out: ResultsDir, summary: unknown): void {
  writeJson(out.summaryPath, summary);
}

export function formatTable(records: readonly KernelRecord[]): string {
  const head = [
    "format",
    "length",
    "rel.err",
    "KV MiB",
    "B/token",
    "×comp",
    "ms",
    "GB/s",
    "% copy",
    "×fp16 t",
  ];
  const rows = [...records].sort((a, b) =>
    a.contextLength - b.contextLength || a.bits - b.bits || a.format.localeCompare(b.format)
  )
    .map((r) => {
      const base = records.find((x) => x.format === "fp16" && x.contextLength === r.contextLength);
      return [
        r.format,
        String(r.contextLength),
        r.relError.toExponential(2),
        (r.kvBytes / 2 ** 20).toFixed(2),
        r.bytesPerToken.toFixed(0),
        r.compression.toFixed(2),
        r.ms.toFixed(3),
        r.gbPerSec.toFixed(1),
        (100 * r.bandwidthFraction).toFixed(1),
        base ? (r.ms / base.ms).toFixed(2) : "-",
      ];
    });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
