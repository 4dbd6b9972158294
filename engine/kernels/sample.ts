// Host side of sample.wgsl: ids [B] u32 = one token per row drawn from softmax(logits [B, V] / T)
// restricted to top-k, then top-p; seeded by (seed, b, steps[b]) and advancing steps[b] by one.
// The algorithm, its passes and its exactness are in the .wgsl header; the specification is
// engine/reference/sample.ts. Greedy decoding stays argmax.ts.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { DispatchCache, setF32 } from "./dispatch_cache.ts";
import { wgsl } from "./wgsl.ts";

/** What the kernel draws from (validated by checkSampling; the user-facing checks are in model). */
export interface SamplingParams {
  /** Softmax temperature, > 0 (0 is greedy decoding: argmax, not this kernel). */
  readonly temperature: number;
  /** Nucleus mass in (0, 1]; 1 keeps every token. */
  readonly topP: number;
  /** Keep the k largest logits (ties at the k-th all kept); 0 keeps every token. */
  readonly topK: number;
  /** RNG seed, a u32. */
  readonly seed: number;
}

export interface SampleArgs {
  /** [B, V] f32 */
  readonly logits: GPUBuffer;
  /** [B] u32, written */
  readonly ids: GPUBuffer;
  /** [B] u32 RNG counters: row b draws with counter steps[b], then steps[b] += 1 */
  readonly steps: GPUBuffer;
  readonly B: number;
  readonly V: number;
  readonly sampling: SamplingParams;
}

/** Throws RangeError naming the first parameter out of its range. */
export function checkSampling(s: SamplingParams): void {
  if (!(s.temperature > 0) || !Number.isFinite(1 / Math.fround(s.temperature))) {
    throw new RangeError(
      `temperature: got ${s.temperature}, expected a number > 0 whose inverse is a finite f32`,
    );
  }
  if (!(s.topP > 0 && s.topP <= 1)) {
    throw new RangeError(`topP: got ${s.topP}, expected a number in (0, 1]`);
  }
  checkInt("topK (0: off)", s.topK, 0, 2 ** 24);
  checkInt("seed", s.seed, 0, 2 ** 32 - 1);
}

/** Vocabularies below this get 64 threads a row (mostly idle at 256), larger ones 256. */
export const SMALL_VOCAB = 1024;

export class Sampler {
  readonly #cache: DispatchCache;

  private constructor(
    readonly gpu: Gpu,
    readonly wide: GPUComputePipeline,
    readonly narrow: GPUComputePipeline,
  ) {
    this.#cache = new DispatchCache(gpu, "sample");
  }

  static async create(gpu: Gpu): Promise<Sampler> {
    const code = [
      wgsl(new URL("./sample.wgsl", import.meta.url)),
      wgsl(new URL("./argmax_reduce.wgsl", import.meta.url)),
    ].join("\n");
    return new Sampler(
      gpu,
      await gpu.pipeline("sample", code, "main", { WG: 256 }),
      await gpu.pipeline("sample", code, "main", { WG: 64 }),
    );
  }

  encode(pass: GPUComputePassEncoder, a: SampleArgs): void {
    checkInt("B (batch)", a.B, 1, this.gpu.limits.maxComputeWorkgroupsPerDimension);
    checkInt("V (vocabulary)", a.V);
    checkSampling(a.sampling);
    if (a.logits.size < a.B * a.V * 4 || a.ids.size < a.B * 4 || a.steps.size < a.B * 4) {
      throw new RangeError(
        `sample: logits must hold [B=${a.B}, V=${a.V}] f32, ids and steps [B] u32`,
      );
    }
    const s = a.sampling;
    const topK = s.topK >= a.V ? 0 : s.topK;
    const words = new Uint32Array([a.B, a.V, topK, s.seed, 0, 0, 0, 0]);
    setF32(words, 4, 1 / s.temperature);
    setF32(words, 5, s.topP);
    const params = this.#cache.uniform(words);
    const pipeline = a.V < SMALL_VOCAB ? this.narrow : this.wide;
    const group = this.#cache.bind(pipeline, [params, a.logits, a.ids, a.steps]);
    dispatch(pass, pipeline, group, a.B);
  }

  destroy(): void {
    this.#cache.destroy();
  }
}
