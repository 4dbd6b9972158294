// Fidelity to the full cache on the GPU (engine/model/fidelity_run.ts): the full cache against
// itself agrees exactly; a method whose budget holds the whole prompt is the full cache; a tight
// budget or a 4-bit format moves the distribution (KL > 0); teacher forcing feeds the given
// tokens (each step's logits equal the reference forward over prompt + forced tokens); and the
// perplexity of a text with the full cache is exp(mean NLL) of the reference forward's logits.
// shape:tiny (random weights, V = 1024, D = 32) and small random checkpoints (fp32, for the
// reference).

import assert from "node:assert/strict";
import { fidelityRun, perplexityRun } from "../engine/model/fidelity_run.ts";
import { generate, randomPrompt } from "../engine/model/generate.ts";
import { Model } from "../engine/model/model.ts";
import { parseConfig } from "../engine/model/config.ts";
import { Session } from "../engine/model/session.ts";
import { referenceForward } from "../engine/reference/model.ts";
import { rng } from "../engine/reference/random.ts";
import { logSoftmax } from "../engine/tasks/fidelity.ts";
import { tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** shape:tiny, given to `f` and destroyed after. */
async function withTiny(f: (model: Model) => Promise<void>): Promise<void> {
  const model = await Model.fromPreset(await testGpu(), "tiny");
  try {
    await f(model);
  } finally {
    model.destroy();
  }
}

const T = 48, STEPS = 6;

/** A random checkpoint with D = 32 (quantized formats apply) and O(1) logits. */
const CHECKPOINT = tinyConfig({ head_dim: 32, vocab_size: 131, max_position_embeddings: 512 });

Deno.test("fidelityRun: the full cache against itself agrees at every step, KL 0", () =>
  withTiny(async (model) => {
    const prompt = randomPrompt(model.config, T, 3);
    const r = await fidelityRun(model, prompt, { steps: STEPS, readEvery: 4 });
    assert.equal(r.top1Agreement, 1);
    assert.ok(r.meanKl < 1e-6, `meanKl ${r.meanKl}`);
    assert.deepEqual([r.steps, r.kl.length, r.agrees.length], [STEPS, STEPS, STEPS]);
    assert.deepEqual([r.prefillKl, r.prefillAgrees], [0, true]);
    assert.deepEqual([r.format, r.fullFormat, r.compression], ["fp16", "fp16", undefined]);
    assert.equal(r.kvBytes, r.kvBytesFull);
    // the full run is greedy generation
    const g = await generate(model, [prompt], {
      maxNewTokens: STEPS + 1,
      stopAtEos: false,
      format: "fp16",
    });
    assert.deepEqual(r.tokens, g.newIds[0]);
  }));

Deno.test("fidelityRun: a method whose budget holds the prompt is the full cache", async () => {
  // the full run's tokens vary here (not on shape:tiny), so a misfed token would show as KL > 0
  const gpu = await testGpu();
  const m = await writeRandomModel(CHECKPOINT, { seed: 11 });
  const model = await Model.load(gpu, m.dir);
  const prompt = randomPrompt(model.config, T, 4);
  for (const method of ["snapkv", "streaming_llm", "knorm"]) {
    const r = await fidelityRun(model, prompt, {
      steps: STEPS,
      method,
      budget: { budgetTokens: T },
      readEvery: 4,
    });
    assert.ok(new Set(r.tokens).size > 2, `the full run's tokens vary: ${r.tokens}`);
    assert.equal(r.top1Agreement, 1, `${method}: agreement`);
    assert.ok(r.meanKl < 1e-6, `${method}: meanKl ${r.meanKl}`);
    assert.deepEqual(r.compression?.budgets, new Array(model.config.layers).fill(T));
  }
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("fidelityRun: a tight budget or a 4-bit cache moves the distribution (KL > 0)", async () => {
  // a random checkpoint whose logits are O(1) (lm_head scaled 1/sqrt(C)), D = 32 for int4
  const gpu = await testGpu();
  const m = await writeRandomModel(CHECKPOINT, { seed: 11 });
  const model = await Model.load(gpu, m.dir);
  const prompt = randomPrompt(model.config, T, 5);
  const report: string[] = [];
  const cases = [
    { method: "streaming_llm", budget: { budgetTokens: 8 } },
    { method: "knorm", budget: { budgetTokens: 8 } },
    { method: "h2o", budget: { budgetTokens: 12 } },
    { method: "snapkv+int4", budget: { budgetTokens: 40 } },
    { format: "int4" },
  ];
  for (const c of cases) {
    const r = await fidelityRun(model, prompt, { steps: STEPS, ...c });
    const what = c.method ?? c.format;
    report.push(`${what} KL ${r.meanKl.toExponential(2)} top-1 ${r.top1Agreement.toFixed(2)}`);
    assert.ok(r.meanKl > 1e-4, `${what}: meanKl ${r.meanKl}`);
    assert.ok(r.kl.every((x) => x >= 0 && Number.isFinite(x)));
    assert.ok(r.kvBytes < r.kvBytesFull, `${what}: ${r.kvBytes} ≥ ${r.kvBytesFull}`);
    assert.equal(r.prefillKl, 0, `${what}: the prefill is dense`);
  }
  console.log(`random checkpoint, T=${T}, ${STEPS} steps: ${report.join("; ")}`);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("fidelityRun on shape:tiny: a method at a tight budget moves the distribution in less memory", () =>
  withTiny(async (model) => {
    // shape:tiny ties its embeddings; the tied head is scaled 1/sqrt(hidden) (presets.ts), so
    // its logits spread ≈ 1 and a tight budget shows in the KL (with a std-1 head the model was
    // near-deterministic and every cache scored KL ≈ 1e-44)
    const prompt = randomPrompt(model.config, T, 5);
    const r = await fidelityRun(model, prompt, {
      steps: STEPS,
      method: "streaming_llm",
      budget: { budgetTokens: 8 },
    });
    assert.ok(r.meanKl > 1e-6 && Number.isFinite(r.meanKl), `meanKl ${r.meanKl}`);
    assert.ok(r.top1Agreement >= 0 && r.top1Agreement <= 1);
    assert.ok(r.kvBytes < r.kvBytesFull);
    assert.equal(r.tokens.length, STEPS + 1);
    console.log(`shape:tiny streaming_llm at 8 of ${T}: KL ${r.meanKl}, top-1 ${r.top1Agreement}`);
  }));

Deno.test("Session.shrink frees the prompt-sized activations; decode gives the same ids", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CHECKPOINT, { seed: 13 });
  const model = await Model.load(gpu, m.dir);
  const prompt = randomPrompt(model.config, T, 6);
  const ids: number[][] = [];
  for (const shrink of [false, true]) {
    const s = await Session.create(model, { B: 1, maxPrompt: T, maxNewTokens: 6, format: "fp16" });
    await s.prefill([prompt]);
    const before = gpu.liveBytes;
    if (shrink) {
      await s.shrink();
      const c = model.config;
      const rows = (T - 1) * (2 * c.hidden + 2 * c.H * c.D + 2 * c.Hkv * c.D + 2 * c.intermediate);
      assert.equal(before - gpu.liveBytes, rows * 4, "bytes freed: T − 1 rows of each activation");
    }
    s.decode(5);
    ids.push((await s.readIds())[0]);
    s.destroy();
  }
  assert.deepEqual(ids[1], ids[0]);
  // the full run prefilled in chunks is the same full run
  const r = await fidelityRun(model, prompt, { steps: 3, fullPrefillChunk: 16 });
  assert.deepEqual([r.top1Agreement, r.meanKl], [1, 0]);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

// --- teacher forcing and perplexity against the reference forward ------------------------------

const CONFIG = tinyConfig({ vocab_size: 131 });

Deno.test("teacher forcing: each step's logits are the reference's over prompt + the fed tokens", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 21 });
  const model = await Model.load(gpu, m.dir);
  const config = parseConfig(CONFIG);
  const V = config.vocab, B = 2, steps = 4;
  const r = rng(5);
  const prompts = [9, 6].map((
    n,
  ) => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 120))]);
  const forced = Array.from({ length: steps }, () => prompts.map(() => 3 + Math.floor(r() * 120)));
  const s = await Session.create(model, {
    B,
    maxPrompt: 9,
    maxNewTokens: steps + 1,
    format: "fp32",
  });
  const feed = gpu.upload("test.feed", new Uint32Array(forced.flat()));
  const rows = gpu.createBuffer("test.rows", steps * B * V * 4);
  try {
    await s.prefill(prompts);
    s.decode(steps, { feed, logits: rows });
    const [raw] = await gpu.read([{ buffer: rows }]);
    const got = new Float32Array(raw);
    const own = await s.readIds(1);
    let differ = 0;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < steps; i++) {
        const seq = [...prompts[b], ...forced.slice(0, i + 1).map((f) => f[b])];
        const n = seq.length;
        const want = referenceForward(config, m.tensor, seq).subarray((n - 1) * V, n * V);
        const at = (i * B + b) * V;
        assertClose(got.subarray(at, at + V), want, {
          atol: 1e-4,
          rtol: 1e-4,
          label: `sequence ${b}, step ${i + 1}`,
        });
        if (own[b][i] !== forced[i][b]) differ++;
      }
    }
    assert.ok(differ > 0, "the fed tokens differ from the model's own choices somewhere");
  } finally {
    gpu.destroy(feed);
    gpu.destroy(rows);
    s.destroy();
  }
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("perplexityRun: the full cache's perplexity is exp(mean NLL) of the reference's logits", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 22 });
  const model = await Model.load(gpu, m.dir);
  const config = parseConfig(CONFIG);
  const V = config.vocab;
  const r = rng(9);
  const ids = [1, ...Array.from({ length: 29 }, () => 3 + Math.floor(r() * 120))];
  const ref = referenceForward(config, m.tensor, ids);
  for (const prefix of [1, 12]) {
    // log p(ids[i]) from the logits at position i − 1
    const want: number[] = [];
    for (let i = prefix; i < ids.length; i++) {
      want.push(logSoftmax(ref.subarray((i - 1) * V, i * V))[ids[i]]);
    }
    const wantPpl = Math.exp(-want.reduce((a, b) => a + b, 0) / want.length);
    const got = await perplexityRun(model, ids, prefix, { format: "fp32", readEvery: 7 });
    assert.equal(got.tokens, ids.length - prefix);
    assertClose(got.logProbs, want, { atol: 1e-4, rtol: 1e-4, label: `prefix ${prefix}` });
    assert.ok(
      Math.abs(got.perplexity / wantPpl - 1) < 1e-4,
      `prefix ${prefix}: perplexity ${got.perplexity} vs reference ${wantPpl}`,
    );
    assert.ok(Math.abs(got.nll - Math.log(got.perplexity)) < 1e-12);
  }
  // a method: the whole prefix kept is the full cache; 4 tokens kept is not
  const full = await perplexityRun(model, ids, 20, { format: "fp32" });
  const all = await perplexityRun(model, ids, 20, {
    format: "fp32",
    method: "knorm",
    budget: { budgetTokens: 20 },
  });
  assert.ok(Math.abs(all.perplexity - full.perplexity) < 1e-9 * full.perplexity);
  const cut = await perplexityRun(model, ids, 20, {
    format: "fp32",
    method: "knorm",
    budget: { budgetTokens: 4 },
  });
  assert.equal(cut.compression?.method, "knorm");
  assert.ok(cut.kvBytes < full.kvBytes);
  assert.ok(
    Math.abs(cut.perplexity / full.perplexity - 1) > 1e-4,
    `knorm at 4 of 20 tokens: perplexity ${cut.perplexity} vs full ${full.perplexity}`,
  );
  console.log(
    `perplexity of 10 tokens after 20: full ${full.perplexity.toFixed(3)}, knorm keeping 4 ` +
      `${cut.perplexity.toFixed(3)}`,
  );
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("fidelityRun, perplexityRun: bad input names the value; nothing is left allocated", () =>
  withTiny(async (model) => {
    const gpu = model.gpu;
    const prompt = randomPrompt(model.config, 40, 1);
    const live = gpu.liveBytes;
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => fidelityRun(model, prompt, { steps: 0 }), /steps \(decode steps compared\): got 0/],
      [() => fidelityRun(model, [], { steps: 2 }), /prompt tokens: got 0/],
      [
        () => fidelityRun(model, [1, 5000], { steps: 2 }),
        /prompt: token 1 is 5000, expected an id in \[0, 1024\)/,
      ],
      [() => fidelityRun(model, prompt, { steps: 2, method: "knorm" }), /needs a budget/],
      [
        () => fidelityRun(model, prompt, { steps: 2, fullFormat: "fp8" }),
        /unknown cache format "fp8"/,
      ],
      [
        () => fidelityRun(model, prompt, { steps: 2, readEvery: 0 }),
        /readEvery \(decode steps per readback\): got 0/,
      ],
      [
        () => perplexityRun(model, prompt, 40),
        /prefix \(tokens prefilled before scoring\): got 40, expected an integer in \[1, 39\]/,
      ],
      [() => perplexityRun(model, [1], 1), /ids \(tokens of the text\): got 1/],
      [
        () => perplexityRun(model, prompt, 10, { method: "snapkv", budget: { ratio: 2 } }),
        /last 32 queries, but the prompt has 10 tokens/,
      ],
    ];
    for (const [f, pattern] of cases) {
      await assert.rejects(f, (e: Error) => {
        assert.ok(e instanceof RangeError, String(e));
        assert.match(e.message, pattern);
        return true;
      });
    }
    assert.equal(gpu.liveBytes, live, "the refusals left nothing allocated");
  }));
