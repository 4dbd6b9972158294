// Host side of the attention column sums (attention_sums.wgsl): the H2O / TOVA prefill
// statistic, computed on the GPU from the prompt's queries and keys, never read back as a matrix.
// Dispatches: lse (⌈R/64⌉ × H × B), sums (⌈T/64⌉ × Hkv × B). Workspace, freed by the caller once
// the submitted work is done: the uniform and stats [B, H, R] (max, Σexp).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import {
  checkBuffer,
  checkHeads,
  checkLayerShape,
  type HeadLayout,
  type LayerInput,
} from "./method.ts";

export interface AttentionSumsOptions {
  /** Rows summed: the last `rows` of the W rows of qw given; absent: all W (h2o). tova: 1. */
  readonly rows?: number;
}

/** Column sums for layers of one head layout (H, Hkv, D); B, T, W and the scale come with each input. */
export class AttentionSums {
  private constructor(
    readonly gpu: Gpu,
    readonly heads: HeadLayout,
    readonly o: AttentionSumsOptions,
    readonly lse: GPUComputePipeline,
    readonly sums: GPUComputePipeline,
  ) {}

  static async create(
    gpu: Gpu,
    heads: HeadLayout,
    o: AttentionSumsOptions = {},
  ): Promise<AttentionSums> {
    const G = checkLayerShape({ B: 1, T: 1, ...heads });
    if (o.rows !== undefined) checkInt("rows (queries summed)", o.rows);
    const constants = { D4: heads.D / 4, HKV: heads.Hkv, G };
    const code = wgsl(new URL("./attention_sums.wgsl", import.meta.url));
    const [lse, sums] = await Promise.all(
      ["lse_main", "sums_main"].map((e) => gpu.pipeline("attention_sums", code, e, constants)),
    );
    return new AttentionSums(gpu, heads, o, lse, sums);
  }

  /**
   * Records scores [B, Hkv, T] f32 from qw [B, W, H, D] and k [B, T, Hkv, D]. Returns the
   * workspace buffers (destroy them once the submitted work is done).
   */
  encode(pass: GPUComputePassEncoder, input: LayerInput, scores: GPUBuffer): GPUBuffer[] {
    checkLayerShape(input.shape);
    checkHeads(input.shape, this.heads);
    const { B, T, H, Hkv, D } = input.shape;
    const W = input.shape.W ?? 0;
    const R = this.o.rows ?? W;
    if (!input.qw || W < 1) {
      throw new RangeError("attention sums need qw [B, W, H, D] with W ≥ 1: got none");
    }
    if (R > W) {
      throw new RangeError(
        `attention sums: ${R} query rows are summed, the layer input gives W=${W} rows of qw`,
      );
    }
    checkBuffer("qw [B, W, H, D]", input.qw, [B, W, H, D]);
    checkBuffer("k [B, T, Hkv, D]", input.k, [B, T, Hkv, D]);
    checkBuffer("scores [B, Hkv, T]", scores, [B, Hkv, T]);
    const gpu = this.gpu;
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (Math.ceil(T / 64) > maxDim || H > maxDim || B > maxDim) {
      throw new RangeError(
        `attention sums: T=${T}, H=${H} or B=${B} exceed ${maxDim} workgroups per dimension`,
      );
    }
    const scale = input.shape.scale ?? 1 / Math.sqrt(D);
    const params = gpu.uniform("sums.params", paramWords([B, T, W, R, 0], { 4: scale }));
    gpu.checkBinding("attention sums stats [B, H, R]", B * H * R * 8);
    const stats = gpu.createBuffer("sums.stats", B * H * R * 8);
    const { qw, k } = input;
    const lseBind = bindSome(gpu, this.lse, { 0: params, 1: qw, 2: k, 3: stats });
    dispatch(pass, this.lse, lseBind, Math.ceil(R / 64), H, B);
    const sumsBind = bindSome(gpu, this.sums, { 0: params, 1: qw, 2: k, 3: stats, 4: scores });
    dispatch(pass, this.sums, sumsBind, Math.ceil(T / 64), Hkv, B);
    return [params, stats];
  }
}
