// Group-wise quantized KV caches `int8`, `int4`: keys and values quantized per token over groups
// of 32 channels along D, asymmetric min–max, no full-precision residual (FlexGen-style, Sheng
// et al., 2023, https://arxiv.org/abs/2303.06865; the "FlexGen-4" row of the long-context KV
// benchmark of Yuan et al., 2024, https://arxiv.org/abs/2407.01527).
// Not here: the quantization math's specification (engine/reference/quant.ts, which the tests
// hold these kernels to bit for bit), attention (engine/kernels/decode_attention.ts).
//
// Layout (u32 words; letters from engine/shapes.ts), the same for K and V:
//   store = codes [B, Hkv, capacity, D·bits/32]   the channels of one token consecutive
//         | meta  [B, Hkv, capacity, D/32]        f16 scale | f16 min << 16
// Codes are little-endian within a word (channel j of a word at bits [j·bits, (j+1)·bits)).
// In decode (groupwise_read.wgsl) the lanes of a value token read its contiguous code row.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { CacheBase } from "./base.ts";
import { type CacheShape, checkShape, type DecodeSource } from "./format.ts";
import { grid2d } from "./grid.ts";

export const GROUPWISE_BITS: readonly number[] = [4, 8];
/** Channels per quantization group. */
export const GROUPWISE_G = 32;

/** Word offsets of the codes and metadata in each store, and the store's total words. */
export interface GroupwiseLayout {
  readonly bits: number;
  readonly codes: number;
  readonly meta: number;
  readonly words: number;
}

export function groupwiseLayout(shape: CacheShape, bits: number): GroupwiseLayout {
  checkShape(shape);
  if (!GROUPWISE_BITS.includes(bits)) {
    throw new RangeError(
      `group-wise bits: got ${bits}, expected one of ${GROUPWISE_BITS.join(", ")}`,
    );
  }
  const rows = shape.B * shape.Hkv * shape.capacity;
  const codes = (rows * shape.D * bits) / 32;
  const meta = (rows * shape.D) / GROUPWISE_G;
  return { bits, codes: 0, meta: codes, words: codes + meta };
}

// ---------------------------------------------------------------------------------------------

export class GroupwiseCache extends CacheBase {
  readonly format: string;
  readonly kStore: GPUBuffer;
  readonly vStore: GPUBuffer;
  #pipeline?: GPUComputePipeline;
  #slotPipeline?: GPUComputePipeline;

  private constructor(gpu: Gpu, shape: CacheShape, readonly layout: GroupwiseLayout) {
    super(gpu, shape);
    this.format = `int${layout.bits}`;
    this.kStore = this.alloc(`${this.format}.k`, layout.words * 4);
    this.vStore = this.alloc(`${this.format}.v`, layout.words * 4);
  }

  /** An int8 / int4 cache; throws RangeError naming the value for bad bits or a too-large shape. */
  static async create(gpu: Gpu, shape: CacheShape, bits: number): Promise<GroupwiseCache> {
    const layout = groupwiseLayout(shape, bits);
    gpu.checkBinding(
      `int${bits} cache B=${shape.B} Hkv=${shape.Hkv} D=${shape.D} capacity=${shape.capacity}`,
      layout.words * 4,
    );
    const c = new GroupwiseCache(gpu, shape, layout);
    await c.init();
    return c;
  }

  get bits(): number {
    return this.layout.bits;
  }

  override async init(): Promise<void> {
    await super.init();
    this.#pipeline = await this.gpu.pipeline(
      `append.${this.format}`,
      [
        wgsl(new URL("./groupwise_append.wgsl", import.meta.url)),
        wgsl(new URL("./quant_write.wgsl", import.meta.url)),
        wgsl(new URL("./groupwise_store.wgsl", import.meta.url)),
      ].join("\n"),
      "main",
      {
        ...this.#constants(),
        RING: this.shape.ring ? 1 : 0,
        D: this.shape.D,
        // f32(1 / (2^bits - 1)): the kernel multiplies, never divides, for stored values
        INV_MAXQ: Math.fround(1 / (2 ** this.layout.bits - 1)),
      },
    );
  }

  /** Tokens are stored independently; a rolling cache takes appends only. */
  override get slotWrites(): boolean {
    return !this.shape.ring;
  }

  protected override async initSlotWrites(): Promise<void> {
    this.#slotPipeline = await this.gpu.pipeline(
      `slot.${this.format}`,
      [
        wgsl(new URL("./groupwise_slot.wgsl", import.meta.url)),
        wgsl(new URL("./quant_write.wgsl", import.meta.url)),
        wgsl(new URL("./groupwise_store.wgsl", import.meta.url)),
      ].join("\n"),
      "main",
      {
        ...this.#constants(),
        B: this.shape.B,
        D: this.shape.D,
        INV_MAXQ: Math.fround(1 / (2 ** this.layout.bits - 1)),
      },
    );
  }

  protected override encodeWriteSlots(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    slots: GPUBuffer,
  ): void {
    const { B, Hkv, D } = this.shape;
    const group = this.slotBindGroup(this.#slotPipeline!, k, v, slots, [this.kStore, this.vStore]);
    const [x, y] = grid2d(Math.ceil((B * Hkv * (D / GROUPWISE_G)) / 64));
    dispatch(pass, this.#slotPipeline!, group, x, y);
  }

  #constants() {
    return {
      HKV: this.shape.Hkv,
      CAP: this.shape.capacity,
      BITS: this.layout.bits,
      META: this.layout.meta,
    };
  }

  protected encodeAppend(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    Tn: number,
  ): void {
    const { B, Hkv, D } = this.shape;
    const group = this.appendBindGroup(this.#pipeline!, k, v, [this.kStore, this.vStore]);
    const [x, y] = grid2d(Math.ceil((Tn * Hkv * (D / GROUPWISE_G)) / 64));
    dispatch(pass, this.#pipeline!, group, x, y, B);
  }

  decodeSource(): DecodeSource {
    return {
      wgsl: [
        wgsl(new URL("./quant_read.wgsl", import.meta.url)),
        wgsl(new URL("./groupwise_read.wgsl", import.meta.url)),
      ].join("\n"),
      buffers: [this.lens, this.kStore, this.vStore],
      constants: { ...this.#constants(), RING: this.shape.ring ? 1 : 0 },
    };
  }
}
