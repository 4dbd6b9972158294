// config.json validation: every supported architecture parses with its defaults and flags;
// anything else is refused with a message listing what is supported; bad fields are named.

import assert from "node:assert/strict";
import { extendPositions, layerWindow, parseConfig, ropeInvFreq } from "../engine/model/config.ts";
import { ModelError } from "../engine/model/errors.ts";
import { hasStories, STORIES_DIR, tinyConfig } from "./model_fixtures.ts";

Deno.test("config: llama defaults (head_dim = hidden / heads, untied, no bias)", () => {
  const c = parseConfig(tinyConfig({ tie_word_embeddings: undefined, rope_theta: undefined }));
  assert.equal(c.arch, "llama");
  assert.deepEqual([c.H, c.Hkv, c.D, c.hidden, c.intermediate, c.layers, c.vocab], [
    4,
    2,
    16,
    64,
    72,
    2,
    97,
  ]);
  assert.deepEqual([c.tied, c.qkvBias, c.oBias, c.mlpBias, c.qkNorm], [
    false,
    false,
    false,
    false,
    false,
  ]);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.ropeScaling, null);
  assert.deepEqual(c.eos, [2]);
});

Deno.test("config: qwen2 has q/k/v bias, qwen3 q/k norm and its own head_dim, mistral a window", () => {
  const q2 = parseConfig(tinyConfig({ architectures: ["Qwen2ForCausalLM"], model_type: "qwen2" }));
  assert.deepEqual([q2.qkvBias, q2.oBias, q2.qkNorm, q2.slidingWindow], [true, false, false, null]);
  const q3 = parseConfig(
    tinyConfig({ architectures: ["Qwen3ForCausalLM"], model_type: "qwen3", head_dim: 128 }),
  );
  assert.deepEqual([q3.qkvBias, q3.qkNorm, q3.D], [false, true, 128]);
  const mi = parseConfig(
    tinyConfig({
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      sliding_window: 100,
    }),
  );
  assert.equal(mi.slidingWindow, 100);
  const big = parseConfig(
    tinyConfig({
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      sliding_window: 4096,
    }),
  );
  // a window past the context binds only in a user's longer context, so it is kept
  assert.equal(big.slidingWindow, 4096);
  const longer = extendPositions(big, { maxPositions: 8192 });
  assert.deepEqual([layerWindow(longer, 0), longer.extended], [4096, true]);
  // transformers' default when the key is absent; null means none
  const absent = parseConfig(
    tinyConfig({ architectures: ["MistralForCausalLM"], model_type: "mistral" }),
  );
  assert.equal(absent.slidingWindow, 4096);
  const none = parseConfig(
    tinyConfig({
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      sliding_window: null,
    }),
  );
  assert.deepEqual([none.slidingWindow, none.slidingLayers], [null, [false, false]]);
  assert.deepEqual(mi.slidingLayers, [true, true], "mistral: every layer");
  assert.deepEqual(big.slidingLayers, [true, true]);
  const eos = parseConfig(tinyConfig(), "config.json", { eos_token_id: [2, 5, 9] });
  assert.deepEqual(eos.eos, [2, 5, 9], "generation_config.json's eos ids win");
});

Deno.test({
  name: "config: the stories260K fixture parses (a tied llama, D = 8)",
  ignore: !hasStories("config test on stories260K"),
  fn: async () => {
    const c = parseConfig(JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/config.json`)));
    assert.deepEqual([c.arch, c.H, c.Hkv, c.D, c.tied, c.maxPositions], [
      "llama",
      8,
      4,
      8,
      true,
      512,
    ]);
  },
});

Deno.test("config: qwen sliding windows by max_window_layers or layer_types; llama never", () => {
  const qwen = (over: Record<string, unknown>) =>
    parseConfig(
      tinyConfig({ architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", ...over }),
    );
  const off = qwen({ sliding_window: 64 });
  assert.deepEqual([off.slidingWindow, off.slidingLayers], [null, [false, false]], "not used");
  const from1 = qwen({ use_sliding_window: true, sliding_window: 64, max_window_layers: 1 });
  assert.deepEqual([from1.slidingWindow, from1.slidingLayers], [64, [false, true]]);
  assert.deepEqual([layerWindow(from1, 0), layerWindow(from1, 1)], [undefined, 64]);
  // the default max_window_layers (28) is past both layers: no layer uses the window
  const dflt = qwen({ use_sliding_window: true, sliding_window: 64 });
  assert.deepEqual([dflt.slidingWindow, dflt.slidingLayers], [null, [false, false]]);
  const typed = qwen({
    use_sliding_window: true,
    sliding_window: 64,
    layer_types: ["sliding_attention", "full_attention"],
  });
  assert.deepEqual(typed.slidingLayers, [true, false], "layer_types wins");
  assert.throws(
    () =>
      qwen({ use_sliding_window: true, sliding_window: 64, layer_types: ["sliding_attention"] }),
    /layer_types: got \["sliding_attention"\], expected 2 entries \(num_hidden_layers\), each one of full_attention, sliding_attention/,
  );
  const llama = parseConfig(tinyConfig({ use_sliding_window: true, sliding_window: 8 }));
  assert.deepEqual([llama.slidingWindow, llama.slidingLayers], [null, [false, false]]);
});

Deno.test("config: extendPositions raises max positions, or interpolates plain RoPE linearly", () => {
  const c = parseConfig(tinyConfig()); // max_position_embeddings 256, plain RoPE
  assert.equal(extendPositions(c, {}), c);
  assert.deepEqual(
    [extendPositions(c, { maxPositions: 1000 }).maxPositions, c.maxPositions],
    [1000, 256],
  );
  const f = extendPositions(c, { ropeFactor: 2.5 });
  assert.deepEqual([f.maxPositions, f.ropeScaling], [640, { rope_type: "linear", factor: 2.5 }]);
  assert.equal(extendPositions(c, { ropeFactor: 2, maxPositions: 300 }).maxPositions, 300);
  assert.throws(() => extendPositions(c, { maxPositions: 1.5 }), /max positions: got 1.5/);
  assert.throws(
    () => extendPositions(c, { maxPositions: 100 }),
    /max positions: got 100, expected an integer in \[256 \(max_position_embeddings\), 2\^32 - 1\]: it raises the limit/,
  );
  assert.throws(
    () => extendPositions(c, { ropeFactor: 1 }),
    /rope factor: got 1, expected a number > 1/,
  );
  const llama3 = parseConfig(
    tinyConfig({
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 32,
      },
    }),
  );
  assert.throws(
    () => extendPositions(llama3, { ropeFactor: 2 }),
    /rope factor 2: this model already scales RoPE \(rope_scaling \{"rope_type":"llama3".*Give max positions alone/,
  );
  assert.equal(extendPositions(llama3, { maxPositions: 999 }).maxPositions, 999);
});

Deno.test("config: unsupported and malformed configs name the field and what is expected", () => {
  const bad = (over: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(
      () => parseConfig(tinyConfig(over)),
      (e: Error) => e instanceof ModelError && pattern.test(e.message),
      String(pattern),
    );
  bad(
    { architectures: ["GPT2LMHeadModel"], model_type: "gpt2" },
    /architectures \["GPT2LMHeadModel"\] is not supported; supported: LlamaForCausalLM \(model_type "llama"\), MistralForCausalLM \(model_type "mistral"\), Qwen2ForCausalLM \(model_type "qwen2"\), Qwen3ForCausalLM \(model_type "qwen3"\)/,
  );
  bad({ architectures: undefined }, /architectures undefined is not supported/);
  bad(
    { model_type: "mistral" },
    /model_type: got "mistral", expected "llama" for LlamaForCausalLM/,
  );
  bad({ hidden_act: "gelu" }, /hidden_act: got "gelu", expected "silu"/);
  bad(
    { num_key_value_heads: 3 },
    /num_key_value_heads: got 3, expected a divisor of num_attention_heads=4/,
  );
  bad({ hidden_size: 66 }, /hidden_size: got 66, expected a multiple of num_attention_heads=4/);
  bad({ head_dim: 7 }, /head_dim: got 7, expected an even number ≤ 256/);
  bad({ vocab_size: 0 }, /vocab_size: got 0, expected an integer ≥ 1/);
  bad({ max_position_embeddings: undefined }, /max_position_embeddings: got undefined/);
  bad({ rms_norm_eps: -1 }, /rms_norm_eps: got -1, expected a number > 0/);
  bad({ tie_word_embeddings: "yes" }, /tie_word_embeddings: got "yes", expected true or false/);
  bad(
    { rope_scaling: { rope_type: "yarn", factor: 4 } },
    /rope_scaling \{"rope_type":"yarn","factor":4\} is not supported; supported: null/,
  );
  bad({ eos_token_id: "x" }, /eos_token_id: got "x", expected token ids/);
  assert.throws(() => parseConfig([1]), /config.json: expected a JSON object/);
});

Deno.test("rope: llama3 scaling keeps high frequencies, divides low ones by factor, blends between", () => {
  const scaling = {
    rope_type: "llama3" as const,
    factor: 8,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 8192,
  };
  const plain = ropeInvFreq({ D: 128, theta: 500000 });
  const scaled = ropeInvFreq({ D: 128, theta: 500000, scaling });
  assert.equal(plain[0], 1);
  assert.equal(scaled[0], 1, "wavelength 2π < 2048: unchanged");
  assert.equal(scaled[63], Math.fround(plain[63] / 8), "wavelength > 8192: divided by factor");
  const mid = plain.findIndex((x) => {
    const w = (2 * Math.PI) / x;
    return w > 2048 && w < 8192;
  });
  assert.ok(mid > 0);
  assert.ok(scaled[mid] < plain[mid] && scaled[mid] > plain[mid] / 8, "blended in between");
  // HF: inv_freq = 1 / theta^(2i/D) in f32
  assert.equal(plain[1], Math.fround(1 / Math.fround(500000 ** Math.fround(2 / 128))));
});
