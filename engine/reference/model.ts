// Reference forward pass of a Llama-family model (llama, mistral, qwen2, qwen3): plain
// TypeScript over f32 arrays with float64 accumulation, recomputing the whole sequence each
// call. It is the specification engine/model/session.ts is tested against; it shares nothing
// with the GPU path but the config parser and the RoPE table (both host code).
// Not here: KV caches (it recomputes), batching (one sequence), sampling.

import { ropeInvFreq } from "../model/config.ts";
import type { ModelConfig } from "../model/config.ts";
import { ropeTable } from "../kernels/rope.ts";
import { prefillAttentionRef } from "./attention.ts";
import { embeddingRef, matmulRef, rmsnormRef, ropeRef, swigluRef } from "./ops.ts";

/** A tensor by its Hugging Face name, as f32 values. */
export type TensorSource = (name: string) => Float32Array;

/** Logits [T, V] for every position of `tokens` (one sequence). */
export function referenceForward(
  c: ModelConfig,
  tensor: TensorSource,
  tokens: readonly number[],
): Float32Array {
  const T = tokens.length;
  const C = c.hidden, HD = c.H * c.D, KD = c.Hkv * c.D;
  const table = ropeTable(ropeInvFreq({ D: c.D, theta: c.ropeTheta, scaling: c.ropeScaling }), T);
  const opt = (on: boolean, name: string) => on ? tensor(name) : undefined;
  let x: Float32Array = embeddingRef(tensor("model.embed_tokens.weight"), C, [...tokens]);
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    const a = `${p}self_attn.`;
    let h = rmsnormRef(x, tensor(`${p}input_layernorm.weight`), C, c.eps);
    let q = matmulRef(h, tensor(`${a}q_proj.weight`), T, HD, C, opt(c.qkvBias, `${a}q_proj.bias`));
    let k = matmulRef(h, tensor(`${a}k_proj.weight`), T, KD, C, opt(c.qkvBias, `${a}k_proj.bias`));
    const v = matmulRef(
      h,
      tensor(`${a}v_proj.weight`),
      T,
      KD,
      C,
      opt(c.qkvBias, `${a}v_proj.bias`),
    );
    if (c.qkNorm) {
      q = rmsnormRef(q, tensor(`${a}q_norm.weight`), c.D, c.eps);
      k = rmsnormRef(k, tensor(`${a}k_norm.weight`), c.D, c.eps);
    }
    q = ropeRef(q, table, [0], { B: 1, T, heads: c.H, D: c.D });
    k = ropeRef(k, table, [0], { B: 1, T, heads: c.Hkv, D: c.D });
    const att = prefillAttentionRef(q, k, v, { B: 1, Tq: T, Tk: T, H: c.H, Hkv: c.Hkv, D: c.D });
    x = matmulRef(att, tensor(`${a}o_proj.weight`), T, C, HD, opt(c.oBias, `${a}o_proj.bias`), x);
    h = rmsnormRef(x, tensor(`${p}post_attention_layernorm.weight`), C, c.eps);
    const m = `${p}mlp.`;
    const I = c.intermediate;
    const g = matmulRef(
      h,
      tensor(`${m}gate_proj.weight`),
      T,
      I,
      C,
      opt(c.mlpBias, `${m}gate_proj.bias`),
    );
    const u = matmulRef(
      h,
      tensor(`${m}up_proj.weight`),
      T,
      I,
      C,
      opt(c.mlpBias, `${m}up_proj.bias`),
    );
    x = matmulRef(
      swigluRef(g, u),
      tensor(`${m}down_proj.weight`),
      T,
      C,
      I,
      opt(c.mlpBias, `${m}down_proj.bias`),
      x,
    );
  }
  const h = rmsnormRef(x, tensor("model.norm.weight"), C, c.eps);
  const head = tensor(c.tied ? "model.embed_tokens.weight" : "lm_head.weight");
  return matmulRef(h, head, T, c.vocab, C);
}
