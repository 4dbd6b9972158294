// Host side of argmax.wgsl: ids [B] u32 = argmax over V of logits [B, V] (greedy decoding).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { DispatchCache } from "./dispatch_cache.ts";
import { wgsl } from "./wgsl.ts";

export interface ArgmaxArgs {
  /** [B, V] f32 */
  readonly logits: GPUBuffer;
  /** [B] u32, written */
  readonly ids: GPUBuffer;
  readonly B: number;
  readonly V: number;
}

export class Argmax {
  readonly #cache: DispatchCache;

  private constructor(readonly gpu: Gpu, readonly pipeline: GPUComputePipeline) {
    this.#cache = new DispatchCache(gpu, "argmax");
  }

  static async create(gpu: Gpu): Promise<Argmax> {
    const code = [
      wgsl(new URL("./argmax.wgsl", import.meta.url)),
      wgsl(new URL("./argmax_reduce.wgsl", import.meta.url)),
    ].join("\n");
    return new Argmax(gpu, await gpu.pipeline("argmax", code, "main", { WG: 256 }));
  }

  encode(pass: GPUComputePassEncoder, a: ArgmaxArgs): void {
    checkInt("B (batch)", a.B, 1, this.gpu.limits.maxComputeWorkgroupsPerDimension);
    checkInt("V (vocabulary)", a.V);
    if (a.logits.size < a.B * a.V * 4 || a.ids.size < a.B * 4) {
      throw new RangeError(`argmax: logits must hold [B=${a.B}, V=${a.V}] f32 and ids [B] u32`);
    }
    const params = this.#cache.uniform(new Uint32Array([a.B, a.V, 0, 0]));
    dispatch(pass, this.pipeline, this.#cache.bind(this.pipeline, [params, a.logits, a.ids]), a.B);
  }

  destroy(): void {
    this.#cache.destroy();
  }
}
