// Inputs for the kernel suite: one attention layer's K, V and decode query, seeded.
// Keys carry a few large-magnitude channels per KV head, as real models' keys do (the outlier
// channels that motivate KIVI's per-channel key quantization); values and queries are plain
// normals.

import { randn, rng } from "../reference/random.ts";

export interface LayerShape {
  readonly B: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
}

/** Outlier channels per KV head and their scale relative to the rest. */
export const OUTLIER_CHANNELS = 4;
export const OUTLIER_SCALE = 12;

/** k, v [B, T, Hkv, D] and q [B, H, D], f32. */
export function layerData(shape: LayerShape, T: number, seed: number) {
  const { B, H, Hkv, D } = shape;
  const k = randn(seed, B * T * Hkv * D);
  const v = randn(seed + 1, B * T * Hkv * D);
  const q = randn(seed + 2, B * H * D);
  const r = rng(seed + 3);
  for (let h = 0; h < Hkv; h++) {
    const channels = new Set<number>();
    while (channels.size < Math.min(OUTLIER_CHANNELS, D)) channels.add(Math.floor(r() * D));
    for (const d of channels) {
      const offset = (r() < 0.5 ? -1 : 1) * OUTLIER_SCALE * (0.5 + r());
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const i = ((b * T + t) * Hkv + h) * D + d;
          k[i] = k[i] * OUTLIER_SCALE * 0.25 + offset;
        }
      }
    }
  }
  return { k, v, q };
}

/** ‖a − b‖₂ / ‖b‖₂ */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
