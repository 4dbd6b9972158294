// Host side of the decode-time eviction kernels (evict_kernels.wgsl): select, advance, stats
// and init, specialised for one cache shape and rank rule. DecodeEvictor (evict.ts) records them
// around the cache's slot write and decode attention; the kernel tests drive them directly.
//
// Buffers (letters from engine/shapes.ts; CAP = the cache's capacity, the budget):
//   lens [B] u32 (the cache's), next [B] u32, pos [B, Hkv, CAP] u32, stat [B, Hkv, CAP] f32,
//   slots, evicted [B, Hkv] u32, att [B, H, CAP] f32 raw scores, part_ml [B, H, S, 2] f32,
//   kept [B, Hkv, K] u32 and scores [B, Hkv, T] f32 (init).

import { grid2d } from "../cache/grid.ts";
import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import type { DecodeRule, Forced } from "./method.ts";

export interface EvictKernelShape {
  readonly B: number;
  readonly Hkv: number;
  /** Query heads per KV head. */
  readonly G: number;
  /** Slots per (b, hk). */
  readonly capacity: number;
  /** What ranks the evictable tokens. */
  readonly rank: DecodeRule["rank"];
}

export interface EvictBuffers {
  readonly lens: GPUBuffer;
  readonly next: GPUBuffer;
  readonly pos: GPUBuffer;
  /** Bound by every kernel; read and written only when rank ≠ "oldest" (4 bytes suffice then). */
  readonly stat: GPUBuffer;
  readonly slots: GPUBuffer;
  readonly evicted: GPUBuffer;
}

type Entry = "select" | "advance" | "stats" | "init";

export class EvictKernels {
  private constructor(
    readonly gpu: Gpu,
    readonly shape: EvictKernelShape,
    readonly pipelines: Readonly<Record<Entry, GPUComputePipeline>>,
  ) {}

  static async create(gpu: Gpu, shape: EvictKernelShape): Promise<EvictKernels> {
    checkInt("B (batch)", shape.B);
    checkInt("Hkv (KV heads)", shape.Hkv);
    checkInt("G (query heads per KV head)", shape.G, 1, 64);
    checkInt("capacity (slots per KV head)", shape.capacity);
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (shape.Hkv > maxDim || shape.B > maxDim || Math.ceil(shape.capacity / 64) > maxDim) {
      throw new RangeError(
        `evict kernels: Hkv=${shape.Hkv}, B=${shape.B} and capacity/64 must each be ≤ ${maxDim}`,
      );
    }
    const code = wgsl(new URL("./evict_kernels.wgsl", import.meta.url));
    const constants = {
      HKV: shape.Hkv,
      G: shape.G,
      CAP: shape.capacity,
      RULE: shape.rank === "oldest" ? 0 : 1,
    };
    const entries: Entry[] = ["select", "advance", "stats", "init"];
    const made = await Promise.all(
      entries.map((e) => gpu.pipeline("evict_kernels", code, `${e}_main`, constants)),
    );
    const pipelines = Object.fromEntries(entries.map((e, i) => [e, made[i]])) as Record<
      Entry,
      GPUComputePipeline
    >;
    return new EvictKernels(gpu, shape, pipelines);
  }

  /**
   * The uniform every kernel reads: the forced ranges, the decode-attention splits S, whether
   * stats accumulate (h2o) or replace (tova), and for init the kept count K and prompt length T.
   */
  params(forced: Forced, S: number, init: { K: number; T: number } = { K: 0, T: 0 }): GPUBuffer {
    const acc = this.shape.rank === "accumulated" ? 1 : 0;
    return this.gpu.uniform(
      "evict.params",
      paramWords([this.shape.B, forced.sinks, forced.recent, S, acc, init.K, init.T]),
    );
  }

  /** Bind group of `select`: chooses slots, records evicted positions, claims the slot. */
  bindSelect(params: GPUBuffer, b: EvictBuffers): GPUBindGroup {
    return bindSome(this.gpu, this.pipelines.select, {
      0: params,
      1: b.lens,
      2: b.next,
      3: b.pos,
      4: b.stat,
      5: b.slots,
      6: b.evicted,
    });
  }

  bindAdvance(params: GPUBuffer, b: EvictBuffers): GPUBindGroup {
    return bindSome(this.gpu, this.pipelines.advance, { 0: params, 2: b.next });
  }

  /** att [B, H, CAP] raw scores and part_ml [B, H, S, 2] of the step's decode attention. */
  bindStats(params: GPUBuffer, b: EvictBuffers, att: GPUBuffer, partMl: GPUBuffer): GPUBindGroup {
    return bindSome(this.gpu, this.pipelines.stats, {
      0: params,
      1: b.lens,
      4: b.stat,
      7: att,
      8: partMl,
    });
  }

  /** kept [B, Hkv, K] u32 and scores [B, Hkv, T] f32 from the one-shot compression. */
  bindInit(params: GPUBuffer, b: EvictBuffers, kept: GPUBuffer, scores: GPUBuffer): GPUBindGroup {
    return bindSome(this.gpu, this.pipelines.init, {
      0: params,
      2: b.next,
      3: b.pos,
      4: b.stat,
      9: kept,
      10: scores,
    });
  }

  encodeSelect(pass: GPUComputePassEncoder, bind: GPUBindGroup): void {
    dispatch(pass, this.pipelines.select, bind, this.shape.Hkv, this.shape.B);
  }

  encodeAdvance(pass: GPUComputePassEncoder, bind: GPUBindGroup): void {
    dispatch(pass, this.pipelines.advance, bind, Math.ceil(this.shape.B / 64));
  }

  encodeStats(pass: GPUComputePassEncoder, bind: GPUBindGroup): void {
    const { B, Hkv, capacity } = this.shape;
    dispatch(pass, this.pipelines.stats, bind, Math.ceil(capacity / 64), Hkv, B);
  }

  /** K kept tokens per (b, hk). */
  encodeInit(pass: GPUComputePassEncoder, bind: GPUBindGroup, K: number): void {
    checkInt("K (kept tokens)", K, 1, this.shape.capacity);
    const { B, Hkv } = this.shape;
    dispatch(pass, this.pipelines.init, bind, ...grid2d(Math.ceil((B * Hkv * K) / 64)));
  }
}
