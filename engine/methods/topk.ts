// Host side of the exact top-k selection (topk.wgsl): scores [B, Hkv, T] f32 and the forced
// ranges → kept positions [B, Hkv, K] u32, ascending, K = budget. One workgroup per (b, hk).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import { checkForced, forcedCount } from "./budget.ts";
import type { Forced } from "./method.ts";

export interface SelectShape {
  readonly B: number;
  readonly Hkv: number;
  readonly T: number;
}

export class TopK {
  private constructor(readonly gpu: Gpu, readonly pipeline: GPUComputePipeline) {}

  static async create(gpu: Gpu): Promise<TopK> {
    const code = [
      wgsl(new URL("./topk.wgsl", import.meta.url)),
      wgsl(new URL("./radix_select.wgsl", import.meta.url)),
    ].join("\n");
    return new TopK(gpu, await gpu.pipeline("topk", code, "main"));
  }

  /**
   * Records the selection of `budget` positions per (b, hk) from scores [B, Hkv, T] f32 into
   * kept [B, Hkv, budget] u32. Returns the uniform to free once the submitted work is done.
   */
  encode(
    pass: GPUComputePassEncoder,
    shape: SelectShape,
    scores: GPUBuffer,
    kept: GPUBuffer,
    budget: number,
    forced: Forced,
  ): GPUBuffer[] {
    const { B, Hkv, T } = shape;
    checkInt("B (batch)", B);
    checkInt("Hkv (KV heads)", Hkv);
    checkInt("T (prompt tokens)", T, 1, 0xffffffff - 1);
    checkInt("budget (tokens kept)", budget, 1, T);
    checkForced("topk", forced, T, budget);
    const maxDim = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (Hkv > maxDim || B > maxDim) {
      throw new RangeError(`topk: Hkv=${Hkv} and B=${B} must each be ≤ ${maxDim}`);
    }
    if (scores.size < B * Hkv * T * 4 || kept.size < B * Hkv * budget * 4) {
      throw new RangeError(
        `topk: scores must hold [B=${B}, Hkv=${Hkv}, T=${T}] and kept [B, Hkv, K=${budget}] 32-bit values`,
      );
    }
    const take = budget - forcedCount(forced, T);
    const params = this.gpu.uniform(
      "topk.params",
      paramWords([T, budget, Math.min(forced.sinks, T), Math.min(forced.recent, T), take]),
    );
    const bind = bindSome(this.gpu, this.pipeline, { 0: params, 1: scores, 2: kept });
    dispatch(pass, this.pipeline, bind, Hkv, B);
    return [params];
  }
}
