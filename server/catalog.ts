// What can be run, by name: cache formats, compression methods, tasks and models, read from the
// engine's registries (the same ones the CLI and the RunSpec schema use). Tasks come from
// engine/tasks/registry.ts once it exists (loaded on first use; an empty list until then).
// Models: the `shape:` presets and the snapshots in the local Hugging Face cache.

import { z } from "zod";
import { formatNames, FORMATS } from "../engine/cache/registry.ts";
import { METHODS } from "../engine/methods/registry.ts";
import { parseConfig } from "../engine/model/config.ts";
import { type Env, hubCache } from "../engine/model/hub.ts";
import { parameterCount, presetConfig, PRESETS as MODEL_PRESETS } from "../engine/model/presets.ts";
import {
  Budget,
  compositionNames,
  methodParamsSchema,
  TaskList,
  TaskParamInfo,
  taskParamsSchema,
} from "./schemas.ts";
import { SUITES } from "./suites.ts";

const jsonSchema = (s: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io: "input", unrepresentable: "any" });
  return rest;
};

export function formats() {
  return {
    formats: FORMATS.map((f) => ({
      name: f.name,
      family: f.family,
      bits: f.bits,
      description: f.description,
      paper: f.paper ?? null,
      params: [],
    })),
  };
}

export function methods() {
  const all = compositionNames();
  return {
    methods: METHODS.map((m) => ({
      name: m.name,
      family: m.family,
      mode: m.mode,
      description: m.description,
      paper: m.paper ?? null,
      params: m.params.map((p) => ({ ...p })),
      paramsSchema: jsonSchema(methodParamsSchema(m.params)),
      formats: formatNames().filter((f) => all.includes(`${m.name}+${f}`)),
      compositions: all.filter((c) => c === m.name || c.startsWith(`${m.name}+`)),
    })),
    budgets: jsonSchema(Budget),
  };
}

export function suites() {
  return {
    suites: Object.values(SUITES).map((s) => ({
      name: s.name,
      description: s.description,
      presets: s.presets as Record<string, unknown>,
      spec: jsonSchema(s.schema),
    })),
  };
}

// --- tasks ---------------------------------------------------------------------------------------

type TaskEntry = z.infer<typeof TaskList>["tasks"][number];

let taskCache: Promise<TaskEntry[]> | undefined;

const str = (v: unknown) => (typeof v === "string" ? v : null);

/**
 * engine/tasks/registry.ts's TASKS mapped to the listing; [] where the module does not exist.
 * Loaded dynamically and read field by field, so the server does not break while the task
 * registry's shape settles; parameters are checked against TaskParamInfo.
 */
export function tasks(): Promise<{ tasks: TaskEntry[] }> {
  taskCache ??= (async () => {
    const url = new URL("../engine/tasks/registry.ts", import.meta.url);
    try {
      Deno.statSync(url);
    } catch {
      return [];
    }
    const mod = await import(url.href) as Record<string, unknown>;
    const list = mod.TASKS ?? mod.default;
    if (!Array.isArray(list)) return [];
    return list.map((t: Record<string, unknown>) => {
      const params = z.array(TaskParamInfo).parse(
        (Array.isArray(t.params) ? t.params : []).map((p) => ({ ...p })),
      );
      return {
        name: String(t.name),
        family: str(t.family),
        description: str(t.description),
        source: str(t.source) ?? str(t.paper),
        synthetic: typeof t.synthetic === "boolean" ? t.synthetic : null,
        model: str(t.model),
        scoring: str(t.scoring),
        metrics: Array.isArray(t.metrics) ? t.metrics.map(String) : [],
        params,
        paramsSchema: jsonSchema(taskParamsSchema(params)),
      };
    });
  })().catch((e) => {
    taskCache = undefined;
    throw e;
  });
  return taskCache.then((tasks) => ({ tasks }));
}

// --- models --------------------------------------------------------------------------------------

export function presetModels() {
  return Object.entries(MODEL_PRESETS).map(([name, p]) => {
    const c = presetConfig(name);
    return {
      name: `shape:${name}`,
      family: c.arch,
      source: p.source,
      parameters: parameterCount(c),
      accuracy: "not applicable" as const,
      config: summaryOf(c),
    };
  });
}

function summaryOf(c: ReturnType<typeof presetConfig>) {
  return {
    layers: c.layers,
    hidden: c.hidden,
    heads: c.H,
    kvHeads: c.Hkv,
    headDim: c.D,
    vocab: c.vocab,
    maxPositions: c.maxPositions,
  };
}

/** Snapshots in the local Hugging Face cache: hf:org/name@<ref> for each ref with a config.json. */
export async function cachedModels(env: Env) {
  let cache: string;
  try {
    cache = hubCache(env);
  } catch {
    return { cached: [], hubCache: null };
  }
  const out = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(cache)].filter((e) => e.isDirectory).sort((a, b) =>
      a.name < b.name ? -1 : 1
    );
  } catch {
    return { cached: [], hubCache: cache };
  }
  for (const e of entries) {
    const m = /^models--([^-].*?)--(.+)$/.exec(e.name);
    if (!m) continue;
    const repo = `${cache}/${e.name}`;
    let refs: string[] = [];
    try {
      refs = [...Deno.readDirSync(`${repo}/refs`)].filter((r) => r.isFile).map((r) => r.name)
        .sort();
    } catch {
      continue;
    }
    for (const ref of refs) {
      const commit = (await Deno.readTextFile(`${repo}/refs/${ref}`).catch(() => "")).trim();
      const path = `${repo}/snapshots/${commit}`;
      let raw: unknown;
      try {
        raw = JSON.parse(await Deno.readTextFile(`${path}/config.json`));
      } catch {
        continue;
      }
      const name = `hf:${m[1]}/${m[2]}${ref === "main" ? "" : `@${ref}`}`;
      try {
        const c = parseConfig(raw, `${name} config.json`);
        out.push({
          name,
          path,
          family: c.arch as string | null,
          supported: true,
          parameters: parameterCount(c) as number | null,
          error: null as string | null,
          config: summaryOf(c) as Record<string, unknown> | null,
        });
      } catch (err) {
        const mt = (raw as Record<string, unknown>)?.model_type;
        out.push({
          name,
          path,
          family: typeof mt === "string" ? mt : null,
          supported: false,
          parameters: null,
          error: (err as Error).message,
          config: null,
        });
      }
    }
  }
  return { cached: out, hubCache: cache };
}

export async function models(env: Env) {
  return { presets: presetModels(), ...(await cachedModels(env)) };
}
