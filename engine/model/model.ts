// A Llama-family model on the GPU: its config, its weights, and the kernels its forward pass
// records (built once, shared by every Session). The forward pass itself lives in session.ts,
// which owns the per-run state (KV caches, activations, positions).
// Not here: tokenization (tokenizer.ts), the generation loop (generate.ts).

import type { Gpu } from "../gpu/mod.ts";
import { Argmax } from "../kernels/argmax.ts";
import { Embedding } from "../kernels/embedding.ts";
import type { Matrix, WeightDtype } from "../kernels/matrix.ts";
import { type GemvChoice, Matmul } from "../kernels/matmul.ts";
import { PrefillAttention } from "../kernels/prefill_attention.ts";
import { RmsNorm } from "../kernels/rmsnorm.ts";
import { Rope } from "../kernels/rope.ts";
import { Swiglu } from "../kernels/swiglu.ts";
import { wgsl } from "../kernels/wgsl.ts";
import {
  extendPositions,
  type ModelConfig,
  type PositionOverride,
  readConfig,
  ropeInvFreq,
} from "./config.ts";
import { Checkpoint } from "./safetensors.ts";
import { presetConfig, randomWeights, type RandomWeightsOptions } from "./presets.ts";
import { type LoadOptions, loadWeights, type ModelWeights } from "./weights.ts";

/** How a model is built beyond its weights: the user's context opt-in, the decode gemv. */
export interface ModelOptions {
  /** The user's override of max_position_embeddings / RoPE scaling (config.ts). */
  readonly positions?: PositionOverride;
  /** Decode's gemv kernel (kernels/matmul.ts; default auto: vector on hardware adapters). */
  readonly gemv?: GemvChoice;
}

export interface ModelKernels {
  readonly embed: Embedding;
  /** Row gather of f32 hidden states (each sequence's last prompt token). */
  readonly gather: Embedding;
  readonly norm: RmsNorm;
  readonly headNorm?: RmsNorm;
  readonly rope: Rope;
  readonly swiglu: Swiglu;
  readonly argmax: Argmax;
  readonly prefill: PrefillAttention;
  /** lens[b] += counts[b] (engine/cache/lengths.wgsl): advances the RoPE positions. */
  readonly advance: GPUComputePipeline;
}

export class Model {
  readonly #matmuls: Map<string, Matmul>;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly kernels: ModelKernels,
    matmuls: Map<string, Matmul>,
    /** inv_freq [D/2] with rope scaling applied. */
    readonly invFreq: readonly number[],
  ) {
    this.#matmuls = matmuls;
  }

  /**
   * Reads DIR/config.json and the safetensors checkpoint, and uploads the weights; with
   * `positions`, the user's override of max_position_embeddings / RoPE scaling (config.ts).
   */
  static async load(
    gpu: Gpu,
    dir: string,
    o: LoadOptions & ModelOptions = {},
  ): Promise<Model> {
    const read = await readConfig(dir);
    const config = o.positions ? extendPositions(read, o.positions) : read;
    const ckpt = await Checkpoint.open(dir);
    try {
      const weights = await loadWeights(gpu, ckpt, config, o);
      try {
        return await Model.create(gpu, config, weights, o.gemv);
      } catch (e) {
        weights.destroy();
        throw e;
      }
    } finally {
      ckpt.close();
    }
  }

  /** `shape:<preset>`: a real model's shapes with seeded random weights made on the GPU. */
  static async fromPreset(
    gpu: Gpu,
    name: string,
    o: RandomWeightsOptions & ModelOptions = {},
  ): Promise<Model> {
    const preset = presetConfig(name);
    const config = o.positions ? extendPositions(preset, o.positions) : preset;
    const weights = await randomWeights(gpu, config, o);
    try {
      return await Model.create(gpu, config, weights, o.gemv);
    } catch (e) {
      weights.destroy();
      throw e;
    }
  }

  /** Builds the kernels for weights already on the GPU. */
  static async create(
    gpu: Gpu,
    config: ModelConfig,
    weights: ModelWeights,
    gemv: GemvChoice = "auto",
  ): Promise<Model> {
    const matmuls = new Map<string, Matmul>();
    const need = async (m: Matrix, bias: boolean, accumulate: boolean) => {
      const key = matmulKey(m.dtype, bias, accumulate);
      if (!matmuls.has(key)) {
        matmuls.set(key, await Matmul.create(gpu, { dtype: m.dtype, bias, accumulate, gemv }));
      }
    };
    for (const l of weights.layers) {
      for (const m of [l.q, l.k, l.v]) await need(m, config.qkvBias, false);
      await need(l.o, config.oBias, true);
      for (const m of [l.gate, l.up]) await need(m, config.mlpBias, false);
      await need(l.down, config.mlpBias, true);
    }
    await need(weights.lmHead, false, false);
    const kernels: ModelKernels = {
      embed: await Embedding.create(gpu, weights.embed.dtype),
      gather: await Embedding.create(gpu, "f32"),
      norm: await RmsNorm.create(gpu, config.hidden, config.eps),
      headNorm: config.qkNorm ? await RmsNorm.create(gpu, config.D, config.eps) : undefined,
      rope: await Rope.create(gpu, config.D),
      swiglu: await Swiglu.create(gpu),
      argmax: await Argmax.create(gpu),
      prefill: await PrefillAttention.create(gpu, { H: config.H, Hkv: config.Hkv, D: config.D }),
      advance: await gpu.pipeline(
        "lengths",
        wgsl(new URL("../cache/lengths.wgsl", import.meta.url)),
        "main",
      ),
    };
    const invFreq = ropeInvFreq({
      D: config.D,
      theta: config.ropeTheta,
      scaling: config.ropeScaling,
    });
    return new Model(gpu, config, weights, kernels, matmuls, invFreq);
  }

  /** The matmul kernel for a weight of `dtype`, with or without bias and residual add. */
  matmul(m: Matrix, bias: boolean, accumulate: boolean): Matmul {
    const k = this.#matmuls.get(matmulKey(m.dtype, bias, accumulate));
    if (!k) throw new Error(`no matmul kernel built for ${m.label} (${m.dtype}, bias ${bias})`);
    return k;
  }

  destroy(): void {
    for (const m of this.#matmuls.values()) m.destroy();
    const k = this.kernels;
    for (
      const x of [k.embed, k.gather, k.norm, k.headNorm, k.rope, k.swiglu, k.argmax, k.prefill]
    ) {
      x?.destroy();
    }
    this.weights.destroy();
  }
}

function matmulKey(dtype: WeightDtype, bias: boolean, accumulate: boolean): string {
  return `${dtype}|${bias}|${accumulate}`;
}
