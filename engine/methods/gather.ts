// Host side of the gather (gather.wgsl): kept [B, Hkv, K] u32 with k, v [B, T, Hkv, D] f32 →
// k', v' [B, K, Hkv, D] f32, which a cache's append path then stores in its own format.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { grid2d } from "../cache/grid.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import { checkBuffer } from "./method.ts";

export interface GatherShape {
  readonly B: number;
  readonly T: number;
  readonly Hkv: number;
  readonly D: number;
  /** Kept tokens per (b, hk). */
  readonly K: number;
}

export class Gather {
  private constructor(
    readonly gpu: Gpu,
    readonly Hkv: number,
    readonly D: number,
    readonly pipeline: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu, Hkv: number, D: number): Promise<Gather> {
    checkInt("Hkv (KV heads)", Hkv);
    checkInt("D (head dim)", D, 4, 256);
    if (D % 4 !== 0) throw new RangeError(`D (head dim): got ${D}, expected a multiple of 4`);
    const code = wgsl(new URL("./gather.wgsl", import.meta.url));
    const pipeline = await gpu.pipeline("gather", code, "main", { HKV: Hkv, D4: D / 4 });
    return new Gather(gpu, Hkv, D, pipeline);
  }

  /** Records k', v' [B, K, Hkv, D] = the kept rows of k, v; returns the uniform to free once the work is done. */
  encode(
    pass: GPUComputePassEncoder,
    s: GatherShape,
    kept: GPUBuffer,
    k: GPUBuffer,
    v: GPUBuffer,
    kOut: GPUBuffer,
    vOut: GPUBuffer,
  ): GPUBuffer[] {
    const { B, T, Hkv, D, K } = s;
    if (Hkv !== this.Hkv || D !== this.D) {
      throw new RangeError(`gather: built for Hkv=${this.Hkv} D=${this.D}, got Hkv=${Hkv} D=${D}`);
    }
    checkInt("K (kept tokens)", K, 1, T);
    checkBuffer("kept [B, Hkv, K] (u32)", kept, [B, Hkv, K]);
    checkBuffer("k [B, T, Hkv, D]", k, [B, T, Hkv, D]);
    checkBuffer("v [B, T, Hkv, D]", v, [B, T, Hkv, D]);
    checkBuffer("k' [B, K, Hkv, D]", kOut, [B, K, Hkv, D]);
    checkBuffer("v' [B, K, Hkv, D]", vOut, [B, K, Hkv, D]);
    const params = this.gpu.uniform("gather.params", paramWords([B, T, K]));
    const bind = bindSome(this.gpu, this.pipeline, {
      0: params,
      1: kept,
      2: k,
      3: v,
      4: kOut,
      5: vOut,
    });
    dispatch(pass, this.pipeline, bind, ...grid2d(Math.ceil((B * K * Hkv * D) / 4 / 64)));
    return [params];
  }
}
