// Sampling on the GPU (engine/kernels/sample.wgsl) against its reference (engine/reference/
// sample.ts, same RNG, float64): the same ids on seeded logits over several shapes (V not a
// multiple of the workgroup, up to Qwen's 151,936; ties, −inf and NaN logits), temperatures,
// top-p and top-k, the only allowed difference being a near-tie the reference flags; the RNG
// counters advance; over many draws the empirical distribution matches the kept set's
// renormalised softmax(x / T); through the model each draw is the reference's on that step's
// logits; greedy stays greedy; a seed reproduces a run; the CLI flags and their errors.

import assert from "node:assert/strict";
import { Sampler, type SamplingParams } from "../engine/kernels/sample.ts";
import {
  keptSet,
  sampleRef,
  type SampleRefResult,
  samplingProbsRef,
} from "../engine/reference/sample.ts";
import { randn, rng } from "../engine/reference/random.ts";
import type { Gpu } from "../engine/gpu/mod.ts";
import { generate, type GenerateOptions } from "../engine/model/generate.ts";
import { parseCli, run } from "../engine/model/generate_cli.ts";
import { Model } from "../engine/model/model.ts";
import { Session } from "../engine/model/session.ts";
import { tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { testGpu } from "./helpers.ts";

/** Draws on the GPU: ids [B] and the counters after the draw. */
async function sampleGpu(
  gpu: Gpu,
  sampler: Sampler,
  logits: Float32Array,
  V: number,
  s: SamplingParams,
  steps: readonly number[],
): Promise<{ ids: number[]; after: number[] }> {
  const B = steps.length;
  const lb = gpu.upload("test.logits", logits);
  const ib = gpu.createBuffer("test.ids", B * 4);
  const sb = gpu.upload("test.steps", new Uint32Array(steps));
  try {
    gpu.submit((pass) =>
      sampler.encode(pass, { logits: lb, ids: ib, steps: sb, B, V, sampling: s })
    );
    const [ids, after] = await gpu.read([{ buffer: ib }, { buffer: sb }]);
    return { ids: [...new Uint32Array(ids)], after: [...new Uint32Array(after)] };
  } finally {
    for (const b of [lb, ib, sb]) gpu.destroy(b);
  }
}

/** A near-tie: the draw's score gap or the top-p boundary within f32 rounding of the other way. */
function nearTie(r: SampleRefResult): boolean {
  return r.margin < 1e-4 * (1 + r.score) || r.keptMargin < 1e-4;
}

/** Seeded logits [B, V]: normal × scale, with ties, and −inf / NaN where asked. */
function makeLogits(seed: number, B: number, V: number, scale: number, odd: boolean): Float32Array {
  const x = randn(seed, B * V, scale);
  const r = rng(seed + 1);
  for (let b = 0; b < B; b++) {
    // ties: a few tokens copy another's value
    for (let i = 0; i < Math.min(4, V - 1); i++) {
      x[b * V + Math.floor(r() * V)] = x[b * V + Math.floor(r() * V)];
    }
    if (odd && V > 4) {
      x[b * V + Math.floor(r() * V)] = -Infinity;
      x[b * V + Math.floor(r() * V)] = NaN;
    }
  }
  return x;
}

interface Case {
  readonly B: number;
  readonly V: number;
  readonly scale: number;
  readonly odd?: boolean;
}

const SHAPES: Case[] = [
  { B: 3, V: 1, scale: 1 },
  { B: 4, V: 7, scale: 2, odd: true },
  { B: 6, V: 97, scale: 3 },
  { B: 5, V: 1000, scale: 4, odd: true },
  { B: 2, V: 4099, scale: 5 },
];

const PARAMS: Omit<SamplingParams, "seed">[] = [
  { temperature: 1, topP: 1, topK: 0 },
  { temperature: 0.5, topP: 1, topK: 0 },
  { temperature: 2, topP: 1, topK: 0 },
  { temperature: 1, topP: 0.9, topK: 0 },
  { temperature: 0.5, topP: 0.9, topK: 0 },
  { temperature: 2, topP: 0.5, topK: 0 },
  { temperature: 1, topP: 1, topK: 5 },
  { temperature: 2, topP: 1, topK: 50 },
  { temperature: 1, topP: 0.9, topK: 20 },
  { temperature: 0.7, topP: 0.3, topK: 1 },
];

Deno.test("sample kernel draws the reference's ids over shapes, temperatures, top-p and top-k", async () => {
  const gpu = await testGpu();
  const sampler = await Sampler.create(gpu);
  let draws = 0, near = 0;
  const report: string[] = [];
  for (const [ci, c] of SHAPES.entries()) {
    const logits = makeLogits(100 + ci, c.B, c.V, c.scale, c.odd ?? false);
    for (const [pi, p] of PARAMS.entries()) {
      for (const seed of [0, 12345, 0xfffffffe]) {
        const s = { ...p, seed };
        const r = rng(seed + pi);
        const steps = Array.from({ length: c.B }, () => Math.floor(r() * 5000));
        const got = await sampleGpu(gpu, sampler, logits, c.V, s, steps);
        const want = sampleRef(logits, c.V, s, steps);
        assert.deepEqual(got.after, steps.map((x) => x + 1), "counters advance by one");
        for (let b = 0; b < c.B; b++) {
          draws++;
          const what = `B=${c.B} V=${c.V} ${JSON.stringify(s)} row ${b}`;
          if (nearTie(want[b])) {
            near++;
            const w = want[b];
            report.push(
              `${what}: near-tie (score gap ${w.margin.toExponential(2)}, top-p boundary ` +
                `${w.keptMargin.toExponential(2)}; GPU ${got.ids[b]}, reference ${w.id})`,
            );
            continue;
          }
          assert.equal(got.ids[b], want[b].id, `${what}: GPU drew ${got.ids[b]}`);
          // the draw is in the kept set
          const row = logits.subarray(b * c.V, (b + 1) * c.V);
          assert.ok(row[got.ids[b]] >= keptSet(row, s).threshold, `${what}: kept`);
        }
      }
    }
  }
  console.log(`${draws} draws, ${near} near-ties${near ? ": " + report.join("; ") : ""}`);
  assert.ok(near <= draws / 100, `${near} near-ties of ${draws}`);
  sampler.destroy();
});

Deno.test("sample kernel at Qwen's vocabulary (V = 151,936): top-k + top-p, the reference's ids", async () => {
  const gpu = await testGpu();
  const sampler = await Sampler.create(gpu);
  const V = 151936, B = 2;
  const logits = makeLogits(7, B, V, 3, true);
  const cases: SamplingParams[] = [
    { temperature: 0.8, topP: 0.95, topK: 40, seed: 5 },
    { temperature: 1, topP: 0.9, topK: 0, seed: 6 },
    { temperature: 1.3, topP: 1, topK: 1000, seed: 7 },
  ];
  for (const s of cases) {
    const got = await sampleGpu(gpu, sampler, logits, V, s, [3, 9]);
    const want = sampleRef(logits, V, s, [3, 9]);
    for (let b = 0; b < B; b++) {
      if (nearTie(want[b])) continue;
      assert.equal(got.ids[b], want[b].id, `${JSON.stringify(s)} row ${b}`);
    }
  }
  sampler.destroy();
});

Deno.test("sample kernel: same seed and counter, same draw; the counter moves the draw on", async () => {
  const gpu = await testGpu();
  const sampler = await Sampler.create(gpu);
  const V = 500, B = 64;
  const logits = new Float32Array(B * V); // uniform: every token equally likely
  const s: SamplingParams = { temperature: 1, topP: 1, topK: 0, seed: 42 };
  const steps = new Array(B).fill(0);
  const a = await sampleGpu(gpu, sampler, logits, V, s, steps);
  const b = await sampleGpu(gpu, sampler, logits, V, s, steps);
  assert.deepEqual(a.ids, b.ids);
  const c = await sampleGpu(gpu, sampler, logits, V, s, a.after);
  const d = await sampleGpu(gpu, sampler, logits, V, { ...s, seed: 43 }, steps);
  const same = (x: number[], y: number[]) => x.filter((v, i) => v === y[i]).length;
  // 64 rows of 500 equally likely tokens: a few coincidences at most
  assert.ok(same(a.ids, c.ids) <= 4, `step 1 repeats step 0 in ${same(a.ids, c.ids)} rows`);
  assert.ok(same(a.ids, d.ids) <= 4, `seed 43 repeats seed 42 in ${same(a.ids, d.ids)} rows`);
  assert.ok(new Set(a.ids).size > 50, "rows draw independently");
  sampler.destroy();
});

Deno.test("sample kernel: over many draws the frequencies match softmax(x / T) of the kept set", async () => {
  const gpu = await testGpu();
  const sampler = await Sampler.create(gpu);
  const base = [2, 1, 0.5, 0, -1, -3, 0.5, 1.5];
  const V = base.length, B = 2048;
  const logits = new Float32Array(B * V);
  for (let b = 0; b < B; b++) logits.set(base, b * V);
  const cases: Omit<SamplingParams, "seed">[] = [
    { temperature: 1, topP: 1, topK: 0 },
    { temperature: 0.5, topP: 1, topK: 0 },
    { temperature: 2, topP: 1, topK: 0 },
    { temperature: 1, topP: 0.8, topK: 0 },
    { temperature: 1, topP: 1, topK: 3 },
    { temperature: 2, topP: 0.7, topK: 5 },
  ];
  const lines: string[] = [];
  for (const p of cases) {
    const counts = new Array(V).fill(0);
    let n = 0;
    for (const seed of [1, 2]) {
      const { ids } = await sampleGpu(
        gpu,
        sampler,
        logits,
        V,
        { ...p, seed },
        new Array(B).fill(0),
      );
      for (const id of ids) counts[id]++;
      n += B;
    }
    const probs = samplingProbsRef(base, { ...p, seed: 0 });
    let worst = 0;
    for (let v = 0; v < V; v++) {
      const f = counts[v] / n, q = probs[v];
      if (q === 0) {
        assert.equal(counts[v], 0, `${JSON.stringify(p)}: token ${v} is outside the kept set`);
        continue;
      }
      // 5 standard deviations of a binomial frequency
      const sd = Math.sqrt((q * (1 - q)) / n);
      worst = Math.max(worst, Math.abs(f - q) / sd);
      assert.ok(
        Math.abs(f - q) <= 5 * sd,
        `${JSON.stringify(p)}: token ${v} drawn ${f.toFixed(4)} of ${n}, expected ${q.toFixed(4)}`,
      );
    }
    lines.push(`${JSON.stringify(p)} worst ${worst.toFixed(2)} sd`);
  }
  console.log(`${2 * B} draws per case: ${lines.join("; ")}`);
  sampler.destroy();
});

Deno.test("sample kernel: NaN is never drawn; a row with no finite logit draws token 0", async () => {
  const gpu = await testGpu();
  const sampler = await Sampler.create(gpu);
  const V = 5;
  const rows = [
    [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
    [NaN, NaN, NaN, NaN, NaN],
    [NaN, -Infinity, 3, NaN, 3],
    [NaN, 0, NaN, NaN, NaN],
  ];
  const logits = Float32Array.from(rows.flat());
  for (const p of PARAMS) {
    for (const seed of [1, 2, 3, 4]) {
      const s = { ...p, seed };
      const { ids } = await sampleGpu(gpu, sampler, logits, V, s, [0, 0, seed, seed]);
      const want = sampleRef(logits, V, s, [0, 0, seed, seed]).map((r) => r.id);
      assert.deepEqual(ids, want, JSON.stringify(s));
      assert.deepEqual([ids[0], ids[1], ids[3]], [0, 0, 1]);
      assert.ok(ids[2] === 2 || ids[2] === 4, `row 2 drew ${ids[2]}`);
    }
  }
  sampler.destroy();
});

Deno.test("sample kernel: bad parameters are refused naming the value", async () => {
  const gpu = await testGpu();
  const sampler = await Sampler.create(gpu);
  const logits = gpu.createBuffer("t.logits", 4 * 10);
  const ids = gpu.createBuffer("t.ids", 4);
  const steps = gpu.createBuffer("t.steps", 4);
  const ok: SamplingParams = { temperature: 1, topP: 1, topK: 0, seed: 0 };
  const cases: [Partial<SamplingParams>, RegExp][] = [
    [{ temperature: 0 }, /temperature: got 0, expected a number > 0/],
    [{ temperature: 1e-60 }, /temperature: got 1e-60/],
    [{ topP: 0 }, /topP: got 0, expected a number in \(0, 1\]/],
    [{ topP: 1.5 }, /topP: got 1.5/],
    [{ topK: 2.5 }, /topK \(0: off\): got 2.5/],
    [{ seed: -1 }, /seed: got -1, expected an integer in \[0, 4294967295\]/],
  ];
  for (const [bad, pattern] of cases) {
    assert.throws(
      () =>
        gpu.submit((pass) =>
          sampler.encode(pass, { logits, ids, steps, B: 1, V: 10, sampling: { ...ok, ...bad } })
        ),
      pattern,
    );
  }
  assert.throws(
    () =>
      gpu.submit((pass) => sampler.encode(pass, { logits, ids, steps, B: 2, V: 10, sampling: ok })),
    /sample: logits must hold \[B=2, V=10\]/,
  );
  for (const b of [logits, ids, steps]) gpu.destroy(b);
  sampler.destroy();
});

// --- through the model --------------------------------------------------------------------------

const CHECKPOINT = tinyConfig({ vocab_size: 131 });

Deno.test("sampling through a Session: each draw is the reference's on that step's logits, counter = draw number", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CHECKPOINT, { seed: 31 });
  const model = await Model.load(gpu, m.dir);
  const V = model.config.vocab, B = 2, steps = 3;
  const sampling: SamplingParams = { temperature: 1.5, topP: 0.9, topK: 20, seed: 7 };
  const s = await Session.create(model, {
    B,
    maxPrompt: 10,
    maxNewTokens: 2 + steps,
    format: "fp32",
    sampling,
  });
  const rows = gpu.createBuffer("test.rows", steps * B * V * 4);
  try {
    const prompts = [[1, 5, 9, 33, 70, 4, 8, 90, 12, 3], [1, 44, 2, 7]];
    await s.prefill(prompts);
    const check = (logits: Float32Array, ids: readonly number[], draw: number) => {
      const want = sampleRef(logits, V, sampling, [draw, draw]);
      for (let b = 0; b < B; b++) {
        if (nearTie(want[b])) continue;
        assert.equal(ids[b], want[b].id, `draw ${draw}, sequence ${b}`);
      }
    };
    const [l0, n0] = await gpu.read([{ buffer: s.logits }, { buffer: s.buf.next }]);
    check(new Float32Array(l0), [...new Uint32Array(n0)], 0);
    s.decode(1);
    const [l1, n1] = await gpu.read([{ buffer: s.logits }, { buffer: s.buf.next }]);
    check(new Float32Array(l1), [...new Uint32Array(n1)], 1);
    // several steps in one command buffer: each step's logits kept
    s.decode(steps, { logits: rows });
    const [raw] = await gpu.read([{ buffer: rows }]);
    const all = new Float32Array(raw);
    const ids = await s.readIds(2);
    for (let i = 0; i < steps; i++) {
      check(all.subarray(i * B * V, (i + 1) * B * V), ids.map((x) => x[i]), 2 + i);
    }
  } finally {
    gpu.destroy(rows);
    s.destroy();
  }
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("generate: temperature 0 is greedy; top-k 1 draws the argmax; a seed reproduces a run", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CHECKPOINT, { seed: 32 });
  const model = await Model.load(gpu, m.dir);
  const ps = [[1, 5, 9, 33, 70, 4, 8, 90], [1, 44, 2, 7, 19, 100, 3, 60]];
  const o: GenerateOptions = { maxNewTokens: 8, stopAtEos: false, readEvery: 3 };
  const greedy = await generate(model, ps, o);
  assert.equal(greedy.sampling, undefined);
  assert.deepEqual((await generate(model, ps, { ...o, temperature: 0 })).ids, greedy.ids);
  const top1 = await generate(model, ps, { ...o, temperature: 1, topK: 1, seed: 9 });
  assert.deepEqual(top1.ids, greedy.ids, "top-k 1 keeps only the argmax");
  assert.deepEqual(top1.sampling, { temperature: 1, topP: 1, topK: 1, seed: 9 });
  const a = await generate(model, ps, { ...o, temperature: 2, seed: 1 });
  const b = await generate(model, ps, { ...o, temperature: 2, seed: 1 });
  const c = await generate(model, ps, { ...o, temperature: 2, seed: 2 });
  assert.deepEqual(a.ids, b.ids, "same seed, same tokens");
  assert.notDeepEqual(a.ids, c.ids, "another seed, other tokens");
  assert.notDeepEqual(a.ids, greedy.ids, "temperature 2 is not greedy");
  const bad: [GenerateOptions, RegExp][] = [
    [{ ...o, topP: 0.9 }, /topP 0.9: needs temperature > 0 \(sampling\); temperature absent/],
    [{ ...o, temperature: 0, seed: 3 }, /seed 3: needs temperature > 0/],
    [
      { ...o, temperature: -1 },
      /temperature: got -1, expected 0 \(greedy\) or a number in \[0.001, 1000\]/,
    ],
    [{ ...o, temperature: 1, topP: 0 }, /topP: got 0, expected a number in \(0, 1\]/],
    [{ ...o, temperature: 1, topK: 0 }, /topK: got 0, expected an integer in \[1, 16777216\]/],
    [{ ...o, temperature: 1, seed: 2 ** 32 }, /seed: got 4294967296, expected an integer/],
  ];
  for (const [opts, pattern] of bad) {
    await assert.rejects(() => generate(model, ps, opts), (e: Error) => {
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  }
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

async function cli(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await run(
    args,
    { out: (l) => out.push(l), err: (l) => err.push(l) },
    await testGpu(),
  );
  return { code, out, err };
}

Deno.test("generate CLI: --temperature --top-p --top-k --seed draw reproducibly; bad values exit 2", async () => {
  const base = ["--model", "shape:tiny", "--prompt-tokens", "12", "--max-new-tokens", "4"];
  const flags = ["--temperature", "0.8", "--top-p", "0.9", "--top-k", "40", "--seed", "3"];
  const a = await cli([...base, ...flags, "--json"]);
  assert.equal(a.code, 0, a.err.join("\n"));
  const j = JSON.parse(a.out[0]);
  assert.deepEqual(j.sampling, { temperature: 0.8, topP: 0.9, topK: 40, seed: 3 });
  assert.equal(j.newTokens, 4);
  const again = JSON.parse((await cli([...base, ...flags, "--json"])).out[0]);
  assert.deepEqual(again.ids, j.ids);
  const greedy = JSON.parse((await cli([...base, "--json"])).out[0]);
  assert.equal(greedy.sampling, null);
  assert.deepEqual(parseCli([...base]).sampling, {
    temperature: undefined,
    topP: undefined,
    topK: undefined,
    seed: undefined,
  });
  const cases: [string[], RegExp][] = [
    [["--top-p", "0.9"], /--top-p 0.9: needs --temperature > 0 \(sampling\)/],
    [["--seed", "4"], /--seed 4: needs --temperature > 0/],
    [["--temperature", "abc"], /--temperature: got "abc", expected a number/],
    [
      ["--temperature", "2000"],
      /--temperature: got 2000, expected 0 \(greedy\) or a number in \[0.001, 1000\]/,
    ],
    [["--temperature", "1", "--top-p", "1.5"], /--top-p: got 1.5, expected a number in \(0, 1\]/],
    [["--temperature", "1", "--top-k", "2.5"], /--top-k: got 2.5, expected an integer in \[1, /],
    [["--temperature", "1", "--seed=-3"], /--seed: got -3, expected an integer in \[0, 2\^32/],
  ];
  for (const [args, pattern] of cases) {
    const r = await cli([...base, ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: exit code (${r.err.join(" | ")})`);
    assert.match(r.err[0], pattern);
    assert.match(r.err[0], /^kvlab generate: /);
    assert.deepEqual(r.out, []);
  }
});
