// KV-cache storage formats by registry name. The CLI, server and site refer to formats by
// these names only.

import type { Gpu } from "../gpu/mod.ts";
import type { CacheShape, FormatInfo, KvCache } from "./format.ts";
import { FullCache } from "./full.ts";

export const FORMATS: readonly FormatInfo[] = [
  {
    name: "fp32",
    family: "full",
    bits: 32,
    description: "Full cache in f32: the accuracy reference.",
    create: (gpu, shape) => FullCache.create(gpu, shape, false),
  },
  {
    name: "fp16",
    family: "full",
    bits: 16,
    description: "Full cache in f16: the baseline every compression ratio is quoted against.",
    create: (gpu, shape) => FullCache.create(gpu, shape, true),
  },
];

export function formatNames(): string[] {
  return FORMATS.map((f) => f.name);
}

export function getFormat(name: string): FormatInfo {
  const f = FORMATS.find((x) => x.name === name);
  if (!f) {
    throw new RangeError(
      `unknown cache format "${name}"; expected one of ${formatNames().join(", ")}`,
    );
  }
  return f;
}

export async function createCache(gpu: Gpu, name: string, shape: CacheShape): Promise<KvCache> {
  return await getFormat(name).create(gpu, shape);
}
