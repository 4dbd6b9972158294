// Every KV-cache format through the model: the same random checkpoint (D = 32, so the quantized
// formats apply) prefilled with B = 2 ragged prompts and decoded a few steps per format.
// Prefill never reads the cache, so its logits equal fp32's bit for bit in every format; the
// first decode step's logits are held to fp32's (fp16 and KIVI, whose f16 residual holds every
// token this short, closely; int8/int4 within their quantization error); a longer prompt puts
// KIVI's keys past its 128-token residual. kvBytes come from the caches' own allocations.

import assert from "node:assert/strict";
import { FORMATS } from "../engine/cache/registry.ts";
import { Model } from "../engine/model/model.ts";
import { Session } from "../engine/model/session.ts";
import { generate } from "../engine/model/generate.ts";
import { rng } from "../engine/reference/random.ts";
import { tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { testGpu } from "./helpers.ts";

const CONFIG = tinyConfig({ head_dim: 32, vocab_size: 131 });

function prompts(lens: readonly number[], seed: number): number[][] {
  const r = rng(seed);
  return lens.map((n) => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 120))]);
}

/** ‖a − b‖ / ‖b‖ */
function relError(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Prefill logits and first-decode-step logits [B, V] under `format`. */
async function twoSteps(model: Model, format: string, ps: number[][]) {
  const gpu = model.gpu;
  const s = await Session.create(model, {
    B: ps.length,
    maxPrompt: Math.max(...ps.map((p) => p.length)),
    maxNewTokens: 2,
    format,
  });
  await s.prefill(ps);
  const [pre] = await gpu.read([{ buffer: s.logits }]);
  s.decode(1);
  const [step] = await gpu.read([{ buffer: s.logits }]);
  const kvBytes = s.kvBytes();
  s.destroy();
  return { prefill: new Float32Array(pre), step: new Float32Array(step), kvBytes };
}

// bound on the first decode step's relative logit error against fp32, per format
const BOUND: Record<string, number> = {
  fp16: 1e-3,
  kivi2: 1e-3,
  kivi4: 1e-3,
  kivi8: 1e-3,
  int8: 2e-2,
  int4: 1e-1,
};

Deno.test("every cache format runs through the model; exact ones match fp32", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 5 });
  const model = await Model.load(gpu, m.dir);
  const ps = prompts([40, 23], 9);
  const ref = await twoSteps(model, "fp32", ps);
  const report: string[] = [];
  for (const f of FORMATS) {
    if (f.name === "fp32") continue;
    const got = await twoSteps(model, f.name, ps);
    assert.deepEqual(got.prefill, ref.prefill, `${f.name}: prefill logits equal fp32's`);
    const e = relError(got.step, ref.step);
    report.push(`${f.name} ${e.toExponential(2)} ${got.kvBytes}`);
    assert.ok(e < BOUND[f.name], `${f.name}: decode logits rel. error ${e} ≥ ${BOUND[f.name]}`);
    if (f.family !== "kivi") {
      // KIVI's 128-token f16 residual is allocated whole, so at 42 tokens it outweighs fp32
      assert.ok(
        got.kvBytes < ref.kvBytes,
        `${f.name}: ${got.kvBytes} KV bytes ≥ fp32's ${ref.kvBytes}`,
      );
    }
  }
  console.log(`format, first-step logit rel. error vs fp32, kvBytes: ${report.join("; ")}`);
  // generate() with every format: a few greedy tokens each, ids in range, prompt kept
  for (const f of FORMATS) {
    const r = await generate(model, ps, {
      maxNewTokens: 5,
      format: f.name,
      readEvery: 2,
      stopAtEos: false,
    });
    r.ids.forEach((ids, b) => {
      assert.equal(ids.length, ps[b].length + 5, `${f.name}: sequence ${b} length`);
      assert.deepEqual(ids.slice(0, ps[b].length), ps[b]);
      assert.ok(ids.every((id) => id >= 0 && id < 131), `${f.name}: ids in [0, V)`);
    });
  }
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("KIVI past its residual: 150-token prompt, quantized keys, logits near fp32's", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 6 });
  const model = await Model.load(gpu, m.dir);
  const ps = prompts([150], 4);
  const ref = await twoSteps(model, "fp32", ps);
  const errs: string[] = [];
  for (const [format, bound] of [["kivi8", 1e-2], ["kivi4", 1e-1], ["kivi2", 3e-1]] as const) {
    const got = await twoSteps(model, format, ps);
    const e = relError(got.step, ref.step);
    errs.push(`${format} ${e.toExponential(2)} ${got.kvBytes}`);
    assert.ok(e > 0 && e < bound, `${format}: rel. error ${e} outside (0, ${bound})`);
    assert.ok(
      got.kvBytes < ref.kvBytes,
      `${format}: ${got.kvBytes} KV bytes ≥ fp32's ${ref.kvBytes}`,
    );
  }
  console.log(`KIVI at 150 tokens, rel. error vs fp32, kvBytes: ${errs.join("; ")}`);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});
