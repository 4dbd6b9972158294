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
// Decode-time eviction (DecodeEvictor) has its own section at the end, for every method with a
// decode rule.
// Adding a method: add its entry to CONFORMANCE below, and to DECODE if it has a decode rule
// (the suite fails until they exist).

import assert from "node:assert/strict";
import { createCache, formatNames, slotFormatNames } from "../engine/cache/registry.ts";
import { DecodeAttention } from "../engine/kernels/decode_attention.ts";
import { resolveBudget } from "../engine/methods/budget.ts";
import { type CompressOptions, Compressor } from "../engine/methods/compress.ts";
import { DecodeEvictor, type EvictorOptions, NO_EVICTION } from "../engine/methods/evict.ts";
import type { Forced, HostLayer, LayerInput, Params } from "../engine/methods/method.ts";
import { pyramidBudget } from "../engine/methods/pyramidkv.ts";
import { getMethod, METHODS } from "../engine/methods/registry.ts";
import { decodeAttentionRef } from "../engine/reference/attention.ts";
import {
  EvictorRef,
  gatherRef,
  selectKeptRef,
  storedTokenRef,
} from "../engine/reference/methods.ts";
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
  h2o: { forced: (_T, budget) => ({ sinks: 0, recent: Math.floor(budget / 2) }) },
  tova: { forced: () => ({ sinks: 0, recent: 0 }) },
};

Deno.test("conformance: every registered method has an entry, and every entry a method", () => {
  // sparse methods (quest) compress nothing: their own suite is tests/methods_<name>_test.ts
  assert.deepEqual(
    Object.keys(CONFORMANCE).sort(),
    METHODS.filter((m) => m.mode !== "sparse").map((m) => m.name).sort(),
  );
  for (const m of METHODS.filter((m) => m.mode === "sparse")) {
    assert.ok(Deno.statSync(new URL(`./methods_${m.name}_test.ts`, import.meta.url)).isFile);
  }
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
      if (info.formats && !info.formats.includes(format)) {
        // decode-time methods overwrite single tokens: KIVI's 32-token key groups cannot
        assert.throws(
          () => Compressor.create(gpu, { method: `${name}+${format}`, budget: { ratio: 2 } }),
          new RegExp(
            `${name} cannot be stored as ${format} \\(in "${name}\\+${format}"\\); it combines ` +
              `with fp32, fp16, int8, int4`,
          ),
        );
        continue;
      }
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
    const queries = info.queries(getResolved(name, params));
    if (queries > 0) {
      await assert.rejects(
        () => make({}).compress({ ...l.input, qw: undefined }),
        new RegExp(`${name} scores with the prompt's last ${queries} queries: .* got no qw`),
      );
    }
    if (info.params.some((p) => p.name === "window")) {
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
    () => Compressor.create(gpu, { method: "h3o", budget: { ratio: 2 } }),
    /unknown method "h3o" in "h3o"; expected one of streaming_llm, snapkv, pyramidkv, knorm, random, h2o, tova/,
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

// --- decode-time eviction (DecodeEvictor) ------------------------------------------------------
// Every method with a decode rule (h2o, tova, streaming_llm) runs the same checks: over many
// decode steps the cache never holds more than the budget (lengths, bytes and live GPU bytes
// stay put); the forced tokens (sinks, recent window) are never evicted; the evicted token
// equals the reference simulator's choice (EvictorRef) at every step, and the output its
// attention; while the length is ≤ the budget the output is full attention; N steps recorded
// into one command buffer equal N steps submitted one by one, bit for bit (so runs are
// deterministic); every format that stores tokens independently composes (the reference then
// reads the stored form), KIVI is refused with a message; bad inputs name the value.

interface DecodeEntry {
  readonly params?: Params;
  /** The rank rule, stated independently of the method's hooks. */
  readonly rank: "oldest" | "accumulated" | "current";
  /** Positions never evicted during decode at a budget (the cache's capacity). */
  forced(budget: number): Forced;
}

const DECODE: Record<string, DecodeEntry> = {
  streaming_llm: { rank: "oldest", forced: (budget) => ({ sinks: 4, recent: budget - 4 }) },
  h2o: { rank: "accumulated", forced: (budget) => ({ sinks: 0, recent: Math.floor(budget / 2) }) },
  tova: { rank: "current", forced: () => ({ sinks: 0, recent: 0 }) },
};

Deno.test("decode conformance: every method with a decode rule has an entry, and every entry a method", () => {
  assert.deepEqual(
    Object.keys(DECODE).sort(),
    METHODS.filter((m) => m.decode).map((m) => m.name).sort(),
  );
  assert.deepEqual(METHODS.filter((m) => m.mode === "decode").map((m) => m.name), ["h2o", "tova"]);
});

const DT = 80; // prompt tokens
const DK = 40; // budget

/** A prompt layer whose qw holds every prompt query (W = T: h2o sums them all). */
async function promptLayer(T: number, seed: number): Promise<Layer> {
  const gpu = await testGpu();
  const shape = { B, T, H, Hkv, D, W: T };
  const k = randn(seed, B * T * Hkv * D);
  const v = randn(seed + 1, B * T * Hkv * D);
  const qw = randn(seed + 2, B * T * H * D, 2);
  const bufs = [gpu.upload("test.k", k), gpu.upload("test.v", v), gpu.upload("test.qw", qw)];
  return {
    host: { shape, k, v, qw },
    input: { shape, k: bufs[0], v: bufs[1], qw: bufs[2] },
    q: qw,
    destroy: () => bufs.forEach((b) => gpu.destroy(b)),
  };
}

interface StepInput {
  readonly q: Float32Array; // [B, H, D]
  readonly k: Float32Array; // [B, Hkv, D]
  readonly v: Float32Array;
}

function stepInputs(seed: number, n: number): StepInput[] {
  return Array.from({ length: n }, (_, s) => ({
    q: randn(seed + 3 * s, B * H * D, 2),
    k: randn(seed + 3 * s + 1, B * Hkv * D),
    v: randn(seed + 3 * s + 2, B * Hkv * D),
  }));
}

interface StepResult {
  readonly out: Float32Array;
  readonly evicted: Uint32Array;
  readonly pos: Uint32Array;
  readonly stat: Float32Array;
  readonly lengths: readonly number[];
}

/** Runs the steps one submit each, reading the output and the slot state back after each. */
async function stepwise(ev: DecodeEvictor, inputs: StepInput[]): Promise<StepResult[]> {
  const gpu = await testGpu();
  const q = gpu.createBuffer("test.q", B * H * D * 4);
  const k = gpu.createBuffer("test.kn", B * Hkv * D * 4);
  const v = gpu.createBuffer("test.vn", B * Hkv * D * 4);
  const out = gpu.createBuffer("test.out", B * H * D * 4);
  const results: StepResult[] = [];
  for (const x of inputs) {
    gpu.write(q, x.q);
    gpu.write(k, x.k);
    gpu.write(v, x.v);
    gpu.submit((pass) => ev.encodeStep(pass, q, k, v, out));
    const b = ev.buffers;
    const [o, e, p, s] = await gpu.read(
      [out, b.evicted, b.pos, b.stat].map((buffer) => ({ buffer })),
    );
    results.push({
      out: new Float32Array(o),
      evicted: new Uint32Array(e),
      pos: new Uint32Array(p),
      stat: new Float32Array(s),
      lengths: [...ev.cache.lengths],
    });
  }
  for (const x of [q, k, v, out]) gpu.destroy(x);
  return results;
}

/**
 * Holds one GPU step against the reference: the evicted positions must be the reference's
 * choice, except at a float near-tie of the statistic (|Δ| ≤ 1e-5 relative), where the
 * reference follows the GPU (counted); then the positions held must be equal, and the output
 * and the statistics (accumulated / current attention) close. Returns the number of near-ties.
 */
function checkStep(
  what: string,
  ref: EvictorRef,
  x: StepInput,
  got: StepResult,
  atol = 2e-5,
): number {
  const choice = ref.victims();
  const slots = choice.slots.slice();
  let ties = 0;
  for (let row = 0; row < B * Hkv; row++) {
    if (got.evicted[row] === choice.evicted[row]) continue;
    const cap = ref.shape.capacity;
    const rowPos = ref.pos.subarray(row * cap, (row + 1) * cap);
    const gpuSlot = rowPos.indexOf(got.evicted[row]);
    const a = ref.stat[row * cap + choice.slots[row]];
    const b = gpuSlot < 0 ? NaN : ref.stat[row * cap + gpuSlot];
    if (ref.rule.rank === "oldest" || !(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)))) {
      throw new Error(
        `${what}: row ${row} evicted position ${got.evicted[row]} (statistic ${b}), the ` +
          `reference evicts ${choice.evicted[row]} (statistic ${a})`,
      );
    }
    slots[row] = gpuSlot;
    ties++;
  }
  const want = ref.step(x.q, x.k, x.v, slots);
  assertExact(got.pos, ref.pos, `${what}: positions held`);
  assertClose(got.out, want.out, { atol, rtol: 1e-4, label: `${what}: output` });
  if (ref.rule.rank !== "oldest") {
    assertClose(got.stat, ref.stat, { atol: 1e-5, rtol: 1e-4, label: `${what}: statistics` });
  }
  return ties;
}

/** The reference simulator filled like the GPU after fromPrompt (its kept set, the ref scores). */
function filledRef(
  name: string,
  l: Layer,
  kept: Uint32Array,
  forced: Forced,
  format = "fp32",
): EvictorRef {
  const info = getMethod(name);
  const entry = DECODE[name];
  const ref = new EvictorRef(
    { B, H, Hkv, D, capacity: DK },
    { rank: entry.rank, ...forced },
    storedTokenRef(format),
  );
  const scores = info.decode!.rank === "oldest"
    ? new Float64Array(B * Hkv * DT)
    : info.scoreRef!(getResolved(name, entry.params ?? {}), l.host);
  ref.fill(kept, DK, l.host.k, l.host.v, scores, DT);
  return ref;
}

for (const info of METHODS.filter((m) => m.decode)) {
  const name = info.name;
  const entry = DECODE[name];
  if (!entry) continue; // the entry test above fails
  const params = entry.params ?? {};

  Deno.test(`${name} decode: never exceeds the budget, keeps the forced tokens, evicts the reference's choice`, async () => {
    const gpu = await testGpu();
    const l = await promptLayer(DT, 600);
    const ev = await DecodeEvictor.fromPrompt(
      gpu,
      { method: `${name}+fp32`, params, budget: { budgetTokens: DK } },
      l.input,
    );
    const forced = entry.forced(DK);
    assert.deepEqual(ev.forced, forced, "decode-time forced tokens as specified");
    assert.equal(ev.budget, DK);
    assert.equal(ev.cache.shape.capacity, DK, "capacity = the budget, no room");
    const [pos0] = await gpu.read([{ buffer: ev.buffers.pos }]);
    const kept = new Uint32Array(pos0);
    const ref = filledRef(name, l, kept, forced);
    const bytes = ev.bytes();
    const live = gpu.liveBytes;
    const inputs = stepInputs(700, 24);
    const results = await stepwise(ev, inputs);
    let ties = 0;
    for (const [s, got] of results.entries()) {
      const t = DT + s; // this step's token position
      assert.deepEqual(got.lengths, [DK, DK], `step ${s}: the cache holds exactly the budget`);
      for (let row = 0; row < B * Hkv; row++) {
        const held = got.pos.subarray(row * DK, (row + 1) * DK);
        assert.equal(new Set(held).size, DK, `step ${s} row ${row}: distinct positions`);
        assert.ok(held.includes(t), `step ${s} row ${row}: the new token is held`);
        for (let j = 0; j < forced.sinks; j++) {
          assert.ok(held.includes(j), `step ${s} row ${row}: sink ${j} held`);
        }
        for (let j = t - forced.recent + 1; j <= t; j++) {
          assert.ok(held.includes(j), `step ${s} row ${row}: recent position ${j} held`);
        }
        const e = got.evicted[row];
        assert.ok(e < t && e >= forced.sinks && t - e >= forced.recent, `evicted ${e} not forced`);
      }
      ties += checkStep(`${name} step ${s}`, ref, inputs[s], got);
    }
    assert.ok(ties <= 2, `${ties} float near-ties (expected at most a couple)`);
    assert.equal(ev.bytes(), bytes, "bytes unchanged by decoding");
    assert.equal(gpu.liveBytes, live, "no GPU allocation grew during decode");
    ev.destroy();
    l.destroy();
  });

  Deno.test(`${name} decode: full attention until the budget; N steps in one command buffer = one by one`, async () => {
    const gpu = await testGpu();
    const K = 24, N = 32;
    const o = { method: `${name}+fp32`, params, budget: { budgetTokens: K } };
    const shape = { B, H, Hkv, D };
    const inputs = stepInputs(800, N);
    const a = await DecodeEvictor.empty(gpu, o, shape);
    const results = await stepwise(a, inputs);
    const ref = new EvictorRef({ B, H, Hkv, D, capacity: K }, { rank: entry.rank, ...a.forced });
    // full attention over every token so far while they fit
    const allK = new Float32Array(B * N * Hkv * D), allV = allK.slice();
    for (const [s, x] of inputs.entries()) {
      for (let b = 0; b < B; b++) {
        allK.set(x.k.subarray(b * Hkv * D, (b + 1) * Hkv * D), (b * N + s) * Hkv * D);
        allV.set(x.v.subarray(b * Hkv * D, (b + 1) * Hkv * D), (b * N + s) * Hkv * D);
      }
      const got = results[s];
      if (s < K) {
        assert.ok(got.evicted.every((e) => e === NO_EVICTION), `step ${s}: nothing evicted`);
        assert.deepEqual(got.lengths, [s + 1, s + 1]);
        const full = decodeAttentionRef(x.q, allK, allV, [s + 1, s + 1], { B, T: N, H, Hkv, D });
        assertClose(got.out, full, { atol: 2e-5, rtol: 1e-4, label: `step ${s} = full attention` });
      } else {
        assert.deepEqual(got.lengths, [K, K], `step ${s}: at the budget`);
      }
      checkStep(`${name} step ${s}`, ref, x, got);
    }
    // the same steps recorded into one command buffer: bit for bit the same
    const b = await DecodeEvictor.empty(gpu, o, shape);
    const bufs = inputs.map((x) => ({
      q: gpu.upload("test.q", x.q),
      k: gpu.upload("test.kn", x.k),
      v: gpu.upload("test.vn", x.v),
      out: gpu.createBuffer("test.out", B * H * D * 4),
    }));
    gpu.submit((pass) => {
      for (const x of bufs) b.encodeStep(pass, x.q, x.k, x.v, x.out);
    });
    assert.equal(b.steps, N);
    const read = await gpu.read([
      ...bufs.map((x) => ({ buffer: x.out })),
      { buffer: b.buffers.pos },
      { buffer: b.buffers.stat },
    ]);
    for (let s = 0; s < N; s++) {
      assertExact(new Float32Array(read[s]), results[s].out, `one command buffer, step ${s}`);
    }
    assertExact(new Uint32Array(read[N]), results[N - 1].pos, "positions held at the end");
    assertExact(new Float32Array(read[N + 1]), results[N - 1].stat, "statistics at the end");
    for (const x of bufs) for (const y of Object.values(x)) gpu.destroy(y);
    a.destroy();
    b.destroy();
  });

  Deno.test(`${name} decode: composes with every per-token format; KIVI is refused`, async () => {
    const gpu = await testGpu();
    const l = await promptLayer(DT, 900);
    const inputs = stepInputs(1000, 10);
    const bytes: Record<string, number> = {};
    for (const format of slotFormatNames()) {
      const ev = await DecodeEvictor.fromPrompt(
        gpu,
        { method: `${name}+${format}`, params, budget: { ratio: DT / DK } },
        l.input,
      );
      assert.equal(ev.budget, DK);
      bytes[format] = ev.bytes();
      const [pos0] = await gpu.read([{ buffer: ev.buffers.pos }]);
      const ref = filledRef(name, l, new Uint32Array(pos0), ev.forced, format);
      const results = await stepwise(ev, inputs);
      for (const [s, got] of results.entries()) {
        assert.deepEqual(got.lengths, [DK, DK]);
        checkStep(`${name}+${format} step ${s}`, ref, inputs[s], got, 5e-5);
      }
      ev.destroy();
    }
    for (const format of ["fp16", "int8", "int4"]) {
      assert.ok(bytes[format] < bytes.fp32, `${format}: ${bytes[format]} < fp32 ${bytes.fp32}`);
    }
    for (const format of formatNames().filter((f) => f.startsWith("kivi"))) {
      await assert.rejects(
        () =>
          DecodeEvictor.fromPrompt(
            gpu,
            { method: `${name}+${format}`, params, budget: { budgetTokens: DK } },
            l.input,
          ),
        info.formats
          ? new RegExp(`${name} cannot be stored as ${format} .*; it combines with fp32, fp16`)
          : new RegExp(
            `${name}\\+${format}: decode-time eviction overwrites single tokens in place, and ` +
              `${format} cannot .*; it combines with fp32, fp16, int8, int4`,
          ),
      );
    }
    l.destroy();
  });

  Deno.test(`${name} decode: bad inputs get errors naming the value`, async () => {
    const gpu = await testGpu();
    const l = await promptLayer(DT, 1100);
    const from = (o: Partial<EvictorOptions>) =>
      DecodeEvictor.fromPrompt(
        gpu,
        { method: name, params, budget: { budgetTokens: DK }, ...o },
        l.input,
      );
    await assert.rejects(() => from({ budget: { budgetTokens: 0 } }), /budgetTokens: got 0/);
    await assert.rejects(() => from({ budget: { ratio: 0.5 } }), /ratio: got 0.5/);
    await assert.rejects(
      () => from({ budget: { budgetTokens: DT + 1 } }),
      /budgetTokens: got 81, expected an integer in \[1, 80\] \(the prompt has T=80 tokens\)/,
    );
    await assert.rejects(() => from({ params: { nonsense: 1 } }), /unknown parameter "nonsense"/);
    if (name === "h2o") {
      await assert.rejects(
        () => from({ params: { recent_ratio: -0.5 } }),
        /h2o recent_ratio: got -0.5, expected a number in \[0, 1\]/,
      );
    }
    if (name === "streaming_llm") {
      await assert.rejects(() => from({ params: { sinks: -1 } }), /streaming_llm sinks: got -1/);
      await assert.rejects(
        () => from({ budget: { budgetTokens: 4 } }),
        /streaming_llm: a budget of 4 tokens leaves no token to evict during decode \(4 sinks \+ 0 recent/,
      );
    }
    await assert.rejects(
      () => from({ splits: 0 }),
      /splits: got 0/,
    );
    await assert.rejects(
      () => DecodeEvictor.empty(gpu, { method: name, budget: { ratio: 2 } }, { B, H, Hkv, D }),
      /an empty evictor has no prompt to take a ratio of: expected \{ budgetTokens \}/,
    );
    await assert.rejects(
      () =>
        DecodeEvictor.empty(gpu, { method: name, budget: { budgetTokens: 16 } }, {
          B,
          H: 7,
          Hkv,
          D,
        }),
      /H=7 query heads do not divide into Hkv=2 KV heads/,
    );
    const ev = await DecodeEvictor.empty(gpu, { method: name, budget: { budgetTokens: 16 } }, {
      B,
      H,
      Hkv,
      D,
    });
    const small = gpu.createBuffer("test.small", 16);
    const ok = gpu.createBuffer("test.ok", B * H * D * 4);
    assert.throws(
      () => gpu.submit((pass) => ev.encodeStep(pass, small, ok, ok, ok)),
      /q \[B, H, D\]: expected \[2, 8, 32\] f32 = 2048 bytes, the buffer holds 16/,
    );
    assert.throws(
      () => gpu.submit((pass) => ev.encodeStep(pass, ok, small, ok, ok)),
      /k \[B, Hkv, D\]: expected \[2, 2, 32\] f32 = 512 bytes, the buffer holds 16/,
    );
    await gpu.device.queue.onSubmittedWorkDone();
    for (const b of [small, ok]) gpu.destroy(b);
    ev.destroy();
    l.destroy();
  });
}

Deno.test("decode conformance: one-shot methods are refused by the evictor", async () => {
  const gpu = await testGpu();
  await assert.rejects(
    () =>
      DecodeEvictor.empty(gpu, { method: "snapkv", budget: { budgetTokens: 8 } }, { B, H, Hkv, D }),
    /snapkv does not evict during decode \(it compresses once after prefill: use the Compressor\); decode-time methods: streaming_llm, h2o, tova/,
  );
  await assert.rejects(
    () =>
      DecodeEvictor.empty(gpu, { method: "h3o", budget: { budgetTokens: 8 } }, { B, H, Hkv, D }),
    /unknown method "h3o"/,
  );
});
