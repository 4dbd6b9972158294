// `deno bench --unstable-webgpu --allow-read --allow-env engine/kernels/gemv_bench.ts`: decode
// matmul (M = 1, N = K = 64, f32) with the scalar and the vector gemv, 20 dispatches per
// iteration, either one bind group throughout or alternating between two (as a model's layers
// do). On llvmpipe the vector kernel is the faster one on one bind group and several times the
// slower one when they alternate (docs/gpu.md), which is why Matmul's gemv "auto" picks the
// scalar kernel on software adapters. The adapter is whatever Gpu.open({ device: "auto" })
// finds; the bench group names it.

import { Gpu } from "../gpu/mod.ts";
import { randn } from "../reference/random.ts";
import { Matmul } from "./matmul.ts";
import { uploadMatrix } from "./matrix.ts";

const gpu = await Gpu.open({ device: "auto" });
const N = 64, K = 64, DISPATCHES = 20;
const sets = [1, 2].map((seed) => ({
  w: uploadMatrix(gpu, `W${seed}`, randn(seed, N * K, 0.2), N, K, "f32"),
  x: gpu.upload(`x${seed}`, randn(seed + 10, K * seed)),
  y: gpu.createBuffer(`y${seed}`, N * 4 * seed),
}));
const group = `gemv M=1 N=${N} K=${K} f32 × ${DISPATCHES}, ${gpu.report.description}`;

for (const gemv of ["scalar", "vector"] as const) {
  const mm = await Matmul.create(gpu, { dtype: "f32", gemv });
  for (const alternate of [false, true]) {
    Deno.bench({
      name: `${gemv}, ${alternate ? "alternating two bind groups" : "one bind group"}`,
      group,
      baseline: gemv === "scalar" && !alternate,
      async fn() {
        gpu.submit((pass) => {
          for (let i = 0; i < DISPATCHES; i++) {
            const s = sets[alternate ? i % 2 : 0];
            mm.encode(pass, { x: s.x, w: s.w, y: s.y, M: 1 });
          }
        });
        await gpu.read([{ buffer: sets[0].y }]);
      },
    });
  }
}
