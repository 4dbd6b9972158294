import assert from "node:assert/strict";
import { Gpu, isSoftwareAdapter, median, timeRuns } from "../engine/gpu/mod.ts";
import { testGpu } from "./helpers.ts";

Deno.test("adapter report names the adapter and flags software fallback", async () => {
  const gpu = await testGpu();
  assert.equal(typeof gpu.report.description, "string");
  assert.equal(gpu.report.fallback, isSoftwareAdapter(gpu.adapter.info));
  if (/llvmpipe|lavapipe/i.test(gpu.report.description)) assert.equal(gpu.report.fallback, true);
});

Deno.test("isSoftwareAdapter recognises llvmpipe by name", () => {
  const info = { vendor: "mesa", architecture: "", device: "", description: "llvmpipe (LLVM 15)" };
  assert.equal(isSoftwareAdapter(info as unknown as GPUAdapterInfo), true);
  const hw = { vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H100" };
  assert.equal(isSoftwareAdapter(hw as unknown as GPUAdapterInfo), false);
});

Deno.test("device gets the adapter's storage-binding limit, not the 128 MiB default", async () => {
  const gpu = await testGpu();
  assert.equal(
    gpu.device.limits.maxStorageBufferBindingSize,
    gpu.adapter.limits.maxStorageBufferBindingSize,
  );
});

Deno.test("--device gpu refuses a software adapter with a clear message", async () => {
  const gpu = await testGpu();
  if (!gpu.report.fallback) return; // nothing to refuse on a hardware adapter
  await assert.rejects(() => Gpu.open({ device: "gpu" }), /only a software adapter/);
});

Deno.test("bad --device value names the allowed values", async () => {
  await assert.rejects(
    () => Gpu.open({ device: "tpu" as never }),
    /got "tpu", expected one of auto, gpu, software/,
  );
});

Deno.test("buffer accounting tracks live and peak bytes from the allocations", async () => {
  const gpu = await testGpu();
  const base = gpu.liveBytes;
  gpu.resetPeak();
  const a = gpu.createBuffer("a", 1000);
  const b = gpu.createBuffer("b", 4096);
  assert.equal(gpu.liveBytes - base, a.size + b.size);
  gpu.destroy(a);
  assert.equal(gpu.liveBytes - base, b.size);
  assert.equal(gpu.peakBytes - base, 1000 + 4096);
  gpu.destroy(b);
  assert.equal(gpu.liveBytes, base);
  assert.throws(
    () => gpu.createBuffer("huge", gpu.limits.maxBufferSize + 4),
    /exceeds the device's maxBufferSize/,
  );
});

Deno.test("batched readback returns every buffer in one map", async () => {
  const gpu = await testGpu();
  const x = gpu.upload("x", new Float32Array([1, 2, 3]));
  const y = gpu.upload("y", new Uint32Array([7, 8]));
  const [rx, ry] = await gpu.read([{ buffer: x }, { buffer: y, offset: 4, size: 4 }]);
  assert.deepEqual([...new Float32Array(rx)], [1, 2, 3]);
  assert.deepEqual([...new Uint32Array(ry)], [8]);
  gpu.destroy(x);
  gpu.destroy(y);
});

Deno.test("pipeline cache keys on shader, entry point and override constants", async () => {
  const gpu = await testGpu();
  const code = `override K: f32 = 1.0;
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(1) fn main() { x[0] = K; }`;
  const before = gpu.pipelineCount;
  const p1 = await gpu.pipeline("t", code, "main", { K: 2 });
  const p2 = await gpu.pipeline("t", code, "main", { K: 2 });
  const p3 = await gpu.pipeline("t", code, "main", { K: 3 });
  assert.equal(p1, p2);
  assert.notEqual(p1, p3);
  assert.equal(gpu.pipelineCount, before + 2);
  const buf = gpu.createBuffer("x", 4);
  gpu.submit((pass) => {
    pass.setPipeline(p3);
    pass.setBindGroup(0, gpu.bindGroup(p3, [buf]));
    pass.dispatchWorkgroups(1);
  });
  const [r] = await gpu.read([{ buffer: buf }]);
  assert.equal(new Float32Array(r)[0], 3);
  gpu.destroy(buf);
  await assert.rejects(() => gpu.pipeline("bad", "fn main( {", "main"), /pipeline bad:main/);
});

Deno.test("timeRuns returns one positive time per run", async () => {
  const gpu = await testGpu();
  const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { x[g.x] = x[g.x] + 1.0; }`;
  const p = await gpu.pipeline("inc", code, "main");
  const buf = gpu.createBuffer("x", 64 * 4 * 16);
  const bg = gpu.bindGroup(p, [buf]);
  const t = await timeRuns(gpu, 3, (pass) => {
    pass.setPipeline(p);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(16);
  });
  assert.equal(t.ms.length, 3);
  assert.ok(t.ms.every((m) => m >= 0 && Number.isFinite(m)));
  assert.ok(median(t.ms) >= 0);
  const [r] = await gpu.read([{ buffer: buf }]);
  assert.equal(new Float32Array(r)[5], 3);
  gpu.destroy(buf);
});
