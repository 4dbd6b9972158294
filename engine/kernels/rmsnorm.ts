// Host side of rmsnorm.wgsl: out [rows, C] = RMSNorm(x [rows, C]) · w [C], or in place.
// Used for the layer norms and the final norm (C = hidden) and Qwen3's per-head q/k norms
// (rows = tokens · heads, C = D).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { grid2d } from "../cache/grid.ts";
import { DispatchCache, setF32 } from "./dispatch_cache.ts";
import { wgsl } from "./wgsl.ts";

export interface RmsNormArgs {
  /** [rows, C] f32 */
  readonly x: GPUBuffer;
  /** [C] f32 */
  readonly w: GPUBuffer;
  /** [rows, C] f32, written; omit to normalise x in place */
  readonly out?: GPUBuffer;
  readonly rows: number;
}

export class RmsNorm {
  readonly #cache: DispatchCache;

  private constructor(
    readonly gpu: Gpu,
    readonly C: number,
    readonly eps: number,
    readonly main: GPUComputePipeline,
    readonly inPlace: GPUComputePipeline,
  ) {
    this.#cache = new DispatchCache(gpu, "rmsnorm");
  }

  /** C: the normalised dimension; eps: added to the mean square (finite, > 0). */
  static async create(gpu: Gpu, C: number, eps: number): Promise<RmsNorm> {
    checkInt("C (normalised dimension)", C);
    if (!(eps > 0) || !Number.isFinite(eps)) {
      throw new RangeError(`rms_norm_eps: got ${eps}, expected a finite number > 0`);
    }
    const code = wgsl(new URL("./rmsnorm.wgsl", import.meta.url));
    const main = await gpu.pipeline("rmsnorm", code, "main", { WG: 64 });
    const inPlace = await gpu.pipeline("rmsnorm", code, "in_place", { WG: 64 });
    return new RmsNorm(gpu, C, eps, main, inPlace);
  }

  encode(pass: GPUComputePassEncoder, a: RmsNormArgs): void {
    const { x, w, out, rows } = a;
    checkInt("rows", rows);
    const bytes = rows * this.C * 4;
    if (x.size < bytes || (out && out.size < bytes) || w.size < this.C * 4) {
      throw new RangeError(
        `rmsnorm: x and out must hold [rows=${rows}, C=${this.C}] f32 = ${bytes} bytes and w [C]`,
      );
    }
    if (out === x) throw new RangeError("rmsnorm: for in place, omit out rather than pass x");
    const params = this.#cache.uniform(setF32(new Uint32Array([rows, this.C, 0, 0]), 2, this.eps));
    const [gx, gy] = grid2d(rows, this.gpu.limits.maxComputeWorkgroupsPerDimension);
    if (out) {
      dispatch(pass, this.main, this.#cache.bind(this.main, [params, x, w, out]), gx, gy);
    } else {
      dispatch(pass, this.inPlace, this.#cache.bind(this.inPlace, [params, x, w]), gx, gy);
    }
  }

  destroy(): void {
    this.#cache.destroy();
  }
}
