// The model's per-token kernels against their float64 references (engine/reference/ops.ts):
// seeded random inputs, several shapes including ones off the workgroup sizes (64, 256, the
// 64×64 matmul tile, the 8-column gemv block), f32 and f16 weights, row-chunked weights.

import assert from "node:assert/strict";
import { Argmax } from "../engine/kernels/argmax.ts";
import { Embedding } from "../engine/kernels/embedding.ts";
import { destroyMatrix, uploadMatrix, type WeightDtype } from "../engine/kernels/matrix.ts";
import { Matmul } from "../engine/kernels/matmul.ts";
import { RmsNorm } from "../engine/kernels/rmsnorm.ts";
import { Rope, ropeTable } from "../engine/kernels/rope.ts";
import { Swiglu } from "../engine/kernels/swiglu.ts";
import {
  argmaxRef,
  embeddingRef,
  matmulRef,
  rmsnormRef,
  ropeRef,
  swigluRef,
} from "../engine/reference/ops.ts";
import { randn, rng } from "../engine/reference/random.ts";
import { ropeInvFreq, type RopeScaling } from "../engine/model/config.ts";
import { assertClose, assertExact, testGpu } from "./helpers.ts";

const f16 = (x: Float32Array) => x.map((v) => Math.f16round(v));

async function run(record: (pass: GPUComputePassEncoder) => void, out: GPUBuffer) {
  const gpu = await testGpu();
  gpu.submit(record);
  const [got] = await gpu.read([{ buffer: out }]);
  return got;
}

// --- matmul ------------------------------------------------------------------------------------

const MATMULS = [
  // [M, N, K, dtype, bias, accumulate, chunk rows]
  [1, 8, 32, "f32", false, false, 0], // gemv, one block
  [3, 37, 50, "f32", true, false, 0], // gemv, a part block, odd K
  [8, 130, 172, "f16", false, true, 0], // gemv at its row limit, fused residual
  [9, 65, 33, "f32", true, true, 0], // tiled, off every tile edge
  [70, 129, 64, "f16", true, false, 0], // tiled, two row tiles
  [5, 100, 24, "f16", false, false, 32], // gemv over 4 row chunks of W (32, 32, 32, 4)
  [66, 70, 40, "f32", true, true, 16], // tiled over 5 chunks
  // gemv_vec (16-byte loads): f16 with K % 8 = 0, f32 with K % 4 = 0
  [1, 8, 32, "f16", false, false, 0], // one word per lane or none
  [1, 37, 1024, "f16", true, false, 0], // 4 words per lane: the two-in-flight loop only
  [8, 130, 2056, "f16", false, true, 0], // 257 words: the loop and a tail word, 8 rows
  [3, 9, 200, "f32", true, true, 0], // 50 words, f32
  [2, 100, 96, "f16", true, false, 24], // over 5 row chunks of W
] as const;

// every shape with gemv "vector" (16-byte loads where K allows), the gemv ones with "scalar" too
const GEMVS = MATMULS.flatMap((c) =>
  c[0] <= 8 ? [[...c, "vector"], [...c, "scalar"]] as const : [[...c, "vector"]] as const
);

for (const [M, N, K, dtype, bias, acc, chunk, gemv] of GEMVS) {
  const name = `matmul M=${M} N=${N} K=${K} ${dtype}${bias ? " +bias" : ""}${acc ? " +=y" : ""}${
    chunk ? ` chunks of ${chunk} rows` : ""
  }${M <= 8 ? ` (gemv ${gemv})` : ""}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const seed = M * 7 + N * 13 + K;
    const x = randn(seed, M * K), w = randn(seed + 1, N * K, 0.2);
    const b = randn(seed + 2, N), y0 = randn(seed + 3, M * N);
    const rowBytes = K * (dtype === "f16" ? 2 : 4);
    const W = uploadMatrix(
      gpu,
      "W",
      w,
      N,
      K,
      dtype as WeightDtype,
      chunk ? chunk * rowBytes : undefined,
    );
    if (chunk) assert.equal(W.chunks.length, Math.ceil(N / chunk));
    const mm = await Matmul.create(gpu, {
      dtype: dtype as WeightDtype,
      bias,
      accumulate: acc,
      gemv,
    });
    const vec = gemv === "vector" && K % (dtype === "f16" ? 8 : 4) === 0;
    assert.equal(mm.path(M, K), M > 8 ? "tiled" : vec ? "gemv_vec" : "gemv");
    const xb = gpu.upload("x", x), yb = gpu.upload("y", y0), bb = gpu.upload("b", b);
    const got = await run(
      (pass) => mm.encode(pass, { x: xb, w: W, y: yb, M, bias: bias ? bb : undefined }),
      yb,
    );
    const want = matmulRef(
      x,
      dtype === "f16" ? f16(w) : w,
      M,
      N,
      K,
      bias ? b : undefined,
      acc ? y0 : undefined,
    );
    assertClose(new Float32Array(got), want, { atol: 1e-5, rtol: 1e-5, label: name });
    for (const buf of [xb, yb, bb]) gpu.destroy(buf);
    destroyMatrix(gpu, W);
    mm.destroy();
  });
}

Deno.test("matmul: wrong dtype, missing bias, short buffers and aliasing are refused", async () => {
  const gpu = await testGpu();
  const W = uploadMatrix(gpu, "W", randn(1, 8 * 4), 8, 4, "f16");
  const mm = await Matmul.create(gpu, { dtype: "f32" });
  const x = gpu.createBuffer("x", 4 * 4), y = gpu.createBuffer("y", 8 * 4);
  const enc = (f: (p: GPUComputePassEncoder) => void) => () => gpu.submit(f);
  assert.throws(enc((p) => mm.encode(p, { x, w: W, y, M: 1 })), /W is f16, this kernel reads f32/);
  const W32 = uploadMatrix(gpu, "W32", randn(1, 8 * 4), 8, 4);
  assert.throws(
    enc((p) => mm.encode(p, { x, w: W32, y, M: 2 })),
    /x \[M, K\] holds 16 bytes, needs 32/,
  );
  assert.throws(enc((p) => mm.encode(p, { x, w: W32, y, M: 1, bias: y })), /no bias expected/);
  assert.throws(enc((p) => mm.encode(p, { x: y, w: W32, y, M: 1 })), /different buffer/);
  assert.throws(
    () => uploadMatrix(gpu, "odd", randn(1, 6), 2, 3, "f16"),
    /even column count, got 3/,
  );
  assert.throws(
    () => uploadMatrix(gpu, "wide", randn(1, 64), 1, 64, "f32", 128),
    /wide: one row is 256 bytes, more than one storage binding can hold \(128 bytes\)/,
  );
  await assert.rejects(() => Matmul.create(gpu, { dtype: "f8" as WeightDtype }), /dtype: got "f8"/);
  for (const b of [x, y]) gpu.destroy(b);
  destroyMatrix(gpu, W);
  destroyMatrix(gpu, W32);
  mm.destroy();
});

// --- embedding ---------------------------------------------------------------------------------

for (
  const [V, C, N, dtype, chunk] of [[512, 64, 1, "f32", 0], [100, 10, 77, "f16", 0], [
    50,
    36,
    19,
    "f32",
    7,
  ]] as const
) {
  const name = `embedding V=${V} C=${C} N=${N} ${dtype}${chunk ? ` chunks of ${chunk} rows` : ""}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const table = randn(V + C, V * C);
    const r = rng(N);
    const ids = Array.from({ length: N }, () => Math.floor(r() * V));
    ids[0] = V - 1;
    const rowBytes = C * (dtype === "f16" ? 2 : 4);
    const T = uploadMatrix(gpu, "table", table, V, C, dtype, chunk ? chunk * rowBytes : undefined);
    const emb = await Embedding.create(gpu, dtype);
    const idb = gpu.upload("ids", new Uint32Array(ids)), out = gpu.createBuffer("out", N * C * 4);
    const got = await run((pass) => emb.encode(pass, { ids: idb, table: T, out, N }), out);
    assertExact(
      new Float32Array(got),
      embeddingRef(dtype === "f16" ? f16(table) : table, C, ids),
      name,
    );
    gpu.destroy(idb);
    gpu.destroy(out);
    destroyMatrix(gpu, T);
    emb.destroy();
  });
}

// --- rmsnorm -----------------------------------------------------------------------------------

for (
  const [rows, C, inPlace] of [[1, 64, false], [7, 8, true], [33, 200, false], [
    5,
    1000,
    true,
  ]] as const
) {
  const name = `rmsnorm rows=${rows} C=${C}${inPlace ? " in place" : ""}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const x = randn(rows * C, rows * C, 3), w = randn(C + 1, C);
    const norm = await RmsNorm.create(gpu, C, 1e-5);
    const xb = gpu.upload("x", x),
      wb = gpu.upload("w", w),
      out = gpu.createBuffer("out", x.byteLength);
    const got = await run(
      (pass) => norm.encode(pass, { x: xb, w: wb, out: inPlace ? undefined : out, rows }),
      inPlace ? xb : out,
    );
    assertClose(new Float32Array(got), rmsnormRef(x, w, C, 1e-5), {
      atol: 1e-5,
      rtol: 1e-5,
      label: name,
    });
    for (const b of [xb, wb, out]) gpu.destroy(b);
    norm.destroy();
  });
}

// --- rope --------------------------------------------------------------------------------------

const llama3: RopeScaling = {
  rope_type: "llama3",
  factor: 8,
  low_freq_factor: 1,
  high_freq_factor: 4,
  original_max_position_embeddings: 64,
};
for (
  const [B, T, heads, D, theta, scaling] of [
    [1, 1, 4, 8, 10000, null],
    [2, 5, 3, 16, 500000, llama3 as RopeScaling | null],
    [3, 17, 2, 128, 1e6, null],
  ] as const
) {
  const name = `rope B=${B} T=${T} heads=${heads} D=${D} theta=${theta}${scaling ? " llama3" : ""}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const x = randn(B * T * heads * D, B * T * heads * D);
    const pos = Array.from({ length: B }, (_, b) => b * 37);
    const inv = ropeInvFreq({ D, theta, scaling });
    const P = Math.max(...pos) + T;
    const table = ropeTable(inv, P);
    const rope = await Rope.create(gpu, D);
    const xb = gpu.upload("x", x), pb = gpu.upload("pos", new Uint32Array(pos));
    const tb = gpu.upload("table", table);
    const got = await run(
      (pass) => rope.encode(pass, { x: xb, pos: pb, table: tb, B, T, heads }),
      xb,
    );
    assertClose(new Float32Array(got), ropeRef(x, table, pos, { B, T, heads, D }), {
      atol: 1e-6,
      rtol: 1e-6,
      label: name,
    });
    for (const b of [xb, pb, tb]) gpu.destroy(b);
    rope.destroy();
  });
}

// --- swiglu and argmax -------------------------------------------------------------------------

for (const n of [1, 172 * 3, 10007]) {
  Deno.test(`swiglu n=${n}`, async () => {
    const gpu = await testGpu();
    const g = randn(n, n, 4), u = randn(n + 1, n);
    const sw = await Swiglu.create(gpu);
    const gb = gpu.upload("g", g), ub = gpu.upload("u", u);
    const got = await run((pass) => sw.encode(pass, { gate: gb, up: ub, n }), gb);
    assertClose(new Float32Array(got), swigluRef(g, u), {
      atol: 1e-6,
      rtol: 1e-5,
      label: `swiglu n=${n}`,
    });
    gpu.destroy(gb);
    gpu.destroy(ub);
    sw.destroy();
  });
}

for (const [B, V] of [[1, 512], [3, 1000], [2, 70001]] as const) {
  Deno.test(`argmax B=${B} V=${V} (ties go to the lowest index)`, async () => {
    const gpu = await testGpu();
    const logits = randn(B * V, B * V);
    // row 0: a tie between two maxima; the lower index must win
    logits[5] = 50;
    logits[V - 1] = 50;
    const am = await Argmax.create(gpu);
    const lb = gpu.upload("logits", logits), ib = gpu.createBuffer("ids", B * 4);
    const got = await run((pass) => am.encode(pass, { logits: lb, ids: ib, B, V }), ib);
    assert.deepEqual([...new Uint32Array(got)], argmaxRef(logits, V));
    assert.equal(new Uint32Array(got)[0], 5);
    gpu.destroy(lb);
    gpu.destroy(ib);
    am.destroy();
  });
}
