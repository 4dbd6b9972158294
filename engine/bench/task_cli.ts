// Flags and config files → a TaskRunSpec (`deno task bench --suite tasks|all`), and `--list`.
// Precedence: the preset, then `--config run.json` (any TaskRunSpec fields), then flags. Every
// bad value is a RangeError/TypeError naming the flag or field, the value and what was expected.

import { parseArgs } from "node:util";
import { formatNames, getFormat } from "../cache/registry.ts";
import type { Budget } from "../methods/budget.ts";
import { METHODS } from "../methods/registry.ts";
import { BUILTIN_MODELS } from "../model/builtin/mod.ts";
import type { PositionOverride } from "../model/config.ts";
import { PRESETS as MODEL_SHAPES } from "../model/presets.ts";
import { TASKS } from "../tasks/registry.ts";
import {
  CHAT_MODES,
  type ChatMode,
  FULL,
  type MethodEntry,
  PREFILL_MODES,
  type PrefillMode,
  TASK_PRESET_NAMES,
  type TaskEntry,
  type TaskPreset,
  taskPreset,
  type TaskRunSpec,
  validateTaskSpec,
} from "./task_spec.ts";

export const TASK_OPTIONS = {
  suite: { type: "string" },
  preset: { type: "string" },
  model: { type: "string" },
  models: { type: "string" },
  methods: { type: "string" },
  params: { type: "string" },
  formats: { type: "string" },
  ratios: { type: "string" },
  budgets: { type: "string" },
  tasks: { type: "string" },
  lengths: { type: "string" },
  samples: { type: "string" },
  depths: { type: "string" },
  batch: { type: "string" },
  "memory-budget": { type: "string" },
  prefill: { type: "string" },
  "prefill-chunk": { type: "string" },
  chat: { type: "string" },
  "new-tokens": { type: "string" },
  haystack: { type: "string" },
  data: { type: "string" },
  seed: { type: "string" },
  "max-positions": { type: "string" },
  "rope-factor": { type: "string" },
  device: { type: "string" },
  out: { type: "string" },
  config: { type: "string" },
  json: { type: "boolean" },
} as const;

/** A comma-separated flag value → its non-empty, trimmed items. */
export function list(text: string): string[] {
  return text.split(",").map((x) => x.trim()).filter((x) => x !== "");
}

export function parseLength(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text);
  const value = m
    ? Number(m[1]) *
      (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1024 * 1024 : 1)
    : NaN;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `context length: got "${text}", expected a positive integer such as 512, 4k or 32k`,
    );
  }
  return value;
}

/** A needle depth in percent ("25" or "25%") → a fraction. */
export function parseDepth(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const value = m ? Number(m[1]) : NaN;
  if (!(value >= 0 && value <= 100)) {
    throw new RangeError(`needle depth: got "${text}", expected a percentage from 0 to 100`);
  }
  return value / 100;
}

/** "8GiB", "512MiB", "2GB", "1073741824" → bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|T)?\s*$/i.exec(text);
  const units: Record<string, number> = {
    b: 1,
    kib: 2 ** 10,
    mib: 2 ** 20,
    gib: 2 ** 30,
    tib: 2 ** 40,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    k: 2 ** 10,
    m: 2 ** 20,
    g: 2 ** 30,
    t: 2 ** 40,
  };
  const bytes = m ? Math.floor(Number(m[1]) * units[(m[2] ?? "b").toLowerCase()]) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1) {
    throw new RangeError(
      `--memory-budget: got "${text}", expected a size such as 8GiB, 512MiB or 2GB`,
    );
  }
  return bytes;
}

function num(flag: string, text: string, int = false): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || (int && !Number.isInteger(n))) {
    throw new RangeError(`--${flag}: got "${text}", expected ${int ? "an integer" : "a number"}`);
  }
  return n;
}

/** --ratios and --budgets → budgets (undefined when neither is given). */
export function budgetsFrom(
  ratios: string | undefined,
  budgets: string | undefined,
): Budget[] | undefined {
  if (ratios === undefined && budgets === undefined) return undefined;
  const out: Budget[] = [];
  if (ratios !== undefined) out.push(...list(ratios).map((r) => ({ ratio: num("ratios", r) })));
  if (budgets !== undefined) {
    out.push(...list(budgets).map((b) => ({ budgetTokens: parseLength(b) })));
  }
  return out;
}

/** --params "snapkv.window=64,h2o.recent=32" → per-method overrides. */
export function parseMethodParams(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const item of list(text)) {
    const m = /^([a-z0-9_]+)\.([A-Za-z0-9_]+)=(.+)$/.exec(item);
    if (!m) {
      throw new RangeError(
        `--params: got "${item}", expected <method>.<param>=<number>, e.g. snapkv.window=64`,
      );
    }
    (out[m[1]] ??= {})[m[2]] = num("params", m[3]);
  }
  return out;
}

// --- config files -----------------------------------------------------------------------------

const CONFIG_KEYS: readonly (keyof TaskRunSpec)[] = [
  "preset",
  "models",
  "methods",
  "formats",
  "budgets",
  "tasks",
  "lengths",
  "samples",
  "depths",
  "batchSize",
  "memoryBudget",
  "prefill",
  "prefillChunk",
  "maxNewTokens",
  "chat",
  "haystack",
  "data",
  "seed",
  "positions",
];

function expect(ok: boolean, file: string, key: string, v: unknown, what: string): void {
  if (!ok) {
    throw new TypeError(`${file}: "${key}" is ${JSON.stringify(v)}; expected ${what}`);
  }
}

const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
const isNumbers = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "number");

/** A run.json's fields, type-checked (ranges and names are validateTaskSpec's). */
export function parseConfig(text: string, file: string): Partial<TaskRunSpec> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TypeError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TypeError(`${file}: expected a JSON object of run spec fields`);
  }
  const o = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === "suite") {
      expect(v === "tasks", file, k, v, `"tasks"`);
      continue;
    }
    // a results folder's spec.json works as a config: what the run wrote about itself is skipped
    if (k === "runId" || k === "specHash" || k === "command") continue;
    if (!CONFIG_KEYS.includes(k as keyof TaskRunSpec)) {
      throw new TypeError(
        `${file}: unknown field "${k}"; expected any of ${CONFIG_KEYS.join(", ")}`,
      );
    }
    switch (k) {
      case "preset":
      case "prefill":
      case "chat":
        expect(typeof v === "string", file, k, v, "a string");
        break;
      case "haystack":
      case "data":
        expect(v === null || typeof v === "string", file, k, v, "a path or null");
        break;
      case "models":
      case "formats":
        expect(isStrings(v), file, k, v, "a list of strings");
        break;
      case "lengths":
        expect(isNumbers(v), file, k, v, "a list of token counts");
        break;
      case "depths":
        expect(v === null || isNumbers(v), file, k, v, "a list of fractions or null");
        break;
      case "samples":
      case "batchSize":
      case "seed":
        expect(typeof v === "number", file, k, v, "a number");
        break;
      case "memoryBudget":
      case "prefillChunk":
      case "maxNewTokens":
        expect(v === null || typeof v === "number", file, k, v, "a number or null");
        break;
      case "methods":
      case "tasks":
        expect(
          Array.isArray(v) &&
            v.every((x) =>
              typeof x === "string" ||
              (x && typeof x === "object" && typeof (x as { name?: unknown }).name === "string")
            ),
          file,
          k,
          v,
          `a list of names or { "name": ..., "params": {...} } objects`,
        );
        out[k] = (v as unknown[]).map((x) => typeof x === "string" ? { name: x } : x);
        continue;
      case "positions": {
        const p = v as Record<string, unknown>;
        expect(
          !!v && typeof v === "object" && !Array.isArray(v) &&
            Object.keys(p).every((x) => x === "maxPositions" || x === "ropeFactor") &&
            Object.values(p).every((x) => typeof x === "number"),
          file,
          k,
          v,
          `{ "maxPositions": n, "ropeFactor": x } (either or both)`,
        );
        break;
      }
      case "budgets":
        expect(
          Array.isArray(v) && v.every((x) => x && typeof x === "object"),
          file,
          k,
          v,
          `a list of { "ratio": x } or { "budgetTokens": n }`,
        );
        break;
    }
    out[k] = v;
  }
  return out as Partial<TaskRunSpec>;
}

// --- flags ------------------------------------------------------------------------------------

export interface TaskCli {
  readonly spec: TaskRunSpec;
  readonly out?: string;
  readonly json: boolean;
}

export type TaskValues = { [K in keyof typeof TASK_OPTIONS]?: K extends "json" ? boolean : string };

/** The spec from already-parsed values (the caller parsed with TASK_OPTIONS or a superset). */
export function taskSpecFromValues(values: TaskValues, software: boolean): TaskCli {
  const presetName = values.preset ?? (software ? "smoke" : "default");
  if (!TASK_PRESET_NAMES.includes(presetName as TaskPreset)) {
    throw new RangeError(
      `--preset: got "${presetName}", expected one of ${TASK_PRESET_NAMES.join(", ")}`,
    );
  }
  if (values.model !== undefined && values.models !== undefined) {
    throw new RangeError("--model and --models: give one of them");
  }
  const model = values.model ?? values.models;
  let spec: TaskRunSpec = taskPreset(presetName as TaskPreset, model ? list(model)[0] : undefined);
  if (values.config !== undefined) {
    let text: string;
    try {
      text = Deno.readTextFileSync(values.config);
    } catch (e) {
      throw new RangeError(`--config: cannot read ${values.config} (${(e as Error).message})`);
    }
    spec = { ...spec, ...parseConfig(text, values.config) };
  }
  const v = values;
  const methodParams = v.params ? parseMethodParams(v.params) : {};
  let methods: MethodEntry[] = v.methods ? list(v.methods).map((name) => ({ name })) : [
    ...spec.methods,
  ];
  methods = methods.map((m) => {
    const base = m.name.split("+")[0];
    const extra = methodParams[base];
    return extra ? { name: m.name, params: { ...(m.params ?? {}), ...extra } } : m;
  });
  for (const name of Object.keys(methodParams)) {
    if (!methods.some((m) => m.name.split("+")[0] === name)) {
      throw new RangeError(
        `--params: "${name}" is not among the methods run (${
          methods.map((m) => m.name).join(", ")
        })`,
      );
    }
  }
  const tasks: TaskEntry[] = v.tasks
    ? list(v.tasks).map((name) => spec.tasks.find((t) => t.name === name) ?? { name })
    : [...spec.tasks];
  const prefill = (v.prefill ?? spec.prefill) as PrefillMode;
  if (!PREFILL_MODES.includes(prefill)) {
    throw new RangeError(
      `--prefill: got "${prefill}", expected one of ${PREFILL_MODES.join(", ")}`,
    );
  }
  const chat = (v.chat ?? spec.chat) as ChatMode;
  if (!CHAT_MODES.includes(chat)) {
    throw new RangeError(`--chat: got "${chat}", expected one of ${CHAT_MODES.join(", ")}`);
  }
  const out: TaskRunSpec = {
    ...spec,
    models: model ? list(model) : spec.models,
    methods,
    formats: v.formats ? list(v.formats) : spec.formats,
    budgets: budgetsFrom(v.ratios, v.budgets) ?? spec.budgets,
    tasks,
    lengths: v.lengths ? list(v.lengths).map(parseLength) : spec.lengths,
    samples: v.samples ? num("samples", v.samples, true) : spec.samples,
    depths: v.depths ? list(v.depths).map(parseDepth) : spec.depths,
    batchSize: v.batch ? num("batch", v.batch, true) : spec.batchSize,
    memoryBudget: v["memory-budget"] ? parseBytes(v["memory-budget"]) : spec.memoryBudget,
    prefill,
    prefillChunk: v["prefill-chunk"]
      ? num("prefill-chunk", v["prefill-chunk"], true)
      : spec.prefillChunk,
    chat,
    maxNewTokens: v["new-tokens"] ? num("new-tokens", v["new-tokens"], true) : spec.maxNewTokens,
    haystack: v.haystack ?? spec.haystack,
    data: v.data ?? spec.data,
    seed: v.seed ? num("seed", v.seed, true) : spec.seed,
  };
  const positions = v["max-positions"] || v["rope-factor"]
    ? {
      ...spec.positions,
      ...(v["max-positions"]
        ? { maxPositions: num("max-positions", v["max-positions"], true) }
        : {}),
      ...(v["rope-factor"] ? { ropeFactor: num("rope-factor", v["rope-factor"]) } : {}),
    }
    : spec.positions;
  if (positions) (out as { positions?: PositionOverride }).positions = positions;
  validateTaskSpec(out);
  return { spec: out, out: v.out, json: v.json ?? false };
}

/** Parses `--suite tasks` flags into a validated spec. */
export function taskSpecFromArgs(args: string[], software: boolean): TaskCli {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: TASK_OPTIONS,
  });
  return taskSpecFromValues(values, software);
}

// --- --list -----------------------------------------------------------------------------------

/** Every method, format, task and model (presets and built-ins), with parameters. */
export function listing(): string {
  const lines: string[] = [];
  lines.push("methods (--methods; parameters with --params <method>.<name>=<value>):");
  lines.push(`  ${FULL}: no compression (the reference every score is compared with)`);
  for (const m of METHODS) {
    lines.push(`  ${m.name} [${m.mode}]: ${m.description} (${m.paper})`);
    for (const p of m.params) {
      lines.push(
        `      ${p.name} (${p.type}, default ${p.default}, ${p.min}..${p.max}): ${p.description}`,
      );
    }
  }
  lines.push("", "cache formats (--formats, or <method>+<format>):");
  for (const f of formatNames()) {
    const info = getFormat(f);
    lines.push(`  ${f}: ${info.description}${info.slotWrites ? "" : " (no decode-time eviction)"}`);
  }
  lines.push("", "tasks (--tasks; parameters through --config):");
  for (const t of TASKS) {
    lines.push(
      `  ${t.name} [${t.family}; needs ${
        t.model === "llm"
          ? "an LLM"
          : t.model === "retrieval"
          ? "in-context retrieval"
          : "any model"
      }]: ${t.description}`,
    );
    for (const p of t.params) {
      const d = p.default === undefined ? "required" : `default ${JSON.stringify(p.default)}`;
      lines.push(`      ${p.name} (${p.type}, ${d}): ${p.description}`);
    }
  }
  lines.push("", "models (--model):");
  for (const [name, b] of Object.entries(BUILTIN_MODELS)) {
    lines.push(
      `  builtin:${name}: ${b.description} — ${b.label}; supports ${b.supportedTasks.join(", ")}`,
    );
  }
  for (const [name, p] of Object.entries(MODEL_SHAPES)) {
    lines.push(
      `  shape:${name}: ${p.source} shapes, random weights (speed and memory; tasks: fidelity)`,
    );
  }
  lines.push("  hf:org/name[@revision]: a Hugging Face model (cache, or downloaded)");
  lines.push("  <folder>: a local Hugging Face model folder");
  lines.push("", `presets (--preset): ${TASK_PRESET_NAMES.join(", ")}`);
  return lines.join("\n");
}
