// Decode attention over the full caches (fp32, fp16) against the float64 reference:
// GQA ratios 1, 3, 4, 8 and 11 (two head chunks per KV head); ragged B > 1; lengths that are not
// multiples of a tile, several tiles per split, empty splits; D up to 256; several append +
// attend steps recorded into one command buffer; the workgroup-memory plan and its RangeError.

import assert from "node:assert/strict";
import { createCache } from "../engine/cache/registry.ts";
import { DecodeAttention, decodePlan } from "../engine/kernels/decode_attention.ts";
import { decodeAttentionRef } from "../engine/reference/attention.ts";
import { randn } from "../engine/reference/random.ts";
import { assertClose, testGpu } from "./helpers.ts";

const f16 = (x: Float32Array) => x.map((v) => Math.f16round(v));

interface Case {
  B: number;
  H: number;
  Hkv: number;
  D: number;
  lens: number[];
  splits?: number;
  /** Sliding window (Mistral's sliding_window over a full cache); absent: none. */
  window?: number;
}

const CASES: Case[] = [
  { B: 1, H: 4, Hkv: 4, D: 32, lens: [1] },
  { B: 2, H: 8, Hkv: 2, D: 64, lens: [70, 33] },
  { B: 3, H: 8, Hkv: 1, D: 32, lens: [5, 97, 64], splits: 4 },
  { B: 1, H: 16, Hkv: 2, D: 128, lens: [45] },
  { B: 2, H: 2, Hkv: 1, D: 256, lens: [40, 17] },
  // G = 11: two workgroups per KV head (6 + 5 heads), 6 tiles of 256 tokens in one split
  { B: 2, H: 11, Hkv: 1, D: 64, lens: [1300, 517], splits: 1 },
  // G = 3 (a part-filled vec4 of probabilities); splits of 704 tokens = 2 tiles of 512
  { B: 1, H: 6, Hkv: 2, D: 32, lens: [2100], splits: 3 },
  // G = 8 at D = 256: the largest workgroup memory; sequence 1 leaves 4 of 5 splits empty
  { B: 2, H: 16, Hkv: 2, D: 256, lens: [600, 31] },
  { B: 2, H: 4, Hkv: 2, D: 128, lens: [100, 1], splits: 4 },
  // head dims that are multiples of 8 but not of 32 (the full formats only): D = 8 is
  // stories260K's; D/8 = 3, 12 and 20 do not divide the 128 threads, so some sit out P·V
  { B: 2, H: 8, Hkv: 4, D: 8, lens: [201, 7] },
  { B: 1, H: 3, Hkv: 1, D: 24, lens: [300], splits: 2 },
  { B: 1, H: 4, Hkv: 2, D: 96, lens: [300] },
  { B: 1, H: 2, Hkv: 2, D: 160, lens: [77] },
  // sliding windows: inside one 32-token group, lengths below, at and past it
  { B: 3, H: 4, Hkv: 2, D: 32, lens: [5, 20, 77], window: 20 },
  // first visible token mid-group (300 - 100 = 200), several splits over the window only
  { B: 2, H: 8, Hkv: 2, D: 64, lens: [300, 131], window: 100, splits: 3 },
  // a window of one token: the newest value, whatever the scores
  { B: 2, H: 6, Hkv: 2, D: 32, lens: [64, 9], window: 1 },
  // many tiles before the window (len 1300, window 700, one split of 3 tiles), G = 11
  { B: 1, H: 11, Hkv: 1, D: 128, lens: [1300], window: 700, splits: 1 },
  // D = 8 (stories260K's) and a window larger than every length: no mask at all
  { B: 2, H: 8, Hkv: 4, D: 8, lens: [201, 7], window: 4096 },
];

for (const format of ["fp32", "fp16"]) {
  for (const c of CASES) {
    const name = `${format} decode attention B=${c.B} H=${c.H} Hkv=${c.Hkv} D=${c.D} ` +
      `lens=${c.lens}${c.window ? `, window ${c.window}` : ""}`;
    Deno.test(name, async () => {
      const gpu = await testGpu();
      const T = Math.max(...c.lens);
      const seed = c.B * 1000 + c.D + c.H;
      const k = randn(seed, c.B * T * c.Hkv * c.D);
      const v = randn(seed + 1, c.B * T * c.Hkv * c.D);
      const q = randn(seed + 2, c.B * c.H * c.D);
      const cache = await createCache(gpu, format, { B: c.B, Hkv: c.Hkv, D: c.D, capacity: T + 3 });
      const attn = await DecodeAttention.create(gpu, cache, {
        H: c.H,
        splits: c.splits,
        window: c.window,
      });
      const kb = gpu.upload("k", k), vb = gpu.upload("v", v), qb = gpu.upload("q", q);
      const ob = gpu.createBuffer("out", c.B * c.H * c.D * 4);
      gpu.submit((pass) => {
        cache.append(pass, kb, vb, T, c.lens);
        attn.encode(pass, qb, ob);
      });
      const [got] = await gpu.read([{ buffer: ob }]);
      const stored = format === "fp16" ? [f16(k), f16(v)] : [k, v];
      const shape = { B: c.B, T, H: c.H, Hkv: c.Hkv, D: c.D };
      const want = decodeAttentionRef(q, stored[0], stored[1], c.lens, {
        ...shape,
        window: c.window,
      });
      assertClose(new Float32Array(got), want, { atol: 2e-5, rtol: 1e-4, label: name });
      assert.deepEqual(cache.lengths, c.lens);
      // where a window binds (some length past it), the unwindowed answer differs
      if (c.window !== undefined && c.lens.some((n) => n > c.window!)) {
        const all = decodeAttentionRef(q, stored[0], stored[1], c.lens, shape);
        assert.ok(all.some((x, i) => Math.abs(x - want[i]) > 1e-3), "the window changes it");
      }
      for (const b of [kb, vb, qb, ob]) gpu.destroy(b);
      attn.destroy();
      cache.destroy();
    });
  }
}

Deno.test("decode attention window: a bad window, and window with scores, are refused", async () => {
  const gpu = await testGpu();
  const cache = await createCache(gpu, "fp32", { B: 1, Hkv: 1, D: 32, capacity: 8 });
  await assert.rejects(
    () => DecodeAttention.create(gpu, cache, { H: 1, window: 0 }),
    /window \(sliding window, tokens\): got 0/,
  );
  await assert.rejects(
    () => DecodeAttention.create(gpu, cache, { H: 1, window: 4, scores: true }),
    /window 4 with scores: .*full caches only/,
  );
  cache.destroy();
});

Deno.test("append + attend steps recorded in one command buffer see each step's length", async () => {
  const gpu = await testGpu();
  const B = 2, H = 4, Hkv = 2, D = 32, T0 = 20, steps = 3, T = T0 + steps;
  const k = randn(11, B * T * Hkv * D), v = randn(12, B * T * Hkv * D), q = randn(13, B * H * D);
  // k as [B, T, Hkv, D]; per step the input is token T0 + s of each sequence: [B, 1, Hkv, D]
  const token = (x: Float32Array, t: number) => {
    const out = new Float32Array(B * Hkv * D);
    for (let b = 0; b < B; b++) {
      out.set(x.subarray((b * T + t) * Hkv * D, (b * T + t + 1) * Hkv * D), b * Hkv * D);
    }
    return out;
  };
  const prefix = (x: Float32Array) => {
    const out = new Float32Array(B * T0 * Hkv * D);
    for (let b = 0; b < B; b++) {
      out.set(x.subarray(b * T * Hkv * D, (b * T + T0) * Hkv * D), b * T0 * Hkv * D);
    }
    return out;
  };
  const cache = await createCache(gpu, "fp32", { B, Hkv, D, capacity: T });
  const attn = await DecodeAttention.create(gpu, cache, { H });
  const qb = gpu.upload("q", q);
  const inputs = Array.from(
    { length: steps },
    (_, s) => [gpu.upload("k", token(k, T0 + s)), gpu.upload("v", token(v, T0 + s))],
  );
  const outs = Array.from({ length: steps }, () => gpu.createBuffer("o", B * H * D * 4));
  const kp = gpu.upload("kp", prefix(k)), vp = gpu.upload("vp", prefix(v));
  gpu.submit((pass) => cache.append(pass, kp, vp, T0));
  gpu.submit((pass) => {
    for (let s = 0; s < steps; s++) {
      cache.append(pass, inputs[s][0], inputs[s][1], 1);
      attn.encode(pass, qb, outs[s]);
    }
  });
  const got = await gpu.read(outs.map((buffer) => ({ buffer })));
  for (let s = 0; s < steps; s++) {
    const n = T0 + s + 1;
    const want = decodeAttentionRef(q, k, v, [n, n], { B, T, H, Hkv, D });
    assertClose(new Float32Array(got[s]), want, { atol: 2e-5, rtol: 1e-4, label: `step ${s}` });
  }
  assert.deepEqual(cache.lengths, [T, T]);
  cache.destroy();
});

Deno.test("full cache bytes come from its allocations; fp16 is half of fp32", async () => {
  const gpu = await testGpu();
  const shape = { B: 2, Hkv: 4, D: 64, capacity: 100 };
  const a = await createCache(gpu, "fp32", shape);
  const b = await createCache(gpu, "fp16", shape);
  const payload = 2 * shape.B * shape.Hkv * shape.D * shape.capacity;
  const lengths = 2 * shape.B * 4; // lens and counts, u32 per sequence
  assert.equal(a.bytes(), payload * 4 + lengths);
  assert.equal(b.bytes(), payload * 2 + lengths);
  a.destroy();
  b.destroy();
});

Deno.test("bad shapes and formats get errors naming the value and the limit", async () => {
  const gpu = await testGpu();
  await assert.rejects(
    () => createCache(gpu, "fp8", { B: 1, Hkv: 1, D: 32, capacity: 8 }),
    /unknown cache format "fp8"; expected one of fp32, fp16/,
  );
  await assert.rejects(
    () => createCache(gpu, "fp32", { B: 0, Hkv: 1, D: 32, capacity: 8 }),
    /B \(batch\): got 0/,
  );
  await assert.rejects(
    () => createCache(gpu, "fp32", { B: 1, Hkv: 1, D: 44, capacity: 8 }),
    /D \(head dim\): got 44, expected a multiple of 8/,
  );
  for (const format of ["kivi4", "int8"]) {
    await assert.rejects(
      () => createCache(gpu, format, { B: 1, Hkv: 1, D: 48, capacity: 8 }),
      /D \(head dim\): got 48, expected a multiple of 32 \(the quantized formats' group size\)/,
    );
  }
  await assert.rejects(
    () => createCache(gpu, "fp32", { B: 1, Hkv: 1, D: 32, capacity: -4 }),
    /capacity \(tokens per sequence\): got -4/,
  );
  await assert.rejects(
    () => createCache(gpu, "fp32", { B: 1, Hkv: 8, D: 128, capacity: 1 << 22 }),
    /larger than one storage binding can hold/,
  );
  const cache = await createCache(gpu, "fp32", { B: 1, Hkv: 2, D: 32, capacity: 8 });
  await assert.rejects(
    () => DecodeAttention.create(gpu, cache, { H: 3 }),
    /H=3 query heads do not divide into Hkv=2/,
  );
  const k = gpu.createBuffer("k", 9 * 2 * 32 * 4);
  assert.throws(
    () => gpu.submit((pass) => cache.append(pass, k, k, 9)),
    /would hold 9 tokens, more than its capacity 8/,
  );
  assert.throws(() => gpu.submit((pass) => cache.append(pass, k, k, 2, [3])), /counts\[0\]: got 3/);
  gpu.destroy(k);
  cache.destroy();
});

Deno.test("decode plan: heads per workgroup, tokens per thread, workgroup memory, limit errors", () => {
  const plan = (G: number, D: number, limit = 32768) => {
    const p = decodePlan(G, D, limit);
    return [p.HG, p.GC, p.TPT, p.U, p.sharedBytes];
  };
  // queries 4·GC·D + probabilities 16·max(128·TPT·⌈GC/4⌉, 256) + reductions 4·GC·128 + 64·GC
  assert.deepEqual(plan(4, 128), [1, 4, 4, 4, 2048 + 8192 + 2048 + 256]);
  assert.deepEqual(plan(1, 128), [1, 1, 4, 4, 512 + 8192 + 512 + 64]);
  assert.deepEqual(plan(8, 256), [1, 8, 2, 2, 8192 + 8192 + 4096 + 512]);
  assert.deepEqual(plan(32, 128), [4, 8, 2, 2, 4096 + 8192 + 4096 + 512]);
  assert.deepEqual(plan(11, 64), [2, 6, 2, 2, 1536 + 8192 + 3072 + 384]);
  // a smaller limit takes fewer tokens per thread before it gives up
  assert.deepEqual(plan(4, 128, 10000), [1, 4, 2, 4, 2048 + 4096 + 2048 + 256]);
  assert.throws(
    () => decodePlan(8, 256, 16384),
    (e: Error) =>
      e instanceof RangeError &&
      /G=8 \(8 heads per workgroup\) with D=256 needs 16896 bytes .* allows 16384/.test(e.message),
  );
  assert.throws(() => decodePlan(4, 44, 32768), /D \(head dim\): got 44, expected a multiple of 8/);
  assert.deepEqual(plan(2, 8), [1, 2, 4, 4, 64 + 8192 + 1024 + 128]);
});
