// KV-cache storage formats by registry name. The CLI, server and site refer to formats by
// these names only.

import type { Gpu } from "../gpu/mod.ts";
import {
  type CacheShape,
  type FormatInfo,
  FULL_D_MULTIPLE,
  type KvCache,
  QUANT_D_MULTIPLE,
} from "./format.ts";
import { FullCache } from "./full.ts";
import { GroupwiseCache } from "./groupwise.ts";
import { KiviCache } from "./kivi.ts";

const KIVI_PAPER = "https://arxiv.org/abs/2402.02750";
const FLEXGEN_PAPER = "https://arxiv.org/abs/2303.06865";

export const FORMATS: readonly FormatInfo[] = [
  {
    name: "fp32",
    slotWrites: true,
    family: "full",
    bits: 32,
    description: "Full cache in f32: the accuracy reference.",
    create: (gpu, shape) => FullCache.create(gpu, shape, false),
  },
  {
    name: "fp16",
    slotWrites: true,
    family: "full",
    bits: 16,
    description: "Full cache in f16: the baseline every compression ratio is quoted against.",
    create: (gpu, shape) => FullCache.create(gpu, shape, true),
  },
  {
    name: "kivi2",
    family: "kivi",
    bits: 2,
    description:
      "KIVI 2-bit: keys per channel, values per token, groups of 32, asymmetric; the newest " +
      "R=128 tokens in f16.",
    paper: KIVI_PAPER,
    create: (gpu, shape) => KiviCache.create(gpu, shape, { bits: 2 }),
  },
  {
    name: "kivi4",
    family: "kivi",
    bits: 4,
    description:
      "KIVI 4-bit: keys per channel, values per token, groups of 32, asymmetric; the newest " +
      "R=128 tokens in f16.",
    paper: KIVI_PAPER,
    create: (gpu, shape) => KiviCache.create(gpu, shape, { bits: 4 }),
  },
  {
    name: "kivi8",
    family: "kivi",
    bits: 8,
    description:
      "KIVI 8-bit: keys per channel, values per token, groups of 32, asymmetric; the newest " +
      "R=128 tokens in f16.",
    paper: KIVI_PAPER,
    create: (gpu, shape) => KiviCache.create(gpu, shape, { bits: 8 }),
  },
  {
    name: "int8",
    slotWrites: true,
    family: "groupwise",
    bits: 8,
    description:
      "Per-token group-wise int8 keys and values: groups of 32 channels, asymmetric, no residual " +
      "(FlexGen-style).",
    paper: FLEXGEN_PAPER,
    create: (gpu, shape) => GroupwiseCache.create(gpu, shape, 8),
  },
  {
    name: "int4",
    slotWrites: true,
    family: "groupwise",
    bits: 4,
    description:
      "Per-token group-wise int4 keys and values: groups of 32 channels, asymmetric, no residual " +
      "(FlexGen-style).",
    paper: FLEXGEN_PAPER,
    create: (gpu, shape) => GroupwiseCache.create(gpu, shape, 4),
  },
];

export function formatNames(): string[] {
  return FORMATS.map((f) => f.name);
}

/** Formats whose caches can overwrite single tokens in place (format.ts SlotWritable). */
export function slotFormatNames(): string[] {
  return FORMATS.filter((f) => f.slotWrites).map((f) => f.name);
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

/**
 * Why a format cannot hold a model's caches (head dim D), or undefined when it can: full
 * formats need D a multiple of 8, the quantized ones of their group size 32.
 */
export function headDimProblem(format: string, D: number): string | undefined {
  const m = getFormat(format).family === "full" ? FULL_D_MULTIPLE : QUANT_D_MULTIPLE;
  return D % m === 0
    ? undefined
    : `${format} needs a head dim that is a multiple of ${m}, got ${D}`;
}
