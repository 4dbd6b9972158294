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

export class DecodeAttention {
  #bind?: { q: GPUBuffer; out: GPUBuffer; main: GPUBindGroup; reduce: GPUBindGroup };

  private constructor(
    readonly gpu: Gpu,
    readonly cache: KvCache,
    readonly H: number,
    readonly splits: number,
    readonly plan: DecodePlan,
    readonly source: DecodeSource,
    readonly main: GPUComputePipeline,
    readonly reduce: GPUComputePipeline,
    readonly params: GPUBuffer,
    readonly partO: GPUBuffer,
    readonly partMl: GPUBuffer,
    /** Raw scores scale·q·k [B, H, capacity] f32 of the last step (only with `scores`). */
    readonly scores?: GPUBuffer,
  ) {}

  static async create(
    gpu: Gpu,
    cache: KvCache,
    o: DecodeAttentionOptions,
  ): Promise<DecodeAttention> {
    const { B, Hkv, D, capacity } = cache.shape;
    const G = groupSize(o.H, Hkv);
    const scale = o.scale ?? 1 / Math.sqrt(D);
    if (!(scale > 0) || !Number.isFinite(scale)) {
      throw new RangeError(`scale: got ${scale}, expected a positive number`);
    }
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
    const splits = o.splits ??
      Math.max(
        1,
        Math.min(
          Math.ceil(span / DECODE_WG),
          Math.ceil(TARGET_WORKGROUPS / (B * Hkv * plan.HG)),
        ),
      );
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
      D,
      G,
      GC: plan.GC,
      TPT: plan.TPT,
      U: plan.U,
      PB: plan.PB,
      WG: DECODE_WG,
      ...(withScores ? { SCORES: 1, SCAP: capacity } : {}),
      ...(o.window !== undefined ? { WINDOW: o.window } : {}),
      ...source.constants,
    });
    const reduce = await gpu.pipeline(
      "decode_reduce",
      wgsl(new URL("./decode_reduce.wgsl", import.meta.url)),
      "main",
      { D, WG: 64 },
    );
    const words = new Uint32Array([B, o.H, splits, 0]);
    new Float32Array(words.buffer)[3] = scale;
    const params = gpu.uniform("decode.params", words);
    gpu.checkBinding("decode partial outputs [B, H, S, D]", B * o.H * splits * D * 4);
    const partO = gpu.createBuffer("decode.part_o", B * o.H * splits * D * 4);
    const partMl = gpu.createBuffer("decode.part_ml", B * o.H * splits * 2 * 4);
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
      reduce,
      params,
      partO,
      partMl,
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
      const g = this.gpu.device;
      // bindings 0..3 here, the format's from FIRST_FORMAT_BINDING (4) on
      const mainEntries = [this.params, q, this.partO, this.partMl, ...this.source.buffers];
      const entries = mainEntries.map((buffer, binding) => ({ binding, resource: { buffer } }));
      if (this.scores) entries.push({ binding: SCORES_BINDING, resource: { buffer: this.scores } });
      this.#bind = {
        q,
        out,
        main: g.createBindGroup({ layout: this.main.getBindGroupLayout(0), entries }),
        reduce: this.gpu.bindGroup(this.reduce, [this.params, this.partO, this.partMl, out]),
      };
    }
    dispatch(pass, this.main, this.#bind.main, this.splits, Hkv * this.plan.HG, B);
    const rows = B * this.H;
    dispatch(pass, this.reduce, this.#bind.reduce, Math.min(rows, 65535), Math.ceil(rows / 65535));
  }

  /** Bytes of the attention's own workspace (partials and parameters), not the cache. */
  workspaceBytes(): number {
    return this.params.size + this.partO.size + this.partMl.size + (this.scores?.size ?? 0);
  }

  destroy(): void {
    for (const b of [this.params, this.partO, this.partMl]) this.gpu.destroy(b);
    if (this.scores) this.gpu.destroy(this.scores);
  }
}
