// The KV-cache storage-format contract. A format owns its GPU buffers (so bytes() is counted
// from real allocations), an append path that quantizes on append, and a WGSL snippet that the
// shared decode-attention kernel (engine/kernels/decode_attention.wgsl) splices in to read the
// stored form directly from global memory into registers, dequantizing there.
//
// Lengths live on the GPU: `lens` [B] u32 is advanced by the append path's own dispatches, so
// any number of append + attend steps can be recorded into one command buffer without a
// readback. The host keeps a mirror (`lengths`) only to size dispatches and report bytes.

import type { Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";

/** B sequences × Hkv heads × D channels, room for `capacity` tokens per sequence. */
export interface CacheShape {
  readonly B: number;
  readonly Hkv: number;
  readonly D: number;
  readonly capacity: number;
  /**
   * A rolling cache (a sliding-window model's full cache): the token at position p lives in
   * slot p mod capacity, so the cache holds the newest min(appended, capacity) tokens and
   * appends never run out of room. `lens` and `lengths` count every token appended; decode
   * attention reads min(that, capacity) slots. Formats that store tokens independently (fp32,
   * fp16, int8, int4) support it; KIVI (keys quantized in groups of tokens) refuses it.
   */
  readonly ring?: boolean;
}

/** Tokens a cache of `shape` holds after `appended` tokens (a ring keeps the newest). */
export function heldTokens(shape: CacheShape, appended: number): number {
  return shape.ring ? Math.min(appended, shape.capacity) : appended;
}

/**
 * What a format gives the decode-attention kernel. `wgsl` declares its storage bindings
 * from @binding(FIRST_FORMAT_BINDING) on, in the order of `buffers`, and defines functions that
 * read K and V of KV head hk straight into registers, dequantized to f32, eight channels at a
 * time — `F8 { lo, hi }` holds channels 8·d8 + 0..3 and 8·d8 + 4..7 of one token:
 *
 *   fn kv_len(b: u32) -> u32                  // tokens stored for sequence b
 *   struct KBlock { … }                       // format-defined: a key block in registers
 *   fn k_block(b: u32, hk: u32, t0: u32, last: u32, d8: u32) -> KBlock
 *                                             // loads channels 8·d8 .. 8·d8+7 of the keys of
 *                                             // tokens t0 .. t0+TPT-1
 *   fn k_get(blk: KBlock, k: u32) -> F8       // those channels of token t0 + k, k < TPT
 *   fn load_v8(b: u32, hk: u32, t: u32, d8: u32) -> F8 // channels 8·d8 .. 8·d8+7 of V, token t
 *
 * The kernel guarantees t0 ≤ last < kv_len(b), t0 a multiple of TPT (1, 2 or 4: the block lies
 * in one 32-token group), d8 < D/8 and t < kv_len(b). Each thread calls these for itself — no
 * cooperation, no workgroup memory — k_block once per (block, d8), then k_get for each k, so
 * the block is where per-group work is shared (KIVI: one code word per channel serves all TPT
 * tokens; the group's per-channel scale and min are unpacked once). Tokens past `last` (the
 * split's end) are masked by the kernel: a format must stay in bounds for them, e.g. by reading
 * token `last` in their place, and may return anything for them. The kernel body provides the
 * override constants D and TPT, `struct F8` and `fn half8(w: vec4<u32>) -> F8` (eight f16 from
 * four pack2x16float words); quantized formats also splice in quant_read.wgsl (codes to f32
 * with one fma per value).
 */
export interface DecodeSource {
  readonly wgsl: string;
  readonly buffers: readonly GPUBuffer[];
  /** Extra override constants the snippet declares (e.g. the residual length). */
  readonly constants?: Readonly<Record<string, number>>;
}

export const FIRST_FORMAT_BINDING = 4;

export interface KvCache {
  readonly format: string;
  readonly shape: CacheShape;
  /** Host mirror of tokens appended per sequence (stored, except in a ring: heldTokens). */
  readonly lengths: readonly number[];
  /** [B] u32 on the GPU: tokens appended per sequence (as `lengths`), advanced by append(). */
  readonly lens: GPUBuffer;
  /**
   * Records an append of new keys and values: k, v [B, Tn, Hkv, D] f32; sequence b takes its
   * first counts[b] tokens (default Tn for every sequence). Quantizes on append.
   */
  append(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    Tn: number,
    counts?: readonly number[],
  ): void;
  /** Bytes of this cache's own GPU allocations: codes, scales, zero points, residual, lengths. */
  bytes(): number;
  /** The snippet and buffers the decode-attention kernel reads. */
  decodeSource(): DecodeSource;
  destroy(): void;
}

export interface FormatInfo {
  readonly name: string;
  readonly family: "full" | "kivi" | "groupwise";
  readonly bits: number;
  readonly description: string;
  readonly paper?: string;
  /** Its caches implement SlotWritable (decode-time eviction can store into them). */
  readonly slotWrites?: boolean;
  create(gpu: Gpu, shape: CacheShape): Promise<KvCache>;
}

// --- optional capability: per-slot writes (decode-time eviction) -------------------------------

/**
 * A format that stores every token independently of the others (fp32, fp16, int8, int4) can
 * overwrite one token per (b, hk) in place. Decode-time eviction (engine/methods/evict.ts)
 * writes each step's new token into the slot its method freed, so the cache never grows past
 * its capacity. KIVI cannot: its keys are quantized per channel over groups of 32 tokens, so one
 * token cannot be replaced without requantizing its group.
 */
export interface SlotWritable {
  readonly slotWrites: true;
  /** Builds the pipelines writeSlots() needs; once, before the first writeSlots(). */
  prepareSlotWrites(): Promise<void>;
  /**
   * Records the store of one new token per sequence: token b of k, v [B, Hkv, D] f32 (that is
   * [B, 1, Hkv, D]) goes, quantized exactly as append() would store it, into slot
   * slots[b, hk] (u32, < capacity) of KV head hk — slots may differ per head. Then, on the GPU,
   * lens[b] = min(lens[b] + 1, capacity) for every sequence. So the caller writes slot lens[b]
   * while a sequence is below capacity (an append) and any slot once it is full (an overwrite);
   * every head of a sequence always holds the same number of tokens. The host mirror `lengths`
   * follows.
   */
  writeSlots(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    slots: GPUBuffer,
  ): void;
}

/** Whether a cache supports writeSlots (fp32, fp16, int8, int4; not KIVI). */
export function canWriteSlots(cache: KvCache): cache is KvCache & SlotWritable {
  const c = cache as Partial<SlotWritable>;
  return c.slotWrites === true && typeof c.writeSlots === "function" &&
    typeof c.prepareSlotWrites === "function";
}

/** Head dims the quantized formats take: D a multiple of their 32-channel group. */
export const QUANT_D_MULTIPLE = 32;
/** Head dims the full formats (fp32, fp16) and decode attention take: whole 8-channel blocks. */
export const FULL_D_MULTIPLE = 8;

/**
 * Validates a cache shape. D must be a multiple of `dMultiple` in [dMultiple, 256]: 32 (the
 * default) for the quantized formats, whose groups are 32 channels; 8 for the full formats.
 */
export function checkShape(shape: CacheShape, dMultiple: number = QUANT_D_MULTIPLE): void {
  checkInt("B (batch)", shape.B);
  checkInt("Hkv (KV heads)", shape.Hkv);
  checkInt("D (head dim)", shape.D, 1, 256);
  if (shape.D % dMultiple !== 0) {
    const which = dMultiple === QUANT_D_MULTIPLE ? " (the quantized formats' group size)" : "";
    throw new RangeError(
      `D (head dim): got ${shape.D}, expected a multiple of ${dMultiple}${which}`,
    );
  }
  checkInt("capacity (tokens per sequence)", shape.capacity);
}

/**
 * Host-side bookkeeping shared by every format: validates an append's counts (against the
 * capacity; a ring against the u32 position limit) and returns them. CacheBase advances the
 * host mirror.
 */
export function planAppend(
  format: string,
  shape: CacheShape,
  lengths: number[],
  Tn: number,
  counts?: readonly number[],
): number[] {
  checkInt("Tn (tokens to append)", Tn);
  const c = counts ? [...counts] : new Array(shape.B).fill(Tn);
  if (c.length !== shape.B) {
    throw new RangeError(`counts: expected ${shape.B} entries (one per sequence), got ${c.length}`);
  }
  c.forEach((n, b) => {
    checkInt(`counts[${b}]`, n, 0, Tn);
    if (shape.ring) {
      if (lengths[b] + n > 2 ** 32 - 1) {
        throw new RangeError(`${format} cache: sequence ${b} would pass 2^32 - 1 positions`);
      }
    } else if (lengths[b] + n > shape.capacity) {
      throw new RangeError(
        `${format} cache: sequence ${b} would hold ${
          lengths[b] + n
        } tokens, more than its capacity ${shape.capacity}`,
      );
    }
  });
  return c;
}
