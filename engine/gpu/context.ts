// The GPU context: device with the adapter's own limits, buffer allocation with live/peak byte
// accounting (the source of every memory figure kvlab reports), a pipeline cache keyed by
// shader + entry point + override constants, uploads, and batched readback.
// It is not a tensor library: kernels own their buffers and their layouts.

import { type AdapterReport, chooseAdapter, type DeviceChoice, reportAdapter } from "./adapter.ts";

export interface GpuOptions {
  readonly device?: DeviceChoice;
  /** Ask for shader-f16 when the adapter has it (default true). */
  readonly f16?: boolean;
}

export interface ReadRequest {
  readonly buffer: GPUBuffer;
  readonly offset?: number;
  readonly size?: number;
}

export class GpuError extends Error {
  override name = "GpuError";
}

export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
export const UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;

// ---------------------------------------------------------------------------------------------

export class Gpu {
  /** Bytes of all live buffers allocated through this context. */
  liveBytes = 0;
  /** Highest liveBytes since creation or the last resetPeak(). */
  peakBytes = 0;
  readonly #sizes = new Map<GPUBuffer, number>();
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #modules = new Map<string, GPUShaderModule>();

  private constructor(
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly report: AdapterReport,
    /** shader-f16 is enabled on the device. */
    readonly f16: boolean,
    /** timestamp-query is enabled on the device. */
    readonly timestamps: boolean,
  ) {}

  static async open(options: GpuOptions = {}): Promise<Gpu> {
    const adapter = await chooseAdapter(options.device ?? "auto");
    const features: GPUFeatureName[] = [];
    const f16 = (options.f16 ?? true) && adapter.features.has("shader-f16");
    if (f16) features.push("shader-f16");
    const timestamps = adapter.features.has("timestamp-query");
    if (timestamps) features.push("timestamp-query");
    // Request the adapter's own limits: the defaults cap storage bindings at 128 MiB.
    const l = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    };
    const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
    device.addEventListener("uncapturederror", (e) => {
      console.error(
        `kvlab: uncaptured WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`,
      );
    });
    return new Gpu(adapter, device, reportAdapter(adapter), f16, timestamps);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  // --- memory ---------------------------------------------------------------------------------

  /** Allocates a tracked buffer. Size is rounded up to 4 bytes; the allocation is what counts. */
  createBuffer(label: string, size: number, usage: number = STORAGE): GPUBuffer {
    if (!Number.isFinite(size) || size < 0) {
      throw new RangeError(`buffer "${label}": size must be ≥ 0 bytes, got ${size}`);
    }
    const bytes = Math.max(4, Math.ceil(size / 4) * 4);
    if (bytes > this.limits.maxBufferSize) {
      throw new RangeError(
        `buffer "${label}": ${bytes} bytes exceeds the device's maxBufferSize ${this.limits.maxBufferSize}`,
      );
    }
    const buffer = this.device.createBuffer({ label, size: bytes, usage });
    this.#sizes.set(buffer, buffer.size);
    this.liveBytes += buffer.size;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return buffer;
  }

  /** Destroys a buffer made by createBuffer and releases its bytes from the count. */
  destroy(buffer: GPUBuffer): void {
    const size = this.#sizes.get(buffer);
    if (size === undefined) return;
    this.#sizes.delete(buffer);
    this.liveBytes -= size;
    buffer.destroy();
  }

  /** Starts a new peak window at the current live bytes. */
  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  /** Checks that a buffer of `bytes` can be bound as one storage binding. */
  checkBinding(what: string, bytes: number): void {
    const max = this.limits.maxStorageBufferBindingSize;
    if (bytes > max) {
      throw new RangeError(
        `${what}: ${bytes} bytes is larger than one storage binding can hold (${max} bytes on this device)`,
      );
    }
  }

  /** A storage buffer holding `data` (STORAGE | COPY_SRC | COPY_DST). */
  upload(label: string, data: ArrayBufferView, usage: number = STORAGE): GPUBuffer {
    const buffer = this.createBuffer(label, data.byteLength, usage);
    this.write(buffer, data);
    return buffer;
  }

  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const padded = data.byteLength % 4 === 0 ? data : padTo4(data);
    this.device.queue.writeBuffer(
      buffer,
      offset,
      padded.buffer as ArrayBuffer,
      padded.byteOffset,
      padded.byteLength,
    );
  }

  /** A uniform buffer from 32-bit words (u32 unless given as Float32Array). */
  uniform(label: string, words: Uint32Array | Float32Array): GPUBuffer {
    const size = Math.ceil(words.byteLength / 16) * 16;
    const buffer = this.createBuffer(label, size, UNIFORM);
    this.write(buffer, words);
    return buffer;
  }

  /**
   * Reads several buffers back with one staging buffer, one submit and one map:
   * each map costs about 10 ms in Deno, so batch every readback.
   */
  async read(requests: readonly ReadRequest[]): Promise<ArrayBuffer[]> {
    const spans = requests.map((r) => {
      const offset = r.offset ?? 0;
      const size = r.size ?? r.buffer.size - offset;
      return { ...r, offset, size: Math.ceil(size / 4) * 4, want: size };
    });
    let total = 0;
    const at: number[] = [];
    for (const s of spans) {
      at.push(total);
      total += s.size;
    }
    const staging = this.createBuffer(
      "readback",
      total,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    );
    const encoder = this.device.createCommandEncoder();
    spans.forEach((s, i) => encoder.copyBufferToBuffer(s.buffer, s.offset, staging, at[i], s.size));
    this.device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const all = staging.getMappedRange().slice(0);
      return spans.map((s, i) => all.slice(at[i], at[i] + s.want));
    } finally {
      this.destroy(staging);
    }
  }

  // --- pipelines ------------------------------------------------------------------------------

  /**
   * A compute pipeline from the cache, keyed by shader text + entry point + override constants.
   * Compilation errors are captured with an error scope and thrown with the shader's label.
   */
  async pipeline(
    label: string,
    code: string,
    entryPoint: string,
    constants: Readonly<Record<string, number>> = {},
  ): Promise<GPUComputePipeline> {
    const constKey = Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(",");
    const key = `${entryPoint}|${constKey}|${code}`;
    const hit = this.#pipelines.get(key);
    if (hit) return hit;
    this.device.pushErrorScope("validation");
    let module = this.#modules.get(code);
    if (!module) {
      module = this.device.createShaderModule({ label, code });
      this.#modules.set(code, module);
    }
    const pipeline = this.device.createComputePipeline({
      label: `${label}:${entryPoint}`,
      layout: "auto",
      compute: { module, entryPoint, constants: { ...constants } },
    });
    const error = await this.device.popErrorScope();
    if (error) {
      this.#modules.delete(code);
      throw new GpuError(`pipeline ${label}:${entryPoint} (${constKey}): ${error.message}`);
    }
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  bindGroup(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[], group = 0): GPUBindGroup {
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(group),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /** Encodes and submits one command buffer built by `record`. Does not wait. */
  submit(record: (pass: GPUComputePassEncoder) => void): void {
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    record(pass);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  destroyAll(): void {
    for (const b of [...this.#sizes.keys()]) this.destroy(b);
  }
}

/** One dispatch recorded into a pass. */
export function dispatch(
  pass: GPUComputePassEncoder,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  x: number,
  y = 1,
  z = 1,
): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, z);
}

function padTo4(data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}
