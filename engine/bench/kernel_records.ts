// Kernel-suite records (docs/results.md): `decode` cells (format × length: error, bytes, time,
// bandwidth) and `needle` cells (format × length × depth: retrieval of a planted needle). Both
// share the envelope: run, adapter, versions, commit, time.

import type { Gpu } from "../gpu/mod.ts";
import { denoVersion, gitCommit, KVLAB_VERSION } from "../version.ts";
import { SCHEMA_VERSION } from "./results.ts";

export interface Envelope {
  schemaVersion: number;
  suite: "kernels";
  runId: string;
  specHash: string;
  /** False: every format stores its compressed form for real. */
  simulated: boolean;
  /** False on a software adapter: timings are not meaningful. */
  representative: boolean;
  adapter: { vendor: string; architecture: string; description: string; fallback: boolean };
  deno: string;
  kvlab: string;
  commit: string;
  timestamp: string;
}

export function envelope(gpu: Gpu, runId: string, specHash: string): Envelope {
  const a = gpu.report;
  return {
    schemaVersion: SCHEMA_VERSION,
    suite: "kernels",
    runId,
    specHash,
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
}

export interface DecodeRecord extends Envelope {
  kind: "decode";
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
}

export interface NeedleRecord extends Envelope {
  kind: "needle";
  format: string;
  bits: number;
  /** The eviction method; "full" keeps every token. */
  method: string;
  /** The method's parameters (defaults filled in); {} for full. */
  params: Record<string, number>;
  /** The budget spec: one of ratio / budgetTokens, absent for full. */
  ratio?: number;
  budgetTokens?: number;
  /** Method cells: how the context was prefilled before the method ran (all at once). */
  prefillMode?: "dense";
  /**
   * Tokens kept per KV head (the context length for full); for a sparse method (quest) the
   * tokens the step read: nothing is evicted.
   */
  keptTokens: number;
  /**
   * Whether eviction kept the needle's token in every KV head (always true for full); quest:
   * whether the needle's page was selected in every KV head.
   */
  needleKept: boolean;
  contextLength: number;
  batchSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Fraction in [0, 1] of the context before the needle. */
  needleDepth: number;
  needlePosition: number;
  /** Mean over heads of cos(attention output, needle value). */
  needleCosine: number;
  retrieved: boolean;
  kvBytes: number;
  kvBytesFp16: number;
  /**
   * quest: bytes the decode step read (the selected pages' K and V + the page metadata
   * scanned), beside kvBytes (stored: the full cache + the metadata). engine/bench/quest_needle.ts
   */
  bytesReadPerStep?: number;
  /** quest: bytes dense decode attention over the same cache reads per step. */
  bytesReadDense?: number;
}

export type KernelRecord = DecodeRecord | NeedleRecord;

/** Records written before `kind` existed are decode records. */
export function kindOf(r: { kind?: string }): "decode" | "needle" {
  return r.kind === "needle" ? "needle" : "decode";
}

/**
 * The resume key of a cell. A needle cell of a method is keyed by the method and its budget too
 * (records without a method, or "full", keep the format-only key they always had).
 */
export function cellKey(
  r: {
    kind?: string;
    format: string;
    contextLength: number;
    needleDepth?: number;
    method?: string;
    ratio?: number;
    budgetTokens?: number;
  },
): string {
  if (kindOf(r) !== "needle") return `decode:${r.format}@${r.contextLength}`;
  const cell = `needle:${r.format}@${r.contextLength}@${r.needleDepth}`;
  if (r.method === undefined || r.method === "full") return cell;
  const budget = r.ratio !== undefined ? `1/${r.ratio}` : `${r.budgetTokens}tok`;
  return `${cell}:${r.method}:${budget}`;
}
