// Host side of prefill_attention.wgsl: causal flash-style prefill attention with GQA.
// Chooses the tiles from D, g and the device limits, checks shapes, binds and dispatches.
// It is not a decode kernel, does not allocate q/k/v/out (the caller owns them) and never reads
// anything back: encode() only records into the caller's pass.
//
// Layouts: q [B, Tq, H, D], k and v [B, Tk, Hkv, D], out [B, Tq, H, D]; dense, f32 or f16
// (`dtype`). Query i attends to keys 0 ..= Tk - Tq + i (chunked prefill when Tq < Tk); with a
// sliding `window` W only to the last W of them.
// Supported: D a multiple of 4 in [4, 256]; any H that is a multiple of Hkv.

import { dispatch, type Gpu, GpuError } from "../gpu/mod.ts";
import { checkInt, groupSize } from "../shapes.ts";
import { wgsl } from "./wgsl.ts";

export type AttentionDtype = "f32" | "f16";
export const ATTENTION_DTYPES: readonly AttentionDtype[] = ["f32", "f16"];

export interface PrefillAttentionOptions {
  /** Query heads H (a multiple of Hkv). */
  readonly H: number;
  /** KV heads Hkv. */
  readonly Hkv: number;
  /** Head dim D: a multiple of 4 in [4, MAX_D]. */
  readonly D: number;
  /** Storage type of q, k, v and out (default "f32"); "f16" needs the shader-f16 feature. */
  readonly dtype?: AttentionDtype;
  /** Score scale (finite, > 0); default 1 / sqrt(D). */
  readonly scale?: number;
}

export interface PrefillAttentionArgs {
  /** [B, Tq, H, D] */
  readonly q: GPUBuffer;
  /** [B, Tk, Hkv, D] */
  readonly k: GPUBuffer;
  /** [B, Tk, Hkv, D] */
  readonly v: GPUBuffer;
  /** [B, Tq, H, D], written */
  readonly out: GPUBuffer;
  readonly B: number;
  readonly Tq: number;
  readonly Tk: number;
  /** Sliding window in keys (Mistral's sliding_window): absent, no window. */
  readonly window?: number;
}

export const MAX_D = 256;

// --- tile plan ---------------------------------------------------------------------------------

/** How one workgroup is cut; the names match the WGSL override constants. */
export interface TilePlan {
  /** Threads per query row (power of two ≤ 8). */
  readonly TPR: number;
  /** Query heads per workgroup (a divisor of g; g itself unless g > ROWS target). */
  readonly GS: number;
  /** Query positions per workgroup. */
  readonly BQ: number;
  /** Keys per KV tile. */
  readonly BK: number;
  /** Query rows per workgroup: BQ · GS. */
  readonly ROWS: number;
  /** Workgroup size: ROWS · TPR. */
  readonly WG: number;
  /** Workgroup memory in bytes. */
  readonly bytes: number;
}

/** Same limits as in the WGSL (private array sizes). */
const MAX_NC = 8;
const MAX_NJ = 32;
/** Largest workgroup we ask for, whatever the device allows (occupancy, portability). */
const MAX_WG = 256;

/** (rows target, BK) in order of preference: most K/V reuse first, then longer KV tiles. */
const CANDIDATES: readonly (readonly [number, number])[] = [
  [32, 32],
  [32, 16],
  [16, 32],
  [16, 16],
  [16, 8],
  [8, 16],
  [8, 8],
  [4, 8],
  [2, 8],
  [1, 8],
];

/** Workgroup bytes of a plan: q, k padded by one vec4 a row; v unpadded; scores padded by one. */
export function workgroupBytes(D: number, ROWS: number, BK: number): number {
  const D4 = D / 4;
  return 16 * (ROWS * (D4 + 1) + BK * (D4 + 1) + BK * D4) + 4 * ROWS * (BK + 1);
}

/**
 * The first candidate tile that fits the device: workgroup memory ≤ maxComputeWorkgroupStorageSize
 * and workgroup size ≤ min(256, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX).
 */
export function planTiles(
  D: number,
  g: number,
  limits: Pick<
    GPUSupportedLimits,
    | "maxComputeWorkgroupStorageSize"
    | "maxComputeInvocationsPerWorkgroup"
    | "maxComputeWorkgroupSizeX"
  >,
): TilePlan {
  checkHeadDim(D);
  checkInt("g (group size)", g);
  const D4 = D / 4;
  let TPR = 1;
  while (TPR * 2 <= Math.min(8, D4)) TPR *= 2;
  const maxWg = Math.min(
    MAX_WG,
    limits.maxComputeInvocationsPerWorkgroup,
    limits.maxComputeWorkgroupSizeX,
  );
  for (const [target, BK] of CANDIDATES) {
    let GS = Math.min(g, target);
    while (g % GS !== 0) GS--;
    const BQ = Math.max(1, Math.floor(target / GS));
    const ROWS = BQ * GS;
    const WG = ROWS * TPR;
    const bytes = workgroupBytes(D, ROWS, BK);
    if (WG > maxWg || bytes > limits.maxComputeWorkgroupStorageSize) continue;
    if (Math.ceil(D4 / TPR) > MAX_NC || BK / TPR > MAX_NJ || BK % TPR !== 0) continue;
    return { TPR, GS, BQ, BK, ROWS, WG, bytes };
  }
  throw new RangeError(
    `D=${D}, g=${g}: no attention tile fits this device (workgroup memory ` +
      `${limits.maxComputeWorkgroupStorageSize} bytes, ${maxWg} invocations); the smallest needs ` +
      `${workgroupBytes(D, 1, 8)} bytes`,
  );
}

function checkHeadDim(D: number): void {
  if (!Number.isInteger(D) || D < 4 || D > MAX_D || D % 4 !== 0) {
    throw new RangeError(`D (head dim): got ${D}, expected a multiple of 4 in [4, ${MAX_D}]`);
  }
}

// --- shader source -----------------------------------------------------------------------------

const F32_URL = new URL("./prefill_attention.wgsl", import.meta.url);
const F16_URL = new URL("./prefill_attention_f16.wgsl", import.meta.url);
const F32_ALIAS = "alias IO4 = vec4<f32>;";

/** WGSL for `dtype`: the f16 variant is the f16 preamble plus the body without its f32 alias. */
export function prefillAttentionSource(dtype: AttentionDtype): string {
  const body = wgsl(F32_URL);
  if (dtype === "f32") return body;
  if (body.split(F32_ALIAS).length !== 2) {
    throw new GpuError(`prefill_attention.wgsl: expected exactly one "${F32_ALIAS}" line`);
  }
  return `${wgsl(F16_URL)}\n${body.replace(F32_ALIAS, "// IO4: see the f16 preamble above.")}`;
}

// --- kernel ------------------------------------------------------------------------------------

export class PrefillAttention {
  /** Uniform buffers by (B, Tq, Tk, window): encode never writes a buffer a recorded pass still uses. */
  readonly #uniforms = new Map<string, GPUBuffer>();

  private constructor(
    readonly gpu: Gpu,
    readonly H: number,
    readonly Hkv: number,
    readonly D: number,
    readonly dtype: AttentionDtype,
    readonly scale: number,
    readonly plan: TilePlan,
    readonly pipeline: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu, options: PrefillAttentionOptions): Promise<PrefillAttention> {
    const { H, Hkv, D } = options;
    const g = groupSize(H, Hkv);
    checkHeadDim(D);
    const dtype = options.dtype ?? "f32";
    if (!ATTENTION_DTYPES.includes(dtype)) {
      throw new RangeError(`dtype: got "${dtype}", expected one of ${ATTENTION_DTYPES.join(", ")}`);
    }
    if (dtype === "f16" && !gpu.f16) {
      throw new GpuError(
        `dtype "f16" needs the shader-f16 feature, which this device lacks ` +
          `(${gpu.report.description}); use dtype "f32"`,
      );
    }
    const scale = options.scale ?? 1 / Math.sqrt(D);
    if (!Number.isFinite(scale) || scale <= 0) {
      throw new RangeError(`scale: got ${scale}, expected a finite number > 0`);
    }
    const plan = planTiles(D, g, gpu.limits);
    const pipeline = await gpu.pipeline(
      `prefill_attention_${dtype}`,
      prefillAttentionSource(dtype),
      "main",
      {
        D4: D / 4,
        HKV: Hkv,
        G: g,
        GS: plan.GS,
        BQ: plan.BQ,
        BK: plan.BK,
        TPR: plan.TPR,
        SCALE_LOG2E: scale * Math.LOG2E,
      },
    );
    return new PrefillAttention(gpu, H, Hkv, D, dtype, scale, plan, pipeline);
  }

  /** Bytes per stored element of q, k, v and out. */
  get elementBytes(): number {
    return this.dtype === "f16" ? 2 : 4;
  }

  /**
   * Records one dispatch into `pass`: out = causal (windowed) softmax(q kᵀ · scale) v. Reads
   * nothing back.
   */
  encode(pass: GPUComputePassEncoder, args: PrefillAttentionArgs): void {
    const { q, k, v, out, B, Tq, Tk } = args;
    const window = args.window ?? 0;
    if (args.window !== undefined) {
      checkInt("window (sliding window, keys)", args.window, 1, 2 ** 32 - 1);
    }
    checkInt("B (batch)", B);
    checkInt("Tq (queries)", Tq);
    checkInt("Tk (keys)", Tk);
    if (Tq > Tk) {
      throw new RangeError(
        `Tq=${Tq} queries but Tk=${Tk} keys: expected Tq ≤ Tk (the queries are the last Tq of the Tk positions)`,
      );
    }
    const { H, Hkv, D } = this;
    const shape = `B=${B}, Tq=${Tq}, Tk=${Tk}, H=${H}, Hkv=${Hkv}, D=${D}, ${this.dtype}`;
    this.#checkBuffer("q [B, Tq, H, D]", q, B * Tq * H * D, shape);
    this.#checkBuffer("k [B, Tk, Hkv, D]", k, B * Tk * Hkv * D, shape);
    this.#checkBuffer("v [B, Tk, Hkv, D]", v, B * Tk * Hkv * D, shape);
    this.#checkBuffer("out [B, Tq, H, D]", out, B * Tq * H * D, shape);
    if (out === q || out === k || out === v) {
      throw new RangeError("out must be a different buffer from q, k and v");
    }

    const maxDim = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    const tiles = Math.ceil(Tq / this.plan.BQ);
    const n = B * tiles;
    const nx = Math.min(n, maxDim);
    const ny = Math.ceil(n / nx);
    const nz = Hkv * (H / Hkv / this.plan.GS);
    if (ny > maxDim || nz > maxDim) {
      throw new RangeError(
        `${shape}: needs a ${nx} × ${ny} × ${nz} workgroup grid, more than ` +
          `maxComputeWorkgroupsPerDimension ${maxDim} allows`,
      );
    }

    const key = `${B},${Tq},${Tk},${window}`;
    let params = this.#uniforms.get(key);
    if (!params) {
      params = this.gpu.uniform(
        "prefill_attention.params",
        new Uint32Array([B, Tq, Tk, tiles, nx, window, 0, 0]),
      );
      this.#uniforms.set(key, params);
    }
    const group = this.gpu.bindGroup(this.pipeline, [params, q, k, v, out]);
    dispatch(pass, this.pipeline, group, nx, ny, nz);
  }

  /** Releases the cached uniform buffers (one 32-byte buffer per distinct B, Tq, Tk, window). */
  destroy(): void {
    for (const b of this.#uniforms.values()) this.gpu.destroy(b);
    this.#uniforms.clear();
  }

  #checkBuffer(what: string, buffer: GPUBuffer, elements: number, shape: string): void {
    const bytes = elements * this.elementBytes;
    this.gpu.checkBinding(`${what} (${shape})`, bytes);
    if (buffer.size < bytes) {
      throw new RangeError(
        `${what}: buffer holds ${buffer.size} bytes, needs ${bytes} for ${shape}`,
      );
    }
  }
}
