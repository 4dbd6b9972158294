// Compression methods by registry name, and composition names: "<method>" or "<method>+<format>"
// ("snapkv+kivi4": SnapKV's kept set stored as KIVI 4-bit). The CLI, server and site refer to
// methods by these names only. Adding a method: a file in this folder, an entry here, an entry
// in CONFORMANCE in tests/methods_conformance_test.ts (and one in DECODE there if it has a
// decode rule, i.e. evicts during decode through DecodeEvictor). A sparse method (quest: mode
// "sparse", nothing evicted) has its own suite instead of a CONFORMANCE entry
// (tests/methods_quest_test.ts).

import { formatNames, getFormat } from "../cache/registry.ts";
import { H2O } from "./h2o.ts";
import { KNORM } from "./knorm.ts";
import type { MethodInfo } from "./method.ts";
import { PYRAMIDKV } from "./pyramidkv.ts";
import { QUEST } from "./quest.ts";
import { RANDOM } from "./random.ts";
import { SNAPKV } from "./snapkv.ts";
import { STREAMING_LLM } from "./streaming_llm.ts";
import { TOVA } from "./tova.ts";

export const METHODS: readonly MethodInfo[] = [
  STREAMING_LLM,
  SNAPKV,
  PYRAMIDKV,
  KNORM,
  RANDOM,
  H2O,
  TOVA,
  QUEST,
];

/** The format a composition name without "+<format>" is stored in. */
export const DEFAULT_FORMAT = "fp16";

export function methodNames(): string[] {
  return METHODS.map((m) => m.name);
}

export function getMethod(name: string): MethodInfo {
  const m = METHODS.find((x) => x.name === name);
  if (!m) {
    throw new RangeError(
      `unknown method "${name}"; expected one of ${methodNames().join(", ")}`,
    );
  }
  return m;
}

export interface Composition {
  readonly method: MethodInfo;
  /** Cache format name (engine/cache/registry.ts). */
  readonly format: string;
}

/** Parses "<method>[+<format>]"; every unknown or incompatible part is a RangeError. */
export function parseComposition(name: string, methods = METHODS): Composition {
  const parts = String(name).split("+");
  if (parts.length > 2 || parts.some((p) => p === "")) {
    throw new RangeError(
      `method "${name}": expected "<method>" or "<method>+<format>", e.g. "snapkv+kivi4"`,
    );
  }
  const method = methods.find((m) => m.name === parts[0]);
  if (!method) {
    throw new RangeError(
      `unknown method "${parts[0]}" in "${name}"; expected one of ${
        methods.map((m) => m.name).join(", ")
      }`,
    );
  }
  const format = parts[1] ?? DEFAULT_FORMAT;
  try {
    getFormat(format);
  } catch {
    throw new RangeError(
      `unknown cache format "${format}" in "${name}"; expected one of ${formatNames().join(", ")}`,
    );
  }
  if (method.formats && !method.formats.includes(format)) {
    throw new RangeError(
      `${method.name} cannot be stored as ${format} (in "${name}"); it combines with ${
        method.formats.join(", ")
      }`,
    );
  }
  return { method, format };
}
