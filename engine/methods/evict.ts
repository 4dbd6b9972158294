// Decode-time eviction: a per-layer object the model drives once per decode step, so a cache of
// capacity = the budget never grows. DecodeEvictor.fromPrompt compresses the prompt once (the
// Compressor: the method's prefill statistic, top-k, gather, the format's append) into a cache
// whose capacity is exactly the budget; encodeStep() then records, all on the GPU and with no
// readback, so N steps fit one command buffer:
//   1. select   (evict.wgsl) per (b, hk) the slot for the incoming token: the next free slot
//               below capacity, else the method's victim — the evictable token with the lowest
//               rank key (method.ts DecodeRule), ties to the older; its position is recorded in
//               `evicted`, the slot's position becomes the incoming token's
//   2. the cache's writeSlots() (engine/cache/format.ts SlotWritable): the token into that slot,
//               quantized as append() would (each KV head its own slot; counts stay equal)
//   3. advance  next position += 1
//   4. decode attention over the held tokens (engine/kernels/decode_attention.ts); for h2o and
//               tova its pass 1 also writes the raw scores scale·q·k [B, H, capacity]
//   5. stats    (h2o, tova) each held token's probability exp(s − max)/Σexp with (max, Σexp)
//               merged from pass 1's part_ml, mean over the group's G query heads, added to
//               (accumulated) or replacing (current) its statistic
// Eviction happens before the new token is stored, by the statistics of the steps so far, so the
// budget counts the token being decoded: h2o and tova are their papers' attend-then-evict loops
// with a cache of budget − 1 plus the new token, and memory stays at the budget throughout.
//
// What a step costs beyond plain decode (per token held, per KV head): select reads the position
// (and statistic) once, 4–8 bytes; h2o / tova's pass 1 writes G·4 bytes of raw scores and stats
// reads them back and reads + writes the 4-byte statistic — K is not read a second time. State
// kept beside the cache for the whole generation: pos [B, Hkv, capacity] u32 and, for h2o / tova,
// stat [B, Hkv, capacity] f32 (8 bytes per token per KV head; bytes() counts them); workspace: the
// raw scores [B, H, capacity] f32 and a few [B, Hkv] words (workspaceBytes()).
// Not here: KIVI (its 32-token key groups cannot lose one token: the composition is refused),
// streaming (chunked) prefill (stream.ts, which seeds an empty evictor with its held set),
// quest's page selection.

import type { KvCache, SlotWritable } from "../cache/format.ts";
import { canWriteSlots } from "../cache/format.ts";
import { createCache, getFormat, slotFormatNames } from "../cache/registry.ts";
import type { Gpu } from "../gpu/mod.ts";
import { DecodeAttention } from "../kernels/decode_attention.ts";
import { checkInt, groupSize } from "../shapes.ts";
import { type Budget, checkBudget } from "./budget.ts";
import { Compressor } from "./compress.ts";
import { type EvictBuffers, EvictKernels } from "./evict_kernels.ts";
import {
  checkBuffer,
  type DecodeRule,
  type Forced,
  type LayerInput,
  type MethodInfo,
  type Params,
  resolveParams,
} from "./method.ts";
import { METHODS, parseComposition } from "./registry.ts";

export interface EvictorOptions {
  /** "<method>" or "<method>+<format>" of a method with a decode rule: h2o, tova, streaming_llm. */
  readonly method: string;
  /** The method's parameters (defaults in its registry entry). */
  readonly params?: Params;
  /**
   * Tokens held per (b, hk), the cache's capacity: { ratio: x } keeps ceil(T/x) of a T-token
   * prompt, { budgetTokens: n } keeps n (fromPrompt: 1 ≤ n ≤ T; empty: any n ≥ 1).
   */
  readonly budget: Budget;
  /** Decode-attention splits (default: DecodeAttention's choice). */
  readonly splits?: number;
}

/** B sequences of one attention layer's heads: what an empty evictor is built for. */
export interface EvictorShape {
  readonly B: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Softmax scale (default 1 / sqrt(D)). */
  readonly scale?: number;
}

/** "No eviction: the step appended" in `evicted`. */
export const NO_EVICTION = 0xffffffff;

interface Plan {
  readonly method: MethodInfo;
  readonly format: string;
  readonly params: Params;
  readonly rule: DecodeRule;
}

/** Parses and validates a decode-time composition: its method evicts during decode, its format writes slots. */
export function planEviction(o: EvictorOptions): Plan {
  const { method, format } = parseComposition(o.method);
  if (method.mode === "sparse") {
    throw new RangeError(
      `${method.name} selects pages per decode step and evicts nothing ` +
        `(engine/methods/quest_layer.ts QuestLayer)`,
    );
  }
  if (!method.decode) {
    throw new RangeError(
      `${method.name} does not evict during decode (it compresses once after prefill: use the ` +
        `Compressor); decode-time methods: ${
          METHODS.filter((m) => m.decode).map((m) => m.name).join(", ")
        }`,
    );
  }
  if (!getFormat(format).slotWrites) {
    throw new RangeError(
      `${method.name}+${format}: decode-time eviction overwrites single tokens in place, and ` +
        `${format} cannot (its keys are quantized per channel over 32-token groups); it ` +
        `combines with ${slotFormatNames().join(", ")}`,
    );
  }
  const params = resolveParams(method, o.params ?? {});
  checkBudget(o.budget);
  if (o.splits !== undefined) checkInt("splits", o.splits);
  return { method, format, params, rule: method.decode };
}

/** The decode-time forced tokens at layer budget `budget`; throws unless one token is evictable. */
export function decodeForced(plan: Plan, budget: number): Forced {
  const f = plan.rule.forced(plan.params, budget);
  checkInt(`${plan.method.name} decode sinks`, f.sinks, 0);
  checkInt(`${plan.method.name} decode recent tokens`, f.recent, 0);
  // held tokens never evicted once the cache is full: the sinks and the recent − 1 older than
  // the incoming token; one more must exist
  const protectedCount = f.sinks + Math.max(0, f.recent - 1);
  if (protectedCount >= budget) {
    throw new RangeError(
      `${plan.method.name}: a budget of ${budget} tokens leaves no token to evict during decode ` +
        `(${f.sinks} sinks + ${f.recent} recent, the incoming one included); expected a budget ` +
        `> ${protectedCount}`,
    );
  }
  return f;
}

export class DecodeEvictor {
  /** Decode steps recorded so far. */
  steps = 0;
  readonly #params: GPUBuffer;
  readonly #binds: {
    readonly select: GPUBindGroup;
    readonly advance: GPUBindGroup;
    /** h2o, tova only. */
    readonly stats?: GPUBindGroup;
  };

  private constructor(
    readonly gpu: Gpu,
    readonly method: MethodInfo,
    readonly params: Params,
    /** The cache, capacity = budget; bytes() counts it and the per-slot state. */
    readonly cache: KvCache & SlotWritable,
    readonly attention: DecodeAttention,
    /** Tokens held per (b, hk): the cache's capacity. */
    readonly budget: number,
    /** Tokens never evicted during decode. */
    readonly forced: Forced,
    readonly rule: DecodeRule,
    readonly kernels: EvictKernels,
    /**
     * pos [B, Hkv, capacity] u32: the position of the token in each slot; stat [B, Hkv, capacity]
     * f32: accumulated (h2o) or current (tova) attention (4 bytes for streaming_llm); next [B]
     * u32: the incoming token's position; slots [B, Hkv] u32: the slot the last step wrote;
     * evicted [B, Hkv] u32: the position it evicted (NO_EVICTION: it appended).
     */
    readonly buffers: EvictBuffers,
  ) {
    this.#params = kernels.params(forced, attention.splits);
    this.#binds = {
      select: kernels.bindSelect(this.#params, buffers),
      advance: kernels.bindAdvance(this.#params, buffers),
      stats: attention.scores &&
        kernels.bindStats(this.#params, buffers, attention.scores, attention.partMl),
    };
  }

  /** Whether steps update a statistic (h2o, tova) rather than evict by position. */
  get usesStats(): boolean {
    return this.rule.rank !== "oldest";
  }

  /**
   * Compresses one layer's prompt (input: k, v [B, T, Hkv, D], qw [B, W, H, D] — h2o sums every
   * row given, so pass all T prompt queries) into a cache of capacity = the budget and readies
   * decode-time eviction. Resolves when the GPU is done with the inputs (the caller may destroy
   * them).
   */
  static async fromPrompt(gpu: Gpu, o: EvictorOptions, input: LayerInput): Promise<DecodeEvictor> {
    const plan = planEviction(o);
    const { B, T, H, Hkv, D, scale } = input.shape;
    const compressor = Compressor.create(gpu, {
      method: o.method,
      params: plan.params,
      budget: o.budget,
      inspect: true,
    });
    const budget = compressor.plan(input).budget;
    const forced = decodeForced(plan, budget);
    const r = await compressor.compress(input);
    let ev: DecodeEvictor | undefined;
    try {
      ev = await DecodeEvictor.#build(gpu, plan, o, r.cache, { B, H, Hkv, D, scale }, forced);
      const e = ev;
      const temp = e.kernels.params(forced, e.attention.splits, { K: budget, T });
      const bind = e.kernels.bindInit(temp, e.buffers, r.kept!, r.scores!);
      gpu.submit((pass) => e.kernels.encodeInit(pass, bind, budget));
      await gpu.device.queue.onSubmittedWorkDone();
      gpu.destroy(temp);
      return ev;
    } catch (e) {
      if (ev) ev.destroy();
      else r.cache.destroy();
      throw e;
    } finally {
      gpu.destroy(r.kept!);
      gpu.destroy(r.scores!);
    }
  }

  /**
   * An empty evictor holding up to budgetTokens tokens per (b, hk): steps append until the
   * cache is full, then evict (positions start at 0). Statistics start at 0.
   */
  static async empty(gpu: Gpu, o: EvictorOptions, shape: EvictorShape): Promise<DecodeEvictor> {
    const plan = planEviction(o);
    if (!("budgetTokens" in o.budget)) {
      throw new RangeError(
        `an empty evictor has no prompt to take a ratio of: expected { budgetTokens }, got ${
          JSON.stringify(o.budget)
        }`,
      );
    }
    const budget = o.budget.budgetTokens;
    groupSize(shape.H, shape.Hkv);
    const forced = decodeForced(plan, budget);
    const { B, Hkv, D } = shape;
    const cache = await createCache(gpu, plan.format, { B, Hkv, D, capacity: budget });
    try {
      return await DecodeEvictor.#build(gpu, plan, o, cache, shape, forced);
    } catch (e) {
      cache.destroy();
      throw e;
    }
  }

  static async #build(
    gpu: Gpu,
    plan: Plan,
    o: EvictorOptions,
    cache: KvCache,
    shape: EvictorShape,
    forced: Forced,
  ): Promise<DecodeEvictor> {
    if (!canWriteSlots(cache)) {
      throw new TypeError(`${cache.format} cache: no per-slot writes (a bug: planEviction passed)`);
    }
    await cache.prepareSlotWrites();
    const { B, Hkv, capacity } = cache.shape;
    const G = groupSize(shape.H, Hkv);
    const stats = plan.rule.rank !== "oldest";
    const kernels = await EvictKernels.create(gpu, { B, Hkv, G, capacity, rank: plan.rule.rank });
    const attention = await DecodeAttention.create(gpu, cache, {
      H: shape.H,
      scale: shape.scale,
      splits: o.splits,
      scores: stats,
    });
    const own: GPUBuffer[] = [];
    const make = (label: string, bytes: number) => {
      gpu.checkBinding(label, bytes);
      const b = gpu.createBuffer(label, bytes);
      own.push(b);
      return b;
    };
    try {
      const buffers: EvictBuffers = {
        lens: cache.lens,
        pos: make("evict.pos", B * Hkv * capacity * 4),
        stat: make("evict.stat", stats ? B * Hkv * capacity * 4 : 4),
        next: make("evict.next", B * 4),
        slots: make("evict.slots", B * Hkv * 4),
        evicted: make("evict.evicted", B * Hkv * 4),
      };
      return new DecodeEvictor(
        gpu,
        plan.method,
        plan.params,
        cache,
        attention,
        capacity,
        forced,
        plan.rule,
        kernels,
        buffers,
      );
    } catch (e) {
      for (const b of own) gpu.destroy(b);
      attention.destroy();
      throw e;
    }
  }

  /** "<method>+<format>". */
  get name(): string {
    return `${this.method.name}+${this.cache.format}`;
  }

  /**
   * Records one decode step: q [B, H, D] the new queries, k, v [B, Hkv, D] f32 the new token's
   * key and value (that is [B, 1, Hkv, D], as the model's decode scratch holds them), out
   * [B, H, D] the attention output over the held tokens (the new one included). Evicts first
   * when the cache is full, so it never holds more than the budget. No readback.
   */
  encodeStep(
    pass: GPUComputePassEncoder,
    q: GPUBuffer,
    k: GPUBuffer,
    v: GPUBuffer,
    out: GPUBuffer,
  ): void {
    const { B, Hkv, D } = this.cache.shape;
    const H = this.attention.H;
    checkBuffer("q [B, H, D]", q, [B, H, D]);
    checkBuffer("k [B, Hkv, D]", k, [B, Hkv, D]);
    checkBuffer("v [B, Hkv, D]", v, [B, Hkv, D]);
    checkBuffer("out [B, H, D]", out, [B, H, D]);
    this.kernels.encodeSelect(pass, this.#binds.select);
    this.cache.writeSlots(pass, k, v, this.buffers.slots);
    this.kernels.encodeAdvance(pass, this.#binds.advance);
    this.attention.encode(pass, q, out);
    if (this.#binds.stats) this.kernels.encodeStats(pass, this.#binds.stats);
    this.steps++;
  }

  /** Bytes held for the whole generation: the cache's allocations plus pos and stat. */
  bytes(): number {
    return this.cache.bytes() + this.buffers.pos.size + this.buffers.stat.size;
  }

  /** Per-step workspace: decode attention's (raw scores included) and the small buffers. */
  workspaceBytes(): number {
    const b = this.buffers;
    return this.attention.workspaceBytes() + this.#params.size + b.next.size + b.slots.size +
      b.evicted.size;
  }

  /** What a record says: method, format, params and the budget. */
  describe(): Record<string, unknown> {
    return {
      method: this.method.name,
      format: this.cache.format,
      params: this.params,
      budgetTokens: this.budget,
      mode: "decode",
    };
  }

  destroy(): void {
    const b = this.buffers;
    for (const x of [this.#params, b.pos, b.stat, b.next, b.slots, b.evicted]) this.gpu.destroy(x);
    this.attention.destroy();
    this.cache.destroy();
  }
}
