// KIVI quantized KV caches `kivi2`, `kivi4`, `kivi8` (Liu et al., 2024, "KIVI: A Tuning-Free
// Asymmetric 2bit Quantization for KV Cache", https://arxiv.org/abs/2402.02750): keys quantized
// per channel over groups of G tokens, values per token over groups of G channels, asymmetric
// min–max, and the newest tokens kept in f16 exactly as KIVI's code does.
// Not here: the quantization math's specification (engine/reference/quant.ts, which the tests
// hold these kernels to bit for bit), attention (engine/kernels/decode_attention.ts).
//
// Full-precision residual, derivable from len alone (so the only GPU state is lens):
//   keys   [Tqk, len) stay f16, Tqk = floor(len/R)·R — prefill quantizes T - T % R, decode
//          flushes the R residual keys at once when the residual reaches R;
//   values [Tqv, len) stay f16, Tqv = max(0, len - R) — prefill quantizes all but the last R,
//          decode quantizes the oldest residual value once the residual exceeds R.
// Token t's f16 copy lives in residual slot t % R (a ring), for keys and values.
//
// Layout (u32 words; letters from engine/shapes.ts; KG = floor(capacity/R)·R/G key groups,
// VT = max(0, capacity - R) quantized value tokens — the most either can ever hold):
//   kStore = key codes  [B, Hkv, KG, D, G·bits/32]  the G tokens of one channel consecutive
//          | key meta   [B, Hkv, KG, D]             f16 scale | f16 min << 16
//          | key res    [B, Hkv, R, D/2]            f16 pairs
//   vStore = value codes [B, Hkv, VT, D·bits/32]    the channels of one token consecutive
//          | value meta  [B, Hkv, VT, D/G]
//          | value res   [B, Hkv, R, D/2]
// Codes are little-endian within a word (element j at bits [j·bits, (j+1)·bits)). In decode
// (kivi_read.wgsl) a thread reads ONE key word per channel for its 4 consecutive tokens of a
// group (the group's threads read neighbouring words of the channel: one sector), and the lanes
// of a value token read its contiguous code row. One buffer per K and per V keeps the decode
// kernel at 6 storage bindings (portable to devices that allow only 8).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { CacheBase } from "./base.ts";
import { type CacheShape, checkShape, type DecodeSource } from "./format.ts";
import { grid2d } from "./grid.ts";

export interface KiviOptions {
  /** Bits per code: 2, 4 or 8. */
  readonly bits: number;
  /** Quantization group (tokens per key group, channels per value group); only 32. */
  readonly G?: number;
  /** Residual tokens kept in f16 (KIVI's R); a positive multiple of G, default 128. */
  readonly R?: number;
}

export const KIVI_DEFAULTS = { G: 32, R: 128 } as const;
export const KIVI_BITS: readonly number[] = [2, 4, 8];

/** Validated options and the word layout of a KIVI cache of `shape`. */
export interface KiviLayout {
  readonly bits: number;
  readonly G: number;
  readonly R: number;
  /** Key groups of G tokens per (b, hk): floor(capacity/R)·R/G. */
  readonly KG: number;
  /** Quantized value tokens per (b, hk): max(0, capacity - R). */
  readonly VT: number;
  /** Word offsets of each region in kStore / vStore, and their total words. */
  readonly k: KiviRegions;
  readonly v: KiviRegions;
}

/** Word offsets of a store's codes, metadata and f16 residual, and its total words. */
export interface KiviRegions {
  readonly codes: number;
  readonly meta: number;
  readonly res: number;
  readonly words: number;
}

export function kiviLayout(shape: CacheShape, o: KiviOptions): KiviLayout {
  checkShape(shape);
  if (shape.ring) {
    throw new RangeError(
      `KIVI ${o.bits}-bit cache: a rolling cache (ring) is not supported: keys are quantized in ` +
        "groups of 32 tokens, which a token-by-token ring would split; fp32, fp16, int8 and " +
        "int4 roll",
    );
  }
  if (!KIVI_BITS.includes(o.bits)) {
    throw new RangeError(`KIVI bits: got ${o.bits}, expected one of ${KIVI_BITS.join(", ")}`);
  }
  const G = o.G ?? KIVI_DEFAULTS.G;
  if (G !== 32) throw new RangeError(`KIVI G (quantization group): got ${G}, expected 32`);
  const R = o.R ?? KIVI_DEFAULTS.R;
  checkInt("KIVI R (residual tokens)", R, G);
  if (R % G !== 0) {
    throw new RangeError(`KIVI R (residual tokens): got ${R}, expected a multiple of G=${G}`);
  }
  const { B, Hkv, D, capacity } = shape;
  const KG = (Math.floor(capacity / R) * R) / G;
  const VT = Math.max(0, capacity - R);
  const res = (B * Hkv * R * D) / 2;
  const kCodes = (B * Hkv * KG * D * G * o.bits) / 32;
  const kMeta = B * Hkv * KG * D;
  const vCodes = (B * Hkv * VT * D * o.bits) / 32;
  const vMeta = (B * Hkv * VT * D) / G;
  return {
    bits: o.bits,
    G,
    R,
    KG,
    VT,
    k: { codes: 0, meta: kCodes, res: kCodes + kMeta, words: kCodes + kMeta + res },
    v: { codes: 0, meta: vCodes, res: vCodes + vMeta, words: vCodes + vMeta + res },
  };
}

// ---------------------------------------------------------------------------------------------

type Stage = "quant_k" | "quant_v" | "residual";

export class KiviCache extends CacheBase {
  readonly format: string;
  readonly kStore: GPUBuffer;
  readonly vStore: GPUBuffer;
  readonly #pipelines = new Map<Stage, GPUComputePipeline>();
  #bind?: { k: GPUBuffer; v: GPUBuffer; groups: Map<Stage, GPUBindGroup> };

  private constructor(gpu: Gpu, shape: CacheShape, readonly layout: KiviLayout) {
    super(gpu, shape);
    this.format = `kivi${layout.bits}`;
    this.kStore = this.alloc("kivi.k", layout.k.words * 4);
    this.vStore = this.alloc("kivi.v", layout.v.words * 4);
  }

  /** A KIVI cache; throws RangeError naming the value for bad options or a too-large shape. */
  static async create(gpu: Gpu, shape: CacheShape, options: KiviOptions): Promise<KiviCache> {
    const layout = kiviLayout(shape, options);
    const what =
      `KIVI ${layout.bits}-bit cache B=${shape.B} Hkv=${shape.Hkv} D=${shape.D} capacity=${shape.capacity}`;
    gpu.checkBinding(`${what}: keys`, layout.k.words * 4);
    gpu.checkBinding(`${what}: values`, layout.v.words * 4);
    const c = new KiviCache(gpu, shape, layout);
    await c.init();
    return c;
  }

  get bits(): number {
    return this.layout.bits;
  }

  get R(): number {
    return this.layout.R;
  }

  override async init(): Promise<void> {
    await super.init();
    const code = wgsl(new URL("./kivi_append.wgsl", import.meta.url)) + "\n" +
      wgsl(new URL("./quant_write.wgsl", import.meta.url));
    const constants = {
      ...this.#constants(),
      D: this.shape.D,
      // f32(1 / (2^bits - 1)): the kernel multiplies, never divides, for stored values
      INV_MAXQ: Math.fround(1 / (2 ** this.layout.bits - 1)),
    };
    for (const stage of ["quant_k", "quant_v", "residual"] as const) {
      this.#pipelines.set(
        stage,
        await this.gpu.pipeline(`append.${this.format}`, code, stage, constants),
      );
    }
  }

  #constants() {
    const l = this.layout;
    return {
      HKV: this.shape.Hkv,
      BITS: l.bits,
      RES: l.R,
      KGRP: l.KG,
      VCAP: l.VT,
      K_META: l.k.meta,
      K_RES: l.k.res,
      V_META: l.v.meta,
      V_RES: l.v.res,
    };
  }

  tqk(len: number): number {
    return Math.floor(len / this.layout.R) * this.layout.R;
  }

  tqv(len: number): number {
    return Math.max(0, len - this.layout.R);
  }

  protected encodeAppend(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    Tn: number,
    counts: readonly number[],
  ): void {
    const { B, Hkv, D } = this.shape;
    const { G, R } = this.layout;
    const groups = this.#groups(k, v);
    // Dispatch sizes from the host mirror (still the old lengths); the kernels recompute each
    // sequence's own range from lens and counts on the GPU and skip the rest.
    let keyGroups = 0;
    let valueTokens = 0;
    counts.forEach((n, b) => {
      const L = this.lengths[b];
      keyGroups = Math.max(keyGroups, (this.tqk(L + n) - this.tqk(L)) / G);
      valueTokens = Math.max(valueTokens, this.tqv(L + n) - this.tqv(L));
    });
    const run = (stage: Stage, threads: number) => {
      if (threads === 0) return;
      const [x, y] = grid2d(Math.ceil(threads / 64));
      dispatch(pass, this.#pipelines.get(stage)!, groups.get(stage)!, x, y, B);
    };
    run("quant_k", keyGroups * Hkv * D);
    run("quant_v", valueTokens * Hkv * (D / G));
    run("residual", Math.min(Tn, R) * Hkv * (D / 2));
  }

  #groups(k: GPUBuffer, v: GPUBuffer): Map<Stage, GPUBindGroup> {
    if (this.#bind?.k === k && this.#bind?.v === v) return this.#bind.groups;
    const all = [this.appendParams, this.lens, this.counts, k, v, this.kStore, this.vStore];
    // each entry point's auto layout holds only the bindings it uses
    const used: Record<Stage, number[]> = {
      quant_k: [0, 1, 2, 3, 5],
      quant_v: [0, 1, 2, 4, 6],
      residual: [0, 1, 2, 3, 4, 5, 6],
    };
    const groups = new Map<Stage, GPUBindGroup>();
    for (const [stage, pipeline] of this.#pipelines) {
      groups.set(
        stage,
        this.gpu.device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: used[stage].map((binding) => ({ binding, resource: { buffer: all[binding] } })),
        }),
      );
    }
    this.#bind = { k, v, groups };
    return groups;
  }

  decodeSource(): DecodeSource {
    return {
      wgsl: [
        wgsl(new URL("./quant_read.wgsl", import.meta.url)),
        wgsl(new URL("./kivi_read.wgsl", import.meta.url)),
      ].join("\n"),
      buffers: [this.lens, this.kStore, this.vStore],
      constants: this.#constants(),
    };
  }
}
