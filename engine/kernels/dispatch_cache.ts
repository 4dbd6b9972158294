// Per-kernel caches for what encode() would otherwise rebuild on every call: bind groups keyed
// by the identity of their buffers, and small uniform buffers keyed by their words. A decode
// step records the same dispatches with the same buffers hundreds of times; this keeps that
// free of allocations. Not a general resource manager: destroy() frees only the uniforms.

import type { Gpu } from "../gpu/mod.ts";

/** Bind groups one kernel keeps; a decode step needs a handful per kernel. */
const MAX_GROUPS = 1024;

const ids = new WeakMap<object, number>();
let nextId = 1;

/** A number unique to a GPU object for the life of the process. */
function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) {
    id = nextId++;
    ids.set(o, id);
  }
  return id;
}

export class DispatchCache {
  readonly #groups = new Map<string, GPUBindGroup>();
  readonly #uniforms = new Map<string, GPUBuffer>();

  constructor(readonly gpu: Gpu, readonly label: string) {}

  /** A bind group of `buffers` at bindings 0, 1, … for `pipeline` (group 0), built once. */
  bind(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]): GPUBindGroup {
    const key = `${objectId(pipeline)}|${buffers.map(objectId).join(",")}`;
    let group = this.#groups.get(key);
    if (!group) {
      // buffers of finished sessions leave stale entries: start over rather than grow forever
      if (this.#groups.size >= MAX_GROUPS) this.#groups.clear();
      group = this.gpu.bindGroup(pipeline, buffers);
      this.#groups.set(key, group);
    }
    return group;
  }

  /** A uniform buffer holding `words` (u32; a Float32Array's bits as written), built once. */
  uniform(words: Uint32Array): GPUBuffer {
    const key = words.join(",");
    let buffer = this.#uniforms.get(key);
    if (!buffer) {
      buffer = this.gpu.uniform(`${this.label}.params`, words);
      this.#uniforms.set(key, buffer);
    }
    return buffer;
  }

  destroy(): void {
    for (const b of this.#uniforms.values()) this.gpu.destroy(b);
    this.#uniforms.clear();
    this.#groups.clear();
  }
}

/** Sets slot i of u32 `words` to the bits of the f32 `x`; returns `words`. */
export function setF32(words: Uint32Array, i: number, x: number): Uint32Array {
  new Float32Array(words.buffer, words.byteOffset, words.length)[i] = x;
  return words;
}
