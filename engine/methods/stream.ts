// Streaming (compress-as-you-go) prefill for the eviction methods, one-shot (snapkv, pyramidkv,
// knorm, random, streaming_llm) and decode-time (h2o, tova: their prefill part): the prompt goes
// through the model in chunks of N tokens, and after each chunk every layer compacts what it
// holds back to its budget, so no layer ever holds more than budget + N tokens of k, v — the
// prompt-sized k, v and activations of the dense prefill are never allocated. The model drives
// it (engine/model/session.ts): per chunk and layer, encodeLayer() records, with no readback,
//   1. load       the store ← the layer's held set (slots in ascending position order) then the
//                 chunk's k, v [B, n, Hkv, D] (copies; rows of the store are held + n tokens)
//   2. extend     the store's absolute positions (stream.wgsl): held ones, then t0 + i
//   3. attention  the chunk's queries over the store, causal (prefill_attention: query i of the
//                 chunk sees every held token and the chunk's first i + 1)
//   4. score      only when it matters: the store holds more than the budget, the method
//                 accumulates (h2o), or the last chunk of a decode-time run (its statistics seed
//                 the evictor). The method's own scorer over the store as a layer input of
//                 T = held + n tokens whose last W = n queries are the chunk's: window methods
//                 read the chunk's last `window` queries (so a chunk is ≥ window tokens), h2o
//                 sums the chunk's rows and adds the held tokens' sums so far (attention
//                 accumulated over the whole prompt, as far as each chunk could see it), tova
//                 reads the chunk's last query, knorm the key norms; random hashes the absolute
//                 position (stream.wgsl), not the slot, so it draws the dense prompt's set
//   5. compact    when held + n > budget: top-k with the method's forced tokens (sinks, recent
//                 window: the store's first and last slots hold the first and newest positions,
//                 as every compaction forced them), gather into the held set, positions and
//                 statistics follow; otherwise the store becomes the held set as it is.
// After the last chunk the held set is the layer's compressed prompt: finishLayer() stores it in
// a fresh cache of the method's format (room for the new tokens), or for a decode-time run in a
// DecodeEvictor whose slot positions and statistics are the held set's, so decode goes on as
// after a dense prefill.
//
// What differs from the dense prefill: a chunk's queries see only what earlier compactions kept,
// so the k, v of later layers (and every score) change — the accuracy cost the benchmark measures.
// Window max-pooling runs over neighbouring slots, which are neighbouring kept positions. With a
// budget ≥ the prompt nothing is dropped and, with one chunk, every step is the dense one's.
//
// Memory: per layer, the held set k, v [B, budget, Hkv, D] f32 plus positions and statistics
// [B, Hkv, budget] (u32, f32); shared by all layers, the store k, v [B, budget_max + N, Hkv, D],
// its positions and scores [B, Hkv, budget_max + N] and the kept slots [B, Hkv, budget_max].
// Not here: the forward pass (session.ts), quest (it keeps every token: nothing to stream).

import type { KvCache } from "../cache/format.ts";
import { grid2d } from "../cache/grid.ts";
import { createCache } from "../cache/registry.ts";
import { dispatch, type Gpu } from "../gpu/mod.ts";
import type { PrefillAttention } from "../kernels/prefill_attention.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import type { Compressor } from "./compress.ts";
import { DecodeEvictor } from "./evict.ts";
import { Gather } from "./gather.ts";
import type { LayerInput, Scorer } from "./method.ts";
import { RANDOM } from "./random.ts";
import { TopK } from "./topk.ts";

/** Prompt tokens per streaming chunk when none is given. */
export const DEFAULT_STREAM_CHUNK = 512;

export interface StreamOptions {
  readonly B: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Prompt tokens per sequence (every sequence the same). */
  readonly T: number;
  readonly numLayers: number;
  /** Most tokens per sequence one chunk brings (sizes the shared store). */
  readonly rows: number;
  /** Decode-time eviction follows (DecodeEvictor per layer), else a one-shot cache. */
  readonly evict: boolean;
}

/** One chunk of one layer: its queries, keys, values after RoPE and the attention output. */
export interface StreamChunk {
  /** [B, n, H, D] f32 */
  readonly q: GPUBuffer;
  /** [B, n, Hkv, D] f32 */
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  /** [B, n, H, D] f32, written */
  readonly out: GPUBuffer;
  /** The chunk's first position and its tokens per sequence. */
  readonly t0: number;
  readonly n: number;
}

/** A layer after its last chunk: a one-shot cache, or a decode-time evictor. */
export type StreamedLayer =
  | { readonly cache: KvCache; readonly budget: number; readonly kept?: GPUBuffer }
  | { readonly evictor: DecodeEvictor; readonly budget: number };

interface Held {
  /** Tokens held per (b, hk) now. */
  n: number;
  /** finishLayer() took it: its buffers are freed or handed over. */
  done: boolean;
  readonly k: GPUBuffer; // [B, n, Hkv, D] f32
  readonly v: GPUBuffer;
  readonly pos: GPUBuffer; // [B, Hkv, n] u32 absolute positions, ascending
  readonly stat: GPUBuffer; // [B, Hkv, n] f32 the method's statistic (h2o: accumulated)
}

interface Store {
  readonly cap: number;
  readonly k: GPUBuffer; // [B, held + n, Hkv, D] f32
  readonly v: GPUBuffer;
  readonly pos: GPUBuffer; // [B, Hkv, held + n] u32
  readonly scores: GPUBuffer; // [B, Hkv, held + n] f32
  readonly kept: GPUBuffer; // [B, Hkv, K] u32 store slots
}

type Entry = "extend" | "accumulate" | "random" | "compact";

export class StreamCompressor {
  #store?: Store;

  private constructor(
    readonly gpu: Gpu,
    readonly compressor: Compressor,
    readonly o: StreamOptions,
    /** Tokens each layer keeps at the end (the method's layer budget for the prompt). */
    readonly budgets: readonly number[],
    readonly scorer: Scorer | undefined,
    readonly topk: TopK,
    readonly gather: Gather,
    readonly pipelines: Readonly<Record<Entry, GPUComputePipeline>>,
    store: Store,
    readonly held: Held[],
  ) {
    this.#store = store;
  }

  /**
   * Allocates the shared store and every layer's held set for a prompt of o.T tokens. The
   * compressor's method, parameters and budgets are assumed planned (Session planLayer); a
   * chunk that cannot feed the method's window is refused here.
   */
  static async create(
    gpu: Gpu,
    compressor: Compressor,
    o: StreamOptions,
  ): Promise<StreamCompressor> {
    const { B, H, Hkv, D, T, numLayers } = o;
    checkInt("T (prompt tokens)", T);
    checkInt("rows (tokens per chunk)", o.rows);
    const method = compressor.method;
    const queries = method.queries(compressor.params);
    if (Math.min(o.rows, T) < queries) {
      throw new RangeError(
        `streaming prefill: method "${compressor.name}" scores with the last ${queries} queries ` +
          `of a chunk; expected chunks of ≥ ${queries} tokens, got ${o.rows}`,
      );
    }
    const budgets = Array.from(
      { length: numLayers },
      (_, l) => compressor.budgetFor(T, l, numLayers),
    );
    const most = Math.max(...budgets);
    const cap = most + Math.min(o.rows, T);
    const KD = Hkv * D;
    const random = method === RANDOM;
    const [scorer, topk, gather, pipelines] = await Promise.all([
      random ? undefined : method.scorer?.(gpu, compressor.params, { H, Hkv, D }),
      TopK.create(gpu),
      Gather.create(gpu, Hkv, D),
      streamPipelines(gpu, Hkv),
    ]);
    const own: GPUBuffer[] = [];
    const make = (label: string, bytes: number) => {
      gpu.checkBinding(
        `streaming prefill ${label} (B=${B}, budget ${most} + chunk ${o.rows} tokens: use a ` +
          "smaller budget, chunk or batch)",
        bytes,
      );
      const b = gpu.createBuffer(`stream.${label}`, bytes);
      own.push(b);
      return b;
    };
    try {
      const store: Store = {
        cap,
        k: make("store.k", B * cap * KD * 4),
        v: make("store.v", B * cap * KD * 4),
        pos: make("store.pos", B * Hkv * cap * 4),
        scores: make("store.scores", B * Hkv * cap * 4),
        kept: make("store.kept", B * Hkv * most * 4),
      };
      const held = budgets.map((K, l): Held => ({
        n: 0,
        done: false,
        k: make(`held.${l}.k`, B * K * KD * 4),
        v: make(`held.${l}.v`, B * K * KD * 4),
        pos: make(`held.${l}.pos`, B * Hkv * K * 4),
        stat: make(`held.${l}.stat`, B * Hkv * K * 4),
      }));
      return new StreamCompressor(
        gpu,
        compressor,
        o,
        budgets,
        scorer,
        topk,
        gather,
        pipelines,
        store,
        held,
      );
    } catch (e) {
      for (const b of own) gpu.destroy(b);
      throw e;
    }
  }

  /** Whether h2o-style statistics accumulate over the chunks. */
  get accumulates(): boolean {
    return this.compressor.method.decode?.rank === "accumulated";
  }

  /** Whether the last chunk's statistics seed a decode-time evictor (h2o, tova). */
  get seedsStats(): boolean {
    const rank = this.compressor.method.decode?.rank;
    return this.o.evict && rank !== undefined && rank !== "oldest";
  }

  /**
   * Records layer l's attention for one chunk and the compaction that follows (see the header)
   * into `encoder`, in passes of its own (none is open before or after). Returns the buffers to
   * free once the submitted work is done. Chunks come in order, t0 = the tokens so far.
   */
  encodeLayer(
    encoder: GPUCommandEncoder,
    l: number,
    c: StreamChunk,
    attention: PrefillAttention,
  ): GPUBuffer[] {
    const s = this.#store;
    if (!s) throw new Error("streaming prefill: the store is released (after the last chunk)");
    const { B, H, Hkv, D, T, numLayers } = this.o;
    checkInt("layer", l, 0, numLayers - 1);
    const h = this.held[l];
    const K = this.budgets[l];
    const { t0, n } = c;
    checkInt("chunk tokens", n, 1, T - t0);
    const Hn = h.n;
    const Tc = Hn + n;
    if (Tc > s.cap) {
      throw new RangeError(`streaming prefill: ${Tc} tokens exceed the store's ${s.cap} (a bug)`);
    }
    const KD = Hkv * D;
    const compact = Tc > K;
    const last = t0 + n === T;
    const score = compact || this.accumulates || (last && this.seedsStats);
    const method = this.compressor.method;
    const random = method === RANDOM;
    // 1. load: held rows then the chunk's, per sequence (row strides differ)
    for (let b = 0; b < B; b++) {
      const at = b * Tc * KD * 4;
      if (Hn > 0) {
        encoder.copyBufferToBuffer(h.k, b * Hn * KD * 4, s.k, at, Hn * KD * 4);
        encoder.copyBufferToBuffer(h.v, b * Hn * KD * 4, s.v, at, Hn * KD * 4);
      }
      encoder.copyBufferToBuffer(c.k, b * n * KD * 4, s.k, at + Hn * KD * 4, n * KD * 4);
      encoder.copyBufferToBuffer(c.v, b * n * KD * 4, s.v, at + Hn * KD * 4, n * KD * 4);
    }
    if (score && !random && !this.scorer) encoder.clearBuffer(s.scores, 0, B * Hkv * Tc * 4);
    const gpu = this.gpu;
    const params = gpu.uniform(
      "stream.params",
      paramWords([B, Hn, n, K, t0, T, this.compressor.params.seed ?? 0, l]),
    );
    const temps: GPUBuffer[] = [params];
    const p = this.pipelines;
    const rows = (m: number) => grid2d(Math.ceil((B * Hkv * m) / 64));
    const pass = encoder.beginComputePass();
    // 2. positions, 3. attention
    dispatch(
      pass,
      p.extend,
      bindSome(gpu, p.extend, { 0: params, 1: h.pos, 3: s.pos }),
      ...rows(Tc),
    );
    attention.encode(pass, { q: c.q, k: s.k, v: s.v, out: c.out, B, Tq: n, Tk: Tc });
    // 4. scores
    if (score) {
      if (random) {
        const bind = bindSome(gpu, p.random, { 0: params, 3: s.pos, 4: s.scores });
        dispatch(pass, p.random, bind, ...rows(Tc));
      } else if (this.scorer) {
        const input: LayerInput = {
          shape: { B, T: Tc, H, Hkv, D, W: n },
          k: s.k,
          v: s.v,
          qw: c.q,
          layer: l,
          numLayers,
        };
        temps.push(...this.scorer.encode(pass, input, s.scores));
      }
      if (this.accumulates && Hn > 0) {
        const bind = bindSome(gpu, p.accumulate, { 0: params, 2: h.stat, 4: s.scores });
        dispatch(pass, p.accumulate, bind, ...rows(Tc));
      }
    }
    // 5. compaction
    if (compact) {
      const forced = method.forced(this.compressor.params, Tc, K);
      temps.push(...this.topk.encode(pass, { B, Hkv, T: Tc }, s.scores, s.kept, K, forced));
      const shape = { B, T: Tc, Hkv, D, K };
      temps.push(...this.gather.encode(pass, shape, s.kept, s.k, s.v, h.k, h.v));
      const bind = bindSome(gpu, p.compact, {
        0: params,
        1: h.pos,
        2: h.stat,
        3: s.pos,
        4: s.scores,
        5: s.kept,
      });
      dispatch(pass, p.compact, bind, ...rows(K));
    }
    pass.end();
    if (!compact) {
      // the store, laid out [B, Tc, …], is the held set's layout for Tc tokens
      encoder.copyBufferToBuffer(s.k, 0, h.k, 0, B * Tc * KD * 4);
      encoder.copyBufferToBuffer(s.v, 0, h.v, 0, B * Tc * KD * 4);
      encoder.copyBufferToBuffer(s.pos, 0, h.pos, 0, B * Hkv * Tc * 4);
      if (score) encoder.copyBufferToBuffer(s.scores, 0, h.stat, 0, B * Hkv * Tc * 4);
    }
    h.n = compact ? K : Tc;
    return temps;
  }

  /**
   * The positions every layer holds now (after the chunks submitted so far; one readback):
   * [layer][b][hk] → ascending prompt positions. For tests and inspection.
   */
  async readHeld(): Promise<number[][][][]> {
    const { B, Hkv } = this.o;
    const live = this.held.filter((h) => !h.done);
    if (live.length !== this.held.length) throw new Error("readHeld: a layer is finished");
    const raw = await this.gpu.read(this.held.map((h) => ({ buffer: h.pos })));
    return raw.map((r, l) => {
      const all = new Uint32Array(r);
      const n = this.held[l].n;
      return Array.from(
        { length: B },
        (_, b) =>
          Array.from({ length: Hkv }, (_, hk) => {
            const at = (b * Hkv + hk) * n;
            return [...all.subarray(at, at + n)];
          }),
      );
    });
  }

  /** Frees the shared store (after the last chunk, once the GPU is done with it). */
  releaseStore(): void {
    const s = this.#store;
    if (!s) return;
    for (const b of [s.k, s.v, s.pos, s.scores, s.kept]) this.gpu.destroy(b);
    this.#store = undefined;
  }

  /**
   * Layer l's held set, after the last chunk, into its final form (see the header); frees the
   * held set (its positions stay, as `kept`, for a one-shot run with inspect). Resolves when
   * the GPU is done.
   */
  async finishLayer(l: number): Promise<StreamedLayer> {
    const gpu = this.gpu;
    const { B, H, Hkv, D, T } = this.o;
    const h = this.held[l];
    const K = this.budgets[l];
    if (h.done) throw new Error(`streaming prefill: layer ${l} is already finished`);
    if (h.n !== K) {
      throw new Error(`streaming prefill: layer ${l} holds ${h.n} tokens, not ${K}: not finished`);
    }
    const c = this.compressor;
    let keep: GPUBuffer | undefined;
    try {
      if (!this.o.evict) {
        const cache = await createCache(gpu, c.format, { B, Hkv, D, capacity: K + c.room });
        try {
          gpu.submit((pass) => cache.append(pass, h.k, h.v, K));
          await gpu.device.queue.onSubmittedWorkDone();
        } catch (e) {
          cache.destroy();
          throw e;
        }
        if (c.inspect) keep = h.pos;
        return { cache, budget: K, kept: keep };
      }
      const evictor = await DecodeEvictor.empty(
        gpu,
        { method: c.name, params: c.params, budget: { budgetTokens: K } },
        { B, H, Hkv, D },
      );
      try {
        const b = evictor.buffers;
        gpu.write(b.next, new Uint32Array(B).fill(T));
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        evictor.cache.append(pass, h.k, h.v, K);
        pass.end();
        encoder.copyBufferToBuffer(h.pos, 0, b.pos, 0, B * Hkv * K * 4);
        if (evictor.usesStats) encoder.copyBufferToBuffer(h.stat, 0, b.stat, 0, B * Hkv * K * 4);
        gpu.device.queue.submit([encoder.finish()]);
        await gpu.device.queue.onSubmittedWorkDone();
      } catch (e) {
        evictor.destroy();
        throw e;
      }
      return { evictor, budget: K };
    } finally {
      h.done = true;
      for (const b of [h.k, h.v, h.pos, h.stat]) if (b !== keep) gpu.destroy(b);
    }
  }

  /** Frees everything still allocated (the store, held sets not finished). */
  destroy(): void {
    this.releaseStore();
    for (const h of this.held) {
      if (h.done) continue;
      for (const b of [h.k, h.v, h.pos, h.stat]) this.gpu.destroy(b);
      h.done = true;
    }
  }
}

async function streamPipelines(
  gpu: Gpu,
  Hkv: number,
): Promise<Record<Entry, GPUComputePipeline>> {
  const code = wgsl(new URL("./stream.wgsl", import.meta.url));
  const entries: Entry[] = ["extend", "accumulate", "random", "compact"];
  const made = await Promise.all(
    entries.map((e) => gpu.pipeline("stream", code, `${e}_main`, { HKV: Hkv })),
  );
  return Object.fromEntries(entries.map((e, i) => [e, made[i]])) as Record<
    Entry,
    GPUComputePipeline
  >;
}
