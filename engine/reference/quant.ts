// Reference quantizers for the quantized KV-cache formats (engine/cache/kivi.ts,
// engine/cache/groupwise.ts): asymmetric min–max group quantization with f32 simulated by
// Math.fround on every operation and f16 by Math.f16round, so that codes and metadata match the
// WGSL kernels bit for bit; and cache simulators that replay appends into the same packed
// layouts and give the dequantized K and V the decode kernel should see.
// Not here: attention (engine/reference/attention.ts), anything about speed.
//
// The quantization of one group x[0 .. n) (values already rounded to f16):
//   mn = min x, mx = max x                                    (f32, exact)
//   scale = (mx - mn) · INV_MAXQ, INV_MAXQ = f32(1 / (2^bits - 1))   (f32 multiply, never divide)
//   meta = f16(scale) | f16(mn) << 16                          (pack2x16float: scale .x, min .y)
//   sh = f32(f16(scale)), mh = f32(f16(mn))
//   code = argmin over c in [0, maxq] of |(x - mh) - c·sh|, ties → smaller c; 0 when sh = 0
//   x̂ = f32(c)·sh + mh
// c·sh is exact in f32 (c < 2^8, sh has an 11-bit significand), so a fused multiply-add on the
// GPU gives the same result as separate operations; that is what makes the codes reproducible.
//
// Packing: codes are little-endian within a u32 word: element j of a word sits at bits
// [j·bits, (j+1)·bits). Shape letters from engine/shapes.ts; QG = 32 is the quantization group.

import type { CacheShape } from "../cache/format.ts";

/** Quantization group: 32 channels (per-token groups) or 32 tokens (KIVI per-channel keys). */
export const QG = 32;

const f32 = Math.fround;
const f16 = Math.f16round;

export function maxQ(bits: number): number {
  return 2 ** bits - 1;
}

/** The f32 constant 1 / (2^bits - 1) that the kernels multiply by. */
export function invMaxQ(bits: number): number {
  return f32(1 / maxQ(bits));
}

// --- f16 bits ----------------------------------------------------------------------------------

const h16 = new Float16Array(1);
const u16 = new Uint16Array(h16.buffer);

/** IEEE binary16 bits of f16(x) (round to nearest even, as pack2x16float). */
export function f16Bits(x: number): number {
  h16[0] = x;
  return u16[0];
}

export function f16FromBits(bits: number): number {
  u16[0] = bits;
  return h16[0];
}

/** Two values as one u32 word, `lo` in bits 0..15 and `hi` in 16..31 (pack2x16float). */
export function packHalf2(lo: number, hi: number): number {
  return (f16Bits(lo) | (f16Bits(hi) << 16)) >>> 0;
}

/** [lo, hi] of a packHalf2 word (unpack2x16float). */
export function unpackHalf2(word: number): [number, number] {
  return [f16FromBits(word & 0xffff), f16FromBits(word >>> 16)];
}

// --- one group ---------------------------------------------------------------------------------

/** The code of one value x (f16-rounded) given the f16-rounded scale sh and min mh. */
export function quantCode(x: number, sh: number, mh: number, bits: number): number {
  if (sh === 0) return 0;
  const m = maxQ(bits);
  const d = f32(x - mh);
  // A candidate from division (approximate on the GPU), then the exact comparison decides.
  const c0 = Math.min(m, Math.max(0, Math.round(f32(d / sh))));
  const err = (c: number) => Math.abs(f32(d - f32(c * sh)));
  let best = c0;
  let be = err(c0);
  if (c0 > 0 && err(c0 - 1) <= be) {
    best = c0 - 1;
    be = err(c0 - 1);
  }
  if (c0 < m && err(c0 + 1) < be) best = c0 + 1;
  return best;
}

export interface GroupQuant {
  /** One code per input value, in [0, 2^bits - 1]. */
  readonly codes: number[];
  /** pack2x16float(scale, min). */
  readonly meta: number;
  /** f16-rounded scale and min, as f32 values. */
  readonly sh: number;
  readonly mh: number;
}

/** Quantizes one group; `x` is rounded to f16 first (the caches quantize what fp16 stores). */
export function quantizeGroup(x: ArrayLike<number>, bits: number): GroupQuant {
  const xs = Array.from(x, (v) => f16(v));
  let mn = xs[0];
  let mx = xs[0];
  for (const v of xs) {
    mn = Math.min(mn, v);
    mx = Math.max(mx, v);
  }
  const scale = f32(f32(mx - mn) * invMaxQ(bits));
  const meta = packHalf2(scale, mn);
  const [sh, mh] = unpackHalf2(meta);
  return { codes: xs.map((v) => quantCode(v, sh, mh, bits)), meta, sh, mh };
}

/** x̂ = f32(c)·sh + mh. */
export function dequant(c: number, sh: number, mh: number): number {
  return f32(c * sh + mh);
}

/** Packs codes into words[at ..]: element j at word floor(j·bits/32), bits (j·bits) % 32. */
export function packCodes(codes: readonly number[], bits: number, words: Uint32Array, at: number) {
  for (let j = 0; j < codes.length; j++) {
    const w = at + Math.floor((j * bits) / 32);
    words[w] = (words[w] | (codes[j] << ((j * bits) % 32))) >>> 0;
  }
}

/** Code j of a packed run starting at words[at]. */
export function unpackCode(words: Uint32Array, at: number, j: number, bits: number): number {
  const w = words[at + Math.floor((j * bits) / 32)];
  return (w >>> ((j * bits) % 32)) & maxQ(bits);
}

// --- cache simulators --------------------------------------------------------------------------

/** What the decode kernel should see: K and V [B, T, Hkv, D] f32, T = max(lens), zero-padded. */
export interface Dequantized {
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly lens: number[];
  readonly T: number;
}

function inputCounts(B: number, Tn: number, counts?: readonly number[]): number[] {
  return counts ? [...counts] : new Array(B).fill(Tn);
}

/**
 * KIVI (Liu et al., 2024, https://arxiv.org/abs/2402.02750): keys per channel over groups of
 * QG tokens, values per token over groups of QG channels, the newest tokens in f16.
 * Keys [Tqk, len) stay f16 with Tqk = floor(len/R)·R; values [Tqv, len) with
 * Tqv = max(0, len - R). Token t's f16 copy lives in residual slot t % R.
 *
 *   kCodes [B, Hkv, KG, D, QG·bits/32]   KG = floor(capacity/R)·R/QG key groups
 *   kMeta  [B, Hkv, KG, D]
 *   kRes   [B, Hkv, R, D/2]              (f16 pairs)
 *   vCodes [B, Hkv, VT, D·bits/32]       VT = max(0, capacity - R) value tokens
 *   vMeta  [B, Hkv, VT, D/32]
 *   vRes   [B, Hkv, R, D/2]
 */
export class KiviRef {
  readonly KG: number;
  readonly VT: number;
  readonly kCodes: Uint32Array;
  readonly kMeta: Uint32Array;
  readonly kRes: Uint32Array;
  readonly vCodes: Uint32Array;
  readonly vMeta: Uint32Array;
  readonly vRes: Uint32Array;
  readonly lengths: number[];

  constructor(readonly shape: CacheShape, readonly bits: number, readonly R: number) {
    const { B, Hkv, D, capacity } = shape;
    this.KG = (Math.floor(capacity / R) * R) / QG;
    this.VT = Math.max(0, capacity - R);
    this.kCodes = new Uint32Array((B * Hkv * this.KG * D * QG * bits) / 32);
    this.kMeta = new Uint32Array(B * Hkv * this.KG * D);
    this.kRes = new Uint32Array((B * Hkv * R * D) / 2);
    this.vCodes = new Uint32Array((B * Hkv * this.VT * D * bits) / 32);
    this.vMeta = new Uint32Array((B * Hkv * this.VT * D) / QG);
    this.vRes = new Uint32Array((B * Hkv * R * D) / 2);
    this.lengths = new Array(B).fill(0);
  }

  tqk(len: number): number {
    return Math.floor(len / this.R) * this.R;
  }

  tqv(len: number): number {
    return Math.max(0, len - this.R);
  }

  #res(store: Uint32Array, b: number, hk: number, t: number, d: number): number {
    const { Hkv, D } = this.shape;
    const word = store[((b * Hkv + hk) * this.R + (t % this.R)) * (D / 2) + (d >> 1)];
    return unpackHalf2(word)[d & 1];
  }

  /** k, v [B, Tn, Hkv, D]; sequence b takes its first counts[b] tokens. */
  append(k: ArrayLike<number>, v: ArrayLike<number>, Tn: number, counts?: readonly number[]) {
    const { B, Hkv, D } = this.shape;
    const bits = this.bits;
    const c = inputCounts(B, Tn, counts);
    for (let b = 0; b < B; b++) {
      const L = this.lengths[b];
      const n = c[b];
      const src = (x: ArrayLike<number>, store: Uint32Array, hk: number, t: number, d: number) =>
        t >= L ? f16(x[((b * Tn + t - L) * Hkv + hk) * D + d]) : this.#res(store, b, hk, t, d);
      // keys: groups covering [Tqk(L), Tqk(L+n)), per channel
      for (let g = this.tqk(L) / QG; g < this.tqk(L + n) / QG; g++) {
        for (let hk = 0; hk < Hkv; hk++) {
          for (let d = 0; d < D; d++) {
            const x = Array.from({ length: QG }, (_, j) => src(k, this.kRes, hk, g * QG + j, d));
            const q = quantizeGroup(x, bits);
            const at = ((b * Hkv + hk) * this.KG + g) * D + d;
            this.kMeta[at] = q.meta;
            packCodes(q.codes, bits, this.kCodes, (at * QG * bits) / 32);
          }
        }
      }
      // values: tokens [Tqv(L), Tqv(L+n)), per token over groups of QG channels
      const WV = (D * bits) / 32;
      for (let t = this.tqv(L); t < this.tqv(L + n); t++) {
        for (let hk = 0; hk < Hkv; hk++) {
          const row = (b * Hkv + hk) * this.VT + t;
          for (let j = 0; j < D / QG; j++) {
            const x = Array.from({ length: QG }, (_, e) => src(v, this.vRes, hk, t, j * QG + e));
            const q = quantizeGroup(x, bits);
            this.vMeta[row * (D / QG) + j] = q.meta;
            packCodes(q.codes, bits, this.vCodes, row * WV + j * bits);
          }
        }
      }
      // then the new tokens that stay in full precision go to their residual slots
      for (let t = L; t < L + n; t++) {
        for (let hk = 0; hk < Hkv; hk++) {
          const slot = ((b * Hkv + hk) * this.R + (t % this.R)) * (D / 2);
          const x = ((b * Tn + t - L) * Hkv + hk) * D;
          for (let w = 0; w < D / 2; w++) {
            if (t >= this.tqk(L + n)) {
              this.kRes[slot + w] = packHalf2(k[x + 2 * w], k[x + 2 * w + 1]);
            }
            if (t >= this.tqv(L + n)) {
              this.vRes[slot + w] = packHalf2(v[x + 2 * w], v[x + 2 * w + 1]);
            }
          }
        }
      }
      this.lengths[b] = L + n;
    }
  }

  /** K̂ and V̂ as the decode kernel dequantizes them. */
  dequantized(): Dequantized {
    const { B, Hkv, D } = this.shape;
    const bits = this.bits;
    const T = Math.max(1, ...this.lengths);
    const k = new Float32Array(B * T * Hkv * D);
    const v = new Float32Array(B * T * Hkv * D);
    for (let b = 0; b < B; b++) {
      const len = this.lengths[b];
      for (let t = 0; t < len; t++) {
        for (let hk = 0; hk < Hkv; hk++) {
          for (let d = 0; d < D; d++) {
            const o = ((b * T + t) * Hkv + hk) * D + d;
            if (t < this.tqk(len)) {
              const at = ((b * Hkv + hk) * this.KG + Math.floor(t / QG)) * D + d;
              const [sh, mh] = unpackHalf2(this.kMeta[at]);
              k[o] = dequant(unpackCode(this.kCodes, (at * QG * bits) / 32, t % QG, bits), sh, mh);
            } else {
              k[o] = this.#res(this.kRes, b, hk, t, d);
            }
            if (t < this.tqv(len)) {
              const row = (b * Hkv + hk) * this.VT + t;
              const [sh, mh] = unpackHalf2(this.vMeta[row * (D / QG) + Math.floor(d / QG)]);
              v[o] = dequant(unpackCode(this.vCodes, (row * D * bits) / 32, d, bits), sh, mh);
            } else {
              v[o] = this.#res(this.vRes, b, hk, t, d);
            }
          }
        }
      }
    }
    return { k, v, lens: [...this.lengths], T };
  }
}

/**
 * Per-token group-wise quantization of keys and values (FlexGen-style, groups of QG channels
 * along D), no residual:
 *
 *   kCodes, vCodes [B, Hkv, capacity, D·bits/32]
 *   kMeta, vMeta   [B, Hkv, capacity, D/32]
 */
export class GroupwiseRef {
  readonly kCodes: Uint32Array;
  readonly kMeta: Uint32Array;
  readonly vCodes: Uint32Array;
  readonly vMeta: Uint32Array;
  readonly lengths: number[];

  constructor(readonly shape: CacheShape, readonly bits: number) {
    const { B, Hkv, D, capacity } = shape;
    const rows = B * Hkv * capacity;
    this.kCodes = new Uint32Array((rows * D * bits) / 32);
    this.vCodes = new Uint32Array((rows * D * bits) / 32);
    this.kMeta = new Uint32Array((rows * D) / QG);
    this.vMeta = new Uint32Array((rows * D) / QG);
    this.lengths = new Array(B).fill(0);
  }

  append(k: ArrayLike<number>, v: ArrayLike<number>, Tn: number, counts?: readonly number[]) {
    const { B, Hkv, D, capacity } = this.shape;
    const c = inputCounts(B, Tn, counts);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < c[b]; i++) {
        for (let hk = 0; hk < Hkv; hk++) {
          const row = (b * Hkv + hk) * capacity + this.lengths[b] + i;
          const x = ((b * Tn + i) * Hkv + hk) * D;
          for (let j = 0; j < D / QG; j++) {
            for (
              const [input, codes, meta] of [[k, this.kCodes, this.kMeta], [
                v,
                this.vCodes,
                this.vMeta,
              ]] as const
            ) {
              const q = quantizeGroup(
                Array.from({ length: QG }, (_, e) => input[x + j * QG + e]),
                this.bits,
              );
              meta[row * (D / QG) + j] = q.meta;
              packCodes(q.codes, this.bits, codes, (row * D * this.bits) / 32 + j * this.bits);
            }
          }
        }
      }
      this.lengths[b] += c[b];
    }
  }

  /**
   * The per-slot write (engine/cache/format.ts SlotWritable): token b of k, v [B, Hkv, D] is
   * stored at slot slots[b, hk] of KV head hk, then lengths[b] = min(lengths[b] + 1, capacity).
   */
  writeSlots(k: ArrayLike<number>, v: ArrayLike<number>, slots: ArrayLike<number>) {
    const { B, Hkv, D, capacity } = this.shape;
    for (let b = 0; b < B; b++) {
      for (let hk = 0; hk < Hkv; hk++) {
        const row = (b * Hkv + hk) * capacity + slots[b * Hkv + hk];
        const x = (b * Hkv + hk) * D;
        for (let j = 0; j < D / QG; j++) {
          for (
            const [input, codes, meta] of [
              [k, this.kCodes, this.kMeta],
              [v, this.vCodes, this.vMeta],
            ] as const
          ) {
            const q = quantizeGroup(
              Array.from({ length: QG }, (_, e) => input[x + j * QG + e]),
              this.bits,
            );
            meta[row * (D / QG) + j] = q.meta;
            const at = (row * D * this.bits) / 32 + j * this.bits;
            codes.fill(0, at, at + this.bits); // an overwrite: packCodes ORs into the words
            packCodes(q.codes, this.bits, codes, at);
          }
        }
      }
      this.lengths[b] = Math.min(this.lengths[b] + 1, capacity);
    }
  }

  dequantized(): Dequantized {
    const { B, Hkv, D, capacity } = this.shape;
    const T = Math.max(1, ...this.lengths);
    const k = new Float32Array(B * T * Hkv * D);
    const v = new Float32Array(B * T * Hkv * D);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < this.lengths[b]; t++) {
        for (let hk = 0; hk < Hkv; hk++) {
          const row = (b * Hkv + hk) * capacity + t;
          for (let d = 0; d < D; d++) {
            const o = ((b * T + t) * Hkv + hk) * D + d;
            const g = row * (D / QG) + Math.floor(d / QG);
            const at = (row * D * this.bits) / 32;
            const [ks, km] = unpackHalf2(this.kMeta[g]);
            const [vs, vm] = unpackHalf2(this.vMeta[g]);
            k[o] = dequant(unpackCode(this.kCodes, at, d, this.bits), ks, km);
            v[o] = dequant(unpackCode(this.vCodes, at, d, this.bits), vs, vm);
          }
        }
      }
    }
    return { k, v, lens: [...this.lengths], T };
  }
}
