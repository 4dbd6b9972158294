// Full-precision KV caches: `fp32` (the reference) and `fp16` (the baseline every compression
// ratio is quoted against). Layout [B, Hkv, capacity, D], head-major so decode reads each KV
// head's tokens contiguously. D is any multiple of 8 (one 16-byte fp16 row per 8 channels), so
// small models such as stories260K (D = 8) run on them.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { CacheBase } from "./base.ts";
import { type CacheShape, type DecodeSource, FULL_D_MULTIPLE } from "./format.ts";
import { grid2d } from "./grid.ts";

export class FullCache extends CacheBase {
  readonly format: "fp32" | "fp16";
  readonly kStore: GPUBuffer;
  readonly vStore: GPUBuffer;
  #pipeline?: GPUComputePipeline;
  #slotPipeline?: GPUComputePipeline;

  private constructor(gpu: Gpu, shape: CacheShape, readonly half: boolean) {
    super(gpu, shape, FULL_D_MULTIPLE);
    this.format = half ? "fp16" : "fp32";
    const bytes = shape.B * shape.Hkv * shape.capacity * shape.D * (half ? 2 : 4);
    this.kStore = this.alloc("k", bytes);
    this.vStore = this.alloc("v", bytes);
  }

  static async create(gpu: Gpu, shape: CacheShape, half: boolean): Promise<FullCache> {
    const c = new FullCache(gpu, shape, half);
    await c.init();
    return c;
  }

  override async init(): Promise<void> {
    await super.init();
    this.#pipeline = await this.gpu.pipeline(
      `append.${this.format}`,
      wgsl(new URL("./full_append.wgsl", import.meta.url)),
      "main",
      { ...this.#constants(), RING: this.shape.ring ? 1 : 0 },
    );
  }

  /** Tokens are stored independently; a rolling cache takes appends only. */
  override get slotWrites(): boolean {
    return !this.shape.ring;
  }

  protected override async initSlotWrites(): Promise<void> {
    this.#slotPipeline = await this.gpu.pipeline(
      `slot.${this.format}`,
      wgsl(new URL("./full_slot.wgsl", import.meta.url)),
      "main",
      { ...this.#constants(), B: this.shape.B },
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
    const words = this.half ? D / 2 : D;
    const [x, y] = grid2d(Math.ceil((B * Hkv * words) / 64));
    dispatch(pass, this.#slotPipeline!, group, x, y);
  }

  #constants() {
    const { D, Hkv, capacity } = this.shape;
    return { D, HKV: Hkv, CAP: capacity, HALF: this.half ? 1 : 0 };
  }

  protected encodeAppend(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    Tn: number,
  ): void {
    const { B, Hkv, D } = this.shape;
    const group = this.appendBindGroup(this.#pipeline!, k, v, [this.kStore, this.vStore]);
    const words = this.half ? D / 2 : D;
    const [x, y] = grid2d(Math.ceil((Tn * Hkv * words) / 64));
    dispatch(pass, this.#pipeline!, group, x, y, B);
  }

  decodeSource(): DecodeSource {
    const c = this.#constants();
    return {
      wgsl: wgsl(new URL("./full_read.wgsl", import.meta.url)),
      buffers: [this.lens, this.kStore, this.vStore],
      constants: { HKV: c.HKV, CAP: c.CAP, HALF: c.HALF, RING: this.shape.ring ? 1 : 0 },
    };
  }
}
