// What the site says about each compression method and cache format: read from the engine's
// registries (engine/methods/registry.ts, engine/cache/registry.ts), plus the `full` baseline that
// needle and model records name, plus any name that appears only in records (so every name a
// record uses gets a page, even after a method leaves the registry).

import { FORMATS } from "../../engine/cache/registry.ts";
import { METHODS } from "../../engine/methods/registry.ts";

export interface ParamInfo {
  readonly name: string;
  readonly type: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly description: string;
}

export interface MethodPage {
  readonly name: string;
  readonly description: string;
  readonly family: string;
  readonly mode: string;
  readonly paper?: string;
  readonly params: readonly ParamInfo[];
  /** False: the name appears in records but not in the registry. */
  readonly registered: boolean;
}

export interface FormatPage {
  readonly name: string;
  readonly description: string;
  readonly family: string;
  readonly bits?: number;
  readonly paper?: string;
  readonly registered: boolean;
}

/** The baseline every needle and model record without eviction names. */
export const FULL_METHOD: MethodPage = {
  name: "full",
  description: "No eviction: every token of the prompt stays in the cache (the baseline).",
  family: "none",
  mode: "—",
  params: [],
  registered: true,
};

export function registeredMethods(): MethodPage[] {
  return [
    FULL_METHOD,
    ...METHODS.map((m) => ({
      name: m.name,
      description: m.description,
      family: m.family,
      mode: m.mode,
      paper: m.paper,
      params: m.params.map((p) => ({ ...p })),
      registered: true,
    })),
  ];
}

export function registeredFormats(): FormatPage[] {
  return FORMATS.map((f) => ({
    name: f.name,
    description: f.description,
    family: f.family,
    bits: f.bits,
    paper: f.paper,
    registered: true,
  }));
}

/** The registry's entries, then names seen only in records (in the order given). */
export function methodPages(seen: Iterable<string>): MethodPage[] {
  const pages = registeredMethods();
  for (const name of seen) {
    if (!pages.some((p) => p.name === name)) {
      pages.push({
        name,
        description: "Not in this checkout's method registry: named by records only.",
        family: "unknown",
        mode: "unknown",
        params: [],
        registered: false,
      });
    }
  }
  return pages;
}

export function formatPages(seen: Iterable<string>): FormatPage[] {
  const pages = registeredFormats();
  for (const name of seen) {
    if (!pages.some((p) => p.name === name)) {
      pages.push({
        name,
        description: "Not in this checkout's format registry: named by records only.",
        family: "unknown",
        registered: false,
      });
    }
  }
  return pages;
}
