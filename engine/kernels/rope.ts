// Host side of rope.wgsl, and the (cos, sin) table it reads: [P, D/2] pairs for positions
// 0 .. P-1 from inv_freq (rope_theta and rope scaling: engine/model/config.ts ropeInvFreq). As
// in Hugging Face's f32 code, the angle t · inv_freq is rounded to f32; cos and sin of it are
// then taken in float64 and rounded once. The reference forward uses the same table.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { grid2d } from "../cache/grid.ts";
import { DispatchCache } from "./dispatch_cache.ts";
import { wgsl } from "./wgsl.ts";

/** (cos, sin)(f32(t · invFreq[i])) for t < P, i < D/2, interleaved: [P, D/2, 2] f32. */
export function ropeTable(invFreq: readonly number[], P: number): Float32Array {
  checkInt("P (positions)", P);
  const half = invFreq.length;
  const out = new Float32Array(P * half * 2);
  for (let t = 0; t < P; t++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(t * invFreq[i]);
      out[(t * half + i) * 2] = Math.cos(a);
      out[(t * half + i) * 2 + 1] = Math.sin(a);
    }
  }
  return out;
}

export interface RopeArgs {
  /** [B, T, heads, D] f32, rotated in place */
  readonly x: GPUBuffer;
  /** [B] u32: position of each sequence's token 0 */
  readonly pos: GPUBuffer;
  /** [P, D/2] (cos, sin) from ropeTable */
  readonly table: GPUBuffer;
  readonly B: number;
  readonly T: number;
  readonly heads: number;
}

export class Rope {
  readonly #cache: DispatchCache;

  private constructor(
    readonly gpu: Gpu,
    readonly D: number,
    readonly pipeline: GPUComputePipeline,
  ) {
    this.#cache = new DispatchCache(gpu, "rope");
  }

  /** D: head dim, even. */
  static async create(gpu: Gpu, D: number): Promise<Rope> {
    checkInt("D (head dim)", D, 2);
    if (D % 2 !== 0) {
      throw new RangeError(`D (head dim): got ${D}, expected an even number for RoPE`);
    }
    const pipeline = await gpu.pipeline(
      "rope",
      wgsl(new URL("./rope.wgsl", import.meta.url)),
      "main",
    );
    return new Rope(gpu, D, pipeline);
  }

  encode(pass: GPUComputePassEncoder, a: RopeArgs): void {
    const { x, pos, table, B, T, heads } = a;
    checkInt("B (batch)", B);
    checkInt("T (tokens)", T);
    checkInt("heads", heads);
    const half = this.D / 2;
    const rows = B * T * heads;
    if (x.size < rows * this.D * 4 || pos.size < B * 4) {
      throw new RangeError(
        `rope: x must hold [B=${B}, T=${T}, heads=${heads}, D=${this.D}] f32 and pos [B] u32`,
      );
    }
    const P = Math.floor(table.size / (half * 8));
    checkInt("rope table positions", P);
    const params = this.#cache.uniform(new Uint32Array([T, heads, rows, half, P, 0, 0, 0]));
    const [gx, gy] = grid2d(
      Math.ceil((rows * half) / 64),
      this.gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    dispatch(pass, this.pipeline, this.#cache.bind(this.pipeline, [params, x, pos, table]), gx, gy);
  }

  destroy(): void {
    this.#cache.destroy();
  }
}
