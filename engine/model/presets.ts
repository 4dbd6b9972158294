// `shape:<preset>` models: the exact config.json shapes of real checkpoints, with seeded random
// weights generated on the GPU (random_fill.wgsl), for speed and memory measurements without
// downloading weights. Their outputs are noise: accuracy on them is not applicable.
// Shapes are those of the public Hugging Face config.json of each model (named below).

import type { Gpu } from "../gpu/mod.ts";
import {
  allocMatrix,
  destroyMatrix,
  type Matrix,
  matrixBytes,
  type WeightDtype,
} from "../kernels/matrix.ts";
import { RandomFill } from "../kernels/random_fill.ts";
import { checkInt } from "../shapes.ts";
import { type ModelConfig, parseConfig } from "./config.ts";
import type { LayerWeights, ModelWeights } from "./weights.ts";

type Raw = Record<string, unknown>;

const llama = (o: Raw): Raw => ({
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_act: "silu",
  rms_norm_eps: 1e-5,
  bos_token_id: 1,
  eos_token_id: 2,
  ...o,
});

/** Preset name → config.json fields (and the repository they come from). */
export const PRESETS: Readonly<Record<string, { readonly source: string; readonly config: Raw }>> =
  {
    tiny: {
      source: "kvlab: a 4-layer llama for tests (D = 32)",
      config: llama({
        hidden_size: 256,
        intermediate_size: 688,
        num_hidden_layers: 4,
        num_attention_heads: 8,
        num_key_value_heads: 4,
        vocab_size: 1024,
        max_position_embeddings: 4096,
        rope_theta: 10000,
        tie_word_embeddings: true,
      }),
    },
    "smollm2-135m": {
      source: "HuggingFaceTB/SmolLM2-135M",
      config: llama({
        hidden_size: 576,
        intermediate_size: 1536,
        num_hidden_layers: 30,
        num_attention_heads: 9,
        num_key_value_heads: 3,
        head_dim: 64,
        vocab_size: 49152,
        max_position_embeddings: 8192,
        rope_theta: 100000,
        tie_word_embeddings: true,
        bos_token_id: 0,
        eos_token_id: 0,
      }),
    },
    "llama-3.2-1b": {
      source: "meta-llama/Llama-3.2-1B",
      config: llama({
        hidden_size: 2048,
        intermediate_size: 8192,
        num_hidden_layers: 16,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        head_dim: 64,
        vocab_size: 128256,
        max_position_embeddings: 131072,
        rope_theta: 500000,
        rope_scaling: {
          rope_type: "llama3",
          factor: 32,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
        tie_word_embeddings: true,
        bos_token_id: 128000,
        eos_token_id: 128001,
      }),
    },
    "llama-3-8b": {
      source: "meta-llama/Meta-Llama-3-8B",
      config: llama({
        hidden_size: 4096,
        intermediate_size: 14336,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        vocab_size: 128256,
        max_position_embeddings: 8192,
        rope_theta: 500000,
        tie_word_embeddings: false,
        bos_token_id: 128000,
        eos_token_id: 128001,
      }),
    },
    "mistral-7b": {
      source: "mistralai/Mistral-7B-v0.3",
      config: {
        architectures: ["MistralForCausalLM"],
        model_type: "mistral",
        hidden_act: "silu",
        hidden_size: 4096,
        intermediate_size: 14336,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        head_dim: 128,
        vocab_size: 32768,
        max_position_embeddings: 32768,
        rms_norm_eps: 1e-5,
        rope_theta: 1000000,
        sliding_window: null,
        tie_word_embeddings: false,
        bos_token_id: 1,
        eos_token_id: 2,
      },
    },
    "qwen2.5-7b": {
      source: "Qwen/Qwen2.5-7B",
      config: {
        architectures: ["Qwen2ForCausalLM"],
        model_type: "qwen2",
        hidden_act: "silu",
        hidden_size: 3584,
        intermediate_size: 18944,
        num_hidden_layers: 28,
        num_attention_heads: 28,
        num_key_value_heads: 4,
        vocab_size: 152064,
        max_position_embeddings: 131072,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        sliding_window: 131072,
        use_sliding_window: false,
        tie_word_embeddings: false,
        bos_token_id: 151643,
        eos_token_id: 151643,
      },
    },
  };

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** The validated config of `shape:<name>`. */
export function presetConfig(name: string): ModelConfig {
  const p = PRESETS[name];
  if (!p) {
    throw new RangeError(
      `shape:${name}: unknown preset; expected one of ${presetNames().join(", ")}`,
    );
  }
  return parseConfig(p.config, `shape:${name}`);
}

/** Weights (matrices, norms, biases) of a config: the count a checkpoint of it holds. */
export function parameterCount(c: ModelConfig): number {
  const { hidden: C, intermediate: I, H, Hkv, D, vocab: V } = c;
  let layer = C * H * D + 2 * C * Hkv * D + H * D * C + 3 * C * I + 2 * C;
  if (c.qkvBias) layer += (H + 2 * Hkv) * D;
  if (c.oBias) layer += C;
  if (c.mlpBias) layer += 2 * I + C;
  if (c.qkNorm) layer += 2 * D;
  return V * C + c.layers * layer + C + (c.tied ? 0 : V * C);
}

export interface RandomWeightsOptions {
  readonly seed?: number;
  /** Matrix storage (default f16). */
  readonly dtype?: WeightDtype;
  readonly maxBindingBytes?: number;
}

/**
 * Seeded random weights for `config`, generated on the GPU: matrices with standard deviation
 * 1/sqrt(K), norm weights 1, biases 0.02. The embedding has standard deviation 1 when the model
 * has its own lm_head, and 1/sqrt(hidden) when it is tied (it is then the lm_head too): the
 * final norm makes the last hidden state's entries ≈ 1, so logits get a spread ≈ 1 either way,
 * as a trained model's do. A std-1 tied head gave logits of spread ≈ sqrt(hidden), a
 * near-deterministic model on which every cache scored a KL of ≈ 0 to the full one. RMSNorm
 * removes the embedding's scale at the first layer's input; in the residual stream it now
 * weighs less against the layers' outputs (random weights either way).
 */
export async function randomWeights(
  gpu: Gpu,
  config: ModelConfig,
  o: RandomWeightsOptions = {},
): Promise<ModelWeights> {
  const seed0 = o.seed ?? 0;
  checkInt("seed", seed0, 0, 0xffff);
  const dtype = o.dtype ?? "f16";
  const fill = await RandomFill.create(gpu);
  const matrices: Matrix[] = [];
  const vectors: GPUBuffer[] = [];
  let next = seed0 << 16; // one seed per tensor
  const matrix = (label: string, rows: number, cols: number, std = 1 / Math.sqrt(cols)) => {
    const m = allocMatrix(gpu, label, rows, cols, dtype, o.maxBindingBytes);
    matrices.push(m);
    fill.fillMatrix(m, { seed: next++, scale: std });
    return m;
  };
  const vector = (label: string, n: number, offset: number, scale = 0) => {
    const b = gpu.createBuffer(label, n * 4);
    vectors.push(b);
    fill.fillVector(b, n, { seed: next++, scale, offset });
    return b;
  };
  const optional = (on: boolean, label: string, n: number) =>
    on ? vector(label, n, 0, 0.02) : undefined;
  const { hidden: C, intermediate: I, H, Hkv, D, vocab: V } = config;
  try {
    const embed = matrix("embed_tokens", V, C, config.tied ? 1 / Math.sqrt(C) : 1);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.layers; l++) {
      const p = `layers.${l}.`;
      layers.push({
        inputNorm: vector(`${p}input_layernorm`, C, 1),
        q: matrix(`${p}q_proj`, H * D, C),
        k: matrix(`${p}k_proj`, Hkv * D, C),
        v: matrix(`${p}v_proj`, Hkv * D, C),
        o: matrix(`${p}o_proj`, C, H * D),
        qBias: optional(config.qkvBias, `${p}q_proj.bias`, H * D),
        kBias: optional(config.qkvBias, `${p}k_proj.bias`, Hkv * D),
        vBias: optional(config.qkvBias, `${p}v_proj.bias`, Hkv * D),
        oBias: optional(config.oBias, `${p}o_proj.bias`, C),
        qNorm: config.qkNorm ? vector(`${p}q_norm`, D, 1) : undefined,
        kNorm: config.qkNorm ? vector(`${p}k_norm`, D, 1) : undefined,
        postNorm: vector(`${p}post_attention_layernorm`, C, 1),
        gate: matrix(`${p}gate_proj`, I, C),
        up: matrix(`${p}up_proj`, I, C),
        down: matrix(`${p}down_proj`, C, I),
        gateBias: optional(config.mlpBias, `${p}gate_proj.bias`, I),
        upBias: optional(config.mlpBias, `${p}up_proj.bias`, I),
        downBias: optional(config.mlpBias, `${p}down_proj.bias`, C),
      });
    }
    const norm = vector("norm", C, 1);
    const lmHead = config.tied ? embed : matrix("lm_head", V, C);
    await gpu.device.queue.onSubmittedWorkDone();
    return {
      embed,
      layers,
      norm,
      lmHead,
      bytes: matrices.reduce((s, m) => s + matrixBytes(m), 0) +
        vectors.reduce((s, b) => s + b.size, 0),
      destroy() {
        for (const m of matrices) destroyMatrix(gpu, m);
        for (const b of vectors) gpu.destroy(b);
      },
    };
  } catch (e) {
    for (const m of matrices) destroyMatrix(gpu, m);
    for (const b of vectors) gpu.destroy(b);
    throw e;
  }
}
