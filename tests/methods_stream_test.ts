// Streaming prefill's per-layer machinery (engine/methods/stream.ts StreamCompressor,
// stream.wgsl) against its reference (engine/reference/stream.ts) on seeded random chunks of
// one attention layer, for every eviction method, one-shot and decode-time: after each chunk
// the held positions (and, where a decode-time evictor follows, the statistics) equal the
// reference's, and every chunk's attention output — which reads the held set's gathered k, v —
// is close to it. Shapes: GQA 2 and 1, B = 2 and 1, chunks that do not divide the prompt; a last
// chunk short of the window is the caller's to merge (session.ts streamSpans). Then the finished
// layer: a cache of the budget + room, or an evictor whose slot positions and statistics are the
// held set's and whose next position is T.

import assert from "node:assert/strict";
import type { Gpu } from "../engine/gpu/mod.ts";
import { PrefillAttention } from "../engine/kernels/prefill_attention.ts";
import { Compressor } from "../engine/methods/compress.ts";
import { METHODS } from "../engine/methods/registry.ts";
import type { MethodInfo, Params } from "../engine/methods/method.ts";
import { StreamCompressor } from "../engine/methods/stream.ts";
import { randn } from "../engine/reference/random.ts";
import { streamRef, type StreamRefChunk } from "../engine/reference/stream.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** Window methods score with 8 queries here, so chunks of 12 feed them. */
function paramsOf(m: MethodInfo): Params {
  return m.params.some((p) => p.name === "window") ? { window: 8, kernel: 3 } : {};
}

interface Case {
  readonly B: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Chunk lengths (their sum is T). */
  readonly chunks: readonly number[];
  readonly budget: number;
}

const CASES: Case[] = [
  { B: 2, H: 4, Hkv: 2, D: 16, chunks: [12, 12, 12, 12, 17], budget: 20 },
  { B: 1, H: 3, Hkv: 3, D: 8, chunks: [30, 12, 13], budget: 24 },
];

async function runCase(gpu: Gpu, m: MethodInfo, evict: boolean, c: Case, seed: number) {
  const { B, H, Hkv, D } = c;
  const T = c.chunks.reduce((a, b) => a + b, 0);
  const params = paramsOf(m);
  const what = `${m.name}${evict && m.mode !== "decode" ? "(decode-evict)" : ""} B=${B} H=${H} ` +
    `Hkv=${Hkv} D=${D}`;
  const compressor = Compressor.create(gpu, {
    method: `${m.name}+fp32`,
    params,
    budget: { budgetTokens: c.budget },
    room: 3,
  });
  const attention = await PrefillAttention.create(gpu, { H, Hkv, D });
  const stream = await StreamCompressor.create(gpu, compressor, {
    B,
    H,
    Hkv,
    D,
    T,
    numLayers: 1,
    rows: Math.max(...c.chunks),
    evict,
  });
  const chunks: StreamRefChunk[] = c.chunks.map((n, i) => ({
    n,
    q: randn(seed + 10 * i, B * n * H * D),
    k: randn(seed + 10 * i + 1, B * n * Hkv * D),
    v: randn(seed + 10 * i + 2, B * n * Hkv * D),
  }));
  const want = streamRef({ B, H, Hkv, D, T }, chunks, {
    method: m,
    params: compressor.params,
    budget: c.budget,
    evict,
  });
  const bufs: GPUBuffer[] = [];
  try {
    let t0 = 0;
    for (const [i, ch] of chunks.entries()) {
      const q = gpu.upload("q", ch.q), k = gpu.upload("k", ch.k), v = gpu.upload("v", ch.v);
      const out = gpu.createBuffer("out", ch.q.byteLength);
      bufs.push(q, k, v, out);
      const encoder = gpu.device.createCommandEncoder();
      const temps = stream.encodeLayer(encoder, 0, { q, k, v, out, t0, n: ch.n }, attention);
      gpu.device.queue.submit([encoder.finish()]);
      const [held] = await stream.readHeld();
      const [raw] = await gpu.read([{ buffer: out }]);
      for (const b of temps) gpu.destroy(b);
      const rows = held.flat();
      assert.deepEqual(rows, want[i].held, `${what}, chunk ${i}: held positions`);
      assertClose(new Float32Array(raw), want[i].out, {
        atol: 1e-4,
        rtol: 1e-4,
        label: `${what}, chunk ${i}: attention over the held set and the chunk`,
      });
      t0 += ch.n;
    }
    stream.releaseStore();
    const r = await stream.finishLayer(0);
    const last = want[want.length - 1];
    if ("evictor" in r) {
      const ev = r.evictor;
      const [pos, stat, next] = await gpu.read([
        { buffer: ev.buffers.pos },
        { buffer: ev.buffers.stat },
        { buffer: ev.buffers.next },
      ]);
      assert.deepEqual([...new Uint32Array(pos)], last.held.flat(), `${what}: evictor positions`);
      assert.deepEqual([...new Uint32Array(next)], new Array(B).fill(T), `${what}: next position`);
      assert.deepEqual(ev.cache.lengths, new Array(B).fill(c.budget));
      if (ev.usesStats) {
        assertClose(new Float32Array(stat), last.stat.flat(), {
          atol: 1e-5,
          rtol: 1e-4,
          label: `${what}: evictor statistics`,
        });
      }
      ev.destroy();
    } else {
      assert.equal(r.cache.shape.capacity, c.budget + 3, `${what}: budget + room`);
      assert.deepEqual(r.cache.lengths, new Array(B).fill(c.budget));
      r.cache.destroy();
    }
  } finally {
    stream.destroy();
    attention.destroy();
    for (const b of bufs) gpu.destroy(b);
  }
}

for (const m of METHODS.filter((x) => x.mode !== "sparse")) {
  const evicts = m.mode === "decode" ? [true] : m.decode ? [false, true] : [false];
  Deno.test(`streaming prefill, one layer: ${m.name} matches its reference chunk by chunk`, async () => {
    const gpu = await testGpu();
    const live = gpu.liveBytes;
    for (const evict of evicts) {
      for (const [i, c] of CASES.entries()) await runCase(gpu, m, evict, c, 100 * i + 7);
    }
    assert.equal(gpu.liveBytes, live, `${m.name}: nothing left allocated`);
  });
}

Deno.test("streaming prefill, one layer: a chunk shorter than the method's window is refused", async () => {
  const gpu = await testGpu();
  const compressor = Compressor.create(gpu, {
    method: "snapkv",
    params: { window: 16 },
    budget: { budgetTokens: 20 },
  });
  await assert.rejects(
    () =>
      StreamCompressor.create(gpu, compressor, {
        B: 1,
        H: 2,
        Hkv: 1,
        D: 8,
        T: 100,
        numLayers: 1,
        rows: 12,
        evict: false,
      }),
    /method "snapkv\+fp16" scores with the last 16 queries of a chunk; expected chunks of ≥ 16 tokens, got 12/,
  );
});
