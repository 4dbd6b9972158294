// How a Session's KV caches come to be when a compression method is named: the cache format a
// composition name implies ("snapkv+kivi4" → kivi4), the checks a method's prompts must pass
// (equal lengths), the shape of each layer's full cache (rolling where a sliding window allows),
// and the bytes the full cache would have taken, counted from a probe allocation of the same
// shapes. The compression itself is engine/methods/compress.ts.
// Not here: the forward pass (session.ts), generation (generate.ts).

import { createCache, getFormat } from "../cache/registry.ts";
import type { CacheShape } from "../cache/format.ts";
import type { Gpu } from "../gpu/mod.ts";
import { layerWindow, type ModelConfig } from "./config.ts";
import { DEFAULT_FORMAT, parseComposition } from "../methods/registry.ts";

/**
 * The cache format of a run: the "+<format>" part of `method` if it has one (then `format`, if
 * given, must name the same), else `format`, else `fallback`. Unknown names throw RangeError.
 */
export function cacheFormat(
  method: string | undefined,
  format: string | undefined,
  fallback: string = DEFAULT_FORMAT,
): string {
  if (format !== undefined) getFormat(format);
  if (method === undefined) return format ?? fallback;
  const c = parseComposition(method);
  if (!method.includes("+")) return format ?? fallback;
  if (format !== undefined && format !== c.format) {
    throw new RangeError(
      `method "${method}" stores its cache as ${c.format}, but the format is ${format}; ` +
        `give the format once (method "${c.method.name}" with format ${format}, or "${method}")`,
    );
  }
  return c.format;
}

/** The composition name a method runs as in `format`: "snapkv" + kivi4 → "snapkv+kivi4". */
export function compositionName(method: string, format: string): string {
  cacheFormat(method, format); // a "+<format>" part other than `format` throws
  return `${parseComposition(method).method.name}+${format}`;
}

/**
 * Methods compress every sequence to the same budget from a prompt of T tokens, so a batch must
 * hold prompts of one length (engine/methods/method.ts LayerShape); throws naming the lengths
 * otherwise.
 */
export function checkEqualLengths(method: string, lengths: readonly number[]): void {
  if (lengths.some((n) => n !== lengths[0])) {
    throw new RangeError(
      `method "${method}": every prompt of a batch must have the same length, got ${
        lengths.join(", ")
      } tokens; run ragged prompts one at a time, or without a method`,
    );
  }
}

/**
 * Each layer's full-cache shape for sequences of `shape.capacity` tokens in `format`: `shape`,
 * except that a sliding-window layer (config.ts layerWindow) the run outgrows rolls — capacity =
 * the window, ring (cache/format.ts CacheShape.ring) — where the format stores tokens
 * independently (its slotWrites) and `rolling` is not false. Session allocates these; the task
 * runner's fp16 baseline measures them.
 */
export function layerCacheShapes(
  config: ModelConfig,
  shape: CacheShape,
  format: string,
  rolling = true,
): CacheShape[] {
  const rolls = rolling && getFormat(format).slotWrites === true;
  return Array.from({ length: config.layers }, (_, l) => {
    const window = layerWindow(config, l);
    return window !== undefined && shape.capacity > window && rolls
      ? { ...shape, capacity: window, ring: true }
      : shape;
  });
}

/**
 * Bytes of full caches of `format`, one per shape (a layer each): one cache per distinct shape
 * is allocated, measured with bytes() and destroyed. The probes do not count toward the
 * context's peak: the peak is put back to what it was, or the live bytes.
 */
export async function fullCacheBytes(
  gpu: Gpu,
  format: string,
  shapes: readonly CacheShape[],
): Promise<number> {
  const peak = gpu.peakBytes;
  const bytes = new Map<string, number>();
  let total = 0;
  for (const shape of shapes) {
    const key = JSON.stringify(shape);
    if (!bytes.has(key)) {
      const probe = await createCache(gpu, format, shape);
      bytes.set(key, probe.bytes());
      probe.destroy();
    }
    total += bytes.get(key)!;
  }
  gpu.peakBytes = Math.max(peak, gpu.liveBytes);
  return total;
}
