// Shared machinery for every storage format: the GPU lengths [B] and append counts [B], the
// dispatch that advances lengths, the host mirror, and byte accounting over the format's own
// allocations. A format subclasses CacheBase, allocates through this.alloc(), and records its
// append kernels in encodeAppend(). A format whose tokens are stored independently also
// overrides `slotWrites` and encodeWriteSlots() (format.ts SlotWritable); the base adds the
// clamped length update (lengths_grow.wgsl).

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { wgsl } from "../kernels/wgsl.ts";
import {
  type CacheShape,
  checkShape,
  type DecodeSource,
  type KvCache,
  planAppend,
} from "./format.ts";

export abstract class CacheBase implements KvCache {
  abstract readonly format: string;
  readonly lengths: number[];
  readonly lens: GPUBuffer;
  readonly counts: GPUBuffer;
  /** Uniform { Tn } of the append kernels (not KV storage: left out of bytes()). */
  protected readonly appendParams: GPUBuffer;
  readonly #own: GPUBuffer[] = [];
  #lastCounts = "";
  #tn = -1;
  #appendBind?: { k: GPUBuffer; v: GPUBuffer; group: GPUBindGroup };
  #slotBind?: { k: GPUBuffer; v: GPUBuffer; slots: GPUBuffer; group: GPUBindGroup };
  #advance?: { pipeline: GPUComputePipeline; bind: GPUBindGroup };
  #grow?: { pipeline: GPUComputePipeline; bind: GPUBindGroup };

  /** `dMultiple`: what D must be a multiple of (checkShape; 32 unless a format says less). */
  constructor(readonly gpu: Gpu, readonly shape: CacheShape, dMultiple?: number) {
    checkShape(shape, dMultiple);
    this.lengths = new Array(shape.B).fill(0);
    this.lens = this.alloc("lens", shape.B * 4);
    this.counts = this.alloc("counts", shape.B * 4);
    this.appendParams = gpu.uniform("kv.append.params", new Uint32Array(4));
  }

  /** A buffer owned by this cache: counted by bytes(), freed by destroy(). */
  protected alloc(label: string, bytes: number): GPUBuffer {
    this.gpu.checkBinding(`${label} of a ${shape(this.shape)} cache`, bytes);
    const b = this.gpu.createBuffer(`kv.${label}`, bytes);
    this.#own.push(b);
    return b;
  }

  /** Builds the pipelines this cache needs. Formats extend it and call super.init(). */
  async init(): Promise<void> {
    const pipeline = await this.gpu.pipeline(
      "lengths",
      wgsl(new URL("./lengths.wgsl", import.meta.url)),
      "main",
    );
    this.#advance = { pipeline, bind: this.gpu.bindGroup(pipeline, [this.lens, this.counts]) };
  }

  append(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    Tn: number,
    counts?: readonly number[],
  ): void {
    if (!this.#advance) throw new Error(`${this.format} cache used before init()`);
    const c = planAppend(this.format, this.shape, this.lengths, Tn, counts);
    const key = c.join(",");
    if (key !== this.#lastCounts) {
      // queue.writeBuffer lands before the next submit: appends recorded into one command
      // buffer must share their counts (decode steps do: one token each).
      this.gpu.write(this.counts, new Uint32Array(c));
      this.#lastCounts = key;
    }
    const inBytes = this.shape.B * Tn * this.shape.Hkv * this.shape.D * 4;
    if (k.size < inBytes || v.size < inBytes) {
      throw new RangeError(
        `append: k and v must hold [B=${this.shape.B}, Tn=${Tn}, Hkv, D] f32 = ${inBytes} bytes`,
      );
    }
    if (Tn !== this.#tn) {
      this.gpu.write(this.appendParams, new Uint32Array([Tn, 0, 0, 0]));
      this.#tn = Tn;
    }
    this.encodeAppend(pass, k, v, Tn, c);
    dispatch(pass, this.#advance.pipeline, this.#advance.bind, Math.ceil(this.shape.B / 64));
    c.forEach((n, b) => this.lengths[b] += n);
  }

  /**
   * Records the format's append kernels: sequence b takes counts[b] tokens of k, v
   * [B, Tn, Hkv, D] f32 at position lens[b] (still the old length while these run).
   * `this.lengths` is still the old length too.
   */
  protected abstract encodeAppend(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    Tn: number,
    counts: readonly number[],
  ): void;

  abstract decodeSource(): DecodeSource;

  // --- per-slot writes (format.ts SlotWritable) ------------------------------------------------

  /** Whether this format stores tokens independently and implements encodeWriteSlots(). */
  get slotWrites(): boolean {
    return false;
  }

  /**
   * Builds the slot-write pipelines (the format's, from initSlotWrites(), and the clamped length
   * update). Not part of init(): caches that never evict do not compile them.
   */
  async prepareSlotWrites(): Promise<void> {
    if (this.#grow) return;
    if (this.shape.ring) {
      throw new RangeError(
        `${this.format} cache: a rolling cache (ring) takes appends only, not slot writes`,
      );
    }
    if (!this.slotWrites) this.#refuseSlotWrites();
    await this.initSlotWrites();
    const grow = await this.gpu.pipeline(
      "lengths_grow",
      wgsl(new URL("./lengths_grow.wgsl", import.meta.url)),
      "main",
      { CAP: this.shape.capacity },
    );
    this.#grow = { pipeline: grow, bind: this.gpu.bindGroup(grow, [this.lens]) };
  }

  #refuseSlotWrites(): never {
    throw new TypeError(
      `${this.format} cache: cannot overwrite single tokens in place (writeSlots); the formats ` +
        "that store tokens independently can (fp32, fp16, int8, int4)",
    );
  }

  /**
   * Records the store of one token per sequence into per-(b, hk) slots, then the clamped length
   * update lens[b] = min(lens[b] + 1, capacity) (format.ts SlotWritable).
   */
  writeSlots(
    pass: GPUComputePassEncoder,
    k: GPUBuffer,
    v: GPUBuffer,
    slots: GPUBuffer,
  ): void {
    if (!this.slotWrites) this.#refuseSlotWrites();
    if (!this.#grow) {
      throw new Error(`${this.format} cache: writeSlots() before prepareSlotWrites()`);
    }
    const { B, Hkv, D } = this.shape;
    const inBytes = B * Hkv * D * 4;
    if (k.size < inBytes || v.size < inBytes) {
      throw new RangeError(
        `writeSlots: k and v must hold [B=${B}, Hkv=${Hkv}, D=${D}] f32 = ${inBytes} bytes`,
      );
    }
    if (slots.size < B * Hkv * 4) {
      throw new RangeError(
        `writeSlots: slots must hold [B=${B}, Hkv=${Hkv}] u32 = ${B * Hkv * 4} bytes, ` +
          `the buffer holds ${slots.size}`,
      );
    }
    this.encodeWriteSlots(pass, k, v, slots);
    dispatch(pass, this.#grow.pipeline, this.#grow.bind, Math.ceil(B / 64));
    for (let b = 0; b < B; b++) {
      this.lengths[b] = Math.min(this.lengths[b] + 1, this.shape.capacity);
    }
  }

  /** Builds the format's slot-write pipeline (only formats whose `slotWrites` is true). */
  protected async initSlotWrites(): Promise<void> {
    await Promise.resolve();
    this.#refuseSlotWrites();
  }

  /** Records the format's slot-write kernel (only formats whose `slotWrites` is true). */
  protected encodeWriteSlots(
    _pass: GPUComputePassEncoder,
    _k: GPUBuffer,
    _v: GPUBuffer,
    _slots: GPUBuffer,
  ): void {
    throw new TypeError(`${this.format} cache: no slot-write kernel`);
  }

  bytes(): number {
    return this.#own.reduce((sum, b) => sum + b.size, 0);
  }

  /** Each owned buffer's label and size, for the records. */
  allocations(): { label: string; bytes: number }[] {
    return this.#own.map((b) => ({ label: b.label, bytes: b.size }));
  }

  /**
   * The bind group of a single-pipeline append kernel whose bindings are
   * (params, lens, counts, k, v, ...stores), rebuilt only when k or v change.
   */
  protected appendBindGroup(
    pipeline: GPUComputePipeline,
    k: GPUBuffer,
    v: GPUBuffer,
    stores: readonly GPUBuffer[],
  ): GPUBindGroup {
    if (this.#appendBind?.k !== k || this.#appendBind?.v !== v) {
      const buffers = [this.appendParams, this.lens, this.counts, k, v, ...stores];
      this.#appendBind = { k, v, group: this.gpu.bindGroup(pipeline, buffers) };
    }
    return this.#appendBind.group;
  }

  /**
   * The bind group of a slot-write kernel whose bindings are (slots, k, v, ...stores), rebuilt
   * only when one of its inputs changes.
   */
  protected slotBindGroup(
    pipeline: GPUComputePipeline,
    k: GPUBuffer,
    v: GPUBuffer,
    slots: GPUBuffer,
    stores: readonly GPUBuffer[],
  ): GPUBindGroup {
    const b = this.#slotBind;
    if (b?.k !== k || b?.v !== v || b?.slots !== slots) {
      this.#slotBind = {
        k,
        v,
        slots,
        group: this.gpu.bindGroup(pipeline, [slots, k, v, ...stores]),
      };
    }
    return this.#slotBind!.group;
  }

  destroy(): void {
    for (const b of this.#own) this.gpu.destroy(b);
    this.#own.length = 0;
    this.gpu.destroy(this.appendParams);
  }
}

function shape(s: CacheShape): string {
  return `B=${s.B} Hkv=${s.Hkv} D=${s.D} capacity=${s.capacity}`;
}
