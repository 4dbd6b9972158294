// Host side of quest's page selection (quest_select.wgsl): the upper-bound score of every held
// page for the step's query (bounds), then the top-K pages per (b, hk) with the last page forced
// (pick). Buffers (engine/shapes.ts letters; PCAP pages of capacity, KP pages per step):
//   q [B, H, D] f32, meta [B, Hkv, PCAP, 2, D/2] u32 (quest_pages.ts), lens [B] u32 (the
//   cache's), scores [B, Hkv, PCAP] f32 (workspace), sel [B, Hkv, KP] u32 (ascending pages).
// topk.ts is not reused: it takes T and K from a uniform written at record time, and quest's
// page count grows on the GPU as decode appends — here both come from lens.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome } from "./bind.ts";

export interface QuestSelectShape {
  readonly B: number;
  readonly Hkv: number;
  /** Query heads per KV head. */
  readonly G: number;
  readonly D: number;
  /** Tokens per page. */
  readonly page: number;
  /** Pages per (b, hk) the cache can hold. */
  readonly pcap: number;
  /** Pages read per step (the budget's). */
  readonly kp: number;
}

export interface QuestSelectBuffers {
  readonly q: GPUBuffer;
  readonly meta: GPUBuffer;
  readonly lens: GPUBuffer;
  readonly scores: GPUBuffer;
  readonly sel: GPUBuffer;
}

export class QuestSelect {
  #binds?: { key: QuestSelectBuffers; bounds: GPUBindGroup; pick: GPUBindGroup };

  private constructor(
    readonly gpu: Gpu,
    readonly shape: QuestSelectShape,
    readonly bounds: GPUComputePipeline,
    readonly pick: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu, shape: QuestSelectShape): Promise<QuestSelect> {
    const { B, Hkv, G, D, page, pcap, kp } = shape;
    checkInt("B (batch)", B);
    checkInt("Hkv (KV heads)", Hkv);
    checkInt("G (query heads per KV head)", G);
    checkInt("D (head dim)", D, 8, 256);
    checkInt("quest page", page, 1, 1024);
    checkInt("quest pages held (capacity)", pcap);
    checkInt("quest pages per step", kp, 1, pcap);
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (Math.ceil(pcap / 64) > maxDim || Hkv > maxDim || B > maxDim) {
      throw new RangeError(
        `quest select: ${pcap} pages / 64, Hkv=${Hkv} and B=${B} must each be ≤ ${maxDim}`,
      );
    }
    const code = [
      wgsl(new URL("./quest_select.wgsl", import.meta.url)),
      wgsl(new URL("./radix_select.wgsl", import.meta.url)),
    ].join("\n");
    const constants = { D, G, QHKV: Hkv, PS: page, PCAP: pcap, KP: kp };
    const [bounds, pick] = await Promise.all([
      gpu.pipeline("quest_select", code, "bounds", constants),
      gpu.pipeline("quest_select", code, "pick", constants),
    ]);
    return new QuestSelect(gpu, shape, bounds, pick);
  }

  /** Records scores = the pages' bounds for q, then sel = the K pages read this step. */
  encode(pass: GPUComputePassEncoder, buffers: QuestSelectBuffers): void {
    const { B, Hkv, pcap } = this.shape;
    let binds = this.#binds;
    const k = binds?.key;
    if (
      !binds || !k || k.q !== buffers.q || k.meta !== buffers.meta || k.lens !== buffers.lens ||
      k.scores !== buffers.scores || k.sel !== buffers.sel
    ) {
      const b = buffers;
      binds = this.#binds = {
        key: { ...b },
        bounds: bindSome(this.gpu, this.bounds, { 0: b.q, 1: b.meta, 2: b.lens, 3: b.scores }),
        pick: bindSome(this.gpu, this.pick, { 2: b.lens, 3: b.scores, 4: b.sel }),
      };
    }
    dispatch(pass, this.bounds, binds.bounds, Math.ceil(pcap / 64), Hkv, B);
    dispatch(pass, this.pick, binds.pick, Hkv, B);
  }
}
