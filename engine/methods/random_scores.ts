// Host side of the seeded random scores (random_scores.wgsl): a hash of (seed, layer, b, hk, t).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { grid2d } from "../cache/grid.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import { checkBuffer, checkLayerShape, type LayerInput } from "./method.ts";

export class RandomScores {
  private constructor(
    readonly gpu: Gpu,
    readonly seed: number,
    readonly pipeline: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu, seed: number): Promise<RandomScores> {
    checkInt("seed", seed, 0, 0xffffffff);
    const code = wgsl(new URL("./random_scores.wgsl", import.meta.url));
    return new RandomScores(gpu, seed, await gpu.pipeline("random_scores", code, "main"));
  }

  /** Records scores [B, Hkv, T] f32 for input.layer (default 0); returns the uniform to free once the work is done. */
  encode(pass: GPUComputePassEncoder, input: LayerInput, scores: GPUBuffer): GPUBuffer[] {
    checkLayerShape(input.shape);
    const { B, T, Hkv } = input.shape;
    const layer = input.layer ?? 0;
    checkInt("layer", layer, 0, 0xffffffff);
    checkBuffer("scores [B, Hkv, T]", scores, [B, Hkv, T]);
    const n = B * Hkv * T;
    const params = this.gpu.uniform("random.params", paramWords([n, this.seed, layer]));
    const bind = bindSome(this.gpu, this.pipeline, { 0: params, 1: scores });
    dispatch(pass, this.pipeline, bind, ...grid2d(Math.ceil(n / 64)));
    return [params];
  }
}
