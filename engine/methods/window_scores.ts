// Host side of the window attention scores (window_scores.wgsl): the SnapKV family's statistic,
// computed on the GPU from the prompt's last W queries, never read back as a matrix.
// Dispatches: stats (S splits × Hkv·G/GS × B), merge (B·H·W rows), probs (⌈Tp/8⌉ tiles × … × B),
// pool (B·Hkv·T). Workspace, freed by the caller once the submitted work is done: part
// [B, H, W, S] and stats [B, H, W] (max, Σexp), ph [B, H, T] f32.

import { dispatch, type Gpu } from "../gpu/mod.ts";
import { grid2d } from "../cache/grid.ts";
import { wgsl } from "../kernels/wgsl.ts";
import { checkInt } from "../shapes.ts";
import { bindSome, paramWords } from "./bind.ts";
import {
  checkBuffer,
  checkHeads,
  checkLayerShape,
  type HeadLayout,
  type LayerInput,
} from "./method.ts";

/** Threads of the stats / probs workgroups: at most 256 (GS query heads × W window rows). */
export const MAX_WINDOW_THREADS = 256;
/** Keys per tile (BK in the shader). */
export const WINDOW_TILE = 8;
/** Workgroups the stats pass aims for when choosing its split count. */
const TARGET_WORKGROUPS = 512;

export interface WindowScoreOptions {
  /** Window rows scored: the last `window` rows of qw; 1 ≤ window ≤ min(W, T, 256). */
  readonly window: number;
  /** Max-pool kernel, odd; 1 = no pooling. */
  readonly kernel: number;
}

/** GS: the largest divisor of G with GS·window ≤ 256 query rows per workgroup. */
export function headsPerWorkgroup(G: number, window: number): number {
  let gs = 1;
  for (let d = 1; d <= G; d++) if (G % d === 0 && d * window <= MAX_WINDOW_THREADS) gs = d;
  return gs;
}

/**
 * Window scores for layers of one head layout (H, Hkv, D): the pipelines are specialised for it
 * and the window; B, T, W and the scale come with each input.
 */
export class WindowScores {
  private constructor(
    readonly gpu: Gpu,
    readonly heads: HeadLayout,
    readonly o: WindowScoreOptions,
    readonly GS: number,
    readonly pipelines: Readonly<Record<"stats" | "merge" | "probs" | "pool", GPUComputePipeline>>,
  ) {}

  static async create(gpu: Gpu, heads: HeadLayout, o: WindowScoreOptions): Promise<WindowScores> {
    const G = checkLayerShape({ B: 1, T: 1, ...heads });
    checkInt("window (query rows scored)", o.window, 1, MAX_WINDOW_THREADS);
    checkInt("kernel (pooling)", o.kernel, 1, 1023);
    if (o.kernel % 2 !== 1) throw new RangeError(`kernel (pooling): got ${o.kernel}, expected odd`);
    const GS = headsPerWorkgroup(G, o.window);
    const constants = { D4: heads.D / 4, HKV: heads.Hkv, G, GS, W: o.window };
    const code = wgsl(new URL("./window_scores.wgsl", import.meta.url));
    const make = (entry: string) => gpu.pipeline("window_scores", code, `${entry}_main`, constants);
    const [stats, merge, probs, pool] = await Promise.all(
      ["stats", "merge", "probs", "pool"].map(make),
    );
    return new WindowScores(gpu, heads, o, GS, { stats, merge, probs, pool });
  }

  /**
   * Records scores [B, Hkv, T] f32 from qw [B, W, H, D] and k [B, T, Hkv, D]. Returns the
   * workspace buffers (destroy them once the submitted work is done).
   */
  encode(pass: GPUComputePassEncoder, input: LayerInput, scores: GPUBuffer): GPUBuffer[] {
    checkLayerShape(input.shape);
    checkHeads(input.shape, this.heads);
    const { B, T, H, Hkv, D } = input.shape;
    const WQ = input.shape.W ?? 0;
    const W = this.o.window;
    if (W > WQ) {
      throw new RangeError(
        `window: ${W} query rows are scored, the layer input gives W=${WQ} rows of qw`,
      );
    }
    if (!input.qw) throw new RangeError("window scores need qw [B, W, H, D]: got none");
    checkBuffer("qw [B, W, H, D]", input.qw, [B, WQ, H, D]);
    checkBuffer("k [B, T, Hkv, D]", input.k, [B, T, Hkv, D]);
    checkBuffer("scores [B, Hkv, T]", scores, [B, Hkv, T]);
    const gpu = this.gpu;
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    const tiles = Math.ceil(T / WINDOW_TILE);
    const groupsY = Hkv * ((H / Hkv) / this.GS);
    const S = Math.max(1, Math.min(tiles, maxDim, Math.ceil(TARGET_WORKGROUPS / (B * groupsY))));
    const chunk = Math.ceil(tiles / S) * WINDOW_TILE;
    const splits = Math.ceil(T / chunk);
    const Tp = T - W;
    if (Math.ceil(Tp / WINDOW_TILE) > maxDim || groupsY > maxDim || B > maxDim) {
      throw new RangeError(
        `window scores: T=${T}, B=${B} or Hkv·G/GS=${groupsY} exceed ${maxDim} workgroups per dimension`,
      );
    }
    const half = (this.o.kernel - 1) / 2;
    const scale = input.shape.scale ?? 1 / Math.sqrt(D);
    const params = gpu.uniform(
      "window.params",
      paramWords([B, T, WQ, chunk, splits, half], { 6: scale }),
    );
    const part = gpu.createBuffer("window.part", B * H * W * splits * 8);
    const stats = gpu.createBuffer("window.stats", B * H * W * 8);
    const ph = gpu.createBuffer("window.ph", B * H * T * 4);
    const p = this.pipelines;
    const qw = input.qw, k = input.k;
    dispatch(
      pass,
      p.stats,
      bindSome(gpu, p.stats, { 0: params, 1: qw, 2: k, 3: part }),
      splits,
      groupsY,
      B,
    );
    dispatch(
      pass,
      p.merge,
      bindSome(gpu, p.merge, { 0: params, 3: part, 4: stats }),
      ...grid2d(Math.ceil((B * H * W) / 64)),
    );
    if (Tp > 0) {
      const bind = bindSome(gpu, p.probs, { 0: params, 1: qw, 2: k, 4: stats, 5: ph });
      dispatch(pass, p.probs, bind, Math.ceil(Tp / WINDOW_TILE), groupsY, B);
    }
    dispatch(
      pass,
      p.pool,
      bindSome(gpu, p.pool, { 0: params, 5: ph, 6: scores }),
      ...grid2d(Math.ceil((B * Hkv * T) / 64)),
    );
    return [params, part, stats, ph];
  }
}
