// Quest (quest.ts) on the GPU for one attention layer: the object a model's decode loop drives
// instead of DecodeAttention. It reads a full cache of any format that the caller owns and fills
// (prefill appends the prompt; each decode step appends one token), and keeps beside it the page
// metadata. encode(pass, q, out) has DecodeAttention's call shape and records, with no readback:
//   1. metadata   quest_pages.wgsl: the pages the last append changed (the last page; at a
//                 KIVI key flush the last R tokens' pages), or every page when the cache grew by
//                 more than one token since the last step (the first step after prefill)
//   2. bounds     quest_select.wgsl: each held page's upper bound for q, max over the group
//   3. select     the K = min(KP, pages held) pages per (b, hk), the last always
//   4. attention  quest_attention.ts: split-K decode attention over those pages only, read in
//                 place from the stored cache
// Every length is read on the GPU, so N steps fit one command buffer, as with DecodeAttention.
//
// Bytes (bytes(), kvBytes(), bytesReadPerStep()): stored = the cache's allocations + the
// metadata [B, Hkv, ceil(capacity / page), 2, D/2] u32 (f16 max and min per channel: 4·D bytes
// per page per KV head). Read per step = the selected pages' tokens × the cache's stored bytes
// per token per KV head (its allocations ÷ (B·Hkv·capacity): exact for fp32, fp16, int8, int4;
// for KIVI the average, the f16 residual spread over the capacity) + every held page's metadata
// (the bounds scan it). Not counted: the query, the page list, the partial outputs (as in the
// dense decode figure), and the update's re-read of the last page's keys (≤ page tokens, which
// attention reads in the same step).

import type { KvCache } from "../cache/format.ts";
import type { Gpu } from "../gpu/mod.ts";
import { checkInt, groupSize } from "../shapes.ts";
import { type Budget, checkBudget, resolveBudget } from "./budget.ts";
import { type Params, resolveParams } from "./method.ts";
import { pagesHeld, QUEST, tokensRead } from "./quest.ts";
import { QuestAttention } from "./quest_attention.ts";
import { QuestPages } from "./quest_pages.ts";
import { QuestSelect } from "./quest_select.ts";

export interface QuestOptions {
  /** Query heads; a multiple of the cache's Hkv. */
  readonly H: number;
  /** Tokens read per step: { ratio: x } → ceil(T / x), { budgetTokens: n } → n, 1 ≤ n ≤ T. */
  readonly budget: Budget;
  /** quest's parameters (default page = 16). */
  readonly params?: Params;
  /**
   * Prompt tokens the budget is resolved against (default: the cache's current length, which
   * must then be the same, and ≥ 1, for every sequence).
   */
  readonly T?: number;
  /** Softmax scale (default 1 / sqrt(D)). */
  readonly scale?: number;
  /** Decode-attention splits (default: sized for the tokens read). */
  readonly splits?: number;
}

/** Bytes one decode step reads (see the file header). */
export interface QuestReadBytes {
  /** kv + meta. */
  readonly total: number;
  /** K and V of the selected pages. */
  readonly kv: number;
  /** Page metadata scanned by the bounds. */
  readonly meta: number;
  /** Tokens read per KV head, per sequence. */
  readonly tokens: readonly number[];
  /** What dense decode attention over the same cache reads: every held token's K and V. */
  readonly dense: number;
}

export class QuestLayer {
  /** Host lengths when the metadata was last brought up to date (undefined: never). */
  #seen?: number[];

  private constructor(
    readonly gpu: Gpu,
    readonly cache: KvCache,
    readonly params: Params,
    readonly budget: Budget,
    /** Tokens read per step at most: the resolved budget. */
    readonly budgetTokens: number,
    /** Pages read per step at most: ceil(budgetTokens / page). */
    readonly pages: number,
    readonly pagesMeta: QuestPages,
    readonly select: QuestSelect,
    readonly attention: QuestAttention,
    /** scores [B, Hkv, PCAP] f32: the bounds of the last step (workspace). */
    readonly scores: GPUBuffer,
    /** sel [B, Hkv, KP] u32: the pages the last step read, ascending; 0xffffffff past K. */
    readonly sel: GPUBuffer,
  ) {}

  /**
   * Quest over `cache` (not owned: destroy() leaves it). Validates everything; throws
   * RangeError/TypeError naming the value.
   */
  static async create(gpu: Gpu, cache: KvCache, o: QuestOptions): Promise<QuestLayer> {
    const params = resolveParams(QUEST, o.params ?? {});
    const page = params.page;
    checkBudget(o.budget);
    const { B, Hkv, D, capacity } = cache.shape;
    const G = groupSize(o.H, Hkv);
    let T = o.T;
    if (T === undefined) {
      const lens = cache.lengths;
      if (lens.some((n) => n !== lens[0]) || lens[0] < 1) {
        throw new RangeError(
          `quest: the budget needs the prompt length T; the cache holds [${lens.join(", ")}] ` +
            "tokens per sequence (expected one length ≥ 1), so pass T",
        );
      }
      T = lens[0];
    }
    checkInt("T (prompt tokens)", T, 1, capacity);
    const budgetTokens = resolveBudget(o.budget, T);
    const pages = Math.ceil(budgetTokens / page);
    const pagesMeta = await QuestPages.create(gpu, cache, page);
    const own: GPUBuffer[] = [pagesMeta.meta];
    try {
      const select = await QuestSelect.create(gpu, {
        B,
        Hkv,
        G,
        D,
        page,
        pcap: pagesMeta.pcap,
        kp: pages,
      });
      const scores = gpu.createBuffer("quest.scores", B * Hkv * pagesMeta.pcap * 4);
      own.push(scores);
      const sel = gpu.createBuffer("quest.sel", B * Hkv * pages * 4);
      own.push(sel);
      const attention = await QuestAttention.create(gpu, cache, sel, {
        H: o.H,
        page,
        pages,
        scale: o.scale,
        splits: o.splits,
      });
      return new QuestLayer(
        gpu,
        cache,
        params,
        o.budget,
        budgetTokens,
        pages,
        pagesMeta,
        select,
        attention,
        scores,
        sel,
      );
    } catch (e) {
      for (const b of own) gpu.destroy(b);
      throw e;
    }
  }

  /** Tokens per page. */
  get page(): number {
    return this.params.page;
  }

  get H(): number {
    return this.attention.H;
  }

  /** "quest+<format>". */
  get name(): string {
    return `quest+${this.cache.format}`;
  }

  /** Records the metadata of every page the cache holds (any time; encode() does it when needed). */
  encodeBuild(pass: GPUComputePassEncoder): void {
    this.pagesMeta.encodeBuild(pass);
    this.#seen = [...this.cache.lengths];
  }

  /**
   * Records one decode step's attention (see the file header): q [B, H, D] the step's queries
   * (after RoPE), out [B, H, D] attention over the selected pages of the cache as it stands
   * (append the step's token first). No readback.
   */
  encode(pass: GPUComputePassEncoder, q: GPUBuffer, out: GPUBuffer): void {
    const { B, D } = this.cache.shape;
    const need = B * this.H * D * 4;
    if (q.size < need || out.size < need) {
      throw new RangeError(
        `quest: q and out must hold [B=${B}, H=${this.H}, D=${D}] f32 = ${need} bytes`,
      );
    }
    const lens = this.cache.lengths;
    const seen = this.#seen;
    if (seen && lens.every((n, b) => n - seen[b] === 0 || n - seen[b] === 1)) {
      this.pagesMeta.encodeUpdate(pass);
      this.#seen = [...lens];
    } else {
      this.encodeBuild(pass);
    }
    this.select.encode(pass, {
      q,
      meta: this.pagesMeta.meta,
      lens: this.cache.lens,
      scores: this.scores,
      sel: this.sel,
    });
    this.attention.encode(pass, q, out);
  }

  /** Bytes stored beside the cache: the page metadata. */
  bytes(): number {
    return this.pagesMeta.bytes();
  }

  /** Bytes stored for this layer: the cache's allocations plus the page metadata. */
  kvBytes(): number {
    return this.cache.bytes() + this.bytes();
  }

  /** Per-step workspace: the bounds, the page list and the attention's partials. */
  workspaceBytes(): number {
    return this.scores.size + this.sel.size + this.attention.workspaceBytes();
  }

  /** Tokens read per KV head at a sequence length. */
  tokensRead(len: number): number {
    return tokensRead(len, this.page, this.pages);
  }

  /** Bytes a decode step reads at the given lengths (default: the cache's current ones). */
  bytesReadPerStep(lengths: readonly number[] = this.cache.lengths): QuestReadBytes {
    const { B, Hkv, capacity } = this.cache.shape;
    const perToken = this.cache.bytes() / (B * Hkv * capacity); // per token per KV head
    const tokens = lengths.map((n) => this.tokensRead(n));
    const kv = Math.round(tokens.reduce((s, n) => s + n, 0) * Hkv * perToken);
    const meta = lengths.reduce((s, n) => s + pagesHeld(n, this.page), 0) * Hkv *
      this.pagesMeta.pageBytes;
    const dense = Math.round(lengths.reduce((s, n) => s + n, 0) * Hkv * perToken);
    return { total: kv + meta, kv, meta, tokens, dense };
  }

  /** What a record says: method, format, params, the budget spec and the tokens read. */
  describe(): Record<string, unknown> {
    return {
      method: "quest",
      format: this.cache.format,
      params: { ...this.params },
      ...this.budget,
      tokensPerStep: this.budgetTokens,
      pagesPerStep: this.pages,
      mode: "sparse",
    };
  }

  /** Frees the metadata, workspace and pipelines' buffers; not the cache. */
  destroy(): void {
    this.pagesMeta.destroy();
    this.gpu.destroy(this.scores);
    this.gpu.destroy(this.sel);
    this.attention.destroy();
  }
}
