// Host side of quest's page metadata (quest_pages.wgsl + the cache format's read snippet): per
// (b, hk, page) the per-channel max and min of the page's stored keys as outward-rounded f16,
// meta [B, Hkv, PCAP, 2, D/2] u32 (PCAP = ceil(capacity / page)). `build` covers every stored
// page; `update` the pages one appended token can change (the last page; at a KIVI key flush the
// pages of its last R tokens). Lengths are read on the GPU (the cache's lens), so updates
// recorded back to back in one command buffer each see their step's length.

import type { KvCache } from "../cache/format.ts";
import { FIRST_FORMAT_BINDING } from "../cache/format.ts";
import { KiviCache } from "../cache/kivi.ts";
import { dispatch, type Gpu } from "../gpu/mod.ts";
import { splice, wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { QUEST_PAGE_MULTIPLE } from "./quest.ts";

const WG = 64;

/** Tokens whose stored keys one append may rewrite: KIVI's R (its residual flush), else 1. */
export function keyRewriteSpan(cache: KvCache): number {
  return cache instanceof KiviCache ? cache.R : 1;
}

export class QuestPages {
  #bind?: GPUBindGroup;

  private constructor(
    readonly gpu: Gpu,
    readonly cache: KvCache,
    /** Tokens per page. */
    readonly page: number,
    /** Pages the cache can hold: ceil(capacity / page). */
    readonly pcap: number,
    /** Pages `update` covers per (b, hk). */
    readonly upn: number,
    readonly build: GPUComputePipeline,
    readonly update: GPUComputePipeline,
    /** meta [B, Hkv, PCAP, 2, D/2] u32: f16 pairs, the max row then the min row of each page. */
    readonly meta: GPUBuffer,
  ) {}

  /** Metadata for `cache`, allocated for its capacity; the pipelines read its format. */
  static async create(gpu: Gpu, cache: KvCache, page: number): Promise<QuestPages> {
    checkInt("quest page", page, QUEST_PAGE_MULTIPLE, 1024);
    if (page % QUEST_PAGE_MULTIPLE !== 0) {
      throw new RangeError(
        `quest page: got ${page}, expected a multiple of ${QUEST_PAGE_MULTIPLE}`,
      );
    }
    const { B, Hkv, D, capacity } = cache.shape;
    const pcap = Math.ceil(capacity / page);
    const flush = keyRewriteSpan(cache);
    const upn = Math.ceil(flush / page) + 1;
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (Math.ceil((pcap * D) / 8 / WG) > maxDim || Hkv > maxDim || B > maxDim) {
      throw new RangeError(
        `quest pages: ${pcap} pages × D/8=${D / 8} threads, Hkv=${Hkv} and B=${B} exceed ` +
          `maxComputeWorkgroupsPerDimension ${maxDim}`,
      );
    }
    const source = cache.decodeSource();
    const code = splice(wgsl(new URL("./quest_pages.wgsl", import.meta.url)), source.wgsl);
    const constants = {
      ...source.constants,
      D,
      QHKV: Hkv,
      PS: page,
      PCAP: pcap,
      UPN: upn,
      KFLUSH: flush,
    };
    const label = `quest_pages.${cache.format}`;
    const [build, update] = await Promise.all([
      gpu.pipeline(label, code, "build", constants),
      gpu.pipeline(label, code, "update", constants),
    ]);
    const bytes = B * Hkv * pcap * D * 4;
    gpu.checkBinding(`quest page metadata [B=${B}, Hkv=${Hkv}, pages=${pcap}, 2, D/2]`, bytes);
    const meta = gpu.createBuffer("quest.meta", bytes);
    return new QuestPages(gpu, cache, page, pcap, upn, build, update, meta);
  }

  #group(pipeline: GPUComputePipeline): GPUBindGroup {
    const buffers = this.cache.decodeSource().buffers;
    return this.gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.meta } },
        ...buffers.map((buffer, i) => ({
          binding: FIRST_FORMAT_BINDING + i,
          resource: { buffer },
        })),
      ],
    });
  }

  /** Records the metadata of every page the cache holds (its current lengths, read on the GPU). */
  encodeBuild(pass: GPUComputePassEncoder): void {
    const { B, Hkv, D } = this.cache.shape;
    dispatch(
      pass,
      this.build,
      this.#group(this.build),
      Math.ceil((this.pcap * D) / 8 / WG),
      Hkv,
      B,
    );
  }

  /** Records the metadata of the pages the last one-token append may have changed. */
  encodeUpdate(pass: GPUComputePassEncoder): void {
    const { B, Hkv, D } = this.cache.shape;
    this.#bind ??= this.#group(this.update);
    dispatch(pass, this.update, this.#bind, Math.ceil((this.upn * D) / 8 / WG), Hkv, B);
  }

  /** Bytes of the metadata allocation. */
  bytes(): number {
    return this.meta.size;
  }

  /** Bytes of one page's metadata for one KV head: max and min per channel, f16. */
  get pageBytes(): number {
    return this.cache.shape.D * 4;
  }

  destroy(): void {
    this.gpu.destroy(this.meta);
  }
}
