// Host side of the knorm scores (key_norm.wgsl): −‖k‖₂ per (b, hk, t), one thread each.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { grid2d } from "../cache/grid.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { bindSome, paramWords } from "./bind.ts";
import {
  checkBuffer,
  checkHeads,
  checkLayerShape,
  type HeadLayout,
  type LayerInput,
} from "./method.ts";

export class KeyNormScores {
  private constructor(
    readonly gpu: Gpu,
    readonly heads: HeadLayout,
    readonly pipeline: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu, heads: HeadLayout): Promise<KeyNormScores> {
    checkLayerShape({ B: 1, T: 1, ...heads });
    const code = wgsl(new URL("./key_norm.wgsl", import.meta.url));
    const pipeline = await gpu.pipeline("key_norm", code, "main", {
      HKV: heads.Hkv,
      D4: heads.D / 4,
    });
    return new KeyNormScores(gpu, heads, pipeline);
  }

  /** Records scores [B, Hkv, T] f32 from k [B, T, Hkv, D]; returns the uniform to free once the work is done. */
  encode(pass: GPUComputePassEncoder, input: LayerInput, scores: GPUBuffer): GPUBuffer[] {
    checkLayerShape(input.shape);
    checkHeads(input.shape, this.heads);
    const { B, T, Hkv, D } = input.shape;
    checkBuffer("k [B, T, Hkv, D]", input.k, [B, T, Hkv, D]);
    checkBuffer("scores [B, Hkv, T]", scores, [B, Hkv, T]);
    const params = this.gpu.uniform("knorm.params", paramWords([B, T]));
    const bind = bindSome(this.gpu, this.pipeline, { 0: params, 1: input.k, 2: scores });
    dispatch(pass, this.pipeline, bind, ...grid2d(Math.ceil((B * Hkv * T) / 64)));
    return [params];
  }
}
