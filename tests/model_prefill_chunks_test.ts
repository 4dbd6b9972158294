// Chunked prefill (SessionOptions.prefillChunk, `--prefill-chunk N`): the prompt in chunks whose
// attention reads the f32 k, v of the earlier chunks. Bit for bit the unchunked prefill's logits
// and caches wherever every chunk runs the matmul's tiled path (B·N > 8 rows; a small last chunk
// joins the one before), so the generated ids are equal: on a random checkpoint with B = 2
// ragged prompts in several formats, and on the stories260K fixture (skipped with a message when
// ../shared is absent). Activations shrink to B·N rows. Bad values name themselves.

import assert from "node:assert/strict";
import { generate } from "../engine/model/generate.ts";
import { run } from "../engine/model/generate_cli.ts";
import { Model } from "../engine/model/model.ts";
import { chunkSpans, readTokens, Session } from "../engine/model/session.ts";
import { ModelTokenizer } from "../engine/model/tokenizer.ts";
import { rng } from "../engine/reference/random.ts";
import { hasStories, STORIES_DIR, tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { assertClose, testGpu } from "./helpers.ts";

const HAS = hasStories("chunked prefill tests on stories260K");

const CONFIG = tinyConfig({ head_dim: 32, vocab_size: 131 });
/** CONFIG as a mistral with a 24-token sliding window. */
const WINDOWED = {
  ...CONFIG,
  architectures: ["MistralForCausalLM"],
  model_type: "mistral",
  sliding_window: 24,
};

function prompts(lens: readonly number[], seed: number): number[][] {
  const r = rng(seed);
  return lens.map((n) => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 120))]);
}

/** Prefill and two decode steps: the logits of each, and the session's scratch bytes. */
async function steps(model: Model, ps: number[][], format: string, prefillChunk?: number) {
  const s = await Session.create(model, {
    B: ps.length,
    maxPrompt: Math.max(...ps.map((p) => p.length)),
    maxNewTokens: 3,
    format,
    prefillChunk,
  });
  try {
    const out: Float32Array[] = [];
    await s.prefill(ps);
    for (let i = 0; i < 3; i++) {
      if (i > 0) s.decode(1);
      const [raw] = await model.gpu.read([{ buffer: s.logits }]);
      out.push(new Float32Array(raw));
    }
    return { out, scratch: s.own.reduce((n, b) => n + b.size, 0), kvBytes: s.kvBytes() };
  } finally {
    s.destroy();
  }
}

Deno.test("chunk spans: N-token chunks; a last chunk of ≤ 8 rows joins the one before", () => {
  assert.deepEqual(chunkSpans(40, 16, 1), [[0, 16], [16, 24]], "B=1: 8 rows join");
  assert.deepEqual(chunkSpans(40, 16, 2), [[0, 16], [16, 16], [32, 8]], "B=2: 16 rows stay");
  assert.deepEqual(chunkSpans(41, 10, 1), [[0, 10], [10, 10], [20, 10], [30, 11]]);
  assert.deepEqual(chunkSpans(7, 3, 1), [[0, 3], [3, 3], [6, 1]], "all chunks gemv-sized");
  assert.deepEqual(chunkSpans(5, 9, 1), [[0, 5]]);
});

Deno.test("chunked prefill equals the unchunked one bit for bit: B = 2 ragged, several formats", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 21 });
  const model = await Model.load(gpu, m.dir);
  const ps = prompts([70, 37], 4);
  for (const format of ["fp32", "fp16", "kivi4", "int8"]) {
    const whole = await steps(model, ps, format);
    for (const chunk of [5, 16, 33]) {
      const got = await steps(model, ps, format, chunk);
      got.out.forEach((x, i) =>
        assert.deepEqual(x, whole.out[i], `${format}, chunk ${chunk}, step ${i}`)
      );
      assert.equal(got.kvBytes, whole.kvBytes);
      assert.ok(
        got.scratch < whole.scratch,
        `${format}, chunk ${chunk}: scratch ${got.scratch} ≥ ${whole.scratch}`,
      );
    }
  }
  // chunks of ≤ 8 rows all through take the gemv path: equal to rounding
  const one = [ps[0]];
  const whole = await steps(model, one, "fp32");
  const small = await steps(model, one, "fp32", 3);
  small.out.forEach((x, i) =>
    assertClose(x, whole.out[i], { atol: 1e-4, rtol: 1e-4, label: `chunk 3, step ${i}` })
  );
  // generate() with a chunk: the same ids
  const a = await generate(model, ps, { maxNewTokens: 6, format: "fp16", stopAtEos: false });
  const b = await generate(model, ps, {
    maxNewTokens: 6,
    format: "fp16",
    stopAtEos: false,
    prefillChunk: 12,
  });
  assert.deepEqual(b.ids, a.ids);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("sliding window: chunked prefill equals the unchunked one; methods past the window are refused", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(WINDOWED, { seed: 23 });
  const model = await Model.load(gpu, m.dir);
  try {
    const ps = prompts([70, 37], 5);
    for (const format of ["fp32", "kivi4"]) {
      const whole = await steps(model, ps, format);
      // chunks of 16: the window reaches back into earlier chunks' keys, not all of them
      const got = await steps(model, ps, format, 16);
      got.out.forEach((x, i) => assert.deepEqual(x, whole.out[i], `${format}, step ${i}`));
    }
    // fp16 rolls: each layer's cache is the window (24 slots), and a step reads the 24 held
    // (sequence 0 at 70 + 2 tokens, sequence 1 at 37 + 2)
    const opts = { B: 2, maxPrompt: 70, maxNewTokens: 3 };
    const rolled = await Session.create(model, { ...opts, format: "fp16" });
    try {
      await rolled.prefill(ps);
      rolled.decode(2);
      await model.gpu.read([{ buffer: rolled.logits }]);
      assert.deepEqual(rolled.caches.map((c) => [c.shape.capacity, c.shape.ring]), [
        [24, true],
        [24, true],
      ]);
      const perSlot = rolled.kvBytes() / (2 * 2 * 24); // B · layers · slots (Hkv folded in)
      assert.equal(rolled.bytesReadPerStep(), Math.round(perSlot * (24 + 24)) * 2);
    } finally {
      rolled.destroy();
    }
    // kivi4 cannot roll: the full capacity, and decode reads from the window's first 32-token
    // group: tokens 32 .. 71 of sequence 0, all 39 of sequence 1
    assert.deepEqual([readTokens(72, 24), readTokens(39, 24), readTokens(20, 24)], [40, 39, 20]);
    const masked = await Session.create(model, { ...opts, format: "kivi4" });
    try {
      await masked.prefill(ps);
      masked.decode(2);
      await model.gpu.read([{ buffer: masked.logits }]);
      assert.deepEqual(masked.caches.map((c) => [c.shape.capacity, c.shape.ring]), [
        [73, undefined],
        [73, undefined],
      ]);
      const perToken = masked.kvBytes() / (2 * 2 * 73);
      assert.equal(masked.bytesReadPerStep(), Math.round(perToken * (40 + 39)) * 2);
    } finally {
      masked.destroy();
    }
    // a method within the window runs; past it, it is refused with the window named
    const base = { B: 1, format: "fp16", method: "knorm", budget: { budgetTokens: 8 } };
    const ok = await Session.create(model, { ...base, maxPrompt: 20, maxNewTokens: 4 });
    ok.destroy();
    await assert.rejects(
      () => Session.create(model, { ...base, maxPrompt: 20, maxNewTokens: 5 }),
      /method "knorm": prompt \+ new tokens = 25 exceeds the model's sliding_window 24; .* within the window \(≤ 24 tokens\) or without a method/,
    );
  } finally {
    model.destroy();
    await Deno.remove(m.dir, { recursive: true });
  }
});

Deno.test("chunked prefill: bad values name themselves", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 22 });
  const model = await Model.load(gpu, m.dir);
  const base = { B: 1, maxPrompt: 40, maxNewTokens: 2, format: "fp16" };
  await assert.rejects(
    () => Session.create(model, { ...base, prefillChunk: 0 }),
    /prefillChunk \(tokens per prefill chunk\): got 0/,
  );
  await assert.rejects(
    () =>
      Session.create(model, { ...base, prefillChunk: 8, method: "knorm", budget: { ratio: 2 } }),
    /prefillChunk 8 with method "knorm": chunked prefill runs with full caches only/,
  );
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside " +
  "in the park with her friends. One day, she saw a big red ball under a tree.";

Deno.test({
  name: "stories260K: chunked prefill generates the unchunked ids exactly (CLI and API)",
  ignore: !HAS,
  fn: async () => {
    const gpu = await testGpu();
    const model = await Model.load(gpu, STORIES_DIR);
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const ids = tok.encode(STORY);
    const o = { maxNewTokens: 40, format: "fp32", stopAtEos: false };
    const whole = await generate(model, [ids], o);
    for (const chunk of [9, 16, 50]) {
      const got = await generate(model, [ids], { ...o, prefillChunk: chunk });
      assert.deepEqual(got.ids, whole.ids, `chunk ${chunk}`);
    }
    model.destroy();
    const out: string[] = [], err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const args = ["--model", STORIES_DIR, "--prompt", STORY, "--max-new-tokens", "8", "--json"];
    assert.equal(await run([...args, "--format", "fp32", "--prefill-chunk", "16"], io, gpu), 0);
    const j = JSON.parse(out[0]);
    assert.deepEqual(j.ids, whole.ids[0].slice(0, ids.length + 8));
    assert.equal(j.prefillChunk, 16);
    assert.equal(await run([...args, "--prefill-chunk", "0"], io, gpu), 2);
    assert.match(err[0], /^kvlab generate: --prefill-chunk: got "0", expected an integer ≥ 1/);
    assert.equal(
      await run([...args, "--prefill-chunk", "16", "--method", "snapkv", "--ratio", "2"], io, gpu),
      2,
    );
    assert.match(err[1], /chunked prefill runs with full caches only/);
  },
});

Deno.test("rolling caches equal the masked full ones: four formats, B = 2 ragged, chunks past the window", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(WINDOWED, { seed: 24 });
  const model = await Model.load(gpu, m.dir);
  const ps = prompts([70, 37], 6);
  const steps = 12, V = 131;
  /** Prefill logits, then `steps` decode steps' logits and ids, recorded in one buffer. */
  const run = async (format: string, rolling: boolean, prefillChunk?: number) => {
    const s = await Session.create(model, {
      B: 2,
      maxPrompt: 70,
      maxNewTokens: steps + 1,
      format,
      rolling,
      prefillChunk,
    });
    const logits = gpu.createBuffer("test.logits", steps * 2 * V * 4);
    try {
      assert.equal(s.caches[0].shape.ring === true, rolling, `${format}: rolls`);
      await s.prefill(ps);
      const [first] = await gpu.read([{ buffer: s.logits }]);
      s.decode(steps, { logits });
      const [rest] = await gpu.read([{ buffer: logits }]);
      return {
        first: new Float32Array(first),
        rest: new Float32Array(rest),
        ids: await s.readIds(),
      };
    } finally {
      gpu.destroy(logits);
      s.destroy();
    }
  };
  try {
    for (const format of ["fp32", "fp16", "int8", "int4"]) {
      // chunks of 33 > the window: an append of more than the ring's slots into a non-empty ring
      for (const chunk of [undefined, 33]) {
        const label = `${format}, chunk ${chunk ?? "none"}`;
        const masked = await run(format, false, chunk);
        const rolled = await run(format, true, chunk);
        assertClose(rolled.first, masked.first, {
          atol: 1e-4,
          rtol: 1e-4,
          label: `${label}, prefill`,
        });
        assertClose(rolled.rest, masked.rest, {
          atol: 2e-3,
          rtol: 1e-3,
          label: `${label}, decode`,
        });
        assert.deepEqual(rolled.ids, masked.ids, label);
      }
    }
  } finally {
    model.destroy();
    await Deno.remove(m.dir, { recursive: true });
  }
});
