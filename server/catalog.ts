// What can be run, by name: cache formats, compression methods, tasks and models, read from the
// engine's registries (the same ones the CLI and the RunSpec schema use). Models: the `shape:`
// presets, the built-in models, the snapshots in the local Hugging Face cache, and the folders
// below the server's --models-dir (`local:<name>`, task runner only).

import { z } from "zod";
import { formatNames, FORMATS } from "../engine/cache/registry.ts";
import { METHODS } from "../engine/methods/registry.ts";
import { BUILTIN_MODELS } from "../engine/model/builtin/mod.ts";
import { parseConfig } from "../engine/model/config.ts";
import { type Env, hubCache } from "../engine/model/hub.ts";
import { parameterCount, presetConfig, PRESETS as MODEL_PRESETS } from "../engine/model/presets.ts";
import { TASKS } from "../engine/tasks/registry.ts";
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

type TaskItem = z.infer<typeof TaskList>["tasks"][number];

let taskCache: TaskItem[] | undefined;

/** engine/tasks/registry.ts's TASKS, with parameter schemas and the built-in models each suits. */
export function tasks(): { tasks: TaskItem[] } {
  taskCache ??= TASKS.map((t) => {
    const params = z.array(TaskParamInfo).parse(t.params.map((p) => ({ ...p })));
    return {
      name: t.name,
      family: t.family,
      description: t.description,
      source: t.source,
      synthetic: t.synthetic,
      model: t.model,
      scoring: t.scoring,
      metrics: [...t.metrics],
      params,
      paramsSchema: jsonSchema(taskParamsSchema(params)),
      builtinModels: Object.entries(BUILTIN_MODELS)
        .filter(([, b]) => b.supportedTasks.includes(t.name))
        .map(([name]) => `builtin:${name}`),
    };
  });
  return { tasks: taskCache };
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

export function builtinModels() {
  return Object.entries(BUILTIN_MODELS).map(([name, b]) => ({
    name: `builtin:${name}`,
    description: b.description,
    label: b.label,
    supportedTasks: [...b.supportedTasks],
  }));
}

/** Folders with a config.json below the models dir, one level or two (org/name) deep. */
export function localModels(modelsDir: string | undefined) {
  if (modelsDir === undefined) return [];
  const out: { name: string; path: string }[] = [];
  const walk = (rel: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${modelsDir}/${rel}`)];
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!e.isDirectory || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(e.name)) continue;
      const name = rel ? `${rel}/${e.name}` : e.name;
      try {
        Deno.statSync(`${modelsDir}/${name}/config.json`);
        out.push({ name: `local:${name}`, path: `${modelsDir}/${name}` });
      } catch {
        if (depth < 1) walk(name, depth + 1);
      }
    }
  };
  walk("", 0);
  return out;
}

export async function models(env: Env, modelsDir?: string) {
  return {
    presets: presetModels(),
    ...(await cachedModels(env)),
    builtin: builtinModels(),
    local: localModels(modelsDir),
    modelsDir: modelsDir ?? null,
  };
}
