// The contract every compression method implements, kvpress style: a method scores the prompt's
// tokens per KV head (higher = keep) and names the tokens it always keeps (attention sinks, a
// recent window); the shared machinery (budget.ts, topk.ts, gather.ts, compress.ts) owns budget
// arithmetic, validation, the top-k, compaction into a fresh cache of any format, and records.
// Not here: the scoring kernels (one op per .ts/.wgsl pair beside this file), the methods
// themselves (one file each), the registry (registry.ts).
//
// One call compresses one attention layer (letters from engine/shapes.ts):
//   k, v [B, T, Hkv, D] f32   the prompt's keys (after RoPE) and values, every sequence T tokens
//   qw   [B, W, H, D] f32     the prompt's last W queries (after RoPE), for window scoring
//   scores [B, Hkv, T] f32    what a method's scorer writes: higher = keep
//   kept [B, Hkv, K] u32      positions kept per (b, hk), K = the layer's budget, ascending
//
// GQA rule: every method scores per KV head, so every query head of a group sees the same kept
// set. Methods whose statistic is per query head (attention) reduce it over the group's G heads
// by the mean (kvpress; SnapKV issue #22), after any per-head pooling; knorm and random score
// KV heads directly.

import type { Gpu } from "../gpu/mod.ts";
import { checkInt, groupSize } from "../shapes.ts";

/** One attention layer's prompt, as the compressor sees it. */
export interface LayerShape {
  readonly B: number;
  /** Prompt tokens per sequence (every sequence the same length). */
  readonly T: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Rows of qw per sequence: the prompt's last W queries (0 or absent: no queries given). */
  readonly W?: number;
  /** Softmax scale of the layer's attention (default 1 / sqrt(D)). */
  readonly scale?: number;
}

/** The GPU buffers of one layer: k, v [B, T, Hkv, D] f32, qw [B, W, H, D] f32. */
export interface LayerInput {
  readonly shape: LayerShape;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly qw?: GPUBuffer;
  /** This layer's index and the model's layer count (per-layer budgets); default 0 of 1. */
  readonly layer?: number;
  readonly numLayers?: number;
}

/** The same layer on the host, for the references: k, v [B, T, Hkv, D], qw [B, W, H, D]. */
export interface HostLayer {
  readonly shape: LayerShape;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly qw?: Float32Array;
  readonly layer?: number;
  readonly numLayers?: number;
}

/** Method parameters by name, all numbers (defaults filled in by resolveParams). */
export type Params = Readonly<Record<string, number>>;

export interface ParamSpec {
  readonly name: string;
  readonly type: "int" | "number";
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly description: string;
}

/** Tokens a method always keeps: positions [0, sinks) and [T - recent, T). */
export interface Forced {
  readonly sinks: number;
  readonly recent: number;
}

/** A method's scoring kernels, specialised for one layer shape. */
export interface Scorer {
  /**
   * Records kernels that write scores [B, Hkv, T] f32 (higher = keep) for `input`. Returns the
   * temporary buffers it allocated; the caller destroys them once the submitted work is done.
   */
  encode(pass: GPUComputePassEncoder, input: LayerInput, scores: GPUBuffer): GPUBuffer[];
}

/**
 * How a decode-time method evicts (engine/methods/evict.ts DecodeEvictor): once the cache holds
 * its budget, each decode step evicts one token per (b, hk) — the evictable token with the
 * lowest rank key, ties to the older — and stores the incoming token in its slot. Evictable:
 * every held token except positions < sinks and the newest `recent` positions (the incoming
 * token counts as one of them).
 *   oldest       key = position                       (streaming_llm)
 *   accumulated  key = Σ over steps of the token's attention probability, mean over the
 *                group's G query heads, from its prefill statistic on    (h2o)
 *   current      key = the latest step's attention probability, mean over the group (tova)
 */
export interface DecodeRule {
  readonly rank: "oldest" | "accumulated" | "current";
  /** Positions never evicted at decode, for a layer budget (the cache's capacity) `budget`. */
  forced(p: Params, budget: number): Forced;
}

/** A registry entry: what a method is, its parameters, and its hooks. */
export interface MethodInfo {
  readonly name: string;
  /**
   * eviction: tokens are dropped for good (the kept set is compacted into a smaller cache).
   * sparse: nothing is dropped; each decode step reads a query-dependent subset (quest).
   */
  readonly family: "eviction" | "sparse";
  /**
   * one-shot: compresses once, after a dense prefill (Compressor); decode tokens are appended.
   * decode: the method is the one-shot compression followed by one eviction per KV head every
   * decode step (DecodeEvictor, rule `decode`), so the cache never exceeds the budget; its
   * one-shot part alone (the Compressor) is only its prefill.
   * sparse: the full cache stays; each decode step selects what to read (quest_layer.ts QuestLayer,
   * one per layer); the Compressor and the DecodeEvictor refuse it.
   */
  readonly mode: "one-shot" | "decode" | "sparse";
  /**
   * How it evicts during decode (DecodeEvictor). Required for mode "decode"; a one-shot method
   * may have one too (streaming_llm), and then runs either way.
   */
  readonly decode?: DecodeRule;
  readonly description: string;
  readonly paper: string;
  readonly params: readonly ParamSpec[];
  /** Cross-parameter rules beyond each spec's range (e.g. an odd pooling kernel). */
  validate?(p: Params): void;
  /** Rows of qw the scorer reads: the last `queries` of the W given (0: needs no queries). */
  queries(p: Params): number;
  /** Tokens always kept in a prompt of T tokens at this layer budget. */
  forced(p: Params, T: number, budget: number): Forced;
  /** This layer's budget given the average (pyramidkv); absent: every layer gets the average. */
  layerBudget?(p: Params, average: number, T: number, layer: number, numLayers: number): number;
  /** GPU scorer; absent: all scores 0, so only forced tokens (then the lowest positions) stay. */
  scorer?(gpu: Gpu, p: Params, heads: HeadLayout): Promise<Scorer>;
  /** The scorer's float64 reference (the specification): scores [B, Hkv, T]. */
  scoreRef?(p: Params, layer: HostLayer): Float64Array | Float32Array;
  /** Cache formats it can be stored in (absent: every format). */
  readonly formats?: readonly string[];
}

// --- parameters -------------------------------------------------------------------------------

/** The method's parameters with defaults filled in; unknown names and bad values throw. */
export function resolveParams(info: MethodInfo, given: Params = {}): Params {
  const out: Record<string, number> = {};
  for (const name of Object.keys(given)) {
    if (!info.params.some((s) => s.name === name)) {
      const known = info.params.map((s) => s.name);
      throw new RangeError(
        `${info.name}: unknown parameter "${name}"; expected ${
          known.length ? `one of ${known.join(", ")}` : "none"
        }`,
      );
    }
  }
  for (const s of info.params) {
    const value = given[s.name] ?? s.default;
    checkParam(`${info.name} ${s.name}`, value, s);
    out[s.name] = value;
  }
  info.validate?.(out);
  return out;
}

function checkParam(what: string, value: number, s: ParamSpec): void {
  if (s.type === "int") {
    checkInt(what, value, s.min, s.max);
  } else if (typeof value !== "number" || !(value >= s.min && value <= s.max)) {
    throw new RangeError(`${what}: got ${value}, expected a number in [${s.min}, ${s.max}]`);
  }
}

// --- shapes -----------------------------------------------------------------------------------

/** Validates a layer shape; returns G = H / Hkv. */
export function checkLayerShape(shape: LayerShape): number {
  checkInt("B (batch)", shape.B);
  checkInt("T (prompt tokens)", shape.T);
  checkInt("D (head dim)", shape.D, 4, 256);
  if (shape.D % 4 !== 0) {
    throw new RangeError(`D (head dim): got ${shape.D}, expected a multiple of 4`);
  }
  checkInt("W (query rows of qw)", shape.W ?? 0, 0, shape.T);
  if (shape.scale !== undefined && !(shape.scale > 0 && Number.isFinite(shape.scale))) {
    throw new RangeError(`scale: got ${shape.scale}, expected a finite number > 0`);
  }
  return groupSize(shape.H, shape.Hkv);
}

/** Checks that a GPU buffer holds at least the f32 tensor `dims`. */
export function checkBuffer(name: string, buffer: GPUBuffer, dims: readonly number[]): void {
  const bytes = dims.reduce((a, b) => a * b, 4);
  if (buffer.size < bytes) {
    throw new RangeError(
      `${name}: expected [${
        dims.join(", ")
      }] f32 = ${bytes} bytes, the buffer holds ${buffer.size}`,
    );
  }
}

/** Query heads, KV heads and head dim: what the pipelines are specialised for. */
export interface HeadLayout {
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
}

export function checkHeads(shape: LayerShape, heads: HeadLayout): void {
  for (const key of ["H", "Hkv", "D"] as const) {
    if (shape[key] !== heads[key]) {
      throw new RangeError(
        `layer shape: ${key}=${shape[key]} differs from the ${key}=${
          heads[key]
        } the kernels were built for`,
      );
    }
  }
}
