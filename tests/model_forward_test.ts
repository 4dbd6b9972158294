// The GPU forward pass against the TypeScript reference forward (engine/reference/model.ts) on
// small random checkpoints of every supported architecture: logits of each sequence's last
// prompt token after prefill (B = 2, ragged prompts), then of several decode steps, with the
// reference following the ids the GPU chose. f32, f16 and bf16 checkpoints; matrices cut into
// row chunks; sharded files; sliding windows (every layer, or from max_window_layers on) that
// bind in prefill and decode.

import assert from "node:assert/strict";
import type { GemvChoice } from "../engine/kernels/matmul.ts";
import { Model } from "../engine/model/model.ts";
import {
  extendPositions,
  layerWindow,
  parseConfig,
  type PositionOverride,
} from "../engine/model/config.ts";
import { Session } from "../engine/model/session.ts";
import { referenceForward, type TensorSource } from "../engine/reference/model.ts";
import { rng } from "../engine/reference/random.ts";
import type { WriteDtype } from "../engine/model/safetensors_write.ts";
import type { WeightsPolicy } from "../engine/model/weights.ts";
import { asF16, type RawConfig, tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { assertClose, testGpu } from "./helpers.ts";

interface Case {
  readonly name: string;
  readonly config: RawConfig;
  readonly dtype?: WriteDtype;
  readonly weights?: WeightsPolicy;
  readonly shards?: number;
  readonly maxBindingBytes?: number;
  /** Decode's gemv (default auto: scalar on the software adapter). */
  readonly gemv?: GemvChoice;
  readonly prompts: readonly number[];
  readonly tol: number;
}

const CASES: Case[] = [
  {
    name: "llama GQA 4/2, D=16, f32, prompts of 11 and 5",
    config: tinyConfig(),
    gemv: "vector",
    prompts: [11, 5],
    tol: 1e-4,
  },
  {
    name: "llama, matrices in row chunks of ≤ 1 KiB, 3 shards, prompt over the gemv limit",
    config: tinyConfig({ tie_word_embeddings: true, intermediate_size: 40 }),
    shards: 3,
    maxBindingBytes: 1024,
    prompts: [9],
    tol: 1e-4,
  },
  {
    name: "llama3 rope scaling, theta 500000, attention and mlp bias, f16 file",
    config: tinyConfig({
      rope_theta: 500000,
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 32,
      },
      attention_bias: true,
      mlp_bias: true,
    }),
    dtype: "F16",
    gemv: "vector",
    prompts: [40, 3],
    tol: 2e-4,
  },
  {
    name: "mistral MQA (Hkv=1), D=8",
    config: tinyConfig({
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 8,
      sliding_window: 4096,
    }),
    prompts: [7],
    tol: 1e-4,
  },
  {
    // the window binds in prefill (45 > 6) and in decode for both sequences (4 + 3 > 6);
    // the caches roll (6 slots each: fp32 can), so both sequences wrap
    name: "mistral with sliding_window 6: ragged prompts 45 and 4, decode past the window",
    config: tinyConfig({
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      sliding_window: 6,
    }),
    prompts: [45, 4],
    tol: 1e-4,
  },
  {
    // layer 0 attends to everything, layer 1 through a window of 5 (max_window_layers 1)
    name: "qwen2 use_sliding_window 5 from layer 1 (max_window_layers), prompt 9",
    config: tinyConfig({
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      use_sliding_window: true,
      sliding_window: 5,
      max_window_layers: 1,
    }),
    prompts: [9],
    tol: 1e-4,
  },
  {
    name: "qwen2 (q/k/v bias), bf16 file stored as f16",
    config: tinyConfig({ architectures: ["Qwen2ForCausalLM"], model_type: "qwen2" }),
    dtype: "BF16",
    prompts: [6, 13],
    tol: 2e-4,
  },
  {
    name: "qwen3 (q/k norm), head_dim 32 ≠ hidden/H, tied, bf16 file forced to f32",
    config: tinyConfig({
      architectures: ["Qwen3ForCausalLM"],
      model_type: "qwen3",
      head_dim: 32,
      tie_word_embeddings: true,
      attention_bias: false,
    }),
    dtype: "BF16",
    weights: "f32",
    prompts: [10],
    tol: 1e-4,
  },
];

const DECODE_STEPS = 3;

for (const c of CASES) {
  Deno.test(`forward matches the reference: ${c.name}`, async () => {
    const gpu = await testGpu();
    const m = await writeRandomModel(c.config, { dtype: c.dtype, shards: c.shards, seed: 3 });
    const model = await Model.load(gpu, m.dir, {
      dtype: c.weights,
      maxBindingBytes: c.maxBindingBytes,
      gemv: c.gemv,
    });
    if (c.maxBindingBytes) {
      assert.ok(model.weights.layers[0].gate.chunks.length > 1, "the gate matrix is chunked");
    }
    const config = parseConfig(c.config);
    if (c.gemv === "vector") {
      const q = model.weights.layers[0].q;
      assert.equal(model.matmul(q, config.qkvBias, false).path(1, q.cols), "gemv_vec");
    }
    // what the GPU holds: f16-stored matrices are f16-rounded (bf16 and f16 files under "auto")
    const f16Stored = (c.dtype === "F16" || c.dtype === "BF16") && c.weights !== "f32";
    const tensor: TensorSource = f16Stored ? asF16(m.tensor) : m.tensor;
    const r = rng(17);
    const prompts = c.prompts.map((
      n,
    ) => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 90))]);
    const B = prompts.length;
    const session = await Session.create(model, {
      B,
      maxPrompt: Math.max(...c.prompts),
      maxNewTokens: 1 + DECODE_STEPS,
      format: "fp32",
    });
    // a sliding-window layer the run outgrows rolls: its cache is the window (fp32 can)
    for (let l = 0; l < config.layers; l++) {
      const w = layerWindow(config, l);
      const ring = w !== undefined && session.capacity > w;
      const shape = session.caches[l].shape;
      assert.deepEqual([shape.capacity, shape.ring === true], [ring ? w : session.capacity, ring]);
    }
    const V = config.vocab;
    const seqs = prompts.map((p) => [...p]);
    const check = async (step: string) => {
      const [raw, idsRaw] = await gpu.read([{ buffer: session.logits }, {
        buffer: session.buf.next,
      }]);
      const got = new Float32Array(raw);
      const ids = new Uint32Array(idsRaw);
      for (let b = 0; b < B; b++) {
        const ref = referenceForward(config, tensor, seqs[b]);
        const want = ref.subarray((seqs[b].length - 1) * V, seqs[b].length * V);
        assertClose(got.subarray(b * V, (b + 1) * V), want, {
          atol: c.tol,
          rtol: c.tol,
          label: `${c.name}, ${step}, sequence ${b}`,
        });
        seqs[b].push(ids[b]);
      }
    };
    await session.prefill(prompts);
    await check("prefill");
    for (let s = 0; s < DECODE_STEPS; s++) {
      session.decode(1);
      await check(`decode step ${s + 1}`);
    }
    // the batched readback holds the same ids the steps produced
    const all = await session.readIds();
    for (let b = 0; b < B; b++) assert.deepEqual(all[b], seqs[b].slice(prompts[b].length));
    session.destroy();
    model.destroy();
    await Deno.remove(m.dir, { recursive: true });
  });
}

Deno.test("a context past max_position_embeddings: refused, then extrapolated or interpolated as asked", async () => {
  const gpu = await testGpu();
  const raw = tinyConfig({ max_position_embeddings: 16 });
  const m = await writeRandomModel(raw, { seed: 5 });
  try {
    const r = rng(23);
    const prompt = [1, ...Array.from({ length: 23 }, () => 3 + Math.floor(r() * 90))];
    const opts = { B: 1, maxPrompt: 24, maxNewTokens: 1, format: "fp32" };
    const plain = await Model.load(gpu, m.dir);
    await assert.rejects(
      () => Session.create(plain, opts),
      /= 25 exceeds the model's max_position_embeddings 16 \(a longer context needs the user's opt-in/,
    );
    plain.destroy();
    const V = raw.vocab_size as number;
    const last = async (positions: PositionOverride) => {
      const model = await Model.load(gpu, m.dir, { positions });
      const s = await Session.create(model, opts);
      try {
        await s.prefill([prompt]);
        const [got] = await gpu.read([{ buffer: s.logits }]);
        const config = extendPositions(parseConfig(raw), positions);
        assert.equal(model.config.maxPositions, config.maxPositions);
        const want = referenceForward(config, m.tensor, prompt).subarray(23 * V, 24 * V);
        assertClose(new Float32Array(got), want, { atol: 1e-4, rtol: 1e-4 });
        return want;
      } finally {
        s.destroy();
        model.destroy();
      }
    };
    const extrapolated = await last({ maxPositions: 32 });
    const interpolated = await last({ ropeFactor: 2 }); // max positions 32, positions / 2
    assert.ok(
      extrapolated.some((x, i) => Math.abs(x - interpolated[i]) > 1e-3),
      "interpolation moves the logits",
    );
  } finally {
    await Deno.remove(m.dir, { recursive: true });
  }
});
