// The task runner over HTTP (`suite: "tasks"`): a TaskRunSpec request → the engine's TaskRunSpec
// with the CLI's defaults (the preset, then the fields given; a task named without params takes
// the preset's params for it, as `--tasks` does), models and paths resolved, and every check
// the engine makes done first with the field's path; validateTaskSpec has the last word.
//
// What the server accepts beyond names: `hf:` ids already in the local Hugging Face cache (as
// their snapshot folder: the server never downloads), `local:<name>` folders below its
// --models-dir, and data paths (haystack, data, path-type task params) relative to its
// --task-data dir; anything else that would name a file is refused, so a client cannot make the
// server read an arbitrary path.
//
// Cells (totalCells): variants(spec) × the (model, task) pairs the engine runs (modelTaskPairs:
// a task's own `models` list, and pairs a model cannot be scored on skipped), less the variants
// whose format cannot hold the model's head dim (the runner skips them), × lengths × samples per
// (task, length):
//   - generated tasks: samples × depths.length for grid tasks (passkey, kv_retrieval, niah),
//     samples for the others; a `shape:` model (no tokenizer) reads `samples` random prompts;
//   - data tasks (longbench, ruler_jsonl): the rows the runner takes, min(samples, rows in the
//     file), counting the file's lines (cheap next to running it). Unreadable: null;
// plus, with a memory budget, one maxBatch cell per (model, length, usable variant). null
// means unknown before the run (a data file the server cannot read, or a quantized format on
// a model whose head dim it cannot see without opening it); the executor replaces it with the
// runner's own count ("[k/N ETA …]" lines) once the run starts.

import { createHash } from "node:crypto";
import type { z } from "zod";
import { stableJson, writeJson } from "../engine/bench/results.ts";
import { taskSpecFromArgs } from "../engine/bench/task_cli.ts";
import type { TaskRecord } from "../engine/bench/task_records.ts";
import {
  FULL,
  incompatibility,
  type MethodEntry,
  modelTaskPairs,
  TASK_PRESET_NAMES,
  type TaskEntry,
  type TaskPreset,
  taskPreset,
  type TaskRunSpec,
  validateTaskSpec,
  variants,
} from "../engine/bench/task_spec.ts";
import { runTaskSuite, taskParams } from "../engine/bench/task_suite.ts";
import { summarizeTasks } from "../engine/bench/task_summary.ts";
import { getFormat, headDimProblem } from "../engine/cache/registry.ts";
import { parseComposition } from "../engine/methods/registry.ts";
import { parseConfig as parseModelConfig } from "../engine/model/config.ts";
import { cachedSnapshot, parseHubId } from "../engine/model/hub.ts";
import { presetConfig } from "../engine/model/presets.ts";
import { sourceDir, type SourceInfo, sourceInfo } from "../engine/model/source.ts";
import { DEFAULT_LONGBENCH } from "../engine/tasks/longbench.ts";
import { resolveParams as resolveTaskParams } from "../engine/tasks/params.ts";
import { getTask } from "../engine/tasks/registry.ts";
import { ApiError, type FieldError } from "./errors.ts";
import { TaskRunSpec as TaskRunSpecZod } from "./schemas.ts";
import type { NormalizeEnv, SuiteAdapter } from "./suites.ts";

type Input = z.infer<typeof TaskRunSpecZod>;
type Path = (string | number)[];

const invalid = (details: FieldError[]) =>
  new ApiError(400, "invalid_spec", "the run spec is not valid", details);

// --- paths the server may read ------------------------------------------------------------------

function realPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

const inside = (root: string, path: string) => path === root || path.startsWith(`${root}/`);

/** `rel` below `root`, as a real absolute path that stays inside it (symlinks included). */
function below(root: string | undefined, rel: string, what: string, flag: string): string {
  if (root === undefined) {
    throw new RangeError(`${what} "${rel}": this server takes none (start it with ${flag} DIR)`);
  }
  const base = realPath(root);
  if (base === undefined) throw new RangeError(`${what} "${rel}": ${flag} ${root} does not exist`);
  const abs = realPath(`${base}/${rel}`);
  if (abs === undefined) {
    throw new RangeError(`${what} "${rel}": no such file or folder in ${flag}`);
  }
  if (!inside(base, abs)) throw new RangeError(`${what} "${rel}": leads outside ${flag}`);
  return abs;
}

async function resolveModel(m: string, at: Path, env: NormalizeEnv, errors: FieldError[]) {
  if (m.startsWith("hf:")) {
    const dir = await cachedSnapshot(parseHubId(m), env.env).catch(() => undefined);
    if (dir) return dir;
    errors.push({
      path: at,
      message: `${m} is not in the local Hugging Face cache (see GET /v1/models)`,
    });
    return m;
  }
  if (m.startsWith("local:")) {
    try {
      const dir = below(env.modelsDir, m.slice(6), "model", "--models-dir");
      if (realPath(`${dir}/config.json`) === undefined) {
        throw new RangeError(`model ${m}: ${dir} has no config.json (not a Hugging Face folder)`);
      }
      return dir;
    } catch (e) {
      errors.push({ path: at, message: (e as Error).message });
      return m;
    }
  }
  return m;
}

const PATH_PARAMS = (task: string) =>
  getTask(task).params.filter((p) => p.type === "path").map((p) => p.name);

// --- normalize --------------------------------------------------------------------------------

/** Head dims the server has seen, by source (builtin models are opened once in normalize). */
const headDims = new Map<string, number>();

/** A model's head dim without opening its weights, or undefined where it cannot be seen. */
export function headDimOf(source: string): number | undefined {
  const known = headDims.get(source);
  if (known !== undefined) return known;
  const info = sourceInfo(source);
  if (info.kind === "shape") return presetConfig(source.slice(6)).D;
  if (info.kind !== "folder") return undefined;
  try {
    const raw = JSON.parse(Deno.readTextFileSync(`${source}/config.json`));
    const D = parseModelConfig(raw, `${source}/config.json`).D;
    headDims.set(source, D);
    return D;
  } catch {
    return undefined;
  }
}

async function learnHeadDim(info: SourceInfo): Promise<void> {
  if (info.kind !== "builtin" || headDims.has(info.source)) return;
  try {
    const dir = await sourceDir(info);
    const raw = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    headDims.set(info.source, parseModelConfig(raw, `${dir}/config.json`).D);
  } catch {
    // unknown: totalCells says null, the runner's count replaces it
  }
}

function methodEntry(m: string | { name: string; params?: Record<string, unknown> }): MethodEntry {
  if (typeof m === "string") return { name: m };
  const params = Object.fromEntries(
    Object.entries(m.params ?? {}).filter((e): e is [string, number] => typeof e[1] === "number"),
  );
  return Object.keys(params).length > 0 ? { name: m.name, params } : { name: m.name };
}

/** Request → engine spec: the preset, the fields given, models and paths resolved, checked. */
export async function normalizeTasks(input: Record<string, unknown>, env: NormalizeEnv) {
  const i = input as Input;
  const software = env.software ?? true;
  const preset = (i.preset ?? (software ? "smoke" : "default")) as TaskPreset;
  const base = taskPreset(preset, i.models?.[0]);
  const errors: FieldError[] = [];

  const models: string[] = [];
  if (i.models) {
    for (const [k, m] of i.models.entries()) {
      models.push(await resolveModel(m, ["models", k], env, errors));
    }
  } else models.push(...base.models);

  const methods = i.methods
    ? i.methods.map((m) => methodEntry(m as Parameters<typeof methodEntry>[0]))
    : [...base.methods];

  const tasks: TaskEntry[] = i.tasks
    ? i.tasks.map((entry, j): TaskEntry => {
      if (typeof entry === "string") {
        return base.tasks.find((x) => x.name === entry) ?? { name: entry };
      }
      const t = entry as { name: string; params?: Record<string, unknown>; models?: string[] };
      const given: Record<string, unknown> = { ...(t.params ?? {}) };
      for (const name of PATH_PARAMS(t.name)) {
        if (typeof given[name] !== "string") continue;
        try {
          given[name] = below(env.taskDataDir, given[name] as string, `${name}`, "--task-data");
        } catch (e) {
          errors.push({ path: ["tasks", j, "params", name], message: (e as Error).message });
        }
      }
      const out: TaskEntry = Object.keys(given).length > 0
        ? { name: t.name, params: given }
        : { name: t.name };
      if (!t.models) return out;
      // the same model names as the spec's own, after resolution (hf:, local: → folders)
      const resolvedModels = t.models.map((m) => {
        const k = (i.models ?? []).indexOf(m);
        return k >= 0 ? models[k] : m;
      });
      return { ...out, models: resolvedModels };
    })
    : [...base.tasks];

  const dataPath = (key: "haystack" | "data") => {
    const v = i[key];
    if (v === undefined) return base[key];
    if (v === null) return null;
    try {
      return below(env.taskDataDir, v, key, "--task-data");
    } catch (e) {
      errors.push({ path: [key], message: (e as Error).message });
      return v;
    }
  };

  const spec: TaskRunSpec = {
    suite: "tasks",
    preset,
    models,
    methods,
    formats: i.formats ?? base.formats,
    budgets: i.budgets ?? base.budgets,
    tasks,
    lengths: i.lengths ?? base.lengths,
    samples: i.samples ?? base.samples,
    depths: i.depths === undefined ? base.depths : i.depths,
    batchSize: i.batchSize ?? base.batchSize,
    memoryBudget: i.memoryBudget === undefined ? base.memoryBudget : i.memoryBudget,
    prefill: (i.prefill ?? base.prefill) as TaskRunSpec["prefill"],
    prefillChunk: i.prefillChunk === undefined ? base.prefillChunk : i.prefillChunk,
    maxNewTokens: i.maxNewTokens === undefined ? base.maxNewTokens : i.maxNewTokens,
    chat: (i.chat ?? base.chat) as TaskRunSpec["chat"],
    haystack: dataPath("haystack"),
    data: dataPath("data"),
    seed: i.seed ?? base.seed,
    ...(i.positions ? { positions: i.positions } : {}),
  };
  if (errors.length > 0) throw invalid(errors);
  checkTaskSpec(spec);
  // The engine's validator is the authority (prefill modes, ranges, names); what it finds is a
  // 400 at the field its message names.
  try {
    validateTaskSpec(spec);
  } catch (e) {
    if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
    throw invalid([{ path: enginePath(e.message, spec), message: e.message }]);
  }
  for (const m of spec.models) await learnHeadDim(sourceInfo(m));
  return spec;
}

/** The field an engine validation message (engine/bench/task_spec.ts) is about, or []. */
export function enginePath(message: string, s: TaskRunSpec): Path {
  const task = /^task "([^"]+)"(: its models| on )/.exec(message);
  if (task) {
    const j = s.tasks.findIndex((t) => t.name === task[1]);
    if (j < 0) return ["tasks"];
    return task[2] === ": its models" ? ["tasks", j, "models"] : ["tasks", j];
  }
  const idle = /^(\S+) runs no task of /.exec(message);
  if (idle) {
    const k = s.models.indexOf(idle[1]);
    return k >= 0 ? ["models", k] : ["models"];
  }
  const rules: [RegExp, Path][] = [
    [/^prefill chunk/, ["prefillChunk"]],
    [/^prefill\b/, ["prefill"]],
    [/^budgets?\b/, ["budgets"]],
    [/^depths?\b/, ["depths"]],
    [/^(context length|lengths)\b/, ["lengths"]],
    [/^batch size\b/, ["batchSize"]],
    [/^memory budget\b/, ["memoryBudget"]],
    [/^max new tokens\b/, ["maxNewTokens"]],
    [/^positions\b/, ["positions"]],
    [/^(preset|models|methods|formats|tasks|samples|chat|seed)\b/, []],
  ];
  for (const [re, path] of rules) {
    const m = re.exec(message);
    if (m) return path.length > 0 ? path : [m[1]];
  }
  return [];
}

/**
 * The engine's cross-field rules that need a finer path than its messages give (an entry's
 * index), each reported at the field it concerns (where the value came from the preset, the
 * path still names the field: its preset value combined badly with the rest). Everything else
 * (prefill modes among them) is validateTaskSpec's, mapped by enginePath.
 */
export function checkTaskSpec(s: TaskRunSpec): void {
  const errors: FieldError[] = [];
  for (const [k, m] of s.methods.entries()) {
    if (m.name === FULL || !m.name.includes("+")) continue;
    const why = incompatibility(m.name, parseComposition(m.name).format);
    if (why) errors.push({ path: ["methods", k], message: why });
  }
  if (s.methods.some((m) => m.name !== FULL) && s.budgets.length === 0) {
    errors.push({ path: ["budgets"], message: "methods other than full need at least one budget" });
  }
  const shortest = Math.min(...s.lengths);
  for (const [k, b] of s.budgets.entries()) {
    if ("budgetTokens" in b && b.budgetTokens > shortest) {
      errors.push({
        path: ["budgets", k, "budgetTokens"],
        message: `${b.budgetTokens} tokens is larger than the shortest context length ` +
          `${shortest}; expected a budget in [1, ${shortest}]`,
      });
    }
  }
  // Which model runs which task (the engine's rule: pairs that cannot be scored are skipped;
  // a model that runs no task, or a task no model runs, is an error).
  let pairs: [string, string][] = [];
  try {
    pairs = modelTaskPairs(s).pairs;
  } catch (e) {
    errors.push({ path: enginePath((e as Error).message, s), message: (e as Error).message });
  }
  for (const [j, t] of s.tasks.entries()) {
    for (const [m] of pairs.filter(([, pt]) => pt === t.name)) {
      const n = samplesOf(s, sourceInfo(m), t);
      if (typeof n === "string") {
        errors.push({ path: ["tasks", j], message: n });
        break;
      }
    }
  }
  if (errors.length > 0) throw invalid(errors);
}

// --- cells ------------------------------------------------------------------------------------

/** Non-empty lines of a jsonl file (its rows), or why it cannot be read. */
function rowsIn(path: string): number | string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    return `cannot read ${path} (${(e as Error).message})`;
  }
  let n = 0;
  for (const line of text.split("\n")) if (line.trim() !== "") n++;
  return n > 0 ? n : `${path} has no rows`;
}

/** LongBench's file: a jsonl, or <dataset>.jsonl in a folder (engine/tasks/longbench.ts). */
function longbenchFile(path: string | undefined, dataset: string | undefined): string | undefined {
  const p = path ?? DEFAULT_LONGBENCH;
  try {
    if (!Deno.statSync(p).isDirectory) return p;
  } catch {
    return undefined;
  }
  return dataset ? `${p.replace(/\/+$/, "")}/${dataset}.jsonl` : undefined;
}

/**
 * Samples one (model, task) yields per context length: a number, or why it cannot be known
 * (a string). Mirrors task_suite.ts's planModel: the same parameters (taskParams), the same
 * defaults (the task's ParamSpecs), the same sample rules (synthetic.ts, longbench.ts,
 * ruler_jsonl.ts).
 */
export function samplesOf(spec: TaskRunSpec, info: SourceInfo, entry: TaskEntry): number | string {
  const task = getTask(entry.name);
  const given = taskParams(spec, info, entry);
  if (info.kind === "shape") return typeof given.samples === "number" ? given.samples : 1;
  let p: Record<string, unknown>;
  try {
    p = resolveTaskParams(task.name, task.params, given);
  } catch (e) {
    return (e as Error).message;
  }
  const samples = typeof p.samples === "number" ? p.samples : 1;
  if (task.synthetic) {
    return samples * (Array.isArray(p.depths) ? p.depths.length : 1);
  }
  const file = task.name === "longbench"
    ? longbenchFile(p.path as string | undefined, p.dataset as string | undefined)
    : p.path as string | undefined;
  if (file === undefined) {
    return task.name === "longbench"
      ? `longbench: no data at ${p.path ?? DEFAULT_LONGBENCH} (a folder needs params.dataset)`
      : `${task.name} needs its data file: give params.path or the spec's data`;
  }
  const rows = rowsIn(file);
  if (typeof rows === "string") return `${task.name}: ${rows}`;
  return samples > 0 && samples < rows ? samples : rows;
}

/** The cells a spec records (see the file's opening comment), or null where not knowable. */
export function taskCells(spec: TaskRunSpec): number | null {
  const { variants: vs } = variants(spec);
  const quantized = vs.some((v) => getFormat(v.format).family !== "full");
  let pairs: [string, string][];
  try {
    pairs = modelTaskPairs(spec).pairs;
  } catch {
    return null;
  }
  let total = 0;
  for (const source of spec.models) {
    const D = headDimOf(source);
    if (D === undefined && quantized) return null;
    const usable = D === undefined ? vs : vs.filter((v) => !headDimProblem(v.format, D));
    const info = sourceInfo(source);
    let perVariant = 0;
    let any = false;
    for (const entry of spec.tasks) {
      if (!pairs.some(([m, t]) => m === source && t === entry.name)) continue;
      any = true;
      const n = samplesOf(spec, info, entry);
      if (typeof n === "string") return null;
      perVariant += n * spec.lengths.length;
    }
    total += perVariant * usable.length;
    // the runner measures a max batch per length on the model's first sample of that length
    if (spec.memoryBudget !== null && any) total += spec.lengths.length * usable.length;
  }
  return total;
}

// --- the equivalent command -------------------------------------------------------------------

const pct = (d: number) => String(Math.round(d * 1e6) / 1e4);

/** Flags for `deno task bench --suite tasks` that give this spec, if flags can say it. */
export function taskFlags(s: TaskRunSpec): string[] {
  const withParams = s.methods.filter((m) => m.params && Object.keys(m.params).length > 0);
  const params = withParams.flatMap((m) =>
    Object.entries(m.params!).map(([k, v]) => `${m.name.split("+")[0]}.${k}=${v}`)
  );
  const ratios = s.budgets.flatMap((b) => ("ratio" in b ? [b.ratio] : []));
  const tokens = s.budgets.flatMap((b) => ("budgetTokens" in b ? [b.budgetTokens] : []));
  const flags: [string, string | number | null | undefined][] = [
    ["--preset", s.preset],
    ["--models", s.models.join(",")],
    ["--methods", s.methods.map((m) => m.name).join(",")],
    ["--params", params.length ? params.join(",") : null],
    ["--formats", s.formats.join(",")],
    ["--ratios", ratios.length ? ratios.join(",") : null],
    ["--budgets", tokens.length ? tokens.join(",") : null],
    ["--tasks", s.tasks.map((t) => t.name).join(",")],
    ["--lengths", s.lengths.join(",")],
    ["--samples", s.samples],
    ["--depths", s.depths === null ? null : s.depths.map(pct).join(",")],
    ["--batch", s.batchSize],
    ["--memory-budget", s.memoryBudget],
    ["--prefill", s.prefill],
    ["--prefill-chunk", s.prefillChunk],
    ["--chat", s.chat],
    ["--new-tokens", s.maxNewTokens],
    ["--haystack", s.haystack],
    ["--data", s.data],
    ["--seed", s.seed],
    ["--max-positions", s.positions?.maxPositions],
    ["--rope-factor", s.positions?.ropeFactor],
  ];
  return flags.flatMap(([k, v]) => (v === null || v === undefined ? [] : [k, String(v)]));
}

/** Whether the CLI parses `flags` back into exactly `spec`. */
function flagsGive(flags: string[], spec: TaskRunSpec): boolean {
  if (flags.some((f) => f === "" || /\s/.test(f))) return false;
  try {
    return stableJson(taskSpecFromArgs(["--suite", "tasks", ...flags], true).spec) ===
      stableJson(spec);
  } catch {
    return false;
  }
}

/** The config file a run folder gets: the spec, which `--config` reads back exactly. */
export const CONFIG_FILE = "run.json";

export function taskCommand(s: TaskRunSpec, dir?: string): string {
  const flags = taskFlags(s);
  if (flagsGive(flags, s)) return ["deno task bench --suite tasks", ...flags].join(" ");
  // Flags cannot say it (task parameters, per-composition method params, a null the preset
  // fills): the run folder's run.json holds the whole spec.
  const folder = dir ??
    `data/results/tasks-${createHash("sha256").update(stableJson(s)).digest("hex").slice(0, 12)}`;
  return `deno task bench --suite tasks --config ${folder}/${CONFIG_FILE}`;
}

// --- the adapter --------------------------------------------------------------------------------

export const TASKS: SuiteAdapter<TaskRunSpec> = {
  name: "tasks",
  description:
    "The task runner: models × methods (with parameters) × budgets × cache formats × tasks × " +
    "context lengths × batch, each sample prefilled, compressed, decoded greedily and scored, " +
    "with KV bytes, compression, TTFT and decode speed; optionally the largest batch within a " +
    "memory budget.",
  presets: Object.fromEntries(TASK_PRESET_NAMES.map((n) => [n, taskPreset(n)])),
  schema: TaskRunSpecZod,
  normalize: normalizeTasks,
  validate: validateTaskSpec,
  totalCells: taskCells,
  command: taskCommand,
  files: (s) => ({ [CONFIG_FILE]: s }),
  // The worker has no terminal: line-mode progress ("[k/N ETA …]"), which the executor reads.
  run: (ctx) => runTaskSuite({ ...ctx, tty: false }),
  summarize: (spec, records) => summarizeTasks(spec, records as TaskRecord[]),
  writeSummary: (out, summary) => writeJson(out.summaryPath, summary),
};
