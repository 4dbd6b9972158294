// shape: presets: each preset's config has the parameter count its model card states (so the
// shapes are the real model's), random weights generated on the GPU match the fill kernel's
// reference, and shape:tiny runs end to end (generate API and CLI) with full and quantized caches.

import assert from "node:assert/strict";
import {
  parameterCount,
  presetConfig,
  presetNames,
  randomWeights,
} from "../engine/model/presets.ts";
import { Model } from "../engine/model/model.ts";
import { generate } from "../engine/model/generate.ts";
import { RandomFill } from "../engine/kernels/random_fill.ts";
import { allocMatrix, destroyMatrix } from "../engine/kernels/matrix.ts";
import { randomFillRef } from "../engine/reference/ops.ts";
import { run } from "../engine/model/generate_cli.ts";
import { assertClose, testGpu } from "./helpers.ts";

Deno.test("presets: parameter counts are the published ones", () => {
  const published: Record<string, number> = {
    tiny: 3164416, // kvlab's own
    "smollm2-135m": 134515008,
    "llama-3.2-1b": 1235814400,
    "llama-3-8b": 8030261248,
    "mistral-7b": 7248023552,
    "qwen2.5-7b": 7615616512,
  };
  assert.deepEqual(presetNames(), Object.keys(published));
  for (const name of presetNames()) {
    assert.equal(parameterCount(presetConfig(name)), published[name], name);
  }
  assert.throws(
    () => presetConfig("gpt-5"),
    /shape:gpt-5: unknown preset; expected one of tiny, smollm2-135m/,
  );
});

for (const [n, dtype, chunkRows] of [[1000, "f32", 0], [20 * 66, "f16", 7]] as const) {
  Deno.test(`random fill: ${dtype}, ${n} values${chunkRows ? `, chunks of ${chunkRows} rows` : ""} match the reference`, async () => {
    const gpu = await testGpu();
    const fill = await RandomFill.create(gpu);
    const cols = dtype === "f16" ? 66 : 1000;
    const rows = n / cols;
    const m = allocMatrix(
      gpu,
      "m",
      rows,
      cols,
      dtype,
      chunkRows ? chunkRows * cols * 2 : undefined,
    );
    fill.fillMatrix(m, { seed: 77, scale: 0.5, offset: 0.25 });
    const got = await gpu.read(m.chunks.map((c) => ({ buffer: c.buffer })));
    const flat = new Float32Array(n);
    let at = 0;
    for (const raw of got) {
      const v = dtype === "f16" ? Float32Array.from(new Float16Array(raw)) : new Float32Array(raw);
      flat.set(v, at);
      at += v.length;
    }
    let want = randomFillRef(77, n, 0.5, 0.25);
    if (dtype === "f16") want = want.map((x) => Math.f16round(x));
    assertClose(flat, want, {
      atol: dtype === "f16" ? 1e-3 : 1e-6,
      rtol: 0,
      label: `fill ${dtype}`,
    });
    // the values look like what they claim: mean ≈ offset, std ≈ scale
    const mean = flat.reduce((s, x) => s + x, 0) / n;
    const std = Math.sqrt(flat.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
    assert.ok(
      Math.abs(mean - 0.25) < 0.05 && Math.abs(std - 0.5) < 0.05,
      `mean ${mean}, std ${std}`,
    );
    destroyMatrix(gpu, m);
  });
}

Deno.test("shape:tiny: random f16 weights on the GPU, generation with fp16 and kivi4 caches", async () => {
  const gpu = await testGpu();
  const config = presetConfig("tiny");
  const w = await randomWeights(gpu, config, { seed: 3 });
  assert.equal(w.embed.dtype, "f16");
  // f16 matrices + f32 norms: 2 bytes a matrix weight, 4 a norm weight
  const norms = (2 * config.layers + 1) * config.hidden;
  assert.equal(w.bytes, 2 * (parameterCount(config) - norms) + 4 * norms);
  w.destroy();
  const model = await Model.fromPreset(gpu, "tiny", { seed: 3 });
  for (const format of ["fp16", "kivi4"]) {
    const r = await generate(model, [[1, 5, 9, 200, 7]], {
      maxNewTokens: 6,
      format,
      stopAtEos: false,
    });
    assert.equal(r.ids[0].length, 11, format);
    assert.ok(r.newIds[0].every((id) => id >= 0 && id < config.vocab), format);
  }
  model.destroy();
});

Deno.test("generate CLI: shape:tiny with --prompt-tokens; --prompt refused; unknown preset", async () => {
  const gpu = await testGpu();
  const out: string[] = [], err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  const code = await run(
    [
      "--model",
      "shape:tiny",
      "--prompt-tokens",
      "9",
      "--max-new-tokens",
      "3",
      "--json",
      "--format",
      "int8",
    ],
    io,
    gpu,
  );
  assert.equal(code, 0, err.join("\n"));
  const j = JSON.parse(out[0]);
  assert.deepEqual([j.ids.length, j.ids[0], j.promptTokens, j.newTokens, j.randomWeights], [
    12,
    1,
    9,
    3,
    true,
  ]);
  assert.equal(j.text, j.ids.slice(9).join(" "));
  assert.equal(await run(["--model", "shape:tiny", "--prompt", "hi"], io, gpu), 2);
  assert.match(
    err.at(-1)!,
    /shape:tiny has random weights and no tokenizer; give --prompt-tokens N/,
  );
  assert.equal(await run(["--model", "shape:huge", "--prompt-tokens", "3"], io, gpu), 2);
  assert.match(err.at(-1)!, /shape:huge: unknown preset/);
  assert.equal(
    await run(["--model", "shape:tiny", "--prompt", "x", "--prompt-tokens", "3"], io, gpu),
    2,
  );
  assert.match(err.at(-1)!, /give one of --prompt TEXT .* or --prompt-tokens N/);
});
