// Host side of swiglu.wgsl: gate [rows, I] ← silu(gate) · up, in place.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { grid2d } from "../cache/grid.ts";
import { DispatchCache } from "./dispatch_cache.ts";
import { wgsl } from "./wgsl.ts";

export interface SwigluArgs {
  /** [rows, I] f32, overwritten with the activation */
  readonly gate: GPUBuffer;
  /** [rows, I] f32 */
  readonly up: GPUBuffer;
  /** rows · I */
  readonly n: number;
}

export class Swiglu {
  readonly #cache: DispatchCache;

  private constructor(readonly gpu: Gpu, readonly pipeline: GPUComputePipeline) {
    this.#cache = new DispatchCache(gpu, "swiglu");
  }

  static async create(gpu: Gpu): Promise<Swiglu> {
    const code = wgsl(new URL("./swiglu.wgsl", import.meta.url));
    return new Swiglu(gpu, await gpu.pipeline("swiglu", code, "main"));
  }

  encode(pass: GPUComputePassEncoder, a: SwigluArgs): void {
    checkInt("n (elements)", a.n);
    if (a.gate.size < a.n * 4 || a.up.size < a.n * 4) {
      throw new RangeError(`swiglu: gate and up must hold n=${a.n} f32 values`);
    }
    if (a.gate === a.up) throw new RangeError("swiglu: gate and up must be different buffers");
    const params = this.#cache.uniform(new Uint32Array([a.n, 0, 0, 0]));
    const [gx, gy] = grid2d(Math.ceil(a.n / 64), this.gpu.limits.maxComputeWorkgroupsPerDimension);
    dispatch(pass, this.pipeline, this.#cache.bind(this.pipeline, [params, a.gate, a.up]), gx, gy);
  }

  destroy(): void {
    this.#cache.destroy();
  }
}
