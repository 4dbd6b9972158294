// Host side of the copy kernel (copy.wgsl): dst ← src for n bytes (a multiple of 16).
// Achieved bandwidth counts both the read and the write: 2·n bytes per run.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { grid2d } from "../cache/grid.ts";
import { wgsl } from "./wgsl.ts";

const WG = 256;
/** Threads in flight: enough to saturate HBM on large GPUs, grid-stride beyond that. */
const MAX_THREADS = 1 << 20;

export class CopyKernel {
  private constructor(
    readonly gpu: Gpu,
    readonly pipeline: GPUComputePipeline,
    readonly bind: GPUBindGroup,
    readonly params: GPUBuffer,
    readonly workgroups: [number, number],
    readonly bytes: number,
  ) {}

  static async create(
    gpu: Gpu,
    src: GPUBuffer,
    dst: GPUBuffer,
    bytes: number,
  ): Promise<CopyKernel> {
    checkInt("copy bytes", bytes, 16);
    if (bytes % 16 !== 0) {
      throw new RangeError(`copy bytes: got ${bytes}, expected a multiple of 16`);
    }
    if (src.size < bytes || dst.size < bytes) {
      throw new RangeError(
        `copy: ${bytes} bytes do not fit src (${src.size}) or dst (${dst.size})`,
      );
    }
    gpu.checkBinding("copy source", bytes);
    const n = bytes / 16;
    const threads = Math.min(MAX_THREADS, Math.ceil(n / WG) * WG);
    const workgroups = grid2d(threads / WG, gpu.limits.maxComputeWorkgroupsPerDimension);
    const stride = workgroups[0] * workgroups[1] * WG;
    const pipeline = await gpu.pipeline(
      "copy",
      wgsl(new URL("./copy.wgsl", import.meta.url)),
      "main",
      { WG },
    );
    const params = gpu.uniform("copy.params", new Uint32Array([n, stride, 0, 0]));
    const bind = gpu.bindGroup(pipeline, [params, src, dst]);
    return new CopyKernel(gpu, pipeline, bind, params, workgroups, bytes);
  }

  encode(pass: GPUComputePassEncoder): void {
    dispatch(pass, this.pipeline, this.bind, this.workgroups[0], this.workgroups[1]);
  }

  destroy(): void {
    this.gpu.destroy(this.params);
  }
}
