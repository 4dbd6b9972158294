// Host side of quest's sparse decode attention: the split-K decode-attention kernel
// (engine/kernels/decode_attention.wgsl, unchanged, and its decode_reduce.wgsl pass 2) over the
// selected pages of a stored cache of any format, through quest_attention.wgsl — a read snippet
// that wraps the format's own (its kv_len / k_block / load_v8 renamed quest_inner_*) and maps
// the kernel's token index onto the selected pages. Same call shape as DecodeAttention:
// encode(pass, q, out), with the page list sel [B, Hkv, KP] u32 (quest_select.ts) bound once.
// Splits are sized for the tokens read (KP pages), not the cache's capacity.

import type { KvCache } from "../cache/format.ts";
import type { Gpu } from "../gpu/mod.ts";
import {
  type DecodePlan,
  decodePlan,
  decodeScale,
  defaultSplits,
  destroySplit,
  encodeSplit,
  pass1Constants,
  SPLIT_ALIGN,
  type SplitBuffers,
  splitBuffers,
  splitBytes,
  type SplitGroups,
  splitGroups,
} from "../kernels/decode_attention.ts";
import { splice, wgsl } from "../kernels/wgsl.ts";
import { checkInt, groupSize } from "../shapes.ts";

/** Binding of sel [B, Hkv, KP] in quest_attention.wgsl. */
export const SEL_BINDING = 15;

export interface QuestAttentionOptions {
  /** Query heads; a multiple of the cache's Hkv. */
  readonly H: number;
  /** Tokens per page. */
  readonly page: number;
  /** Pages read per step at most. */
  readonly pages: number;
  /** Softmax scale (default 1/sqrt(D)). */
  readonly scale?: number;
  /** Splits per sequence (default: enough workgroups to fill a large GPU). */
  readonly splits?: number;
}

/** The format's snippet with its three entry functions renamed quest_inner_*. */
export function innerSnippet(source: string): string {
  return source.replace(/\b(kv_len|k_block|load_v8)(?=\s*\()/g, "quest_inner_$1");
}

export class QuestAttention {
  #bind?: SplitGroups;

  private constructor(
    readonly gpu: Gpu,
    readonly cache: KvCache,
    readonly H: number,
    readonly splits: number,
    readonly plan: DecodePlan,
    readonly sel: GPUBuffer,
    readonly main: GPUComputePipeline,
    readonly split: SplitBuffers,
  ) {}

  /** Attention over the pages listed in `sel` [B, Hkv, pages] u32 of `cache`. */
  static async create(
    gpu: Gpu,
    cache: KvCache,
    sel: GPUBuffer,
    o: QuestAttentionOptions,
  ): Promise<QuestAttention> {
    const { B, Hkv, D } = cache.shape;
    const G = groupSize(o.H, Hkv);
    checkInt("quest page", o.page, 4, 1024);
    checkInt("quest pages per step", o.pages);
    if (sel.size < B * Hkv * o.pages * 4) {
      throw new RangeError(
        `quest sel: expected [B=${B}, Hkv=${Hkv}, pages=${o.pages}] u32, the buffer holds ${sel.size} bytes`,
      );
    }
    const scale = decodeScale(D, o.scale);
    const plan = decodePlan(G, D, gpu.limits.maxComputeWorkgroupStorageSize);
    const span = o.page * o.pages; // most tokens read per step
    const splits = o.splits ?? defaultSplits(span, B, Hkv, plan);
    checkInt("splits", splits, 1, Math.ceil(span / SPLIT_ALIGN));
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (splits > maxDim || Hkv * plan.HG > maxDim || B > maxDim) {
      throw new RangeError(
        `quest attention: splits=${splits}, B=${B} and Hkv·${plan.HG}=${
          Hkv * plan.HG
        } workgroups must each be ≤ maxComputeWorkgroupsPerDimension ${maxDim}`,
      );
    }
    const source = cache.decodeSource();
    const snippet = innerSnippet(source.wgsl) + "\n" +
      wgsl(new URL("./quest_attention.wgsl", import.meta.url));
    const code = splice(
      wgsl(new URL("../kernels/decode_attention.wgsl", import.meta.url)),
      snippet,
    ) + "\nfn emit_score(i: u32, s: f32) {}\n";
    const main = await gpu.pipeline(`quest_attention.${cache.format}`, code, "main", {
      ...pass1Constants(plan, D, G),
      ...source.constants,
      QPS: o.page,
      QKP: o.pages,
      QHKV: Hkv,
    });
    const split = await splitBuffers(gpu, "quest.decode", { B, H: o.H, splits, D, scale });
    return new QuestAttention(gpu, cache, o.H, splits, plan, sel, main, split);
  }

  /** Records out [B, H, D] = softmax(q·Kᵀ·scale)·V over the selected pages' tokens; q [B, H, D]. */
  encode(pass: GPUComputePassEncoder, q: GPUBuffer, out: GPUBuffer): void {
    const { B, Hkv } = this.cache.shape;
    if (this.#bind?.q !== q || this.#bind?.out !== out) {
      const format = this.cache.decodeSource().buffers;
      const extra = [[SEL_BINDING, this.sel] as const];
      this.#bind = splitGroups(this.gpu, this.main, this.split, q, out, format, extra);
    }
    const grid = [this.splits, Hkv * this.plan.HG, B] as const;
    encodeSplit(pass, this.main, this.split, this.#bind, grid, B * this.H);
  }

  /** Bytes of the attention's own workspace (partials and parameters), not the cache. */
  workspaceBytes(): number {
    return splitBytes(this.split);
  }

  destroy(): void {
    destroySplit(this.gpu, this.split);
  }
}
