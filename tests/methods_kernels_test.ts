// The compression-method kernels (engine/methods/*.wgsl) against their references
// (engine/reference/methods.ts) on seeded random inputs: window attention scores (GQA 1 to 16,
// one or two workgroups per KV head, several tiles per split, a window as long as the prompt),
// key norms, seeded random scores (bit for bit), the top-k selection (bit for bit: ties, ±0,
// infinities, forced ranges, take 0, T up to 70K, rows not a multiple of the workgroup) and the
// gather (bit for bit).

import assert from "node:assert/strict";
import { Gather } from "../engine/methods/gather.ts";
import { KeyNormScores } from "../engine/methods/key_norm.ts";
import type { LayerInput, LayerShape } from "../engine/methods/method.ts";
import { RandomScores } from "../engine/methods/random_scores.ts";
import { TopK } from "../engine/methods/topk.ts";
import { headsPerWorkgroup, WindowScores } from "../engine/methods/window_scores.ts";
import {
  gatherRef,
  keyNormScoresRef,
  randomScoresRef,
  selectKeptRef,
  windowScoresRef,
} from "../engine/reference/methods.ts";
import { randn, rng } from "../engine/reference/random.ts";
import { assertClose, assertExact, testGpu } from "./helpers.ts";

/** Uploads k (and qw), records `encode` into one pass, reads scores [B, Hkv, T] back. */
async function runScorer(
  shape: LayerShape,
  host: { k: Float32Array; qw?: Float32Array },
  scorer: {
    encode(p: GPUComputePassEncoder, i: LayerInput, s: GPUBuffer): GPUBuffer[];
  },
  layer = 0,
): Promise<Float32Array> {
  const gpu = await testGpu();
  const k = gpu.upload("test.k", host.k);
  const qw = host.qw ? gpu.upload("test.qw", host.qw) : undefined;
  const scores = gpu.createBuffer("test.scores", shape.B * shape.Hkv * shape.T * 4);
  const temps: GPUBuffer[] = [];
  gpu.submit((pass) => temps.push(...scorer.encode(pass, { shape, k, v: k, qw, layer }, scores)));
  const [got] = await gpu.read([{ buffer: scores }]);
  for (const b of [k, scores, ...temps, ...(qw ? [qw] : [])]) gpu.destroy(b);
  return new Float32Array(got);
}

// --- window scores ----------------------------------------------------------------------------

interface WindowCase {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  WQ: number;
  window: number;
  kernel: number;
  scale?: number;
}

const WINDOW_CASES: WindowCase[] = [
  { B: 1, T: 40, H: 2, Hkv: 2, D: 32, WQ: 8, window: 8, kernel: 7 },
  { B: 2, T: 150, H: 8, Hkv: 2, D: 64, WQ: 32, window: 32, kernel: 7 },
  // G = 12, a window shorter than the rows given (the last 13 of 20), kernel 5, D not a 32-multiple
  { B: 1, T: 77, H: 12, Hkv: 1, D: 20, WQ: 20, window: 13, kernel: 5, scale: 0.3 },
  // G = 16 with window 32: two workgroups per KV head (GS = 8); no pooling
  { B: 1, T: 300, H: 16, Hkv: 1, D: 32, WQ: 32, window: 32, kernel: 1 },
  // the window is the whole prompt: no prefix, every score 0
  { B: 2, T: 8, H: 4, Hkv: 2, D: 32, WQ: 8, window: 8, kernel: 7 },
  // 1000 keys: 32 splits of 4 tiles, the last tile part-filled; a wide pooling kernel
  { B: 4, T: 1000, H: 8, Hkv: 4, D: 32, WQ: 32, window: 32, kernel: 31 },
];

for (const c of WINDOW_CASES) {
  const name = `window scores B=${c.B} T=${c.T} H=${c.H} Hkv=${c.Hkv} D=${c.D} ` +
    `window ${c.window} of ${c.WQ} kernel ${c.kernel}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const seed = c.T * 7 + c.H;
    const k = randn(seed, c.B * c.T * c.Hkv * c.D);
    const qw = randn(seed + 1, c.B * c.WQ * c.H * c.D, 1.5);
    const shape = { B: c.B, T: c.T, H: c.H, Hkv: c.Hkv, D: c.D, W: c.WQ, scale: c.scale };
    const scorer = await WindowScores.create(gpu, shape, { window: c.window, kernel: c.kernel });
    const got = await runScorer(shape, { k, qw }, scorer);
    const want = windowScoresRef(qw, k, { ...shape, WQ: c.WQ }, c);
    assertClose(got, want, { atol: 1e-6, rtol: 1e-4, label: name });
    // the scores are softmax mass: each query head's window sums to ≤ window, pooling only grows it
    assert.ok(want.some((x) => x > 0) || c.T === c.window);
  });
}

Deno.test("window scores: heads per workgroup and shape errors", async () => {
  assert.equal(headsPerWorkgroup(4, 32), 4);
  assert.equal(headsPerWorkgroup(16, 32), 8);
  assert.equal(headsPerWorkgroup(12, 13), 12);
  assert.equal(headsPerWorkgroup(7, 64), 1);
  assert.equal(headsPerWorkgroup(8, 256), 1);
  const gpu = await testGpu();
  const heads = { H: 4, Hkv: 2, D: 32 };
  await assert.rejects(
    () => WindowScores.create(gpu, heads, { window: -1, kernel: 7 }),
    /window \(query rows scored\): got -1, expected an integer in \[1, 256\]/,
  );
  await assert.rejects(
    () => WindowScores.create(gpu, heads, { window: 8, kernel: 4 }),
    /kernel \(pooling\): got 4, expected odd/,
  );
  const scorer = await WindowScores.create(gpu, heads, { window: 8, kernel: 7 });
  const k = gpu.createBuffer("k", 4 * 20 * 2 * 32);
  assert.throws(
    () =>
      gpu.submit((pass) =>
        scorer.encode(pass, { shape: { ...heads, B: 1, T: 20, W: 4 }, k, v: k, qw: k }, k)
      ),
    /window: 8 query rows are scored, the layer input gives W=4 rows of qw/,
  );
  assert.throws(
    () =>
      gpu.submit((pass) =>
        scorer.encode(pass, { shape: { B: 1, T: 20, H: 8, Hkv: 2, D: 32, W: 8 }, k, v: k }, k)
      ),
    /layer shape: H=8 differs from the H=4 the kernels were built for/,
  );
  gpu.destroy(k);
});

// --- key norm, random ---------------------------------------------------------------------------

for (const c of [{ B: 1, T: 5, Hkv: 1, D: 4 }, { B: 3, T: 130, Hkv: 2, D: 64 }]) {
  Deno.test(`key norm scores B=${c.B} T=${c.T} Hkv=${c.Hkv} D=${c.D}`, async () => {
    const gpu = await testGpu();
    const shape = { ...c, H: c.Hkv };
    const k = randn(c.T + c.D, c.B * c.T * c.Hkv * c.D, 3);
    const got = await runScorer(shape, { k }, await KeyNormScores.create(gpu, shape));
    assertClose(got, keyNormScoresRef(k, c), { atol: 0, rtol: 2e-6, label: "knorm" });
  });
}

Deno.test("random scores equal the reference bit for bit; seed and layer change them", async () => {
  const gpu = await testGpu();
  const shape = { B: 2, T: 333, H: 3, Hkv: 3, D: 4 };
  const k = new Float32Array(shape.B * shape.T * shape.Hkv * shape.D);
  const sets: Float32Array[] = [];
  for (const [seed, layer] of [[0, 0], [7, 0], [7, 3], [0xffffffff, 31]]) {
    const got = await runScorer(shape, { k }, await RandomScores.create(gpu, seed), layer);
    assertExact(got, randomScoresRef(shape, seed, layer), `random seed ${seed} layer ${layer}`);
    assert.ok(got.every((x) => x >= 0 && x < 1));
    sets.push(got);
  }
  for (let i = 1; i < sets.length; i++) assert.notDeepEqual(sets[i], sets[i - 1]);
  await assert.rejects(() => RandomScores.create(gpu, -1), /seed: got -1/);
});

// --- top-k --------------------------------------------------------------------------------------

interface TopkCase {
  name: string;
  B: number;
  Hkv: number;
  T: number;
  budget: number;
  sinks: number;
  recent: number;
  scores: (n: number, seed: number) => Float32Array;
}

const gaussian = (n: number, seed: number) => randn(seed, n);
/** Few distinct values: long runs of ties at the threshold. */
const coarse = (n: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.floor(r() * 5) - 2);
};
const special = (n: number, seed: number) => {
  const r = rng(seed);
  const pool = [0, -0, 1, -1, Infinity, -Infinity, 1e-40, -1e-40, 3.5, 3.5000002];
  return Float32Array.from({ length: n }, () => pool[Math.floor(r() * pool.length)]);
};

const TOPK_CASES: TopkCase[] = [
  { name: "gaussian", B: 2, Hkv: 3, T: 1000, budget: 100, sinks: 0, recent: 0, scores: gaussian },
  {
    name: "sinks+recent",
    B: 1,
    Hkv: 2,
    T: 300,
    budget: 60,
    sinks: 4,
    recent: 32,
    scores: gaussian,
  },
  { name: "ties", B: 2, Hkv: 2, T: 777, budget: 301, sinks: 1, recent: 5, scores: coarse },
  {
    name: "all equal",
    B: 1,
    Hkv: 1,
    T: 257,
    budget: 50,
    sinks: 0,
    recent: 0,
    scores: (n) => new Float32Array(n),
  },
  {
    name: "±0, ±inf, denormals",
    B: 1,
    Hkv: 4,
    T: 511,
    budget: 200,
    sinks: 2,
    recent: 2,
    scores: special,
  },
  {
    name: "forced only (take 0)",
    B: 2,
    Hkv: 1,
    T: 90,
    budget: 40,
    sinks: 4,
    recent: 36,
    scores: gaussian,
  },
  { name: "budget = T", B: 1, Hkv: 2, T: 100, budget: 100, sinks: 4, recent: 10, scores: gaussian },
  {
    name: "overlapping forced",
    B: 1,
    Hkv: 1,
    T: 10,
    budget: 10,
    sinks: 8,
    recent: 8,
    scores: gaussian,
  },
  { name: "T = 1", B: 3, Hkv: 1, T: 1, budget: 1, sinks: 0, recent: 0, scores: gaussian },
  {
    name: "70K tokens",
    B: 1,
    Hkv: 2,
    T: 70001,
    budget: 9000,
    sinks: 4,
    recent: 64,
    scores: coarse,
  },
];

for (const c of TOPK_CASES) {
  const name = `topk ${c.name}: B=${c.B} Hkv=${c.Hkv} T=${c.T} budget ${c.budget} ` +
    `sinks ${c.sinks} recent ${c.recent}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const topk = await TopK.create(gpu);
    const scores = c.scores(c.B * c.Hkv * c.T, c.T + c.budget);
    const sb = gpu.upload("test.scores", scores);
    const kept = gpu.createBuffer("test.kept", c.B * c.Hkv * c.budget * 4);
    const forced = { sinks: c.sinks, recent: c.recent };
    const temps: GPUBuffer[] = [];
    gpu.submit((pass) => temps.push(...topk.encode(pass, c, sb, kept, c.budget, forced)));
    const [got] = await gpu.read([{ buffer: kept }]);
    assertExact(new Uint32Array(got), selectKeptRef(scores, c, c.budget, forced), name);
    for (const b of [sb, kept, ...temps]) gpu.destroy(b);
  });
}

Deno.test("topk: budgets and forced ranges are validated", async () => {
  const gpu = await testGpu();
  const topk = await TopK.create(gpu);
  const b = gpu.createBuffer("x", 4 * 100);
  const shape = { B: 1, Hkv: 1, T: 100 };
  const enc = (budget: number, sinks = 0, recent = 0) => () =>
    gpu.submit((pass) => topk.encode(pass, shape, b, b, budget, { sinks, recent }));
  assert.throws(enc(0), /budget \(tokens kept\): got 0, expected an integer in \[1, 100\]/);
  assert.throws(enc(101), /budget \(tokens kept\): got 101/);
  assert.throws(enc(10, 4, 8), /budget of 10 tokens cannot hold the 12 tokens it always keeps/);
  assert.throws(enc(10, 0, -1), /forced recent tokens: got -1/);
  gpu.destroy(b);
});

// --- gather -------------------------------------------------------------------------------------

for (const c of [{ B: 1, T: 9, Hkv: 1, D: 4, K: 3 }, { B: 2, T: 300, Hkv: 3, D: 64, K: 123 }]) {
  Deno.test(`gather B=${c.B} T=${c.T} Hkv=${c.Hkv} D=${c.D} K=${c.K}`, async () => {
    const gpu = await testGpu();
    const k = randn(c.T, c.B * c.T * c.Hkv * c.D);
    const v = randn(c.T + 1, c.B * c.T * c.Hkv * c.D);
    // any positions per (b, hk): a seeded top-k of random scores
    const kept = selectKeptRef(randn(c.K, c.B * c.Hkv * c.T), c, c.K, { sinks: 0, recent: 0 });
    const gather = await Gather.create(gpu, c.Hkv, c.D);
    const bufs = [gpu.upload("kept", kept), gpu.upload("k", k), gpu.upload("v", v)];
    const outs = [0, 1].map(() => gpu.createBuffer("out", c.B * c.K * c.Hkv * c.D * 4));
    const temps: GPUBuffer[] = [];
    gpu.submit((pass) =>
      temps.push(...gather.encode(pass, c, bufs[0], bufs[1], bufs[2], outs[0], outs[1]))
    );
    const [gk, gv] = await gpu.read(outs.map((buffer) => ({ buffer })));
    assertExact(new Float32Array(gk), gatherRef(k, kept, c), "gathered k");
    assertExact(new Float32Array(gv), gatherRef(v, kept, c), "gathered v");
    for (const b of [...bufs, ...outs, ...temps]) gpu.destroy(b);
  });
}
