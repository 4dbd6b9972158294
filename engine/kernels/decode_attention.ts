// Host side of split-K decode attention over any KV-cache format (engine/cache/format.ts).
// Pass 1 (decode_attention.wgsl + the format's read snippet) writes per-split partial outputs;
// pass 2 (decode_reduce.wgsl) merges them. Sequence lengths are read on the GPU from the
// cache's `lens`, so steps recorded back to back in one command buffer see each append.

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
}

/** Workgroups pass 1 aims for when choosing the split count: several per SM on large GPUs. */
export const TARGET_WORKGROUPS = 512;

export class DecodeAttention {
  #bind?: { q: GPUBuffer; out: GPUBuffer; main: GPUBindGroup; reduce: GPUBindGroup };

  private constructor(
    readonly gpu: Gpu,
    readonly cache: KvCache,
    readonly H: number,
    readonly splits: number,
    readonly tile: number,
    readonly source: DecodeSource,
    readonly main: GPUComputePipeline,
    readonly reduce: GPUComputePipeline,
    readonly params: GPUBuffer,
    readonly partO: GPUBuffer,
    readonly partMl: GPUBuffer,
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
    const tile = D <= 128 ? 32 : 16;
    const WG = 128;
    const shared = 4 * (tile * (D + 1) + 2 * G * D + G * tile + 3 * G);
    const limit = gpu.limits.maxComputeWorkgroupStorageSize;
    if (shared > limit) {
      throw new RangeError(
        `decode attention: GQA group G=${G} with D=${D} needs ${shared} bytes of workgroup memory, the device allows ${limit}`,
      );
    }
    const maxSplits = Math.ceil(capacity / tile);
    const splits = o.splits ??
      Math.min(maxSplits, Math.max(1, Math.ceil(TARGET_WORKGROUPS / (B * Hkv))));
    checkInt("splits", splits, 1, maxSplits);
    if (splits > gpu.limits.maxComputeWorkgroupsPerDimension) {
      throw new RangeError(`splits: ${splits} exceeds maxComputeWorkgroupsPerDimension`);
    }
    const source = cache.decodeSource();
    const code = splice(wgsl(new URL("./decode_attention.wgsl", import.meta.url)), source.wgsl);
    const main = await gpu.pipeline(`decode_attention.${cache.format}`, code, "main", {
      D,
      G,
      TILE: tile,
      WG,
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
    return new DecodeAttention(
      gpu,
      cache,
      o.H,
      splits,
      tile,
      source,
      main,
      reduce,
      params,
      partO,
      partMl,
    );
  }

  /** Records out [B, H, D] = softmax(q·Kᵀ·scale)·V over each sequence's stored tokens; q [B, H, D]. */
  encode(pass: GPUComputePassEncoder, q: GPUBuffer, out: GPUBuffer): void {
    const { B, Hkv } = this.cache.shape;
    if (this.#bind?.q !== q || this.#bind?.out !== out) {
      const g = this.gpu.device;
      // bindings 0..3 here, the format's from FIRST_FORMAT_BINDING (4) on
      const mainEntries = [this.params, q, this.partO, this.partMl, ...this.source.buffers];
      this.#bind = {
        q,
        out,
        main: g.createBindGroup({
          layout: this.main.getBindGroupLayout(0),
          entries: mainEntries.map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
        reduce: this.gpu.bindGroup(this.reduce, [this.params, this.partO, this.partMl, out]),
      };
    }
    dispatch(pass, this.main, this.#bind.main, this.splits, Hkv, B);
    const rows = B * this.H;
    dispatch(pass, this.reduce, this.#bind.reduce, Math.min(rows, 65535), Math.ceil(rows / 65535));
  }

  /** Bytes of the attention's own workspace (partials and parameters), not the cache. */
  workspaceBytes(): number {
    return this.params.size + this.partO.size + this.partMl.size;
  }

  destroy(): void {
    for (const b of [this.params, this.partO, this.partMl]) this.gpu.destroy(b);
  }
}
