// Host side of split-K decode attention over any KV-cache format (engine/cache/format.ts).
// Pass 1 (decode_attention.wgsl + the format's read snippet) reads K and V straight into
// registers and writes per-split partial outputs; pass 2 (decode_reduce.wgsl) merges them.
// Sequence lengths are read on the GPU from the cache's `lens`, so steps recorded back to back
// in one command buffer see each append.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import type { DecodeSource, KvCache } from "../cache/format.ts";
import { checkInt, groupSize } from "../shapes.ts";
import { splice, wgsl } from "./wgsl.ts";

export interface DecodeAttentionOptions {
  /** Query heads; a multiple of the cache's Hkv. */
  readonly H: number;
  /** Softmax scale (default 1/sqrt(D)). */
  readonly scale?: number;
  /** Splits per sequence (default: enough workgroups to fill a large GPU). */
  readonly splits?: number;
  /**
   * Also write each stored token's raw score scale·q·k per query head into `scores`
   * [B, H, capacity] f32 (default false): the statistic decode-time eviction turns into this
   * step's attention probabilities with part_ml (engine/methods/evict.ts).
   */
  readonly scores?: boolean;
  /**
   * Sliding window in tokens (a model's sliding_window): each query sees only the last `window`
   * stored tokens of its sequence — the window itself when a token's slot is its position (a
   * full cache, appended in order). Absent: every stored token. Not with `scores`.
   */
  readonly window?: number;
}

/** Binding of att_scores [B, H, capacity] when DecodeAttentionOptions.scores is set. */
export const SCORES_BINDING = 16;

/** emit_score for the kernel: a no-op, or a store into att_scores. */
function emitScore(on: boolean): string {
  if (!on) return "fn emit_score(i: u32, s: f32) {}";
  return [
    `@group(0) @binding(${SCORES_BINDING}) var<storage, read_write> att_scores: array<f32>; // [B, H, SCAP]`,
    "fn emit_score(i: u32, s: f32) {",
    "  att_scores[i] = s;",
    "}",
  ].join("\n");
}

/** Workgroups pass 1 aims for when choosing the split count: several per SM on large GPUs. */
export const TARGET_WORKGROUPS = 512;
/** Threads per pass-1 workgroup. */
export const DECODE_WG = 128;
/** Most query heads one workgroup covers (their accumulators live in registers). */
export const MAX_HEADS_PER_WORKGROUP = 8;
/** Splits start on multiples of this many tokens (a KIVI key group). */
export const SPLIT_ALIGN = 32;

/** How pass 1 is specialised for a GQA group of G query heads and head dim D. */
export interface DecodePlan {
  /** Query heads per workgroup, ≤ 8, and workgroups per KV head (HG·GC ≥ G). */
  readonly GC: number;
  readonly HG: number;
  /** Tokens per thread in the score phase; a tile is DECODE_WG·TPT tokens. */
  readonly TPT: number;
  /** Tokens per thread per step of the P·V loop. */
  readonly U: number;
  /** vec4 slots of the probability / partial-output buffer. */
  readonly PB: number;
  /** Workgroup memory pass 1 declares, in bytes. */
  readonly sharedBytes: number;
}

/** Workgroup memory of pass 1 in bytes: queries, probabilities, two reduction stages. */
export function decodeSharedBytes(GC: number, D: number, TPT: number): number {
  const WG = DECODE_WG;
  const pb = Math.max(WG * TPT * Math.ceil(GC / 4), 2 * WG);
  return 4 * (GC * D) + 16 * pb + 4 * (GC * WG) + 16 * (GC * 4);
}

/**
 * The specialisation for G query heads per KV head and head dim D under a workgroup-memory
 * limit: the largest TPT (4 for up to 4 heads per workgroup, else 2 — register pressure) that
 * fits, smaller ones if it does not; a RangeError naming G, D and both sizes if none does.
 */
export function decodePlan(G: number, D: number, limitBytes: number): DecodePlan {
  checkInt("G (query heads per KV head)", G);
  checkInt("D (head dim)", D, 8, 256);
  if (D % 8 !== 0) throw new RangeError(`D (head dim): got ${D}, expected a multiple of 8`);
  const HG = Math.ceil(G / MAX_HEADS_PER_WORKGROUP);
  const GC = Math.ceil(G / HG);
  const first = GC <= 4 ? 4 : 2;
  for (let TPT = first; TPT >= 1; TPT /= 2) {
    const sharedBytes = decodeSharedBytes(GC, D, TPT);
    if (sharedBytes <= limitBytes) {
      const PB = Math.max(DECODE_WG * TPT * Math.ceil(GC / 4), 2 * DECODE_WG);
      return { GC, HG, TPT, U: GC <= 4 ? 4 : 2, PB, sharedBytes };
    }
  }
  throw new RangeError(
    `decode attention: GQA group G=${G} (${GC} heads per workgroup) with D=${D} needs ${
      decodeSharedBytes(GC, D, 1)
    } bytes of workgroup memory, the device allows ${limitBytes}`,
  );
}

// --- shared with quest's QuestAttention (engine/methods/quest_attention.ts) -------------------

/** The softmax scale: `scale` if given (finite, > 0), else 1 / sqrt(D). */
export function decodeScale(D: number, scale?: number): number {
  const s = scale ?? 1 / Math.sqrt(D);
  if (!(s > 0) || !Number.isFinite(s)) {
    throw new RangeError(`scale: got ${s}, expected a positive number`);
  }
  return s;
}

/**
 * Default splits per sequence for `span` tokens read per step: TARGET_WORKGROUPS workgroups in
 * all, but at least one token per thread per split.
 */
export function defaultSplits(span: number, B: number, Hkv: number, plan: DecodePlan): number {
  return Math.max(
    1,
    Math.min(Math.ceil(span / DECODE_WG), Math.ceil(TARGET_WORKGROUPS / (B * Hkv * plan.HG))),
  );
}

/** Pass 1's override constants for `plan` (the format's own come from its DecodeSource). */
export function pass1Constants(plan: DecodePlan, D: number, G: number): Record<string, number> {
  return { D, G, GC: plan.GC, TPT: plan.TPT, U: plan.U, PB: plan.PB, WG: DECODE_WG };
}

/** Pass 2 (decode_reduce.wgsl) and what both passes share: params and the partial outputs. */
export interface SplitBuffers {
  readonly reduce: GPUComputePipeline;
  /** Uniform { B, H, S, scale }. */
  readonly params: GPUBuffer;
  /** [B, H, S, D] unnormalised partial outputs. */
  readonly partO: GPUBuffer;
  /** [B, H, S, 2] (max, sum). */
  readonly partMl: GPUBuffer;
}

export async function splitBuffers(
  gpu: Gpu,
  label: string,
  s: { B: number; H: number; splits: number; D: number; scale: number },
): Promise<SplitBuffers> {
  const { B, H, splits, D } = s;
  const reduce = await gpu.pipeline(
    "decode_reduce",
    wgsl(new URL("./decode_reduce.wgsl", import.meta.url)),
    "main",
    { D, WG: 64 },
  );
  const words = new Uint32Array([B, H, splits, 0]);
  new Float32Array(words.buffer)[3] = s.scale;
  const params = gpu.uniform(`${label}.params`, words);
  gpu.checkBinding("decode partial outputs [B, H, S, D]", B * H * splits * D * 4);
  const partO = gpu.createBuffer(`${label}.part_o`, B * H * splits * D * 4);
  const partMl = gpu.createBuffer(`${label}.part_ml`, B * H * splits * 2 * 4);
  return { reduce, params, partO, partMl };
}

/** Bind groups of both passes for queries q and output out. */
export interface SplitGroups {
  readonly q: GPUBuffer;
  readonly out: GPUBuffer;
  readonly main: GPUBindGroup;
  readonly reduce: GPUBindGroup;
}

/**
 * Pass 1's bind group — bindings 0..3 (params, q, partials), the format's buffers from
 * FIRST_FORMAT_BINDING on, then `extra` [binding, buffer] pairs — and pass 2's, writing `out`.
 */
export function splitGroups(
  gpu: Gpu,
  main: GPUComputePipeline,
  b: SplitBuffers,
  q: GPUBuffer,
  out: GPUBuffer,
  format: readonly GPUBuffer[],
  extra: readonly (readonly [number, GPUBuffer])[] = [],
): SplitGroups {
  const buffers = [b.params, q, b.partO, b.partMl, ...format];
  const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
  for (const [binding, buffer] of extra) entries.push({ binding, resource: { buffer } });
  return {
    q,
    out,
    main: gpu.device.createBindGroup({ layout: main.getBindGroupLayout(0), entries }),
    reduce: gpu.bindGroup(b.reduce, [b.params, b.partO, b.partMl, out]),
  };
}

/** Records both passes: pass 1 over (splits, Hkv·HG, B) workgroups, pass 2 over B·H rows. */
export function encodeSplit(
  pass: GPUComputePassEncoder,
  main: GPUComputePipeline,
  b: SplitBuffers,
  g: SplitGroups,
  grid: readonly [number, number, number],
  rows: number,
): void {
  dispatch(pass, main, g.main, ...grid);
  dispatch(pass, b.reduce, g.reduce, Math.min(rows, 65535), Math.ceil(rows / 65535));
}

/** Bytes of the shared workspace (params and partials). */
export function splitBytes(b: SplitBuffers): number {
  return b.params.size + b.partO.size + b.partMl.size;
}

export function destroySplit(gpu: Gpu, b: SplitBuffers): void {
  for (const x of [b.params, b.partO, b.partMl]) gpu.destroy(x);
}

export class DecodeAttention {
  #bind?: SplitGroups;

  private constructor(
    readonly gpu: Gpu,
    readonly cache: KvCache,
    readonly H: number,
    readonly splits: number,
    readonly plan: DecodePlan,
    readonly source: DecodeSource,
    readonly main: GPUComputePipeline,
    readonly split: SplitBuffers,
    /** Raw scores scale·q·k [B, H, capacity] f32 of the last step (only with `scores`). */
    readonly scores?: GPUBuffer,
  ) {}

  /** [B, H, S, 2] per-split (max, sum): decode-time eviction reads it with `scores`. */
  get partMl(): GPUBuffer {
    return this.split.partMl;
  }

  static async create(
    gpu: Gpu,
    cache: KvCache,
    o: DecodeAttentionOptions,
  ): Promise<DecodeAttention> {
    const { B, Hkv, D, capacity } = cache.shape;
    const G = groupSize(o.H, Hkv);
    const scale = decodeScale(D, o.scale);
    const withScores = o.scores ?? false;
    if (o.window !== undefined) {
      checkInt("window (sliding window, tokens)", o.window, 1, 2 ** 32 - 1);
      if (withScores) {
        throw new RangeError(
          `window ${o.window} with scores: decode-time eviction scores every stored token; ` +
            "a sliding window applies to full caches only",
        );
      }
    }
    const plan = decodePlan(G, D, gpu.limits.maxComputeWorkgroupStorageSize);
    // Default: TARGET_WORKGROUPS workgroups, but at least one token per thread per split (of
    // the tokens one step can read: with a window, at most window + 31 from a 32-token group).
    const maxSplits = Math.ceil(capacity / SPLIT_ALIGN);
    const span = o.window === undefined ? capacity : Math.min(capacity, o.window + SPLIT_ALIGN - 1);
    const splits = o.splits ?? defaultSplits(span, B, Hkv, plan);
    checkInt("splits", splits, 1, maxSplits);
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (splits > maxDim) {
      throw new RangeError(`splits: ${splits} exceeds maxComputeWorkgroupsPerDimension ${maxDim}`);
    }
    if (Hkv * plan.HG > maxDim || B > maxDim) {
      throw new RangeError(
        `decode attention: B=${B} and Hkv·${plan.HG}=${
          Hkv * plan.HG
        } workgroups must each be ≤ maxComputeWorkgroupsPerDimension ${maxDim}`,
      );
    }
    const source = cache.decodeSource();
    const code = splice(wgsl(new URL("./decode_attention.wgsl", import.meta.url)), source.wgsl) +
      "\n" + emitScore(withScores);
    const label = `decode_attention.${cache.format}${withScores ? ".scores" : ""}`;
    const main = await gpu.pipeline(label, code, "main", {
      ...pass1Constants(plan, D, G),
      ...(withScores ? { SCORES: 1, SCAP: capacity } : {}),
      ...(o.window !== undefined ? { WINDOW: o.window } : {}),
      ...source.constants,
    });
    const split = await splitBuffers(gpu, "decode", { B, H: o.H, splits, D, scale });
    let scores: GPUBuffer | undefined;
    if (withScores) {
      gpu.checkBinding("decode scores [B, H, capacity]", B * o.H * capacity * 4);
      scores = gpu.createBuffer("decode.scores", B * o.H * capacity * 4);
    }
    return new DecodeAttention(
      gpu,
      cache,
      o.H,
      splits,
      plan,
      source,
      main,
      split,
      scores,
    );
  }

  /**
   * Records out [B, H, D] = softmax(q·Kᵀ·scale)·V over each sequence's stored tokens (the last
   * `window` of them with a window); q [B, H, D].
   */
  encode(pass: GPUComputePassEncoder, q: GPUBuffer, out: GPUBuffer): void {
    const { B, Hkv } = this.cache.shape;
    if (this.#bind?.q !== q || this.#bind?.out !== out) {
      const extra = this.scores ? [[SCORES_BINDING, this.scores] as const] : [];
      this.#bind = splitGroups(this.gpu, this.main, this.split, q, out, this.source.buffers, extra);
    }
    const grid = [this.splits, Hkv * this.plan.HG, B] as const;
    encodeSplit(pass, this.main, this.split, this.#bind, grid, B * this.H);
  }

  /** Bytes of the attention's own workspace (partials and parameters), not the cache. */
  workspaceBytes(): number {
    return splitBytes(this.split) + (this.scores?.size ?? 0);
  }

  destroy(): void {
    destroySplit(this.gpu, this.split);
    if (this.scores) this.gpu.destroy(this.scores);
  }
}
