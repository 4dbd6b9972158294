// Host side of embedding.wgsl: out [N, C] = table[ids] for ids [N] u32 on the GPU and a table
// Matrix [V, C] (f32 or f16, any number of row chunks). Ids outside [0, V) leave their row
// unwritten: callers produce valid ids (the tokenizer's, or the argmax's).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { grid2d } from "../cache/grid.ts";
import { DispatchCache } from "./dispatch_cache.ts";
import type { Matrix, WeightDtype } from "./matrix.ts";
import { wgsl } from "./wgsl.ts";

export interface EmbeddingArgs {
  /** [N] u32 */
  readonly ids: GPUBuffer;
  /** [V, C] */
  readonly table: Matrix;
  /** [N, C] f32, written */
  readonly out: GPUBuffer;
  readonly N: number;
}

export class Embedding {
  readonly #cache: DispatchCache;

  private constructor(
    readonly gpu: Gpu,
    readonly dtype: WeightDtype,
    readonly pipeline: GPUComputePipeline,
  ) {
    this.#cache = new DispatchCache(gpu, "embedding");
  }

  static async create(gpu: Gpu, dtype: WeightDtype): Promise<Embedding> {
    const code = wgsl(new URL("./embedding.wgsl", import.meta.url));
    const pipeline = await gpu.pipeline("embedding", code, "main", {
      F16: dtype === "f16" ? 1 : 0,
    });
    return new Embedding(gpu, dtype, pipeline);
  }

  encode(pass: GPUComputePassEncoder, a: EmbeddingArgs): void {
    const { ids, table, out, N } = a;
    const C = table.cols;
    checkInt("N (ids)", N);
    if (table.dtype !== this.dtype) {
      throw new TypeError(
        `embedding: ${table.label} is ${table.dtype}, this kernel reads ${this.dtype}`,
      );
    }
    if (ids.size < N * 4 || out.size < N * C * 4) {
      throw new RangeError(
        `embedding (${table.label}): ids [N=${N}] needs ${N * 4} bytes (has ${ids.size}), ` +
          `out [N, C=${C}] needs ${N * C * 4} bytes (has ${out.size})`,
      );
    }
    const [gx, gy] = grid2d(
      Math.ceil((N * C) / 64),
      this.gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    for (const c of table.chunks) {
      const params = this.#cache.uniform(new Uint32Array([N, C, c.row0, c.rows]));
      dispatch(
        pass,
        this.pipeline,
        this.#cache.bind(this.pipeline, [params, ids, c.buffer, out]),
        gx,
        gy,
      );
    }
  }

  destroy(): void {
    this.#cache.destroy();
  }
}
