import assert from "node:assert/strict";
import { CopyKernel } from "../engine/kernels/copy.ts";
import { copyRef } from "../engine/reference/copy.ts";
import { assertExact, testGpu } from "./helpers.ts";

for (const bytes of [16, 4096 + 48, 1 << 20]) {
  Deno.test(`copy kernel copies ${bytes} bytes exactly`, async () => {
    const gpu = await testGpu();
    const data = new Uint8Array(bytes + 32).map((_, i) => (i * 2654435761) >>> 24);
    const src = gpu.upload("src", data);
    const dst = gpu.createBuffer("dst", bytes + 32);
    const copy = await CopyKernel.create(gpu, src, dst, bytes);
    gpu.submit((pass) => copy.encode(pass));
    const [got] = await gpu.read([{ buffer: dst }]);
    const out = new Uint8Array(got);
    assertExact(out.subarray(0, bytes), copyRef(data, bytes), "copy");
    assert.ok(out.subarray(bytes).every((x) => x === 0), "bytes past the copy stay untouched");
    copy.destroy();
    gpu.destroy(src);
    gpu.destroy(dst);
  });
}

Deno.test("copy kernel rejects sizes that are not multiples of 16", async () => {
  const gpu = await testGpu();
  const b = gpu.createBuffer("b", 64);
  await assert.rejects(() => CopyKernel.create(gpu, b, b, 20), /expected a multiple of 16/);
  await assert.rejects(() => CopyKernel.create(gpu, b, b, 128), /do not fit/);
  gpu.destroy(b);
});
