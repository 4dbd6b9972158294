// One generation run of a Model over B sequences: a KV cache per layer (any registry format),
// decode attention over each, the activation buffers, the RoPE table and positions, and the
// recording of the forward pass.
//
//   prefill(prompts)  one command buffer: all B prompts at once (right-padded to the longest,
//                     T tokens; causal attention keeps the padding out of every real token),
//                     each layer's k/v appended to its cache with counts = the prompt lengths,
//                     prefill attention over the f32 k/v scratch (shared by all layers), then
//                     each sequence's last token → final norm → logits → argmax on the GPU.
//                     With a compression `method` (engine/methods): no full cache is ever
//                     allocated. Prefill stays dense (attention over the whole prompt); after
//                     each layer's command buffer, that layer's post-RoPE k, v scratch
//                     [B, T, Hkv, D] and its queries (qw = the q scratch, W = T: scorers read the
//                     last `window` rows, h2o all of them) are compressed, and the next layer
//                     then overwrites the scratch. One host wait per layer. Every prompt of the
//                     batch must have the same length (the methods' budgets are per prompt of T
//                     tokens); ragged batches are refused with the lengths.
//                       one-shot (snapkv, pyramidkv, knorm, random, streaming_llm by default):
//                       Compressor.compress, a fresh cache of the layer's budget with room for
//                       max new tokens, which decode appends to as usual;
//                       evicting during decode (h2o, tova; streaming_llm with decodeEviction):
//                       DecodeEvictor.fromPrompt, a cache of capacity = the budget; each decode
//                       step evicts (once full) and stores the new token in the freed slot, so
//                       the cache never grows.
//                       sparse (quest): nothing is compressed. The caches are full, as without
//                       a method, and the prefill is the plain one (chunked too); afterwards
//                       each layer from QUEST_DENSE_LAYERS on gets a QuestLayer over its cache
//                       (engine/methods/quest_layer.ts), which each decode step drives instead
//                       of DecodeAttention: it reads only the pages whose key bounds are
//                       highest. The first layers keep plain decode attention.
//                     Chunked (`prefillChunk` N, full caches): the prompt goes through in chunks
//                     of N tokens, one command buffer each; every layer copies its chunk's k, v
//                     into that layer's f32 prompt store [T, Hkv, D] per sequence (allocated for
//                     the prefill only), and the chunk's attention reads the store (keys
//                     0 ..= t0 + i: the earlier chunks and its own), so the result is the
//                     unchunked prefill's, bit for bit (see chunkSpans); activations are B·N
//                     rows instead of B·T.
//                     Streaming (`prefill: "streaming"`, a method other than quest): chunks of
//                     N tokens (default DEFAULT_STREAM_CHUNK) as above, but each layer holds at
//                     most its budget + N tokens: the chunk attends over what the layer holds
//                     and itself, then the method compacts that back to the budget
//                     (engine/methods/stream.ts StreamCompressor). After the last chunk each
//                     layer's held set becomes its compressed cache (or evictor), as after the
//                     dense prefill; nothing prompt-sized is allocated (activations B·N rows).
//                     Positions are not cache lengths: `pos` [B] advances by the prompt length
//                     and one per step, so after compression RoPE still places the next token
//                     at T, while the cache holds `budget` tokens.
//   decode(n)         one command buffer for n steps, one compute pass each: the previous
//                     step's ids → embedding → layers (append one token — or the evictor's
//                     step — and decode attention over the stored, possibly quantized, form) →
//                     logits → argmax. Positions live on the GPU (`pos` [B]), so steps need no
//                     host round trip; each step's ids are copied into `outIds` [N, B] and read
//                     back in one batch (readIds).
//                     decode(n, { feed }) takes each step's input ids from `feed` [n, B] instead
//                     (teacher forcing; outIds still get the model's own choice), and
//                     decode(n, { logits }) copies each step's logits into `logits` [n, B, V]
//                     (fidelity_run.ts); without options the recorded commands are unchanged.
//                     shrink() after prefill swaps the prompt-sized activations for B-row ones.
//   sampling          with `sampling` (temperature > 0) the head draws from softmax(logits / T),
//                     with top-k / top-p, on the GPU (engine/kernels/sample.ts) instead of
//                     argmax: row b's draw number s (s = 0 for prefill's token) is seeded by
//                     (seed, b, s); the counters [B] live on the GPU and advance with each draw.
//   sliding window    a model with sliding_window W (mistral; qwen2/qwen3 layers from
//                     max_window_layers on, config.ts layerWindow): prefill attention (one chunk
//                     or many) masks keys more than W - 1 positions back. Where the run outgrows
//                     the window, such a layer's full cache rolls: capacity = W, the token at
//                     position p in slot p mod W (cache/format.ts CacheShape.ring), so it holds
//                     exactly the window and its bytes stop there — for the formats that store
//                     tokens independently (fp32, fp16, int8, int4). KIVI keeps the full
//                     capacity, and decode attention reads only its last W tokens (slot =
//                     position; the WINDOW mask). With a method, prompt + new tokens must fit
//                     in the window (refused otherwise: a method's compressed cache or quest's
//                     page selection does not apply it).
//
// Shapes (engine/shapes.ts letters; C hidden size, I intermediate size, V vocabulary; T the
// prompt, or a chunk, per sequence):
//   x, xn [B·T, C]; q, attn [B·T, H·D]; k, v [B·T, Hkv·D]; gate, up [B·T, I]; logits [B, V].
// Not here: tokenization, stopping at EOS and timing (generate.ts).

import { dispatch } from "../gpu/mod.ts";
import { heldTokens, type KvCache } from "../cache/format.ts";
import { createCache, getFormat } from "../cache/registry.ts";
import { DecodeAttention, SPLIT_ALIGN } from "../kernels/decode_attention.ts";
import { checkSampling, Sampler, type SamplingParams } from "../kernels/sample.ts";
import { GEMV_MAX_ROWS } from "../kernels/matmul.ts";
import { ropeTable } from "../kernels/rope.ts";
import type { Matrix } from "../kernels/matrix.ts";
import { type Budget, checkBudget, checkForced, resolveBudget } from "../methods/budget.ts";
import { Compressor } from "../methods/compress.ts";
import { DecodeEvictor, decodeForced, planEviction } from "../methods/evict.ts";
import {
  checkLayerShape,
  type LayerInput,
  type MethodInfo,
  type Params,
  resolveParams,
} from "../methods/method.ts";
import { QUEST_DENSE_LAYERS } from "../methods/quest.ts";
import { QuestLayer } from "../methods/quest_layer.ts";
import { parseComposition } from "../methods/registry.ts";
import { DEFAULT_STREAM_CHUNK, StreamCompressor } from "../methods/stream.ts";
import { checkInt } from "../shapes.ts";
import {
  checkEqualLengths,
  compositionName,
  fullCacheBytes,
  layerCacheShapes,
} from "./compression.ts";
import { layerWindow, positionLimit } from "./config.ts";
import type { Model } from "./model.ts";

export interface SessionOptions {
  /** Sequences decoded together. */
  readonly B: number;
  /** Longest prompt (tokens, BOS included). */
  readonly maxPrompt: number;
  /** Tokens to generate per sequence (the first comes from prefill). */
  readonly maxNewTokens: number;
  /** KV-cache format by registry name (engine/cache/registry.ts). */
  readonly format: string;
  /**
   * A compression method, "<method>" or "<method>+<format>" (engine/methods/registry.ts; a
   * "+<format>" part must name `format`): an eviction method (one-shot or decode-time), or quest
   * (sparse: full caches, page selection at decode). Absent: the full cache in `format`.
   */
  readonly method?: string;
  /** The method's parameters (defaults from its registry entry). */
  readonly params?: Params;
  /**
   * Required with a method: { ratio } or { budgetTokens } (engine/methods/budget.ts): tokens
   * kept per KV head, or for quest tokens read per decode step.
   */
  readonly budget?: Budget;
  /**
   * Evict during decode too (engine/methods/evict.ts DecodeEvictor), so the cache never grows
   * past the budget: for methods with a decode rule. Default: whether the method's mode is
   * "decode" (h2o, tova); streaming_llm runs either way. False for a decode-mode method is
   * refused.
   */
  readonly decodeEviction?: boolean;
  /**
   * "dense" (default): prefill attends over the whole prompt, then the method compresses.
   * "streaming": chunked prefill that compresses as it goes (see the header), so the prefill's
   * peak memory drops too; needs an eviction method (not quest).
   */
  readonly prefill?: PrefillMode;
  /**
   * Tokens per prefill chunk (see the header). Dense: full caches and quest only, default one
   * chunk; activations for B·N rows instead of B·T, plus per-layer f32 prompt stores while
   * prefill runs. Streaming: default DEFAULT_STREAM_CHUNK (512), and at least the method's
   * window (the queries it scores with); a prompt of ≤ N tokens is one chunk, the dense result.
   */
  readonly prefillChunk?: number;
  /**
   * Keep each one-shot layer's kept positions on the GPU after compression (readHeld; tests);
   * streaming prefill also reads back what every layer held after each chunk (chunkHeld).
   */
  readonly inspect?: boolean;
  /**
   * Sliding-window layers the run outgrows roll (their cache is the window; compression.ts
   * layerCacheShapes) unless this is false: then they keep the full capacity and decode masks
   * to the window (the only way for KIVI). Default true; false serves A/B runs and tests.
   */
  readonly rolling?: boolean;
  /**
   * Draw each token on the GPU (engine/kernels/sample.ts) instead of argmax; absent: greedy.
   * Validated (user-facing checks: sampling.ts resolveSampling).
   */
  readonly sampling?: SamplingParams;
}

/**
 * How a run's cache comes to be — format, method and the method's settings — as callers above
 * the session (generate, fidelity runs) take it: SessionOptions' own fields, format optional
 * (they default it from the method's "+<format>" part, else fp16).
 */
export type CacheOptions =
  & Partial<Pick<SessionOptions, "format">>
  & Pick<
    SessionOptions,
    "method" | "params" | "budget" | "decodeEviction" | "prefill" | "prefillChunk"
  >;

export type PrefillMode = "dense" | "streaming";
export const PREFILL_MODES: readonly PrefillMode[] = ["dense", "streaming"];

/** What a session's compression is (GenerateResult's `compression`). */
export interface SessionCompression {
  readonly method: string;
  /**
   * one-shot: compressed once after prefill; decode: evicted every step at the budget; sparse:
   * full caches, each decode step reads the selected pages (quest).
   */
  readonly mode: "one-shot" | "decode" | "sparse";
  readonly params: Params;
  /**
   * Per layer: tokens kept per (b, hk); sparse: tokens read per step at most (the budget,
   * rounded up to whole pages when read), and for the dense first layers the prompt T.
   */
  readonly budgets: readonly number[];
  /** How the prompt went in: attention over all of it, or chunks compressed as they came. */
  readonly prefill: PrefillMode;
  /** Tokens per prefill chunk when the prefill ran in chunks (always with "streaming"). */
  readonly prefillChunk?: number;
}

/** quest's plan: no Compressor; validated parameters and budget. */
interface SparsePlan {
  readonly method: MethodInfo;
  readonly format: string;
  readonly params: Params;
  readonly budget: Budget;
}

/** Options of one decode() call; without them the recorded commands are the plain ones. */
export interface DecodeOptions {
  /**
   * [steps, B] u32: step s feeds ids feed[s] instead of the previous step's output (teacher
   * forcing). The model's own choice still goes to the generated ids (readIds).
   */
  readonly feed?: GPUBuffer;
  /** [steps, B, V] f32, written: each step's logits (the logits buffer holds the newest only). */
  readonly logits?: GPUBuffer;
}

interface Buffers {
  ids: GPUBuffer; // [B·T] u32 prompt ids (right-padded with 0)
  last: GPUBuffer; // [B] u32 row of each sequence's last prompt token in x
  x: GPUBuffer;
  xn: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  attn: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  xl: GPUBuffer; // [B, C] last hidden states
  logits: GPUBuffer; // [B, V]
  next: GPUBuffer; // [B] u32 the newest ids
  pos: GPUBuffer; // [B] u32 position of the next token
  promptLens: GPUBuffer; // [B] u32
  ones: GPUBuffer; // [B] u32
  outIds: GPUBuffer; // [maxNewTokens, B] u32
  rope: GPUBuffer; // [capacity, D/2] (cos, sin)
}

export class Session {
  /** Tokens generated so far per sequence (all sequences advance together). */
  generated = 0;
  #lens: number[] = [];
  readonly #advance: { prefill: GPUBindGroup; step: GPUBindGroup };
  #prefilling = false;
  /** Per layer: tokens kept per (b, hk) by the method (set by prefill); absent without one. */
  budgets?: number[];
  /** Per layer (one-shot methods with inspect): kept [B, Hkv, K] u32 prompt positions. */
  readonly kept: GPUBuffer[] = [];
  /** Per layer (decode-time methods): the evictor that owns the layer's cache and attention. */
  readonly evictors: DecodeEvictor[] = [];
  /** Per layer from QUEST_DENSE_LAYERS on (quest, after prefill): page selection over its cache. */
  readonly quest: QuestLayer[] = [];
  /**
   * Streaming prefill with inspect: after chunk c, [layer][b][hk] → the prompt positions the
   * layer held (ascending): what chunk c + 1's queries saw besides their own chunk.
   */
  readonly chunkHeld: number[][][][][] = [];
  /** With sampling: the kernel and the RNG counters [B] u32 (draws made per sequence). */
  #sampler?: { kernel: Sampler; steps: GPUBuffer };

  private constructor(
    readonly model: Model,
    readonly o: SessionOptions,
    /** Per layer; with a method, empty until prefill puts the compressed caches here. */
    readonly caches: KvCache[],
    readonly attention: DecodeAttention[],
    readonly buf: Buffers,
    readonly own: GPUBuffer[],
    /** The method's compressor; undefined for a full cache. */
    readonly compressor: Compressor | undefined,
    /** Whether decode evicts (DecodeEvictor per layer) rather than appends. */
    readonly evicting: boolean,
    /** Bytes all layers' full caches take in this format (without a method: kvBytes()). */
    readonly kvBytesFull: number,
    sampler: { kernel: Sampler; steps: GPUBuffer } | undefined,
    /** quest: its method, parameters and budget (no compressor). */
    readonly sparse: SparsePlan | undefined,
    /** How the prompt goes in (streaming: with a compressor). */
    readonly prefillMode: PrefillMode,
    /** Tokens per prefill chunk, if the prefill runs in chunks. */
    readonly chunk: number | undefined,
  ) {
    this.#sampler = sampler;
    const gpu = model.gpu;
    const adv = model.kernels.advance;
    this.#advance = {
      prefill: gpu.bindGroup(adv, [buf.pos, buf.promptLens]),
      step: gpu.bindGroup(adv, [buf.pos, buf.ones]),
    };
  }

  /** Tokens each sequence spans: prompt + new tokens (a rolling layer's cache holds its window). */
  get capacity(): number {
    return this.o.maxPrompt + this.o.maxNewTokens;
  }

  static async create(model: Model, o: SessionOptions): Promise<Session> {
    const gpu = model.gpu;
    const c = model.config;
    checkInt("B (sequences)", o.B, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
    checkInt("maxPrompt (tokens)", o.maxPrompt);
    checkInt("maxNewTokens", o.maxNewTokens);
    getFormat(o.format); // an unknown name fails here, before any allocation
    if (o.sampling) checkSampling(o.sampling);
    const prefillMode = o.prefill ?? "dense";
    if (!PREFILL_MODES.includes(prefillMode)) {
      throw new RangeError(
        `prefill: got ${JSON.stringify(o.prefill)}, expected one of ${PREFILL_MODES.join(", ")}`,
      );
    }
    const streaming = prefillMode === "streaming";
    // method, parameters and budget: validated before any allocation too
    const composition = o.method === undefined
      ? undefined
      : parseComposition(compositionName(o.method, o.format));
    const sparse = composition?.method.mode === "sparse"
      ? planSparse(o, composition.method, composition.format)
      : undefined;
    const compressor = o.method === undefined || sparse ? undefined : Compressor.create(gpu, {
      method: compositionName(o.method, o.format),
      params: o.params,
      budget: requireBudget(o.method, o.budget),
      room: o.maxNewTokens,
      inspect: o.inspect,
    });
    const evicting = compressor !== undefined &&
      (o.decodeEviction ?? compressor.method.mode === "decode");
    if (compressor?.method.mode === "decode" && o.decodeEviction === false) {
      throw new RangeError(
        `decodeEviction: false, but ${compressor.method.name} evicts during decode by definition ` +
          "(its mode is decode)",
      );
    }
    if (evicting) {
      planEviction({ method: compressor.name, params: o.params, budget: compressor.budget });
    }
    if (streaming && o.method === undefined) {
      throw new RangeError(
        'prefill "streaming": needs a compression method (it compresses each chunk to the ' +
          "method's budget as the prompt goes in); for a full cache in chunks, give " +
          'prefillChunk N with prefill "dense"',
      );
    }
    if (streaming && sparse) {
      throw new RangeError(
        `prefill "streaming" with method "${o.method}": quest keeps every token, so there is ` +
          'nothing to compress while the prompt goes in; use prefill "dense" (prefillChunk N ' +
          "chunks it)",
      );
    }
    if (o.prefillChunk !== undefined) {
      checkInt("prefillChunk (tokens per prefill chunk)", o.prefillChunk);
      if (compressor && !streaming) {
        throw new RangeError(
          `prefillChunk ${o.prefillChunk} with method "${o.method}": chunked prefill runs with ` +
            "full caches only (the methods score from every prompt query and key at once); " +
            'prefill "streaming" chunks the prompt and compresses as it goes',
        );
      }
    }
    for (const [key, v] of [["budget", o.budget], ["decodeEviction", o.decodeEviction]]) {
      if (o.method === undefined && v !== undefined) {
        throw new RangeError(`${key} ${JSON.stringify(v)}: needs a method (none given)`);
      }
    }
    const capacity = o.maxPrompt + o.maxNewTokens;
    if (capacity > c.maxPositions) {
      throw new RangeError(
        `prompt (${o.maxPrompt} tokens) + max new tokens (${o.maxNewTokens}) = ${capacity} ` +
          `exceeds the model's ${positionLimit(c)}` + (c.extended ? "" : " (a longer context " +
            "needs the user's opt-in: Model.load positions, generate --max-positions / --rope-factor)"),
      );
    }
    if (c.slidingWindow !== null && capacity > c.slidingWindow && o.method !== undefined) {
      throw new RangeError(
        `method "${o.method}": prompt + new tokens = ${capacity} exceeds the model's ` +
          `sliding_window ${c.slidingWindow}; the window is applied over full caches only (a ` +
          "method's compressed cache or page selection does not apply it), so run this method within the " +
          `window (≤ ${c.slidingWindow} tokens) or without a method`,
      );
    }
    const { B } = o;
    const chunkSetting = streaming ? o.prefillChunk ?? DEFAULT_STREAM_CHUNK : o.prefillChunk;
    if (streaming) {
      const queries = compressor!.method.queries(compressor!.params);
      if (chunkSetting! < Math.min(queries, o.maxPrompt)) {
        throw new RangeError(
          `prefillChunk ${chunkSetting}: method "${compressor!.name}" scores each streaming ` +
            `chunk with its last ${queries} queries; expected a chunk of ≥ ${queries} tokens`,
        );
      }
    }
    const chunk = streaming
      ? Math.min(streamRows(chunkSetting!, B, compressor!), o.maxPrompt)
      : Math.min(chunkRows(chunkSetting ?? o.maxPrompt, B), o.maxPrompt);
    const rows = B * chunk;
    const own: GPUBuffer[] = [];
    const alloc = (label: string, bytes: number) => {
      gpu.checkBinding(
        `model scratch ${label} (B=${B}, ${chunk} prompt tokens at once: use a shorter prompt, ` +
          "a smaller batch or a prefill chunk)",
        bytes,
      );
      const b = gpu.createBuffer(`model.${label}`, bytes);
      own.push(b);
      return b;
    };
    const caches: KvCache[] = [];
    const attention: DecodeAttention[] = [];
    let sampler: { kernel: Sampler; steps: GPUBuffer } | undefined;
    try {
      if (o.sampling) sampler = { kernel: await Sampler.create(gpu), steps: alloc("steps", B * 4) };
      const HD = c.H * c.D, KD = c.Hkv * c.D;
      const buf: Buffers = {
        ids: alloc("ids", rows * 4),
        last: alloc("last", B * 4),
        x: alloc("x", rows * c.hidden * 4),
        xn: alloc("xn", rows * c.hidden * 4),
        q: alloc("q", rows * HD * 4),
        k: alloc("k", rows * KD * 4),
        v: alloc("v", rows * KD * 4),
        attn: alloc("attn", rows * HD * 4),
        gate: alloc("gate", rows * c.intermediate * 4),
        up: alloc("up", rows * c.intermediate * 4),
        xl: alloc("xl", B * c.hidden * 4),
        logits: alloc("logits", B * c.vocab * 4),
        next: alloc("next", B * 4),
        pos: alloc("pos", B * 4),
        promptLens: alloc("prompt_lens", B * 4),
        ones: alloc("ones", B * 4),
        outIds: alloc("out_ids", o.maxNewTokens * B * 4),
        rope: alloc("rope", capacity * c.D * 4),
      };
      gpu.write(buf.ones, new Uint32Array(B).fill(1));
      gpu.write(buf.rope, ropeTable(model.invFreq, capacity));
      const wrap = (e: unknown) => {
        if (!(e instanceof RangeError)) throw e;
        throw new RangeError(`cache format "${o.format}" for this model: ${e.message}`);
      };
      const shape = { B, Hkv: c.Hkv, D: c.D, capacity };
      const make = (
        compressor: Compressor | undefined,
        evicting: boolean,
        full: number,
      ) =>
        new Session(
          model,
          o,
          caches,
          attention,
          buf,
          own,
          compressor,
          evicting,
          full,
          sampler,
          sparse,
          prefillMode,
          chunkSetting,
        );
      if (compressor) {
        // the full cache is measured (one layer, allocated and destroyed), never kept
        const full = await fullCacheBytes(gpu, o.format, new Array(c.layers).fill(shape)).catch(
          wrap,
        );
        // every layer's budget, forced tokens and window against the longest prompt, now
        for (let l = 0; l < c.layers; l++) {
          planLayer(compressor, evicting, layerInput(c, buf, B, o.maxPrompt, l), streaming);
        }
        return make(compressor, evicting, full);
      }
      // a sliding-window layer whose window the run outgrows: a rolling cache of the window
      // where the format stores tokens independently, else the full capacity and a mask
      const shapes = layerCacheShapes(c, shape, o.format, o.rolling);
      for (let l = 0; l < c.layers; l++) {
        const cache = await createCache(gpu, o.format, shapes[l]).catch(wrap);
        caches.push(cache);
        // quest layers attend through their QuestLayer (made at prefill), not DecodeAttention
        if (!sparse || l < QUEST_DENSE_LAYERS) {
          attention[l] = await DecodeAttention.create(gpu, cache, {
            H: c.H,
            window: shapes[l].ring ? undefined : layerWindow(c, l),
          });
        }
      }
      const full = caches.reduce((s, k) => s + k.bytes(), 0);
      return make(undefined, false, full);
    } catch (e) {
      sampler?.kernel.destroy();
      for (const a of attention) a?.destroy();
      for (const k of caches) k.destroy();
      for (const b of own) gpu.destroy(b);
      throw e;
    }
  }

  /** What the session's compression is; undefined without a method. */
  get compression(): SessionCompression | undefined {
    const prefillChunk = this.chunk;
    const prefill = this.prefillMode;
    if (this.sparse) {
      const { method, params } = this.sparse;
      const budgets = this.budgets ?? [];
      return { method: method.name, mode: "sparse", params, budgets, prefill, prefillChunk };
    }
    const c = this.compressor;
    if (!c) return undefined;
    return {
      method: c.method.name,
      mode: this.evicting ? "decode" : "one-shot",
      params: c.params,
      budgets: this.budgets ?? [],
      prefill,
      prefillChunk,
    };
  }

  /** Logits [B, V] of the newest step (prefill: each sequence's last prompt token). */
  get logits(): GPUBuffer {
    return this.buf.logits;
  }

  /**
   * Bytes of all layers' KV caches, from their allocations (a decode-time evictor's cache plus
   * the per-slot positions and statistics it keeps for the whole generation; a quest layer's
   * cache plus its page metadata, once prefill has made it).
   */
  kvBytes(): number {
    return this.caches.reduce(
      (s, c, l) => s + (this.evictors[l]?.bytes() ?? this.quest[l]?.kvBytes() ?? c.bytes()),
      0,
    );
  }

  /**
   * KV bytes one decode step reads at the caches' current lengths (after generation: what the
   * last step read), summed over layers. A layer under plain decode attention reads every held
   * token's K and V: held tokens × the cache's allocated bytes per token slot (its bytes() ÷
   * (B·Hkv·capacity), so a full cache reads its stored bytes; for KIVI the average, the f16
   * residual spread over the capacity); a sliding-window layer only its window's tokens: all a
   * rolling cache holds, or from the 32-token group holding the first (readTokens). A quest
   * layer reads the selected pages' K and V plus
   * the page metadata its bounds scan (QuestLayer.bytesReadPerStep().total, same per-token
   * rule). Not counted: queries, partial outputs, an evictor's per-slot state.
   */
  bytesReadPerStep(): number {
    return this.caches.reduce((s, cache, l) => {
      const q = this.quest[l];
      const window = layerWindow(this.model.config, l);
      return s + (q ? q.bytesReadPerStep().total : denseReadBytes(cache, window));
    }, 0);
  }

  // --- prefill ---------------------------------------------------------------------------------

  /**
   * Records and submits the prefill of B prompts (token ids, each 1 ..= maxPrompt long). In one
   * chunk without a method it resolves at once (the GPU work is in flight; quest: once its
   * layers are made); with an eviction method, once every layer is compressed (the head's work
   * still in flight); in chunks (streaming too), once the GPU is done.
   */
  async prefill(prompts: readonly (readonly number[])[]): Promise<void> {
    const { B, maxPrompt } = this.o;
    const c = this.model.config;
    if (this.generated > 0) throw new Error("prefill: this session is already prefilled");
    if (prompts.length !== B) {
      throw new RangeError(`prefill: got ${prompts.length} prompts, expected B=${B}`);
    }
    prompts.forEach((p, b) => {
      checkInt(`prompt ${b} length`, p.length, 1, maxPrompt);
      p.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= c.vocab) {
          throw new RangeError(
            `prompt ${b}, token ${i}: got ${id}, expected an id in [0, ${c.vocab})`,
          );
        }
      });
    });
    if (this.#prefilling) throw new Error("prefill: already running");
    const T = Math.max(...prompts.map((p) => p.length));
    const lens = prompts.map((p) => p.length);
    const compressor = this.compressor;
    if (compressor) {
      checkEqualLengths(compressor.name, lens);
      for (let l = 0; l < c.layers; l++) {
        const input = layerInput(c, this.buf, B, T, l);
        planLayer(compressor, this.evicting, input, this.prefillMode === "streaming");
      }
    }
    const sparse = this.sparse;
    if (sparse) {
      const name = `${sparse.method.name}+${sparse.format}`;
      checkEqualLengths(name, lens);
      sparseBudget(name, sparse.budget, T);
    }
    const gpu = this.model.gpu;
    this.#lens = lens;
    gpu.write(this.buf.promptLens, new Uint32Array(lens));
    if (compressor && this.prefillMode === "streaming") {
      this.#prefilling = true;
      try {
        await this.#prefillStreaming(prompts, T, compressor);
      } finally {
        this.#prefilling = false;
      }
      return;
    }
    const chunk = this.o.prefillChunk;
    if (chunk !== undefined && chunk < T) {
      this.#prefilling = true;
      try {
        await this.#prefillChunked(prompts, T, chunk);
        if (sparse) await this.#questLayers(sparse, T);
      } finally {
        this.#prefilling = false;
      }
      return;
    }
    const ids = new Uint32Array(B * T);
    prompts.forEach((p, b) => ids.set(p, b * T));
    gpu.write(this.buf.ids, ids);
    gpu.write(this.buf.last, new Uint32Array(this.#lens.map((n, b) => b * T + n - 1)));

    const k = this.model.kernels;
    let encoder = gpu.device.createCommandEncoder();
    let pass = encoder.beginComputePass();
    k.embed.encode(pass, {
      ids: this.buf.ids,
      table: this.model.weights.embed,
      out: this.buf.x,
      N: B * T,
    });
    if (!compressor) {
      for (let l = 0; l < c.layers; l++) this.#layer(pass, l, T, "prefill");
    } else {
      this.#prefilling = true;
      try {
        this.budgets = [];
        for (let l = 0; l < c.layers; l++) {
          this.#layer(pass, l, T, "dense");
          pass.end();
          gpu.device.queue.submit([encoder.finish()]);
          await this.#compress(compressor, l, T);
          encoder = gpu.device.createCommandEncoder();
          pass = encoder.beginComputePass();
        }
      } finally {
        this.#prefilling = false;
      }
    }
    const x: Matrix = {
      label: "hidden states",
      rows: B * T,
      cols: c.hidden,
      dtype: "f32",
      chunks: [{ buffer: this.buf.x, row0: 0, rows: B * T }],
    };
    k.gather.encode(pass, { ids: this.buf.last, table: x, out: this.buf.xl, N: B });
    this.#head(pass, this.buf.xl, this.#advance.prefill);
    pass.end();
    encoder.copyBufferToBuffer(this.buf.next, 0, this.buf.outIds, 0, B * 4);
    gpu.device.queue.submit([encoder.finish()]);
    if (sparse) {
      this.#prefilling = true;
      try {
        await this.#questLayers(sparse, T);
      } finally {
        this.#prefilling = false;
      }
    }
    this.generated = 1;
  }

  /**
   * quest, after the prefill filled the full caches: a QuestLayer per layer from
   * QUEST_DENSE_LAYERS on, its budget resolved against the prompt's T tokens (its first decode
   * step builds the page metadata).
   */
  async #questLayers(sparse: SparsePlan, T: number): Promise<void> {
    const c = this.model.config;
    const budgets: number[] = [];
    for (let l = 0; l < c.layers; l++) {
      if (l < QUEST_DENSE_LAYERS) {
        budgets.push(T);
        continue;
      }
      const q = await QuestLayer.create(this.model.gpu, this.caches[l], {
        H: c.H,
        budget: sparse.budget,
        params: sparse.params,
        T,
      });
      this.quest[l] = q;
      budgets.push(q.budgetTokens);
    }
    this.budgets = budgets;
  }

  /** Prefill in chunks of `chunk` tokens (see the header); resolves when the GPU is done. */
  async #prefillChunked(
    prompts: readonly (readonly number[])[],
    T: number,
    chunk: number,
  ): Promise<void> {
    const m = this.model;
    const gpu = m.gpu;
    const c = m.config;
    const k = m.kernels;
    const b = this.buf;
    const { B } = this.o;
    const KD = c.Hkv * c.D, HD = c.H * c.D;
    const temps: GPUBuffer[] = [];
    const make = (label: string, bytes: number) => {
      gpu.checkBinding(`prefill chunk ${label} (T=${T}: use a shorter prompt)`, bytes);
      const buffer = gpu.createBuffer(`model.chunk.${label}`, bytes);
      temps.push(buffer);
      return buffer;
    };
    try {
      // per layer and sequence: the prompt's k, v so far [T, Hkv, D] f32
      const stores = Array.from(
        { length: c.layers },
        (_, l) =>
          Array.from({ length: B }, (_, s) => ({
            k: make(`k.${l}.${s}`, T * KD * 4),
            v: make(`v.${l}.${s}`, T * KD * 4),
          })),
      );
      // B > 1: each sequence's queries and attention output, for B = 1 attention over its store
      const most = chunkRows(chunk, B);
      const qs = B > 1 ? prompts.map((_, s) => make(`q.${s}`, most * HD * 4)) : [b.q];
      const os = B > 1 ? prompts.map((_, s) => make(`out.${s}`, most * HD * 4)) : [b.attn];
      const xl = make("last_hidden", B * c.hidden * 4);
      await this.#chunkLoop(prompts, chunkSpans(T, chunk, B), xl, (encoder, l, t0, n, counts) => {
        for (let s = 0; s < B; s++) {
          const rows = s * n * KD * 4, at = t0 * KD * 4, size = n * KD * 4;
          encoder.copyBufferToBuffer(b.k, rows, stores[l][s].k, at, size);
          encoder.copyBufferToBuffer(b.v, rows, stores[l][s].v, at, size);
          if (B > 1) encoder.copyBufferToBuffer(b.q, s * n * HD * 4, qs[s], 0, n * HD * 4);
        }
        const pass = encoder.beginComputePass();
        this.caches[l].append(pass, b.k, b.v, n, counts);
        for (let s = 0; s < B; s++) {
          const { k: ks, v: vs } = stores[l][s];
          k.prefill.encode(pass, {
            q: qs[s],
            k: ks,
            v: vs,
            out: os[s],
            B: 1,
            Tq: n,
            Tk: t0 + n,
            window: layerWindow(c, l),
          });
        }
        pass.end();
        if (B > 1) {
          for (let s = 0; s < B; s++) {
            encoder.copyBufferToBuffer(os[s], 0, b.attn, s * n * HD * 4, n * HD * 4);
          }
        }
      });
    } finally {
      // no buffer is destroyed while a submitted pass may still read it
      await gpu.device.queue.onSubmittedWorkDone();
      for (const buffer of temps) gpu.destroy(buffer);
    }
  }

  /**
   * Streaming prefill (see the header and engine/methods/stream.ts): chunks of the prompt, each
   * layer attending over what it holds and compacting back to its budget; then every layer's
   * held set becomes its compressed cache or evictor. One host wait per chunk (to free the
   * scorers' workspace) and per layer at the end. Resolves when the GPU is done.
   */
  async #prefillStreaming(
    prompts: readonly (readonly number[])[],
    T: number,
    compressor: Compressor,
  ): Promise<void> {
    const m = this.model;
    const gpu = m.gpu;
    const c = m.config;
    const b = this.buf;
    const { B } = this.o;
    const chunk = this.chunk!;
    const spans = streamSpans(T, chunk, B, compressor.method.queries(compressor.params));
    const stream = await StreamCompressor.create(gpu, compressor, {
      B,
      H: c.H,
      Hkv: c.Hkv,
      D: c.D,
      T,
      numLayers: c.layers,
      rows: Math.max(...spans.map(([, n]) => n)),
      evict: this.evicting,
    });
    let xl: GPUBuffer | undefined;
    let temps: GPUBuffer[] = [];
    const free = async () => {
      await gpu.device.queue.onSubmittedWorkDone();
      for (const buffer of temps) gpu.destroy(buffer);
      temps = [];
    };
    try {
      xl = gpu.createBuffer("model.chunk.last_hidden", B * c.hidden * 4);
      this.budgets = [];
      await this.#chunkLoop(prompts, spans, xl, (encoder, l, t0, n) => {
        const chunk = { q: b.q, k: b.k, v: b.v, out: b.attn, t0, n };
        temps.push(...stream.encodeLayer(encoder, l, chunk, m.kernels.prefill));
      }, async () => {
        await free();
        if (this.o.inspect) this.chunkHeld.push(await stream.readHeld());
      });
      await free();
      stream.releaseStore();
      for (let l = 0; l < c.layers; l++) {
        const r = await stream.finishLayer(l);
        this.budgets.push(r.budget);
        if ("evictor" in r) {
          this.evictors[l] = r.evictor;
          this.caches[l] = r.evictor.cache;
        } else {
          this.caches[l] = r.cache;
          if (r.kept) this.kept[l] = r.kept;
          this.attention[l] = await DecodeAttention.create(gpu, r.cache, { H: c.H });
        }
      }
    } finally {
      await free();
      if (xl) gpu.destroy(xl);
      stream.destroy();
    }
  }

  /**
   * The chunk loop of chunked and streaming prefill: per chunk [t0, n) one command buffer —
   * embedding; per layer the projections, then `attend` (records the attention into b.attn
   * with passes of its own: none is open when it is called or when it returns), then the MLP;
   * the last hidden state of every sequence that ends in the chunk into b.xl (through `xl`).
   * `after` runs once each chunk is submitted. Then the head: logits, the first token, positions
   * advanced by the prompt lengths.
   */
  async #chunkLoop(
    prompts: readonly (readonly number[])[],
    spans: readonly [number, number][],
    xl: GPUBuffer,
    attend: (
      encoder: GPUCommandEncoder,
      l: number,
      t0: number,
      n: number,
      counts: number[],
    ) => void,
    after?: () => Promise<void>,
  ): Promise<void> {
    const m = this.model;
    const gpu = m.gpu;
    const c = m.config;
    const k = m.kernels;
    const b = this.buf;
    const { B } = this.o;
    for (const [t0, n] of spans) {
      const ids = new Uint32Array(B * n);
      prompts.forEach((p, s) => ids.set(p.slice(t0, t0 + n), s * n));
      gpu.write(b.ids, ids);
      gpu.write(b.pos, new Uint32Array(B).fill(t0));
      const counts = this.#lens.map((len) => Math.max(0, Math.min(n, len - t0)));
      const ends = this.#lens.map((len, s) => (len - 1 >= t0 && len - 1 < t0 + n ? s : -1))
        .filter((s) => s >= 0);
      // each sequence's last row if it ends in this chunk, else its first (gathered, unused)
      const last = this.#lens.map((len, s) => s * n + (ends.includes(s) ? len - 1 - t0 : 0));
      gpu.write(b.last, new Uint32Array(last));
      const encoder = gpu.device.createCommandEncoder();
      let pass = encoder.beginComputePass();
      k.embed.encode(pass, { ids: b.ids, table: m.weights.embed, out: b.x, N: B * n });
      for (let l = 0; l < c.layers; l++) {
        this.#project(pass, l, n);
        pass.end();
        attend(encoder, l, t0, n, counts);
        pass = encoder.beginComputePass();
        this.#mlp(pass, l, B * n);
      }
      if (ends.length > 0) {
        const x: Matrix = {
          label: "hidden states",
          rows: B * n,
          cols: c.hidden,
          dtype: "f32",
          chunks: [{ buffer: b.x, row0: 0, rows: B * n }],
        };
        k.gather.encode(pass, { ids: b.last, table: x, out: xl, N: B });
      }
      pass.end();
      const C4 = c.hidden * 4;
      for (const s of ends) encoder.copyBufferToBuffer(xl, s * C4, b.xl, s * C4, C4);
      gpu.device.queue.submit([encoder.finish()]);
      await after?.();
    }
    gpu.write(b.pos, new Uint32Array(B)); // the head advances it by the prompt lengths
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.#head(pass, b.xl, this.#advance.prefill);
    pass.end();
    encoder.copyBufferToBuffer(b.next, 0, b.outIds, 0, B * 4);
    gpu.device.queue.submit([encoder.finish()]);
    this.generated = 1;
  }

  /**
   * Once prefill is done, swaps the activation buffers sized for the prompt (B·T rows, or a
   * chunk's) for ones of the B rows decode uses, and frees the big ones: for holding several
   * sessions at once (fidelity_run.ts). Waits for the GPU to finish the prefill. Decode is the
   * same with either set.
   */
  async shrink(): Promise<void> {
    if (this.generated === 0 || this.#prefilling) throw new Error("shrink: after prefill only");
    const gpu = this.model.gpu;
    const c = this.model.config;
    const { B } = this.o;
    await gpu.device.queue.onSubmittedWorkDone();
    const HD = c.H * c.D, KD = c.Hkv * c.D;
    const widths = [
      ["x", c.hidden],
      ["xn", c.hidden],
      ["q", HD],
      ["k", KD],
      ["v", KD],
      ["attn", HD],
      ["gate", c.intermediate],
      ["up", c.intermediate],
    ] as const;
    for (const [key, width] of widths) {
      const old = this.buf[key];
      if (old.size <= B * width * 4) continue;
      const fresh = gpu.createBuffer(`model.${key}`, B * width * 4);
      this.buf[key] = fresh;
      this.own[this.own.indexOf(old)] = fresh;
      gpu.destroy(old);
    }
  }

  /** Compresses layer l's k, v scratch into its cache (the layer's work is submitted). */
  async #compress(compressor: Compressor, l: number, T: number): Promise<void> {
    const m = this.model;
    const input = layerInput(m.config, this.buf, this.o.B, T, l);
    if (this.evicting) {
      const ev = await DecodeEvictor.fromPrompt(m.gpu, {
        method: compressor.name,
        params: compressor.params,
        budget: compressor.budget,
      }, input);
      this.evictors[l] = ev;
      this.caches[l] = ev.cache;
      this.budgets!.push(ev.budget);
      return;
    }
    const r = await compressor.compress(input);
    this.caches[l] = r.cache;
    this.budgets!.push(r.budget);
    if (r.scores) m.gpu.destroy(r.scores);
    if (r.kept) this.kept[l] = r.kept;
    this.attention[l] = await DecodeAttention.create(m.gpu, r.cache, { H: m.config.H });
  }

  /**
   * The positions each layer's cache holds now for sequence b: [layer][hk] → ascending
   * positions, prompt and generated tokens alike. Needs a method; one-shot methods need
   * `inspect` too (decode-time evictors always track their slots' positions).
   */
  async readHeld(b = 0): Promise<number[][][]> {
    const { B } = this.o;
    const { layers, Hkv } = this.model.config;
    checkInt("b (sequence)", b, 0, B - 1);
    if (!this.budgets || this.budgets.length !== layers || this.#prefilling) {
      throw new Error("readHeld: needs a method and a finished prefill");
    }
    if (this.sparse) throw new Error("readHeld: quest holds every token (nothing is evicted)");
    const sources = this.caches.map((cache, l) => {
      const ev = this.evictors[l];
      if (ev) return { buffer: ev.buffers.pos, K: cache.shape.capacity };
      if (!this.kept[l]) throw new Error("readHeld: one-shot methods need inspect: true");
      return { buffer: this.kept[l], K: this.budgets![l] };
    });
    const raw = await this.model.gpu.read(sources.map(({ buffer }) => ({ buffer })));
    const T = this.#lens[b];
    return raw.map((r, l) => {
      const all = new Uint32Array(r);
      const { K } = sources[l];
      const held = this.caches[l].lengths[b];
      return Array.from({ length: Hkv }, (_, hk) => {
        const at = (b * Hkv + hk) * K;
        if (this.evictors[l]) {
          return [...all.subarray(at, at + held)].sort((x, y) => x - y);
        }
        const kept = [...all.subarray(at, at + this.budgets![l])];
        const appended = held - this.budgets![l];
        return [...kept, ...Array.from({ length: appended }, (_, i) => T + i)];
      });
    });
  }

  // --- decode ----------------------------------------------------------------------------------

  /** Records and submits `steps` decode steps in one command buffer (options: DecodeOptions). */
  decode(steps: number, o?: DecodeOptions): void {
    const { B, maxNewTokens } = this.o;
    if (this.generated === 0) throw new Error("decode: prefill first");
    if (this.#prefilling) throw new Error("decode: prefill still running (await it)");
    checkInt("decode steps", steps, 1, maxNewTokens - this.generated);
    const gpu = this.model.gpu;
    const k = this.model.kernels;
    const V = this.model.config.vocab;
    if (o?.feed && o.feed.size < steps * B * 4) {
      throw new RangeError(`decode: feed must hold [steps=${steps}, B=${B}] u32`);
    }
    if (o?.logits && o.logits.size < steps * B * V * 4) {
      throw new RangeError(`decode: logits must hold [steps=${steps}, B=${B}, V=${V}] f32`);
    }
    const encoder = gpu.device.createCommandEncoder();
    for (let s = 0; s < steps; s++) {
      if (o?.feed) encoder.copyBufferToBuffer(o.feed, s * B * 4, this.buf.next, 0, B * 4);
      const pass = encoder.beginComputePass();
      k.embed.encode(pass, {
        ids: this.buf.next,
        table: this.model.weights.embed,
        out: this.buf.x,
        N: B,
      });
      for (let l = 0; l < this.model.config.layers; l++) this.#layer(pass, l, 1, "decode");
      this.#head(pass, this.buf.x, this.#advance.step);
      pass.end();
      encoder.copyBufferToBuffer(this.buf.next, 0, this.buf.outIds, this.generated * B * 4, B * 4);
      if (o?.logits) {
        encoder.copyBufferToBuffer(this.buf.logits, 0, o.logits, s * B * V * 4, B * V * 4);
      }
      this.generated++;
    }
    gpu.device.queue.submit([encoder.finish()]);
  }

  /** Generated ids [from, to) of every sequence: one readback. */
  async readIds(from = 0, to = this.generated): Promise<number[][]> {
    const { B } = this.o;
    checkInt("from", from, 0, to);
    if (to > this.generated) {
      throw new RangeError(`readIds: only ${this.generated} ids generated, asked for ${to}`);
    }
    if (to === from) return Array.from({ length: B }, () => []);
    const [raw] = await this.model.gpu.read([
      { buffer: this.buf.outIds, offset: from * B * 4, size: (to - from) * B * 4 },
    ]);
    const flat = new Uint32Array(raw);
    return Array.from({ length: B }, (_, b) => {
      const out: number[] = [];
      for (let s = 0; s < to - from; s++) out.push(flat[s * B + b]);
      return out;
    });
  }

  // --- the layers ------------------------------------------------------------------------------

  /**
   * One transformer layer over T tokens per sequence. "prefill": k, v appended to the cache,
   * attention over the f32 scratch; "dense": the same without the cache (compression follows);
   * "decode" (T = 1): append one token, attention over the stored form.
   */
  #layer(
    pass: GPUComputePassEncoder,
    l: number,
    T: number,
    mode: "prefill" | "dense" | "decode",
  ): void {
    const k = this.model.kernels;
    const b = this.buf;
    const { B } = this.o;
    this.#project(pass, l, T);
    if (mode === "decode") {
      const ev = this.evictors[l];
      if (ev) {
        ev.encodeStep(pass, b.q, b.k, b.v, b.attn);
      } else {
        this.caches[l].append(pass, b.k, b.v, 1);
        (this.quest[l] ?? this.attention[l]).encode(pass, b.q, b.attn);
      }
    } else {
      if (mode === "prefill") this.caches[l].append(pass, b.k, b.v, T, this.#lens);
      k.prefill.encode(pass, {
        q: b.q,
        k: b.k,
        v: b.v,
        out: b.attn,
        B,
        Tq: T,
        Tk: T,
        window: layerWindow(this.model.config, l),
      });
    }
    this.#mlp(pass, l, B * T);
  }

  /** Norm, q/k/v projections, q/k norms and RoPE (at pos[b] + t) of B·T rows of x. */
  #project(pass: GPUComputePassEncoder, l: number, T: number): void {
    const m = this.model;
    const c = m.config;
    const w = m.weights.layers[l];
    const k = m.kernels;
    const b = this.buf;
    const { B } = this.o;
    const M = B * T;
    k.norm.encode(pass, { x: b.x, w: w.inputNorm, out: b.xn, rows: M });
    m.matmul(w.q, c.qkvBias, false).encode(pass, { x: b.xn, w: w.q, bias: w.qBias, y: b.q, M });
    m.matmul(w.k, c.qkvBias, false).encode(pass, { x: b.xn, w: w.k, bias: w.kBias, y: b.k, M });
    m.matmul(w.v, c.qkvBias, false).encode(pass, { x: b.xn, w: w.v, bias: w.vBias, y: b.v, M });
    if (k.headNorm) {
      k.headNorm.encode(pass, { x: b.q, w: w.qNorm!, rows: M * c.H });
      k.headNorm.encode(pass, { x: b.k, w: w.kNorm!, rows: M * c.Hkv });
    }
    k.rope.encode(pass, { x: b.q, pos: b.pos, table: b.rope, B, T, heads: c.H });
    k.rope.encode(pass, { x: b.k, pos: b.pos, table: b.rope, B, T, heads: c.Hkv });
  }

  /** Output projection (+ residual) and the MLP block (+ residual) over M rows of attn, x. */
  #mlp(pass: GPUComputePassEncoder, l: number, M: number): void {
    const m = this.model;
    const c = m.config;
    const w = m.weights.layers[l];
    const k = m.kernels;
    const b = this.buf;
    m.matmul(w.o, c.oBias, true).encode(pass, { x: b.attn, w: w.o, bias: w.oBias, y: b.x, M });
    k.norm.encode(pass, { x: b.x, w: w.postNorm, out: b.xn, rows: M });
    m.matmul(w.gate, c.mlpBias, false).encode(pass, {
      x: b.xn,
      w: w.gate,
      bias: w.gateBias,
      y: b.gate,
      M,
    });
    m.matmul(w.up, c.mlpBias, false).encode(pass, { x: b.xn, w: w.up, bias: w.upBias, y: b.up, M });
    k.swiglu.encode(pass, { gate: b.gate, up: b.up, n: M * c.intermediate });
    m.matmul(w.down, c.mlpBias, true).encode(pass, {
      x: b.gate,
      w: w.down,
      bias: w.downBias,
      y: b.x,
      M,
    });
  }

  /** Final norm of h [B, C] → logits → argmax (or a draw) into next; then positions advance. */
  #head(pass: GPUComputePassEncoder, h: GPUBuffer, advance: GPUBindGroup): void {
    const m = this.model;
    const { B } = this.o;
    const c = m.config;
    m.kernels.norm.encode(pass, { x: h, w: m.weights.norm, out: this.buf.xn, rows: B });
    m.matmul(m.weights.lmHead, false, false).encode(pass, {
      x: this.buf.xn,
      w: m.weights.lmHead,
      y: this.buf.logits,
      M: B,
    });
    const s = this.#sampler;
    if (s) {
      s.kernel.encode(pass, {
        logits: this.buf.logits,
        ids: this.buf.next,
        steps: s.steps,
        B,
        V: c.vocab,
        sampling: this.o.sampling!,
      });
    } else {
      m.kernels.argmax.encode(pass, { logits: this.buf.logits, ids: this.buf.next, B, V: c.vocab });
    }
    dispatch(pass, m.kernels.advance, advance, Math.ceil(B / 64));
  }

  destroy(): void {
    this.#sampler?.kernel.destroy();
    for (const e of this.evictors) e?.destroy(); // with its cache and attention
    for (const q of this.quest) q?.destroy(); // not its cache
    for (const a of this.attention) a?.destroy();
    this.caches.forEach((k, l) => this.evictors[l] ? undefined : k?.destroy());
    for (const b of this.kept) if (b) this.model.gpu.destroy(b);
    for (const b of this.own) this.model.gpu.destroy(b);
  }
}

// --- prefill chunks ----------------------------------------------------------------------------

/**
 * [t0, n] of each prefill chunk of `chunk` tokens over a T-token prompt. A last chunk of B·n ≤
 * GEMV_MAX_ROWS rows joins the one before: every chunk of a prompt longer than that then runs
 * the matmul's tiled path, as the unchunked prefill does, so the two agree bit for bit (chunks
 * that small all through — B·chunk ≤ 8 — take the gemv path: equal to rounding only).
 */
export function chunkSpans(T: number, chunk: number, B: number): [number, number][] {
  const spans: [number, number][] = [];
  for (let t0 = 0; t0 < T; t0 += chunk) spans.push([t0, Math.min(chunk, T - t0)]);
  const last = spans[spans.length - 1];
  if (spans.length > 1 && B * last[1] <= GEMV_MAX_ROWS && B * chunk > GEMV_MAX_ROWS) {
    spans.pop();
    spans[spans.length - 1][1] += last[1];
  }
  return spans;
}

/** Rows per sequence the activations hold with chunks of `chunk` (a merged last chunk's). */
function chunkRows(chunk: number, B: number): number {
  return chunk + Math.floor(GEMV_MAX_ROWS / B);
}

/**
 * [t0, n] of each streaming prefill chunk: chunkSpans, then a last chunk of fewer than
 * `queries` tokens (the method's window) joins the one before, so every chunk that is scored
 * has the queries the method scores with.
 */
export function streamSpans(
  T: number,
  chunk: number,
  B: number,
  queries: number,
): [number, number][] {
  const spans = chunkSpans(T, chunk, B);
  const last = spans[spans.length - 1];
  if (spans.length > 1 && last[1] < queries) {
    spans.pop();
    spans[spans.length - 1][1] += last[1];
  }
  return spans;
}

/** Rows per sequence the activations hold with streaming chunks of `chunk` (see streamSpans). */
function streamRows(chunk: number, B: number, compressor: Compressor): number {
  const queries = compressor.method.queries(compressor.params);
  return chunk + Math.max(Math.floor(GEMV_MAX_ROWS / B), queries - 1);
}

// --- compression inputs --------------------------------------------------------------------------

/** quest's parameters and budget, validated against the longest prompt (no allocation). */
function planSparse(o: SessionOptions, method: MethodInfo, format: string): SparsePlan {
  const name = `${method.name}+${format}`;
  const budget = requireBudget(o.method!, o.budget);
  checkBudget(budget);
  const params = resolveParams(method, o.params ?? {});
  if (o.decodeEviction) planEviction({ method: name, params, budget }); // refuses, naming why
  sparseBudget(name, budget, o.maxPrompt);
  return { method, format, params, budget };
}

/** quest's budget resolved against a T-token prompt, with the prompt named in a RangeError. */
function sparseBudget(name: string, budget: Budget, T: number): number {
  try {
    return resolveBudget(budget, T);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new RangeError(`method "${name}" on a ${T}-token prompt: ${e.message}`);
  }
}

/** KV bytes plain decode attention reads over `cache` at its lengths (see bytesReadPerStep). */
function denseReadBytes(cache: KvCache, window?: number): number {
  const { B, Hkv, capacity, ring } = cache.shape;
  // a rolling cache holds just the window; a masked full one reads from the window's group
  const held = cache.lengths.reduce(
    (s, n) => s + (ring ? heldTokens(cache.shape, n) : readTokens(n, window)),
    0,
  );
  return Math.round(held * Hkv * (cache.bytes() / (B * Hkv * capacity)));
}

/**
 * Tokens decode attention reads of a sequence holding n: all of them, or under a sliding window
 * the window's tokens from the start of the 32-token group holding its first (SPLIT_ALIGN).
 */
export function readTokens(n: number, window?: number): number {
  if (window === undefined || n <= window) return n;
  return n - Math.floor((n - window) / SPLIT_ALIGN) * SPLIT_ALIGN;
}

function requireBudget(method: string, budget: Budget | undefined): Budget {
  if (budget === undefined) {
    throw new RangeError(
      `method "${method}": needs a budget, { ratio: x } (keep 1/x of the prompt) or ` +
        "{ budgetTokens: n } (keep n tokens per KV head)",
    );
  }
  return budget;
}

/** Layer l's compressor input: the k, v scratch and all T queries (the scorer reads the last). */
function layerInput(
  c: Model["config"],
  buf: Buffers,
  B: number,
  T: number,
  l: number,
): LayerInput {
  return {
    shape: { B, T, H: c.H, Hkv: c.Hkv, D: c.D, W: T },
    k: buf.k,
    v: buf.v,
    qw: buf.q,
    layer: l,
    numLayers: c.layers,
  };
}

/**
 * Compressor.plan with the prompt length named in any RangeError. Streaming: the shape, budget
 * and forced tokens only (the prompt's k, v never exist as buffers of T tokens).
 */
function planLayer(
  compressor: Compressor,
  evicting: boolean,
  input: LayerInput,
  streaming = false,
): void {
  const { T } = input.shape;
  const queries = compressor.method.queries(compressor.params);
  if (queries > T) {
    throw new RangeError(
      `method "${compressor.name}" scores with the prompt's last ${queries} queries, but the ` +
        `prompt has ${T} tokens; expected a prompt of ≥ ${queries} tokens (or a smaller window)`,
    );
  }
  try {
    const { budget } = streaming ? planShape(compressor, input) : compressor.plan(input);
    if (evicting) {
      decodeForced(
        planEviction({
          method: compressor.name,
          params: compressor.params,
          budget: { budgetTokens: budget },
        }),
        budget,
      );
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new RangeError(
      `method "${compressor.name}" on a ${T}-token prompt, layer ${input.layer}: ${e.message}`,
    );
  }
}

/** Compressor.plan without the buffers: the layer's budget and forced tokens for its shape. */
function planShape(compressor: Compressor, input: LayerInput): { budget: number } {
  const { T } = input.shape;
  checkLayerShape(input.shape);
  const budget = compressor.budgetFor(T, input.layer ?? 0, input.numLayers ?? 1);
  checkForced(
    compressor.method.name,
    compressor.method.forced(compressor.params, T, budget),
    T,
    budget,
  );
  return { budget };
}
