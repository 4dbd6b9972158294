// Loads a checkpoint's tensors for a ModelConfig onto the GPU, streaming each matrix in pieces
// of whole rows (never the whole file, nor a whole large tensor, in memory at once), checking
// every name, dtype and shape against the config. Matrices larger than one storage binding are
// cut into row chunks (engine/kernels/matrix.ts). Norm weights and biases are f32.
// Not here: the forward pass (model.ts), the file format (safetensors.ts).

import type { Gpu } from "../gpu/mod.ts";
import {
  allocMatrix,
  destroyMatrix,
  type Matrix,
  matrixBytes,
  type WeightDtype,
  writeRows,
} from "../kernels/matrix.ts";
import type { ModelConfig } from "./config.ts";
import { LOADABLE_DTYPES, toF32, toStorage } from "./dtype.ts";
import { ModelError } from "./errors.ts";
import type { Checkpoint, TensorInfo } from "./safetensors.ts";

/** How matrices are stored: as in the checkpoint (F32 → f32, F16/BF16 → f16), or forced. */
export type WeightsPolicy = "auto" | WeightDtype;
export const WEIGHTS_POLICIES: readonly WeightsPolicy[] = ["auto", "f32", "f16"];

export interface LayerWeights {
  readonly inputNorm: GPUBuffer; // [hidden]
  readonly q: Matrix; // [H·D, hidden]
  readonly k: Matrix; // [Hkv·D, hidden]
  readonly v: Matrix; // [Hkv·D, hidden]
  readonly o: Matrix; // [hidden, H·D]
  readonly qBias?: GPUBuffer; // [H·D]
  readonly kBias?: GPUBuffer; // [Hkv·D]
  readonly vBias?: GPUBuffer; // [Hkv·D]
  readonly oBias?: GPUBuffer; // [hidden]
  readonly qNorm?: GPUBuffer; // [D]
  readonly kNorm?: GPUBuffer; // [D]
  readonly postNorm: GPUBuffer; // [hidden]
  readonly gate: Matrix; // [I, hidden]
  readonly up: Matrix; // [I, hidden]
  readonly down: Matrix; // [hidden, I]
  readonly gateBias?: GPUBuffer; // [I]
  readonly upBias?: GPUBuffer; // [I]
  readonly downBias?: GPUBuffer; // [hidden]
}

export interface ModelWeights {
  readonly embed: Matrix; // [V, hidden]
  readonly layers: readonly LayerWeights[];
  readonly norm: GPUBuffer; // [hidden]
  /** [V, hidden]; the same Matrix as embed when tied. */
  readonly lmHead: Matrix;
  /** Bytes of all weight buffers on the GPU. */
  readonly bytes: number;
  destroy(): void;
}

export interface LoadOptions {
  readonly dtype?: WeightsPolicy;
  /** Largest chunk of one matrix (default: the device's maxStorageBufferBindingSize). */
  readonly maxBindingBytes?: number;
  /** Bytes read from the file per piece (default 16 MiB; whole rows). */
  readonly pieceBytes?: number;
}

export async function loadWeights(
  gpu: Gpu,
  ckpt: Checkpoint,
  config: ModelConfig,
  o: LoadOptions = {},
): Promise<ModelWeights> {
  const policy = o.dtype ?? "auto";
  if (!WEIGHTS_POLICIES.includes(policy)) {
    throw new RangeError(
      `weights dtype: got "${policy}", expected one of ${WEIGHTS_POLICIES.join(", ")}`,
    );
  }
  const maxBytes = o.maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
  const pieceBytes = o.pieceBytes ?? 16 << 20;
  const matrices: Matrix[] = [];
  const vectors: GPUBuffer[] = [];

  const info = (name: string, shape: readonly number[]): TensorInfo => {
    const expected = `[${shape.join(", ")}]`;
    const t = ckpt.info(name, expected);
    const where = `${t.file}: tensor "${name}"`;
    if (!(LOADABLE_DTYPES as readonly string[]).includes(t.dtype)) {
      throw new ModelError(
        `${where}: dtype ${t.dtype}, expected one of ${LOADABLE_DTYPES.join(", ")}`,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelError(
        `${where}: shape [${t.shape.join(", ")}], expected ${expected} from config.json`,
      );
    }
    return t;
  };

  const vector = async (name: string, n: number): Promise<GPUBuffer> => {
    const t = info(name, [n]);
    const b = gpu.upload(name, toF32(await ckpt.read(t), t.dtype));
    vectors.push(b);
    return b;
  };

  const matrix = async (name: string, rows: number, cols: number): Promise<Matrix> => {
    const t = info(name, [rows, cols]);
    const dtype: WeightDtype = policy !== "auto"
      ? policy
      : t.dtype === "F32" || cols % 2 !== 0
      ? "f32"
      : "f16";
    const m = allocMatrix(gpu, name, rows, cols, dtype, maxBytes);
    matrices.push(m);
    const srcRow = (t.end - t.begin) / rows;
    const per = Math.max(1, Math.floor(pieceBytes / srcRow));
    for (let r = 0; r < rows; r += per) {
      const n = Math.min(per, rows - r);
      const bytes = await ckpt.read(t, r * srcRow, (r + n) * srcRow);
      writeRows(gpu, m, r, toStorage(bytes, t.dtype, dtype, `${t.file}: tensor "${name}"`));
    }
    return m;
  };

  const { hidden: C, intermediate: I, H, Hkv, D, vocab: V } = config;
  const optional = async (on: boolean, name: string, n: number) =>
    on ? await vector(name, n) : undefined;
  try {
    const embed = await matrix("model.embed_tokens.weight", V, C);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.layers; l++) {
      const p = `model.layers.${l}.`;
      const a = `${p}self_attn.`;
      const m = `${p}mlp.`;
      layers.push({
        inputNorm: await vector(`${p}input_layernorm.weight`, C),
        q: await matrix(`${a}q_proj.weight`, H * D, C),
        k: await matrix(`${a}k_proj.weight`, Hkv * D, C),
        v: await matrix(`${a}v_proj.weight`, Hkv * D, C),
        o: await matrix(`${a}o_proj.weight`, C, H * D),
        qBias: await optional(config.qkvBias, `${a}q_proj.bias`, H * D),
        kBias: await optional(config.qkvBias, `${a}k_proj.bias`, Hkv * D),
        vBias: await optional(config.qkvBias, `${a}v_proj.bias`, Hkv * D),
        oBias: await optional(config.oBias, `${a}o_proj.bias`, C),
        qNorm: await optional(config.qkNorm, `${a}q_norm.weight`, D),
        kNorm: await optional(config.qkNorm, `${a}k_norm.weight`, D),
        postNorm: await vector(`${p}post_attention_layernorm.weight`, C),
        gate: await matrix(`${m}gate_proj.weight`, I, C),
        up: await matrix(`${m}up_proj.weight`, I, C),
        down: await matrix(`${m}down_proj.weight`, C, I),
        gateBias: await optional(config.mlpBias, `${m}gate_proj.bias`, I),
        upBias: await optional(config.mlpBias, `${m}up_proj.bias`, I),
        downBias: await optional(config.mlpBias, `${m}down_proj.bias`, C),
      });
    }
    const norm = await vector("model.norm.weight", C);
    const lmHead = config.tied ? embed : await matrix("lm_head.weight", V, C);
    const bytes = matrices.reduce((s, m) => s + matrixBytes(m), 0) +
      vectors.reduce((s, b) => s + b.size, 0);
    return {
      embed,
      layers,
      norm,
      lmHead,
      bytes,
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
