// Host side of matmul.wgsl: y [M, N] = x [M, K] · Wᵀ (+ bias [N]) (+ y), W [N, K] a Matrix
// (engine/kernels/matrix.ts) in f32 or f16, dispatched once per row chunk of W. Picks a gemv for
// M ≤ GEMV_MAX_ROWS (decode) — gemv_vec.wgsl's 16-byte loads where K allows them (f16: K a
// multiple of 8, f32: of 4), else matmul.wgsl's scalar gemv — and the tiled kernel otherwise
// (prefill).
// It allocates nothing but its uniforms and never reads back.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";
import { grid2d } from "../cache/grid.ts";
import { DispatchCache } from "./dispatch_cache.ts";
import { type Matrix, WEIGHT_DTYPES, type WeightDtype } from "./matrix.ts";
import { wgsl } from "./wgsl.ts";

/** Most rows the gemv path takes. */
export const GEMV_MAX_ROWS = 8;
const TILE = 64;
const GEMV_COLS = 8;

export interface MatmulOptions {
  /** Storage of W. */
  readonly dtype: WeightDtype;
  /** Add a bias [N] (f32). */
  readonly bias?: boolean;
  /** Add into y (a fused residual add): y ← y + x·Wᵀ (+ bias). */
  readonly accumulate?: boolean;
  /**
   * Decode's gemv: "vector" (gemv_vec.wgsl's 16-byte loads where K allows, else the scalar one),
   * "scalar" (always matmul.wgsl's), or "auto" (default): vector on a hardware adapter, scalar on
   * a software one, where the vector kernel runs the model several times slower (stories260K
   * decode on llvmpipe: 220 vs 35 ms per token): llvmpipe is slow to switch its bind groups,
   * which a model's layers do every dispatch (gemv_bench.ts).
   */
  readonly gemv?: GemvChoice;
}

export type GemvChoice = "auto" | "vector" | "scalar";
export const GEMV_CHOICES: readonly GemvChoice[] = ["auto", "vector", "scalar"];

export interface MatmulArgs {
  /** [M, K] f32 */
  readonly x: GPUBuffer;
  /** [N, K] */
  readonly w: Matrix;
  /** [N] f32, when the kernel was created with bias */
  readonly bias?: GPUBuffer;
  /** [M, N] f32, written (or added to) */
  readonly y: GPUBuffer;
  readonly M: number;
}

export class Matmul {
  readonly #cache: DispatchCache;
  readonly #dummy: GPUBuffer;

  private constructor(
    readonly gpu: Gpu,
    readonly options: Required<MatmulOptions>,
    readonly tiled: GPUComputePipeline,
    readonly gemv: GPUComputePipeline,
    readonly gemvVec: GPUComputePipeline,
  ) {
    this.#cache = new DispatchCache(gpu, "matmul");
    this.#dummy = gpu.createBuffer("matmul.no_bias", 4);
  }

  static async create(gpu: Gpu, o: MatmulOptions): Promise<Matmul> {
    if (!WEIGHT_DTYPES.includes(o.dtype)) {
      throw new RangeError(
        `matmul dtype: got "${o.dtype}", expected one of ${WEIGHT_DTYPES.join(", ")}`,
      );
    }
    const gemvChoice = o.gemv ?? "auto";
    if (!GEMV_CHOICES.includes(gemvChoice)) {
      throw new RangeError(`gemv: got "${gemvChoice}", expected one of ${GEMV_CHOICES.join(", ")}`);
    }
    const options = {
      dtype: o.dtype,
      bias: o.bias ?? false,
      accumulate: o.accumulate ?? false,
      gemv: gemvChoice === "auto" ? (gpu.report.fallback ? "scalar" : "vector") : gemvChoice,
    } as const;
    const epilogue = wgsl(new URL("./gemv_epilogue.wgsl", import.meta.url));
    const code = `${wgsl(new URL("./matmul.wgsl", import.meta.url))}\n${epilogue}`;
    const constants = {
      F16: options.dtype === "f16" ? 1 : 0,
      BIAS: options.bias ? 1 : 0,
      ACC: options.accumulate ? 1 : 0,
    };
    const tiled = await gpu.pipeline("matmul", code, "tiled", constants);
    const gemv = await gpu.pipeline("matmul", code, "gemv", constants);
    const vecCode = `${wgsl(new URL("./gemv_vec.wgsl", import.meta.url))}\n${epilogue}`;
    const gemvVec = await gpu.pipeline("gemv_vec", vecCode, "main", constants);
    return new Matmul(gpu, options, tiled, gemv, gemvVec);
  }

  /** The kernel encode() runs for M rows of x against K columns. */
  path(M: number, K: number): "tiled" | "gemv" | "gemv_vec" {
    if (M > GEMV_MAX_ROWS) return "tiled";
    if (this.options.gemv === "scalar") return "gemv";
    return K % (this.options.dtype === "f16" ? 8 : 4) === 0 ? "gemv_vec" : "gemv";
  }

  /** Records y = x · Wᵀ (+ bias) (+ y): one dispatch per chunk of W. */
  encode(pass: GPUComputePassEncoder, a: MatmulArgs): void {
    const { x, w, y, M } = a;
    const N = w.rows, K = w.cols;
    checkInt("M (rows of x)", M);
    if (w.dtype !== this.options.dtype) {
      throw new TypeError(
        `matmul: ${w.label} is ${w.dtype}, this kernel reads ${this.options.dtype}`,
      );
    }
    if (this.options.bias !== (a.bias !== undefined)) {
      throw new TypeError(
        `matmul (${w.label}): ${
          this.options.bias ? "a bias buffer is required" : "no bias expected"
        }`,
      );
    }
    const need = (what: string, buffer: GPUBuffer, bytes: number) => {
      if (buffer.size < bytes) {
        throw new RangeError(
          `matmul (${w.label}, M=${M}, N=${N}, K=${K}): ${what} holds ${buffer.size} bytes, needs ${bytes}`,
        );
      }
    };
    need("x [M, K]", x, M * K * 4);
    need("y [M, N]", y, M * N * 4);
    if (a.bias) need("bias [N]", a.bias, N * 4);
    if (x === y) throw new RangeError(`matmul (${w.label}): y must be a different buffer from x`);
    const path = this.path(M, K);
    const gemv = path !== "tiled";
    const pipeline = path === "tiled" ? this.tiled : path === "gemv" ? this.gemv : this.gemvVec;
    for (const c of w.chunks) {
      const params = this.#cache.uniform(new Uint32Array([M, K, c.rows, c.row0, N, 0, 0, 0]));
      const group = this.#cache.bind(pipeline, [params, x, c.buffer, a.bias ?? this.#dummy, y]);
      if (gemv) {
        const [gx, gy] = grid2d(
          Math.ceil(c.rows / GEMV_COLS),
          this.gpu.limits.maxComputeWorkgroupsPerDimension,
        );
        dispatch(pass, pipeline, group, gx, gy);
      } else {
        dispatch(pass, pipeline, group, Math.ceil(c.rows / TILE), Math.ceil(M / TILE));
      }
    }
  }

  destroy(): void {
    this.#cache.destroy();
    this.gpu.destroy(this.#dummy);
  }
}
