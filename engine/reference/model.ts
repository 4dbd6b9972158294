// Reference forward pass of a Llama-family model (llama, mistral, qwen2, qwen3): plain
// TypeScript over f32 arrays with float64 accumulation, recomputing the whole sequence each
// call. It is the specification engine/model/session.ts is tested against; it shares nothing
// with the GPU path but the config parser and the RoPE table (both host code).
// With `held` it is the specification of a compressed cache too: the prompt (tokens [0, T)) is
// prefilled densely, then token i ≥ T's query at layer l, KV head hk, sees only the positions
// held.visible(l, hk, i) — what the cache held at that step: the kept prompt tokens and the
// generated ones not evicted — each at its true position (RoPE of token i uses i, however few
// tokens the cache holds).
// A sliding-window layer (config.ts layerWindow) attends to the last `window` positions only.
// Not here: KV caches (it recomputes), batching (one sequence), sampling.

import { layerWindow, ropeInvFreq } from "../model/config.ts";
import type { ModelConfig } from "../model/config.ts";
import { ropeTable } from "../kernels/rope.ts";
import { prefillAttentionRef } from "./attention.ts";
import { embeddingRef, matmulRef, rmsnormRef, ropeRef, swigluRef } from "./ops.ts";

/** A tensor by its Hugging Face name, as f32 values. */
export type TensorSource = (name: string) => Float32Array;

/** What a compressed cache held at each step, for rows at and after the prompt. */
export interface HeldSets {
  /** Prompt tokens: rows < T attend densely (causal), rows ≥ T to visible(). */
  readonly T: number;
  /** Positions row i ≥ T attends to at layer l, KV head hk: each ≤ i, i itself among them. */
  visible(l: number, hk: number, i: number): readonly number[];
}

/** Logits [T, V] for every position of `tokens` (one sequence); see the header for `held`. */
export function referenceForward(
  c: ModelConfig,
  tensor: TensorSource,
  tokens: readonly number[],
  held?: HeldSets,
): Float32Array {
  const T = tokens.length;
  if (held && (!Number.isInteger(held.T) || held.T < 1 || held.T > T)) {
    throw new RangeError(`held.T: got ${held.T}, expected an integer in [1, ${T}]`);
  }
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
    const window = layerWindow(c, l);
    if (held && window !== undefined && T > window) {
      throw new RangeError(
        `held sets over ${T} tokens with layer ${l}'s sliding window ${window}: not modelled ` +
          "(the runtime refuses methods past the window too)",
      );
    }
    const att = held
      ? heldAttention(q, k, v, T, c.H, c.Hkv, c.D, held.T, (hk, i) => held.visible(l, hk, i))
      : prefillAttentionRef(q, k, v, { B: 1, Tq: T, Tk: T, H: c.H, Hkv: c.Hkv, D: c.D, window });
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

// --- attention through held sets ---------------------------------------------------------------

/**
 * q [N, H, D], k and v [N, Hkv, D] (one sequence) → out [N, H, D]: row i < P attends causally
 * to keys 0 ..= i; row i ≥ P to the keys visible(hk, i) (each ≤ i, i among them). Float64.
 */
function heldAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  N: number,
  H: number,
  Hkv: number,
  D: number,
  P: number,
  visible: (hk: number, i: number) => readonly number[],
): Float32Array {
  const G = H / Hkv;
  const scale = 1 / Math.sqrt(D);
  const out = new Float32Array(N * H * D);
  for (let i = 0; i < N; i++) {
    const sets = Array.from({ length: Hkv }, (_, hk) => {
      if (i < P) return Array.from({ length: i + 1 }, (_, j) => j);
      const set = [...new Set(visible(hk, i))];
      if (!set.includes(i) || set.some((j) => !Number.isInteger(j) || j < 0 || j > i)) {
        throw new RangeError(
          `held: row ${i}, KV head ${hk} sees [${set}]; expected positions in [0, ${i}], ${i} among them`,
        );
      }
      return set;
    });
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / G);
      const keys = sets[hk];
      const qAt = (i * H + h) * D;
      const s = new Float64Array(keys.length);
      let max = -Infinity;
      keys.forEach((j, n) => {
        const kAt = (j * Hkv + hk) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qAt + d] * k[kAt + d];
        s[n] = dot * scale;
        if (s[n] > max) max = s[n];
      });
      let sum = 0;
      for (let n = 0; n < keys.length; n++) {
        s[n] = Math.exp(s[n] - max);
        sum += s[n];
      }
      const acc = new Float64Array(D);
      keys.forEach((j, n) => {
        const vAt = (j * Hkv + hk) * D;
        for (let d = 0; d < D; d++) acc[d] += (s[n] / sum) * v[vAt + d];
      });
      out.set(acc, qAt);
    }
  }
  return out;
}
