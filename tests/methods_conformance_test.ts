// The conformance suite: every registered compression method (engine/methods/registry.ts) runs
// the same checks on one seeded layer —
//   the budget is honoured exactly (ratio and absolute; per-layer for pyramidkv), with capacity
//   budget + room; the forced tokens (sinks, windows) are kept; the kept set equals the top
//   scores (GPU selection = reference selection on the GPU's scores, bit for bit; GPU scores =
//   the method's reference scores; kept set = a top set of the reference scores); decode
//   attention over the compressed cache equals attention over the kept tokens, and full
//   attention when the budget is the whole prompt; runs are deterministic for a seed;
//   composition with every cache format stores the same kept set in fewer bytes than the full
//   cache; bad inputs get errors naming the value.
// Adding a method: add its entry to CONFORMANCE below (the suite fails until it exists).

import assert from "node:assert/strict";
import { createCache, formatNames } from "../engine/cache/registry.ts";
import { DecodeAttention } from "../engine/kernels/decode_attention.ts";
import { resolveBudget } from "../engine/methods/budget.ts";
import { type CompressOptions, Compressor } from "../engine/methods/compress.ts";
import type { Forced, HostLayer, LayerInput, Params } from "../engine/methods/method.ts";
import { pyramidBudget } from "../engine/methods/pyramidkv.ts";
import { getMethod, METHODS } from "../engine/methods/registry.ts";
import { decodeAttentionRef } from "../engine/reference/attention.ts";
import { gatherRef, selectKeptRef } from "../engine/reference/methods.ts";
import { randn } from "../engine/reference/random.ts";
import { assertClose, assertExact, testGpu } from "./helpers.ts";

// --- the conformance entries -------------------------------------------------------------------

interface ConformanceEntry {
  /** Parameters the suite runs with (on top of the defaults). */
  readonly params?: Params;
  /** The tokens the method must keep whatever the scores, stated independently of its hooks. */
  forced(T: number, budget: number): Forced;
  /** The layer budget for an average budget (default: the average). */
  budget?(average: number, T: number, layer: number, numLayers: number): number;
}

const WINDOW = 16; // snapkv/pyramidkv run with a 16-token window here (default 32)

const CONFORMANCE: Record<string, ConformanceEntry> = {
  streaming_llm: { forced: (_T, budget) => ({ sinks: 4, recent: budget - 4 }) },
  snapkv: { params: { window: WINDOW }, forced: () => ({ sinks: 0, recent: WINDOW }) },
  pyramidkv: {
    params: { window: WINDOW },
    forced: () => ({ sinks: 0, recent: WINDOW }),
    budget: (average, T, layer, numLayers) =>
      pyramidBudget(layer, numLayers, average, { T, window: WINDOW, beta: 20 }),
  },
  knorm: { forced: () => ({ sinks: 0, recent: 0 }) },
  random: { params: { seed: 5 }, forced: () => ({ sinks: 0, recent: 0 }) },
};

Deno.test("conformance: every registered method has an entry, and every entry a method", () => {
  assert.deepEqual(
    Object.keys(CONFORMANCE).sort(),
    METHODS.map((m) => m.name).sort(),
  );
});

// --- one seeded layer --------------------------------------------------------------------------

const B = 2, H = 8, Hkv = 2, D = 32, W = 32;
/** Layer 1 of 4, so per-layer budgets differ from the average. */
const LAYER = 1, LAYERS = 4;

interface Layer {
  readonly host: HostLayer;
  readonly input: LayerInput;
  readonly q: Float32Array; // a fresh decode query [B, H, D]
  destroy(): void;
}

async function layer(T: number, seed: number): Promise<Layer> {
  const gpu = await testGpu();
  const shape = { B, T, H, Hkv, D, W };
  const k = randn(seed, B * T * Hkv * D);
  // keys of varied norms, so knorm has something to choose
  for (let i = 0; i < B * T * Hkv; i++) {
    const s = 0.5 + ((i * 7919) % 13) / 8;
    for (let d = 0; d < D; d++) k[i * D + d] *= s;
  }
  const v = randn(seed + 1, B * T * Hkv * D);
  const qw = randn(seed + 2, B * W * H * D, 2);
  const q = randn(seed + 3, B * H * D, 2);
  const bufs = [gpu.upload("test.k", k), gpu.upload("test.v", v), gpu.upload("test.qw", qw)];
  return {
    host: { shape, k, v, qw, layer: LAYER, numLayers: LAYERS },
    input: { shape, k: bufs[0], v: bufs[1], qw: bufs[2], layer: LAYER, numLayers: LAYERS },
    q,
    destroy: () => bufs.forEach((b) => gpu.destroy(b)),
  };
}

/** Decode attention of q over a cache; out [B, H, D]. */
async function attend(cache: import("../engine/cache/format.ts").KvCache, q: Float32Array) {
  const gpu = await testGpu();
  const attn = await DecodeAttention.create(gpu, cache, { H });
  const qb = gpu.upload("test.q", q);
  const ob = gpu.createBuffer("test.out", B * H * D * 4);
  gpu.submit((pass) => attn.encode(pass, qb, ob));
  const [out] = await gpu.read([{ buffer: ob }]);
  gpu.destroy(qb);
  gpu.destroy(ob);
  attn.destroy();
  return new Float32Array(out);
}

interface Run {
  readonly budget: number;
  readonly forced: Forced;
  readonly scores: Float32Array;
  readonly kept: Uint32Array;
  readonly out: Float32Array;
  readonly bytes: number;
  readonly lengths: readonly number[];
}

/** Compresses, reads scores and kept back once, attends with the layer's q. */
async function run(l: Layer, o: CompressOptions): Promise<Run> {
  const gpu = await testGpu();
  const c = Compressor.create(gpu, { ...o, inspect: true });
  const r = await c.compress(l.input);
  const [scores, kept] = await gpu.read([{ buffer: r.scores! }, { buffer: r.kept! }]);
  const out = await attend(r.cache, l.q);
  const result = {
    budget: r.budget,
    forced: r.forced,
    scores: new Float32Array(scores),
    kept: new Uint32Array(kept),
    out,
    bytes: r.cache.bytes(),
    lengths: [...r.cache.lengths],
  };
  gpu.destroy(r.scores!);
  gpu.destroy(r.kept!);
  r.cache.destroy();
  return result;
}

function rows(kept: Uint32Array, K: number): Uint32Array[] {
  return Array.from({ length: kept.length / K }, (_, r) => kept.subarray(r * K, (r + 1) * K));
}

// --- the suite, per method ---------------------------------------------------------------------

for (const info of METHODS) {
  const entry = CONFORMANCE[info.name];
  if (!entry) continue; // the entry test above fails
  const name = info.name;
  const params = entry.params ?? {};
  const expectBudget = (T: number, average: number) =>
    entry.budget?.(average, T, LAYER, LAYERS) ?? average;

  for (const budget of [{ budgetTokens: 60 }, { ratio: 4 }] as const) {
    const what = "ratio" in budget ? `ratio ${budget.ratio}` : `${budget.budgetTokens} tokens`;
    Deno.test(`${name}: budget (${what}) honoured, forced tokens kept, kept set = top scores`, async () => {
      const T = 150;
      const l = await layer(T, 100);
      const r = await run(l, { method: `${name}+fp32`, params, budget });
      const K = expectBudget(T, resolveBudget(budget, T));
      assert.equal(r.budget, K, "this layer's budget");
      assert.deepEqual(r.lengths, [K, K], "the cache holds exactly the budget");
      const forced = entry.forced(T, K);
      assert.deepEqual(r.forced, forced, "forced tokens as specified");
      for (const [i, row] of rows(r.kept, K).entries()) {
        for (let t = 1; t < K; t++) assert.ok(row[t] > row[t - 1], `row ${i}: ascending, distinct`);
        assert.ok(row[K - 1] < T, `row ${i}: positions < T`);
        for (let j = 0; j < T; j++) {
          if (j < forced.sinks || j >= T - forced.recent) {
            assert.ok(row.includes(j), `row ${i}: forced position ${j} kept`);
          }
        }
      }
      // selection on the GPU = the reference selection on the GPU's scores, bit for bit
      assertExact(r.kept, selectKeptRef(r.scores, { B, Hkv, T }, K, forced), `${name} kept`);
      // the GPU's scores = the method's reference scores (when anything is chosen by score)
      const nForced = Math.min(T, forced.sinks + forced.recent);
      if (info.scoreRef && K > nForced) {
        const want = info.scoreRef(getResolved(name, params), l.host);
        assertClose(r.scores, want, { atol: 1e-6, rtol: 1e-4, label: `${name} scores` });
        // the kept set is a top set of the reference scores (up to float noise at the boundary)
        for (const [i, row] of rows(r.kept, K).entries()) {
          let minKept = Infinity, maxDropped = -Infinity;
          for (let j = forced.sinks; j < T - forced.recent; j++) {
            const s = want[i * T + j];
            if (row.includes(j)) minKept = Math.min(minKept, s);
            else maxDropped = Math.max(maxDropped, s);
          }
          assert.ok(
            minKept >= maxDropped - 1e-5 * Math.max(1, Math.abs(maxDropped)),
            `row ${i}: lowest kept score ${minKept} ≥ highest dropped ${maxDropped}`,
          );
        }
      }
      // decode over the compressed cache = attention over exactly the kept tokens
      const shape = { B, T, Hkv, D, K };
      const want = decodeAttentionRef(
        l.q,
        gatherRef(l.host.k, r.kept, shape),
        gatherRef(l.host.v, r.kept, shape),
        [K, K],
        { B, T: K, H, Hkv, D },
      );
      assertClose(r.out, want, { atol: 2e-5, rtol: 1e-4, label: `${name} decode over kept` });
      l.destroy();
    });
  }

  Deno.test(`${name}: a budget of the whole prompt gives full attention`, async () => {
    const T = 90;
    const l = await layer(T, 200);
    const full = decodeAttentionRef(l.q, l.host.k, l.host.v, [T, T], { B, T, H, Hkv, D });
    for (const budget of [{ budgetTokens: T }, { ratio: 1 }]) {
      const r = await run(l, { method: `${name}+fp32`, params, budget });
      assert.equal(r.budget, T);
      assertExact(r.kept, Uint32Array.from({ length: B * Hkv * T }, (_, i) => i % T), "all kept");
      assertClose(r.out, full, { atol: 2e-5, rtol: 1e-4, label: `${name} = full attention` });
    }
    l.destroy();
  });

  Deno.test(`${name}: deterministic for a seed; capacity = budget + room`, async () => {
    const gpu = await testGpu();
    const T = 120;
    const l = await layer(T, 300);
    const o = { method: name, params, budget: { budgetTokens: 50 } };
    const a = await run(l, o);
    const b = await run(l, o);
    assertExact(b.kept, a.kept, `${name} kept, second run`);
    assertExact(b.out, a.out, `${name} output, second run`);
    if (name === "random") {
      const c = await run(l, { ...o, params: { seed: 6 } });
      assert.notDeepEqual(c.kept, a.kept, "another seed keeps another set");
    }
    // capacity: room for exactly `room` decode tokens after the kept ones
    const r = await Compressor.create(gpu, { ...o, room: 2 }).compress(l.input);
    assert.equal(r.cache.shape.capacity, r.budget + 2);
    const one = gpu.createBuffer("test.one", B * Hkv * D * 4);
    gpu.submit((pass) => r.cache.append(pass, one, one, 1));
    gpu.submit((pass) => r.cache.append(pass, one, one, 1));
    assert.throws(
      () => gpu.submit((pass) => r.cache.append(pass, one, one, 1)),
      new RegExp(`would hold ${r.budget + 3} tokens, more than its capacity ${r.budget + 2}`),
    );
    await gpu.device.queue.onSubmittedWorkDone();
    gpu.destroy(one);
    r.cache.destroy();
    l.destroy();
  });

  Deno.test(`${name}: composes with every cache format in fewer bytes`, async () => {
    const gpu = await testGpu();
    const T = 300; // ratio 2 keeps 150: KIVI quantizes 128 of them
    // one layer of one (pyramidkv = snapkv's budget): every method's caches then share their
    // capacity, so their pipelines compile once for the whole suite
    const l0 = await layer(T, 400);
    const l = { ...l0, input: { ...l0.input, layer: 0, numLayers: 1 } };
    let kept: Uint32Array | undefined;
    for (const format of formatNames()) {
      const r = await run(l, { method: `${name}+${format}`, params, budget: { ratio: 2 } });
      const K = r.budget;
      if (kept) assertExact(r.kept, kept, `${name}+${format}: the same kept set as fp32`);
      kept ??= r.kept;
      assert.deepEqual(r.lengths, [K, K]);
      const full = await createCache(gpu, format, { B, Hkv, D, capacity: T });
      assert.ok(r.bytes < full.bytes(), `${format}: ${r.bytes} bytes < full ${full.bytes()}`);
      full.destroy();
      // the same format filled directly with the kept tokens attends identically
      const shape = { B, T, Hkv, D, K };
      const direct = await createCache(gpu, format, { B, Hkv, D, capacity: K });
      const kb = gpu.upload("test.kk", gatherRef(l.host.k, r.kept, shape));
      const vb = gpu.upload("test.vk", gatherRef(l.host.v, r.kept, shape));
      gpu.submit((pass) => direct.append(pass, kb, vb, K));
      assertExact(r.out, await attend(direct, l.q), `${name}+${format}: decode output`);
      for (const b of [kb, vb]) gpu.destroy(b);
      direct.destroy();
    }
    l.destroy();
  });

  Deno.test(`${name}: bad inputs get errors naming the value`, async () => {
    const gpu = await testGpu();
    const T = 64;
    const l = await layer(T, 500);
    const make = (o: Partial<CompressOptions>) =>
      Compressor.create(gpu, { method: name, params, budget: { budgetTokens: 40 }, ...o });
    assert.throws(() => make({ budget: { budgetTokens: 0 } }), /budgetTokens: got 0/);
    assert.throws(() => make({ budget: { ratio: 0.5 } }), /ratio: got 0.5/);
    assert.throws(() => make({ room: -1 }), /room \(decode tokens\): got -1/);
    assert.throws(() => make({ method: `${name}+fp8` }), /unknown cache format "fp8"/);
    assert.throws(() => make({ params: { nonsense: 1 } }), /unknown parameter "nonsense"/);
    await assert.rejects(
      () => make({ budget: { budgetTokens: T + 1 } }).compress(l.input),
      /budgetTokens: got 65, expected an integer in \[1, 64\] \(the prompt has T=64 tokens\)/,
    );
    await assert.rejects(
      () => make({}).compress({ ...l.input, layer: 4 }),
      /layer: got 4, expected an integer in \[0, 3\]/,
    );
    const short = gpu.createBuffer("test.short", 16);
    await assert.rejects(
      () => make({}).compress({ ...l.input, k: short }),
      /k \[B, T, Hkv, D\]: expected \[2, 64, 2, 32\] f32 = 32768 bytes, the buffer holds 16/,
    );
    gpu.destroy(short);
    if (info.queries(getResolved(name, params)) > 0) {
      await assert.rejects(
        () => make({}).compress({ ...l.input, qw: undefined }),
        new RegExp(`${name} scores with the prompt's last ${WINDOW} queries: .* got no qw`),
      );
      await assert.rejects(
        () =>
          make({ budget: { budgetTokens: 8 } }).compress({ ...l.input, layer: 0, numLayers: 1 }),
        /a budget of 8 tokens cannot hold the 16 tokens it always keeps|got 8, expected an integer in \[16, 64\]/,
      );
      assert.throws(() => make({ params: { window: -1 } }), new RegExp(`${name} window: got -1`));
    }
    if (name === "streaming_llm") {
      await assert.rejects(
        () => make({ budget: { budgetTokens: 3 } }).compress(l.input),
        /streaming_llm: 4 sink tokens do not fit a budget of 3 tokens/,
      );
    }
    l.destroy();
  });
}

function getResolved(name: string, params: Params): Params {
  return {
    ...Object.fromEntries(getMethod(name).params.map((p) => [p.name, p.default])),
    ...params,
  };
}

Deno.test("conformance: unknown methods and composition parts are named", async () => {
  const gpu = await testGpu();
  assert.throws(
    () => Compressor.create(gpu, { method: "h2o", budget: { ratio: 2 } }),
    /unknown method "h2o" in "h2o"; expected one of streaming_llm, snapkv/,
  );
  assert.throws(
    () => Compressor.create(gpu, { method: "snapkv+kivi3", budget: { ratio: 2 } }),
    /unknown cache format "kivi3" in "snapkv\+kivi3"/,
  );
  const c = Compressor.create(gpu, { method: "snapkv", budget: { ratio: 4 } });
  assert.equal(c.name, "snapkv+fp16");
  assert.deepEqual(c.describe(), {
    method: "snapkv",
    format: "fp16",
    params: { window: 32, kernel: 7 },
    ratio: 4,
  });
});
