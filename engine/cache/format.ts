// The KV-cache storage-format contract. A format owns its GPU buffers (so bytes() is counted
// from real allocations), an append path that quantizes on append, and a WGSL snippet that the
// shared decode-attention kernel (engine/kernels/decode_attention.wgsl) splices in to read the
// stored form directly, dequantizing while it stages tiles into workgroup memory.
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
}

/**
 * What a format gives the decode-attention kernel. `wgsl` declares its storage bindings
 * from @binding(FIRST_FORMAT_BINDING) on, in the order of `buffers`, and defines
 *
 *   fn kv_len(b: u32) -> u32                       // tokens stored for sequence b
 *   fn stage_k(b: u32, hk: u32, t0: u32, lid: u32) // K[b, t0 .. t0+TILE, hk, :] → tile
 *   fn stage_v(b: u32, hk: u32, t0: u32, lid: u32) // V[b, t0 .. t0+TILE, hk, :] → tile
 *
 * Stage functions are called by all WG threads of a workgroup (lid = local index) and
 * write dequantized f32 values to `tile[i * KS + d]` for token t0 + i, i < TILE. Tokens at or
 * past kv_len(b) must be written as 0. t0 is a multiple of TILE (16 or 32). The kernel body
 * declares the override constants D, TILE, WG, KS and `var<workgroup> tile`, which the
 * snippet may use.
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
  /** Host mirror of tokens stored per sequence. */
  readonly lengths: readonly number[];
  /** [B] u32 on the GPU: tokens stored per sequence, advanced by append(). */
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
  create(gpu: Gpu, shape: CacheShape): Promise<KvCache>;
}

export function checkShape(shape: CacheShape): void {
  checkInt("B (batch)", shape.B);
  checkInt("Hkv (KV heads)", shape.Hkv);
  checkInt("D (head dim)", shape.D, 1, 256);
  if (shape.D % 32 !== 0) {
    throw new RangeError(`D (head dim): got ${shape.D}, expected a multiple of 32`);
  }
  checkInt("capacity (tokens per sequence)", shape.capacity);
}

/**
 * Host-side bookkeeping shared by every format: validates an append's counts against the
 * capacity and returns them, then advances the host mirror.
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
    if (lengths[b] + n > shape.capacity) {
      throw new RangeError(
        `${format} cache: sequence ${b} would hold ${
          lengths[b] + n
        } tokens, more than its capacity ${shape.capacity}`,
      );
    }
  });
  return c;
}
