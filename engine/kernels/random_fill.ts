// Host side of random_fill.wgsl: fills a Matrix (any dtype, any row chunks) or an f32 vector
// with seeded values of a given mean and standard deviation, on the GPU.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { grid2d } from "../cache/grid.ts";
import { setF32 } from "./dispatch_cache.ts";
import type { Matrix } from "./matrix.ts";
import { wgsl } from "./wgsl.ts";

export interface FillOptions {
  readonly seed: number;
  /** Standard deviation (0: every value is `offset`). */
  readonly scale: number;
  readonly offset?: number;
}

export class RandomFill {
  private constructor(
    readonly gpu: Gpu,
    readonly f32: GPUComputePipeline,
    readonly f16: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu): Promise<RandomFill> {
    const code = wgsl(new URL("./random_fill.wgsl", import.meta.url));
    return new RandomFill(
      gpu,
      await gpu.pipeline("random_fill", code, "main", { F16: 0 }),
      await gpu.pipeline("random_fill", code, "main", { F16: 1 }),
    );
  }

  /** Fills every chunk of `m` (values in row-major order across chunks) and submits. */
  fillMatrix(m: Matrix, o: FillOptions): void {
    for (const c of m.chunks) {
      this.#fill(c.buffer, c.rows * m.cols, c.row0 * m.cols, m.dtype === "f16", o);
    }
  }

  /** Fills `n` f32 values of `buffer` and submits. */
  fillVector(buffer: GPUBuffer, n: number, o: FillOptions): void {
    this.#fill(buffer, n, 0, false, o);
  }

  #fill(buffer: GPUBuffer, values: number, first: number, half: boolean, o: FillOptions): void {
    if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) {
      throw new RangeError(`seed: got ${o.seed}, expected an integer in [0, 2^32)`);
    }
    if (!Number.isFinite(o.scale) || o.scale < 0) {
      throw new RangeError(`scale: got ${o.scale}, expected a finite number ≥ 0`);
    }
    const words = half ? values / 2 : values;
    const params = this.gpu.uniform(
      "random_fill.params",
      setF32(
        setF32(new Uint32Array([words, o.seed, first, 0, 0, 0, 0, 0]), 4, o.scale),
        5,
        o.offset ?? 0,
      ),
    );
    const pipeline = half ? this.f16 : this.f32;
    const [x, y] = grid2d(Math.ceil(words / 64), this.gpu.limits.maxComputeWorkgroupsPerDimension);
    this.gpu.submit((pass) =>
      dispatch(pass, pipeline, this.gpu.bindGroup(pipeline, [params, buffer]), x, y)
    );
    this.gpu.device.queue.onSubmittedWorkDone().then(() => this.gpu.destroy(params));
  }
}
