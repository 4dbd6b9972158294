// How a Session's KV caches come to be when a compression method is named: the cache format a
// composition name implies ("snapkv+kivi4" → kivi4), the checks a method's prompts must pass
// (equal lengths), and the bytes the full cache would have taken, counted from a probe
// allocation of the same shape. The compression itself is engine/methods/compress.ts.
// Not here: the forward pass (session.ts), generation (generate.ts).

import { createCache, getFormat } from "../cache/registry.ts";
import type { CacheShape } from "../cache/format.ts";
import type { Gpu } from "../gpu/mod.ts";
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
 * Bytes of a full cache of `format` for `layers` layers of `shape`: one layer's cache is
 * allocated, measured with bytes() and destroyed (every layer's is the same). The probe does
 * not count toward the context's peak: the peak is put back to what it was, or the live bytes.
 */
export async function fullCacheBytes(
  gpu: Gpu,
  format: string,
  shape: CacheShape,
  layers: number,
): Promise<number> {
  const peak = gpu.peakBytes;
  const probe = await createCache(gpu, format, shape);
  const bytes = probe.bytes();
  probe.destroy();
  gpu.peakBytes = Math.max(peak, gpu.liveBytes);
  return bytes * layers;
}
