// Compresses one attention layer's prompt into a fresh, smaller cache of any registered format:
// the method scores the tokens on the GPU, the top-k keeps `budget` per (b, hk) (forced tokens
// first), the gather packs the kept keys and values densely, and the new cache's own append path
// stores them (so "snapkv+kivi4" quantizes the kept set). One command buffer per layer; nothing
// is read back. The caller destroys the full k and v afterwards: that is where memory drops.
// Not here: decode-time eviction (evict.ts, which starts from this compression), page
// selection (quest_layer.ts), streaming prefill (stream.ts: the same scorers, top-k and gather,
// chunk by chunk).
//
// Shapes (engine/shapes.ts): k, v [B, T, Hkv, D] f32, qw [B, W, H, D] f32 → a cache holding
// K = budget tokens per sequence, capacity K + room; scores [B, Hkv, T] f32 and kept
// [B, Hkv, K] u32 stay on the GPU only with `inspect`.

import type { KvCache } from "../cache/format.ts";
import { createCache } from "../cache/registry.ts";
import type { Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { type Budget, checkBudget, checkForced, forcedCount, resolveBudget } from "./budget.ts";
import { Gather } from "./gather.ts";
import {
  checkBuffer,
  checkLayerShape,
  type Forced,
  type LayerInput,
  type MethodInfo,
  type Params,
  resolveParams,
} from "./method.ts";
import { parseComposition } from "./registry.ts";
import { TopK } from "./topk.ts";

export interface CompressOptions {
  /** "<method>" or "<method>+<format>" (format default fp16), e.g. "snapkv+kivi4". */
  readonly method: string;
  /** The method's parameters (defaults in its registry entry). */
  readonly params?: Params;
  /** { ratio: x } keeps ceil(T/x) tokens per KV head; { budgetTokens: n } keeps n. */
  readonly budget: Budget;
  /** Decode tokens the compressed cache has room for beyond the kept ones (default 0). */
  readonly room?: number;
  /** Keep the scores and kept positions on the GPU for inspection (default false). */
  readonly inspect?: boolean;
}

export interface CompressedLayer {
  /** The new cache: K = budget tokens per sequence, capacity budget + room. */
  readonly cache: KvCache;
  /** This layer's budget: tokens kept per (b, hk). */
  readonly budget: number;
  readonly forced: Forced;
  /** scores [B, Hkv, T] f32 (inspect only; the caller destroys it). */
  readonly scores?: GPUBuffer;
  /** kept [B, Hkv, K] u32 positions, ascending (inspect only; the caller destroys it). */
  readonly kept?: GPUBuffer;
}

export class Compressor {
  private constructor(
    readonly gpu: Gpu,
    readonly method: MethodInfo,
    readonly format: string,
    readonly params: Params,
    readonly budget: Budget,
    readonly room: number,
    readonly inspect: boolean,
  ) {}

  /** Validates everything that does not depend on the prompt; throws RangeError/TypeError. */
  static create(gpu: Gpu, o: CompressOptions): Compressor {
    const { method, format } = parseComposition(o.method);
    if (method.mode === "sparse") {
      throw new RangeError(
        `${method.name} selects pages per decode step; it does not compress the prompt ` +
          `(engine/methods/quest_layer.ts QuestLayer reads the full cache)`,
      );
    }
    const params = resolveParams(method, o.params ?? {});
    checkBudget(o.budget);
    const room = o.room ?? 0;
    checkInt("room (decode tokens)", room, 0);
    return new Compressor(gpu, method, format, params, o.budget, room, o.inspect ?? false);
  }

  /** "<method>+<format>". */
  get name(): string {
    return `${this.method.name}+${this.format}`;
  }

  /** What a record says about the compression: method, format, params and the budget spec. */
  describe(): Record<string, unknown> {
    return { method: this.method.name, format: this.format, params: this.params, ...this.budget };
  }

  /** Tokens kept at layer `layer` of `numLayers` for a prompt of T tokens. */
  budgetFor(T: number, layer = 0, numLayers = 1): number {
    checkInt("numLayers", numLayers);
    checkInt("layer", layer, 0, numLayers - 1);
    const average = resolveBudget(this.budget, T);
    return this.method.layerBudget?.(this.params, average, T, layer, numLayers) ?? average;
  }

  /** Validates an input and returns its budget and forced tokens. */
  plan(input: LayerInput): { budget: number; forced: Forced } {
    const { B, T, H, Hkv, D, W = 0 } = input.shape;
    checkLayerShape(input.shape);
    checkBuffer("k [B, T, Hkv, D]", input.k, [B, T, Hkv, D]);
    checkBuffer("v [B, T, Hkv, D]", input.v, [B, T, Hkv, D]);
    const queries = this.method.queries(this.params);
    if (queries > 0) {
      if (queries > W || !input.qw) {
        throw new RangeError(
          `${this.method.name} scores with the prompt's last ${queries} queries: expected qw ` +
            `[B, W, H, D] with W ≥ ${queries}, got ${input.qw ? `W=${W}` : "no qw"}`,
        );
      }
      checkBuffer("qw [B, W, H, D]", input.qw, [B, W, H, D]);
    }
    const budget = this.budgetFor(T, input.layer ?? 0, input.numLayers ?? 1);
    const forced = this.method.forced(this.params, T, budget);
    checkForced(this.method.name, forced, T, budget);
    return { budget, forced };
  }

  /**
   * Compresses one layer into a new cache (see the file header). Resolves when the GPU has
   * finished with input.k, input.v and input.qw, so the caller may destroy them.
   */
  async compress(input: LayerInput): Promise<CompressedLayer> {
    const { budget, forced } = this.plan(input);
    const { B, T, H, Hkv, D } = input.shape;
    const gpu = this.gpu;
    const [scorer, topk, gather] = await Promise.all([
      this.method.scorer?.(gpu, this.params, { H, Hkv, D }),
      TopK.create(gpu),
      Gather.create(gpu, Hkv, D),
    ]);
    const cache = await createCache(gpu, this.format, { B, Hkv, D, capacity: budget + this.room });
    const scores = gpu.createBuffer("compress.scores", B * Hkv * T * 4); // zeros until scored
    const kept = gpu.createBuffer("compress.kept", B * Hkv * budget * 4);
    const kOut = gpu.createBuffer("compress.k", B * budget * Hkv * D * 4);
    const vOut = gpu.createBuffer("compress.v", B * budget * Hkv * D * 4);
    const temps: GPUBuffer[] = [kOut, vOut];
    try {
      gpu.submit((pass) => {
        if (scorer && budget > forcedCount(forced, T)) {
          temps.push(...scorer.encode(pass, input, scores));
        }
        temps.push(...topk.encode(pass, { B, Hkv, T }, scores, kept, budget, forced));
        const shape = { B, T, Hkv, D, K: budget };
        temps.push(...gather.encode(pass, shape, kept, input.k, input.v, kOut, vOut));
        cache.append(pass, kOut, vOut, budget);
      });
    } catch (e) {
      for (const b of [...temps, scores, kept]) gpu.destroy(b);
      cache.destroy();
      throw e;
    }
    // Resolve once the GPU is done with the inputs: the caller destroys k and v next, and the
    // workspace is freed here (no buffer is destroyed while a submitted pass may still read it).
    await gpu.device.queue.onSubmittedWorkDone();
    for (const b of temps) gpu.destroy(b);
    if (!this.inspect) {
      gpu.destroy(scores);
      gpu.destroy(kept);
      return { cache, budget, forced };
    }
    return { cache, budget, forced, scores, kept };
  }
}
