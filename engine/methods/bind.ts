// Bind groups with explicit binding numbers, for modules whose entry points each use a subset of
// the module's bindings (a pipeline with layout "auto" lists only the bindings its entry point
// uses, so the group must name exactly those).

import type { Gpu } from "../gpu/mod.ts";

export function bindSome(
  gpu: Gpu,
  pipeline: GPUComputePipeline,
  entries: Readonly<Record<number, GPUBuffer>>,
): GPUBindGroup {
  return gpu.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: Object.entries(entries).map(([binding, buffer]) => ({
      binding: Number(binding),
      resource: { buffer },
    })),
  });
}

/** A uniform of 32-bit words, some of them f32: `floats` maps word index → value. */
export function paramWords(
  words: readonly number[],
  floats: Readonly<Record<number, number>> = {},
): Uint32Array {
  const u = new Uint32Array(Math.max(4, Math.ceil(words.length / 4) * 4));
  u.set(words);
  const f = new Float32Array(u.buffer);
  for (const [i, x] of Object.entries(floats)) f[Number(i)] = x;
  return u;
}
