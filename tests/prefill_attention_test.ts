// Causal prefill attention: the reference's own invariants, then the kernel against the reference
// on seeded random inputs (GQA ratios 1, 3, 4, 8; Tq, Tk off the tile sizes; chunked Tq < Tk;
// f16 storage where the device has shader-f16), then the RangeErrors for bad shapes.

import assert from "node:assert/strict";
import { Gpu, GpuError } from "../engine/gpu/mod.ts";
import {
  MAX_D,
  planTiles,
  PrefillAttention,
  workgroupBytes,
} from "../engine/kernels/prefill_attention.ts";
import { decodeAttentionRef, prefillAttentionRef } from "../engine/reference/attention.ts";
import { randn } from "../engine/reference/random.ts";
import { assertClose, testGpu } from "./helpers.ts";

// --- reference ---------------------------------------------------------------------------------

Deno.test("reference: zero queries average the visible values (causal offset, GQA head map)", () => {
  const B = 2, Tq = 3, Tk = 5, H = 4, Hkv = 2, D = 4;
  const q = new Float32Array(B * Tq * H * D);
  const k = randn(1, B * Tk * Hkv * D);
  const v = randn(2, B * Tk * Hkv * D);
  const out = prefillAttentionRef(q, k, v, { B, Tq, Tk, H, Hkv, D });
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / 2);
        const n = Tk - Tq + i + 1; // keys 0 ..= Tk - Tq + i
        for (let d = 0; d < D; d++) {
          let sum = 0;
          for (let j = 0; j < n; j++) sum += v[((b * Tk + j) * Hkv + kvh) * D + d];
          const got = out[((b * Tq + i) * H + h) * D + d];
          assert.ok(Math.abs(got - sum / n) < 1e-6, `b=${b} i=${i} h=${h} d=${d}: ${got}`);
        }
      }
    }
  }
});

Deno.test("reference: a decode query equals the last prefill row (lens = T and lens < T)", () => {
  const B = 2, T = 9, H = 8, Hkv = 2, D = 16;
  const q = randn(3, B * T * H * D);
  const k = randn(4, B * T * Hkv * D);
  const v = randn(5, B * T * Hkv * D);
  const full = prefillAttentionRef(q, k, v, { B, Tq: T, Tk: T, H, Hkv, D });
  const row = (x: Float32Array, b: number, i: number) =>
    x.subarray(((b * T + i) * H) * D, ((b * T + i + 1) * H) * D);

  const lastQ = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) lastQ.set(row(q, b, T - 1), b * H * D);
  const dec = decodeAttentionRef(lastQ, k, v, [T, T], { B, T, H, Hkv, D });
  for (let b = 0; b < B; b++) {
    assertClose(dec.subarray(b * H * D, (b + 1) * H * D), row(full, b, T - 1), {
      label: `decode b=${b}, lens=T`,
    });
  }

  // lens = [4, 7]: sequence b's query at position lens[b] - 1 sees keys 0 .. lens[b] - 1.
  const lens = [4, 7];
  const q2 = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) q2.set(row(q, b, lens[b] - 1), b * H * D);
  const dec2 = decodeAttentionRef(q2, k, v, lens, { B, T, H, Hkv, D });
  for (let b = 0; b < B; b++) {
    assertClose(dec2.subarray(b * H * D, (b + 1) * H * D), row(full, b, lens[b] - 1), {
      label: `decode b=${b}, lens=${lens[b]}`,
    });
  }
});

Deno.test("reference: bad shapes name the value and the range", () => {
  const x = new Float32Array(16);
  assert.throws(
    () => decodeAttentionRef(x.subarray(0, 4), x, x, [0], { B: 1, T: 4, H: 1, Hkv: 1, D: 4 }),
    { name: "RangeError", message: "lens[0]: got 0, expected an integer in [1, 4]" },
  );
  assert.throws(
    () => prefillAttentionRef(x, x, x, { B: 1, Tq: 4, Tk: 2, H: 1, Hkv: 1, D: 4 }),
    { name: "RangeError", message: "Tq (queries): got 4, expected an integer in [1, 2]" },
  );
  assert.throws(
    () => prefillAttentionRef(x, x, x, { B: 1, Tq: 2, Tk: 2, H: 1, Hkv: 1, D: 4 }),
    { name: "RangeError", message: "q [B, Tq, H, D]: expected [1, 2, 1, 4] = 8 elements, got 16" },
  );
});

// --- kernel vs reference -----------------------------------------------------------------------

interface Case {
  readonly B: number;
  readonly Tq: number;
  readonly Tk: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Sliding window (keys); absent: causal only. */
  readonly window?: number;
}

async function runKernel(
  gpu: Gpu,
  att: PrefillAttention,
  c: Case,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
): Promise<Float32Array> {
  const f16 = att.dtype === "f16";
  const store = (label: string, x: Float32Array) =>
    gpu.upload(label, f16 ? new Float16Array(x) : x);
  const qb = store("q", q), kb = store("k", k), vb = store("v", v);
  const ob = gpu.createBuffer("out", q.length * att.elementBytes);
  try {
    gpu.submit((pass) =>
      att.encode(pass, {
        q: qb,
        k: kb,
        v: vb,
        out: ob,
        B: c.B,
        Tq: c.Tq,
        Tk: c.Tk,
        window: c.window,
      })
    );
    const [raw] = await gpu.read([{ buffer: ob, size: q.length * att.elementBytes }]);
    return f16 ? Float32Array.from(new Float16Array(raw)) : new Float32Array(raw);
  } finally {
    for (const b of [qb, kb, vb, ob]) gpu.destroy(b);
  }
}

function inputs(c: Case, seed: number) {
  return {
    q: randn(seed, c.B * c.Tq * c.H * c.D),
    k: randn(seed + 1, c.B * c.Tk * c.Hkv * c.D),
    v: randn(seed + 2, c.B * c.Tk * c.Hkv * c.D),
  };
}

const f32Cases: readonly Case[] = [
  { B: 2, Tq: 33, Tk: 33, H: 2, Hkv: 2, D: 32 }, // g = 1 (MHA), one row past a 32-row tile
  { B: 2, Tq: 70, Tk: 70, H: 8, Hkv: 2, D: 64 }, // g = 4
  { B: 1, Tq: 7, Tk: 70, H: 8, Hkv: 1, D: 64 }, // g = 8 (MQA), chunk of 7 after 63 cached keys
  { B: 2, Tq: 1, Tk: 33, H: 4, Hkv: 1, D: 32 }, // a single query (last position)
  { B: 2, Tq: 33, Tk: 40, H: 4, Hkv: 1, D: 128 }, // D = 128: 16-key tiles, chunked
  { B: 1, Tq: 9, Tk: 12, H: 2, Hkv: 1, D: 256 }, // D = 256: the smallest tiles
  { B: 2, Tq: 17, Tk: 17, H: 6, Hkv: 2, D: 20 }, // g = 3, D / 4 = 5 not a multiple of lanes
];

for (const c of f32Cases) {
  const g = c.H / c.Hkv;
  Deno.test(
    `kernel f32 matches reference: B=${c.B} Tq=${c.Tq} Tk=${c.Tk} H=${c.H} Hkv=${c.Hkv} (g=${g}) D=${c.D}`,
    async () => {
      const gpu = await testGpu();
      const att = await PrefillAttention.create(gpu, { H: c.H, Hkv: c.Hkv, D: c.D });
      try {
        const { q, k, v } = inputs(c, 100 + c.D + c.Tq);
        const got = await runKernel(gpu, att, c, q, k, v);
        assertClose(got, prefillAttentionRef(q, k, v, c), { label: JSON.stringify(c) });
      } finally {
        att.destroy();
      }
    },
  );
}

// Sliding window (Mistral): query i sees keys Tk - Tq + i - W + 1 ..= Tk - Tq + i.
const windowCases: readonly Case[] = [
  { B: 2, Tq: 70, Tk: 70, H: 8, Hkv: 2, D: 64, window: 16 }, // window < one 32-row tile
  { B: 1, Tq: 100, Tk: 100, H: 4, Hkv: 4, D: 32, window: 37 }, // window edge mid-tile, g = 1
  { B: 2, Tq: 9, Tk: 70, H: 8, Hkv: 1, D: 64, window: 20 }, // a chunk: keys of earlier chunks drop
  { B: 1, Tq: 40, Tk: 40, H: 6, Hkv: 2, D: 128, window: 1 }, // each query sees itself only
  { B: 2, Tq: 33, Tk: 33, H: 2, Hkv: 2, D: 32, window: 500 }, // a window that never binds
];

for (const c of windowCases) {
  const name = `kernel f32 with window ${c.window}: B=${c.B} Tq=${c.Tq} Tk=${c.Tk} H=${c.H} ` +
    `Hkv=${c.Hkv} D=${c.D}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const att = await PrefillAttention.create(gpu, { H: c.H, Hkv: c.Hkv, D: c.D });
    try {
      const { q, k, v } = inputs(c, 300 + c.window!);
      const got = await runKernel(gpu, att, c, q, k, v);
      const want = prefillAttentionRef(q, k, v, c);
      assertClose(got, want, { label: name });
      if (c.window! < c.Tk) {
        const causal = prefillAttentionRef(q, k, v, { ...c, window: undefined });
        assert.ok(causal.some((x, i) => Math.abs(x - want[i]) > 1e-3), "the window binds");
      }
    } finally {
      att.destroy();
    }
  });
}

Deno.test("reference and kernel: a window of Tk keys is plain causal; a bad window is refused", async () => {
  const c = { B: 1, Tq: 12, Tk: 12, H: 2, Hkv: 1, D: 16 };
  const { q, k, v } = inputs(c, 9);
  assert.deepEqual(
    prefillAttentionRef(q, k, v, { ...c, window: 12 }),
    prefillAttentionRef(q, k, v, c),
  );
  assert.throws(
    () => prefillAttentionRef(q, k, v, { ...c, window: 0 }),
    /window \(sliding window, keys\): got 0/,
  );
  const gpu = await testGpu();
  const att = await PrefillAttention.create(gpu, { H: 2, Hkv: 1, D: 16 });
  const b = gpu.createBuffer("x", 12 * 2 * 16 * 4);
  try {
    assert.throws(
      () =>
        gpu.submit((pass) =>
          att.encode(pass, { q: b, k: b, v: b, out: b, B: 1, Tq: 12, Tk: 12, window: -3 })
        ),
      /window \(sliding window, keys\): got -3/,
    );
  } finally {
    gpu.destroy(b);
    att.destroy();
  }
});

Deno.test("kernel: explicit scale and two chunks of one sequence in one pass", async () => {
  // Chunked prefill: chunk 1 is positions 0..19 (Tq = Tk = 20), chunk 2 is positions 20..32
  // (Tq = 13 against Tk = 33 keys). Both are recorded into the same pass, so each needs its own
  // uniform buffer.
  const gpu = await testGpu();
  const H = 4, Hkv = 2, D = 32, B = 2, T = 33, cut = 20, scale = 0.3;
  const att = await PrefillAttention.create(gpu, { H, Hkv, D, scale });
  const q = randn(7, B * T * H * D), k = randn(8, B * T * Hkv * D), v = randn(9, B * T * Hkv * D);
  const want = prefillAttentionRef(q, k, v, { B, Tq: T, Tk: T, H, Hkv, D, scale });
  // Split q and want by position per sequence: [B, T, H, D] → [B, cut, H, D] and [B, T-cut, H, D].
  const split = (x: Float32Array, from: number, to: number) => {
    const rows = to - from, out = new Float32Array(B * rows * H * D);
    for (let b = 0; b < B; b++) {
      out.set(x.subarray((b * T + from) * H * D, (b * T + to) * H * D), b * rows * H * D);
    }
    return out;
  };
  const kvPrefix = (x: Float32Array) => {
    const out = new Float32Array(B * cut * Hkv * D);
    for (let b = 0; b < B; b++) {
      out.set(x.subarray(b * T * Hkv * D, (b * T + cut) * Hkv * D), b * cut * Hkv * D);
    }
    return out;
  };
  const q1 = gpu.upload("q1", split(q, 0, cut)), q2 = gpu.upload("q2", split(q, cut, T));
  const k1 = gpu.upload("k1", kvPrefix(k)), v1 = gpu.upload("v1", kvPrefix(v));
  const k2 = gpu.upload("k2", k), v2 = gpu.upload("v2", v);
  const o1 = gpu.createBuffer("o1", B * cut * H * D * 4);
  const o2 = gpu.createBuffer("o2", B * (T - cut) * H * D * 4);
  try {
    gpu.submit((pass) => {
      att.encode(pass, { q: q1, k: k1, v: v1, out: o1, B, Tq: cut, Tk: cut });
      att.encode(pass, { q: q2, k: k2, v: v2, out: o2, B, Tq: T - cut, Tk: T });
    });
    const [r1, r2] = await gpu.read([{ buffer: o1 }, { buffer: o2 }]);
    assertClose(new Float32Array(r1), split(want, 0, cut), { label: "chunk 1" });
    assertClose(new Float32Array(r2), split(want, cut, T), { label: "chunk 2" });
  } finally {
    for (const b of [q1, q2, k1, v1, k2, v2, o1, o2]) gpu.destroy(b);
    att.destroy();
  }
});

const f16Cases: readonly Case[] = [
  { B: 2, Tq: 33, Tk: 40, H: 8, Hkv: 2, D: 64 }, // g = 4, chunked
  { B: 1, Tq: 7, Tk: 7, H: 8, Hkv: 1, D: 128 }, // g = 8
];

for (const c of f16Cases) {
  Deno.test(
    `kernel f16 storage matches reference on f16-rounded inputs: ${JSON.stringify(c)}`,
    async () => {
      const gpu = await testGpu();
      if (!gpu.f16) {
        console.log("  skipped: this device has no shader-f16");
        return;
      }
      const att = await PrefillAttention.create(gpu, { H: c.H, Hkv: c.Hkv, D: c.D, dtype: "f16" });
      try {
        const raw = inputs(c, 300 + c.D);
        const round = (x: Float32Array) => Float32Array.from(new Float16Array(x));
        const q = round(raw.q), k = round(raw.k), v = round(raw.v);
        const got = await runKernel(gpu, att, c, q, k, v);
        // Inputs are exact in f16 and the kernel accumulates in f32: what is left is the f16
        // rounding of the output (half an ulp: 2^-11 relative).
        assertClose(got, prefillAttentionRef(q, k, v, c), {
          atol: 1e-3,
          rtol: 1e-3,
          label: JSON.stringify(c),
        });
      } finally {
        att.destroy();
      }
    },
  );
}

// --- tile plan ---------------------------------------------------------------------------------

Deno.test("tile plan: every supported D and group size fits 32 KiB and 256 invocations", () => {
  const limits = {
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
  };
  for (let D = 4; D <= MAX_D; D += 4) {
    for (const g of [1, 2, 3, 4, 5, 8, 16, 32, 64]) {
      const p = planTiles(D, g, limits);
      const at = `D=${D} g=${g}: ${JSON.stringify(p)}`;
      assert.ok(p.bytes <= 32768 && p.bytes === workgroupBytes(D, p.ROWS, p.BK), at);
      assert.ok(p.WG <= 256 && p.WG === p.ROWS * p.TPR && p.ROWS === p.BQ * p.GS, at);
      assert.ok(g % p.GS === 0 && p.BK % p.TPR === 0, at);
      assert.ok(Math.ceil(D / 4 / p.TPR) <= 8 && p.BK / p.TPR <= 32, at);
    }
  }
  // GQA groups share tiles: all 8 heads of a group in one workgroup at D = 128.
  assert.equal(planTiles(128, 8, limits).GS, 8);
  assert.throws(
    () => planTiles(256, 1, { ...limits, maxComputeWorkgroupStorageSize: 8192 }),
    { name: "RangeError", message: /D=256, g=1: no attention tile fits this device/ },
  );
});

// --- bad inputs --------------------------------------------------------------------------------

Deno.test("create: bad options throw RangeError naming the value and the limit", async () => {
  const gpu = await testGpu();
  await assert.rejects(() => PrefillAttention.create(gpu, { H: 6, Hkv: 4, D: 64 }), {
    name: "RangeError",
    message: /H=6 query heads do not divide into Hkv=4 KV heads/,
  });
  for (const D of [30, 0, 260]) {
    await assert.rejects(() => PrefillAttention.create(gpu, { H: 2, Hkv: 1, D }), {
      name: "RangeError",
      message: `D (head dim): got ${D}, expected a multiple of 4 in [4, 256]`,
    });
  }
  await assert.rejects(
    () => PrefillAttention.create(gpu, { H: 2, Hkv: 1, D: 64, dtype: "bf16" as never }),
    { name: "RangeError", message: 'dtype: got "bf16", expected one of f32, f16' },
  );
  await assert.rejects(() => PrefillAttention.create(gpu, { H: 2, Hkv: 1, D: 64, scale: -1 }), {
    name: "RangeError",
    message: "scale: got -1, expected a finite number > 0",
  });
});

Deno.test("create: dtype f16 on a device without shader-f16 is refused", async () => {
  const gpu = await Gpu.open({ device: "auto", f16: false });
  try {
    assert.equal(gpu.f16, false);
    await assert.rejects(
      () => PrefillAttention.create(gpu, { H: 2, Hkv: 1, D: 64, dtype: "f16" }),
      { name: GpuError.name, message: /dtype "f16" needs the shader-f16 feature/ },
    );
  } finally {
    gpu.destroyAll();
    gpu.device.destroy();
  }
});

Deno.test("encode: bad shapes and buffers throw RangeError before recording", async () => {
  const gpu = await testGpu();
  const H = 4, Hkv = 2, D = 32;
  const att = await PrefillAttention.create(gpu, { H, Hkv, D });
  const B = 1, T = 8;
  const q = gpu.createBuffer("q", B * T * H * D * 4);
  const k = gpu.createBuffer("k", B * T * Hkv * D * 4);
  const v = gpu.createBuffer("v", B * T * Hkv * D * 4);
  const out = gpu.createBuffer("out", B * T * H * D * 4);
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  const args = { q, k, v, out, B, Tq: T, Tk: T };
  try {
    assert.throws(() => att.encode(pass, { ...args, Tq: 9, Tk: 8 }), {
      name: "RangeError",
      message: /^Tq=9 queries but Tk=8 keys: expected Tq ≤ Tk/,
    });
    assert.throws(() => att.encode(pass, { ...args, Tq: 0 }), {
      name: "RangeError",
      message: "Tq (queries): got 0, expected an integer ≥ 1",
    });
    assert.throws(() => att.encode(pass, { ...args, B: 1.5 }), {
      name: "RangeError",
      message: "B (batch): got 1.5, expected an integer ≥ 1",
    });
    assert.throws(() => att.encode(pass, { ...args, B: 2 }), {
      name: "RangeError",
      message:
        "q [B, Tq, H, D]: buffer holds 4096 bytes, needs 8192 for B=2, Tq=8, Tk=8, H=4, Hkv=2, D=32, f32",
    });
    assert.throws(() => att.encode(pass, { ...args, out: q }), {
      name: "RangeError",
      message: "out must be a different buffer from q, k and v",
    });
    const huge = Math.ceil(gpu.limits.maxStorageBufferBindingSize / (T * H * D * 4)) + 1;
    assert.throws(() => att.encode(pass, { ...args, B: huge }), {
      name: "RangeError",
      message: /^q \[B, Tq, H, D\] \(B=\d+, .*\): \d+ bytes is larger than one storage binding/,
    });
  } finally {
    pass.end();
    encoder.finish();
    for (const b of [q, k, v, out]) gpu.destroy(b);
    att.destroy();
  }
});
