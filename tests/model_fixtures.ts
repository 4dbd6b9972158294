// Small random Llama-family checkpoints written to temp folders for the model tests: config.json
// plus model.safetensors (or shards), with seeded weights scaled so activations stay O(1).
// Returns the values as stored (after rounding to the file's dtype), for the reference forward.

import type { TensorSource } from "../engine/reference/model.ts";
import { randn } from "../engine/reference/random.ts";
import {
  encodeTensor,
  type WriteDtype,
  writeSafetensors,
  type WriteTensor,
} from "../engine/model/safetensors_write.ts";
import { toF32 } from "../engine/model/dtype.ts";

export type RawConfig = Record<string, unknown>;

/** A tiny llama: hidden 64, 4 heads of 16, 2 KV heads, I = 72, V = 97, 2 layers. */
export function tinyConfig(over: RawConfig = {}): RawConfig {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 64,
    intermediate_size: 72,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 97,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: "silu",
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    ...over,
  };
}

/** The tensors a config needs, with seeded values: [name, shape, scale, offset]. */
function tensorList(c: RawConfig): [string, number[], number, number][] {
  const C = c.hidden_size as number, I = c.intermediate_size as number, V = c.vocab_size as number;
  const H = c.num_attention_heads as number, Hkv = c.num_key_value_heads as number;
  const D = (c.head_dim as number | undefined) ?? C / H;
  const arch = c.model_type as string;
  const qkvBias = arch === "qwen2" || c.attention_bias === true;
  const out: [string, number[], number, number][] = [["model.embed_tokens.weight", [V, C], 1, 0]];
  for (let l = 0; l < (c.num_hidden_layers as number); l++) {
    const p = `model.layers.${l}.`;
    const lin = (name: string, n: number, k: number) =>
      out.push([name, [n, k], 1 / Math.sqrt(k), 0]);
    out.push([`${p}input_layernorm.weight`, [C], 0.1, 1]);
    lin(`${p}self_attn.q_proj.weight`, H * D, C);
    lin(`${p}self_attn.k_proj.weight`, Hkv * D, C);
    lin(`${p}self_attn.v_proj.weight`, Hkv * D, C);
    lin(`${p}self_attn.o_proj.weight`, C, H * D);
    if (qkvBias) {
      out.push([`${p}self_attn.q_proj.bias`, [H * D], 0.1, 0]);
      out.push([`${p}self_attn.k_proj.bias`, [Hkv * D], 0.1, 0]);
      out.push([`${p}self_attn.v_proj.bias`, [Hkv * D], 0.1, 0]);
    }
    if (arch !== "qwen2" && c.attention_bias === true) {
      out.push([`${p}self_attn.o_proj.bias`, [C], 0.1, 0]);
    }
    if (arch === "qwen3") {
      out.push([`${p}self_attn.q_norm.weight`, [D], 0.1, 1]);
      out.push([`${p}self_attn.k_norm.weight`, [D], 0.1, 1]);
    }
    out.push([`${p}post_attention_layernorm.weight`, [C], 0.1, 1]);
    lin(`${p}mlp.gate_proj.weight`, I, C);
    lin(`${p}mlp.up_proj.weight`, I, C);
    lin(`${p}mlp.down_proj.weight`, C, I);
    if (c.mlp_bias === true) {
      out.push([`${p}mlp.gate_proj.bias`, [I], 0.1, 0]);
      out.push([`${p}mlp.up_proj.bias`, [I], 0.1, 0]);
      out.push([`${p}mlp.down_proj.bias`, [C], 0.1, 0]);
    }
  }
  out.push(["model.norm.weight", [C], 0.1, 1]);
  if (c.tie_word_embeddings !== true) out.push(["lm_head.weight", [V, C], 1 / Math.sqrt(C), 0]);
  return out;
}

export interface RandomModel {
  readonly dir: string;
  readonly config: RawConfig;
  /** Values as stored in the file (rounded to its dtype). */
  readonly tensor: TensorSource;
  readonly names: readonly string[];
}

export interface RandomModelOptions {
  readonly dtype?: WriteDtype;
  readonly seed?: number;
  /** Write this many shards and an index instead of one model.safetensors. */
  readonly shards?: number;
  /** Tensors to leave out (bad-file tests). */
  readonly drop?: readonly string[];
  readonly dir?: string;
}

export async function writeRandomModel(
  config: RawConfig,
  o: RandomModelOptions = {},
): Promise<RandomModel> {
  const dir = o.dir ?? await Deno.makeTempDir({ prefix: "kvlab-model-" });
  const dtype = o.dtype ?? "F32";
  let seed = o.seed ?? 1;
  const values = new Map<string, Float32Array>();
  const tensors: WriteTensor[] = [];
  for (const [name, shape, scale, offset] of tensorList(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randn(seed++ * 7919, n, scale).map((x) => x + offset);
    values.set(name, toF32(encodeTensor(data, dtype), dtype).slice());
    if (!o.drop?.includes(name)) tensors.push({ name, shape, data, dtype });
  }
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  const shards = o.shards ?? 1;
  if (shards === 1) {
    await writeSafetensors(`${dir}/model.safetensors`, tensors);
  } else {
    const map: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, "0")}-of-${
        String(shards).padStart(5, "0")
      }.safetensors`;
      const part = tensors.filter((_, i) => i % shards === s);
      for (const t of part) map[t.name] = file;
      await writeSafetensors(`${dir}/${file}`, part);
    }
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ metadata: {}, weight_map: map }),
    );
  }
  return {
    dir,
    config,
    names: [...values.keys()],
    tensor: (name) => {
      const v = values.get(name);
      if (!v) throw new Error(`reference: no tensor ${name}`);
      return v;
    },
  };
}

/** The same values rounded to f16 (what the GPU holds for f16-stored matrices). */
export function asF16(t: TensorSource, matricesOnly = true): TensorSource {
  return (name) => {
    const v = t(name);
    const isMatrix = name.endsWith("proj.weight") || name.endsWith("embed_tokens.weight") ||
      name === "lm_head.weight";
    return matricesOnly && !isMatrix ? v : v.map((x) => Math.f16round(x));
  };
}

// --- the stories260K fixture -------------------------------------------------------------------

/** ../shared/fixtures/stories260K relative to the repository (file URL, with a trailing slash). */
export const STORIES_URL = new URL("../../shared/fixtures/stories260K/", import.meta.url);

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch {
    return false;
  }
}

/** Whether the fixture is there; prints why its tests are skipped when it is not. */
export function hasStories(what: string): boolean {
  const ok = exists(new URL("model.safetensors", STORIES_URL)) &&
    exists(new URL("tokenizer.json", STORIES_URL));
  if (!ok) console.log(`${what}: skipped, ${STORIES_URL.pathname} is absent`);
  return ok;
}

/** The fixture folder as a path. */
export const STORIES_DIR = STORIES_URL.pathname.replace(/\/$/, "");
