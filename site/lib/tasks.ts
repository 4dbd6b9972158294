// What the task pages show, derived from the task runner's records (suite "tasks": kinds
// `sample` and `maxBatch`, docs/results.md): scores per method variant against the actual KV
// compression, the score relative to the full cache, task-family columns, NIAH/passkey depth ×
// length grids, and the largest batch within a memory budget. Pure functions of the loaded
// records; nothing here draws (task_plots.ts does).
//
// Rules (the engine's summary, engine/bench/task_summary.ts taskRows, is the model):
// - a task point is one (model, task, context length, batch size, method variant), the variant
//   being method + its parameters + format + budget; its score is the mean over its samples
//   (null when every sample's score is null: `shape:` models, accuracy not applicable);
// - "relative to full" divides by the mean score of `full` in fp16 for the same model, task,
//   length and batch (the first full format when fp16 did not run); null when that is missing
//   or 0;
// - records from different runs pool (same model and variant); their runs are listed.

import { budgetLabel } from "./fmt.ts";
import {
  isMaxBatch,
  isSample,
  type MaxBatchRec,
  type Rec,
  type SampleRec,
  type TaskModelFields,
} from "./load.ts";

// --- variants ----------------------------------------------------------------------------------

/** A task-runner method variant: method (with parameters) × format × budget. */
export interface TaskVariant {
  readonly method: string;
  readonly params: Readonly<Record<string, number>>;
  readonly format: string;
  readonly ratio?: number;
  readonly budgetTokens?: number;
}

const paramsText = (p: Readonly<Record<string, number>>) =>
  Object.keys(p).sort().map((k) => `${k}=${p[k]}`).join(",");

export function taskVariantOf(r: TaskModelFields): TaskVariant {
  const v = { method: r.method, params: r.params ?? {}, format: r.format };
  if (r.ratio !== undefined) return { ...v, ratio: r.ratio };
  if (r.budgetTokens !== undefined) return { ...v, budgetTokens: r.budgetTokens };
  return v;
}

export const taskVariantKey = (v: TaskVariant) =>
  `${v.method}(${paramsText(v.params)})+${v.format}@${budgetLabel(v)}`;

/**
 * "full fp16", "snapkv+kivi2 1/4"; parameters are added ("streaming_llm[sinks=8]+fp16 1/4")
 * only for a method that appears with more than one parameter set in `all`.
 */
export function taskVariantLabel(v: TaskVariant, all: readonly TaskVariant[] = []): string {
  const sets = new Set(all.filter((x) => x.method === v.method).map((x) => paramsText(x.params)));
  const name = sets.size > 1 ? `${v.method}[${paramsText(v.params)}]` : v.method;
  return v.method === "full" ? `full ${v.format}` : `${name}+${v.format} ${budgetLabel(v)}`;
}

/** Variant order: full first, then methods and formats in registry order, budgets rising. */
export function taskVariantOrder(methods: readonly string[], formats: readonly string[]) {
  const mi = (m: string) => (m === "full" ? -1 : methods.indexOf(m) + 1 || 999);
  const fi = (f: string) => formats.indexOf(f) + 1 || 999;
  const bi = (v: TaskVariant) =>
    v.ratio ?? (v.budgetTokens !== undefined ? 1e6 + v.budgetTokens : 0);
  return (a: TaskVariant, b: TaskVariant) =>
    mi(a.method) - mi(b.method) || fi(a.format) - fi(b.format) || bi(a) - bi(b) ||
    taskVariantKey(a).localeCompare(taskVariantKey(b));
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

// --- models ------------------------------------------------------------------------------------

export interface TaskModel {
  readonly model: string;
  readonly modelKind: string;
  readonly modelLabel: string | null;
}

/** Models of the task records, in first-seen order. */
export function taskModels(records: readonly Rec[]): TaskModel[] {
  const out = new Map<string, TaskModel>();
  for (const r of records) {
    if (!isSample(r) && !isMaxBatch(r)) continue;
    if (!out.has(r.model)) {
      out.set(r.model, { model: r.model, modelKind: r.modelKind, modelLabel: r.modelLabel });
    }
  }
  return [...out.values()];
}

/** What a model's scores mean (its label is shown beside it, in bold). */
export function modelNote(m: TaskModel): string {
  if (m.modelKind === "builtin") {
    return "It retrieves by in-context copying, so its scores show what a method does to " +
      "retrieval and nothing about language ability.";
  }
  if (m.modelKind === "shape") {
    return "A real architecture's shapes with random weights, for speed and memory: task " +
      "accuracy is not applicable; the fidelity task's score (agreement with the full cache's " +
      "output) still says what a method changes.";
  }
  return "A real model: scores are each task's official metric on its greedy output.";
}

/** The label to show in bold: the records' label, else what the model kind implies. */
export function modelLabelText(m: TaskModel): string {
  return m.modelLabel ??
    (m.modelKind === "builtin"
      ? "synthetic mechanism model, not an LLM"
      : m.modelKind === "shape"
      ? "random weights"
      : "real model");
}

// --- task points -------------------------------------------------------------------------------

export interface TaskPoint {
  readonly model: string;
  readonly modelLabel: string | null;
  readonly task: string;
  readonly taskFamily: string;
  readonly contextLength: number;
  readonly batchSize: number;
  readonly variant: TaskVariant;
  readonly samples: number;
  /** Mean score in [0, 1] over the samples that have one; null: not applicable. */
  readonly score: number | null;
  /** score ÷ the full cache's (fp16) for the same model, task, length and batch. */
  readonly relative: number | null;
  readonly kvBytes: number;
  readonly kvBytesFp16: number;
  /** Mean of the records' compression (kvBytesFp16 / kvBytes). */
  readonly compression: number;
  readonly peakGpuBytes: number;
  readonly ttftMs: number;
  readonly decodeTokensPerSec: number;
  /** False if any sample's timings came from a software adapter. */
  readonly representative: boolean;
  readonly simulated: boolean;
  readonly runs: readonly string[];
}

const pointKey = (r: SampleRec) =>
  [r.model, r.task, r.contextLength, r.batchSize, taskVariantKey(taskVariantOf(r))].join("|");

/** One point per (model, task, length, batch, variant), in first-seen order. */
export function taskPoints(records: readonly Rec[]): TaskPoint[] {
  const groups = new Map<string, SampleRec[]>();
  for (const r of records.filter(isSample)) {
    const k = pointKey(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const points = [...groups.values()].map((g): TaskPoint => {
    const r = g[0];
    const scored = g.filter((x) => x.score !== null).map((x) => x.score!);
    return {
      model: r.model,
      modelLabel: r.modelLabel,
      task: r.task,
      taskFamily: r.taskFamily,
      contextLength: r.contextLength,
      batchSize: r.batchSize,
      variant: taskVariantOf(r),
      samples: g.length,
      score: scored.length > 0 ? mean(scored) : null,
      relative: null,
      kvBytes: mean(g.map((x) => x.kvBytes)),
      kvBytesFp16: mean(g.map((x) => x.kvBytesFp16)),
      compression: mean(g.map((x) => x.compression)),
      peakGpuBytes: Math.max(...g.map((x) => x.peakGpuBytes)),
      ttftMs: mean(g.map((x) => x.ttftMs)),
      decodeTokensPerSec: mean(g.map((x) => x.decodeTokensPerSec)),
      representative: g.every((x) => x.representative),
      simulated: g.some((x) => x.simulated === true),
      runs: [...new Set(g.map((x) => x.run))],
    };
  });
  return points.map((p) => {
    const fulls = points.filter((x) =>
      x.variant.method === "full" && x.model === p.model && x.task === p.task &&
      x.contextLength === p.contextLength && x.batchSize === p.batchSize
    );
    const base = fulls.find((x) => x.variant.format === "fp16") ?? fulls[0];
    const relative = base && base.score !== null && base.score > 0 && p.score !== null
      ? p.score / base.score
      : null;
    return { ...p, relative };
  });
}

// --- task-family table -------------------------------------------------------------------------

/** A column of the family table: a family, or one task of a family with several. */
export interface TaskColumn {
  readonly id: string;
  readonly family: string;
  /** The task, for a per-task column; undefined for the family's own (all its tasks). */
  readonly task?: string;
}

export interface FamilyRow {
  readonly variant: TaskVariant;
  /** Column id → mean score over the samples it covers (absent: not run or not applicable). */
  readonly scores: Readonly<Record<string, { value: number; samples: number }>>;
  /** Mean of the variant's relative scores over its (task, length) points. */
  readonly relative: number | null;
  readonly kvBytes: number;
  readonly compression: number;
  readonly ttftMs: number;
  readonly decodeTokensPerSec: number;
  readonly samples: number;
  readonly representative: boolean;
  readonly simulated: boolean;
}

export interface FamilyTable {
  readonly model: string;
  readonly columns: readonly TaskColumn[];
  readonly rows: readonly FamilyRow[];
}

const FAMILY_ORDER = ["ruler", "retrieval", "longbench", "fidelity"];

/**
 * One model's variants × task families: a column per family (the mean over every scored sample
 * of its tasks), and, where a family holds several tasks, a column per task after it. Also the
 * mean relative score (over the variant's task points), KV bytes, compression, TTFT and decode
 * tokens/s (means over its samples).
 */
export function familyTable(
  records: readonly Rec[],
  model: string,
  order: (a: TaskVariant, b: TaskVariant) => number,
): FamilyTable {
  const samples = records.filter(isSample).filter((r) => r.model === model);
  const fams = [...new Set(samples.map((r) => r.taskFamily))].sort((a, b) =>
    ((FAMILY_ORDER.indexOf(a) + 1) || 99) - ((FAMILY_ORDER.indexOf(b) + 1) || 99) ||
    a.localeCompare(b)
  );
  const columns: TaskColumn[] = [];
  for (const family of fams) {
    columns.push({ id: `family:${family}`, family });
    const tasks = [...new Set(samples.filter((r) => r.taskFamily === family).map((r) => r.task))];
    if (tasks.length > 1) {
      for (const task of tasks.sort()) columns.push({ id: `task:${task}`, family, task });
    }
  }
  const points = taskPoints(samples);
  const byVariant = new Map<string, { variant: TaskVariant; recs: SampleRec[] }>();
  for (const r of samples) {
    const v = taskVariantOf(r);
    const k = taskVariantKey(v);
    if (!byVariant.has(k)) byVariant.set(k, { variant: v, recs: [] });
    byVariant.get(k)!.recs.push(r);
  }
  const rows = [...byVariant.values()].map(({ variant, recs }): FamilyRow => {
    const scores: Record<string, { value: number; samples: number }> = {};
    for (const c of columns) {
      const xs = recs.filter((r) =>
        r.taskFamily === c.family && (c.task === undefined || r.task === c.task) && r.score !== null
      ).map((r) => r.score!);
      if (xs.length > 0) scores[c.id] = { value: mean(xs), samples: xs.length };
    }
    const rel = points.filter((p) =>
      taskVariantKey(p.variant) === taskVariantKey(variant) && p.relative !== null
    ).map((p) => p.relative!);
    return {
      variant,
      scores,
      relative: rel.length > 0 ? mean(rel) : null,
      kvBytes: mean(recs.map((r) => r.kvBytes)),
      compression: mean(recs.map((r) => r.compression)),
      ttftMs: mean(recs.map((r) => r.ttftMs)),
      decodeTokensPerSec: mean(recs.map((r) => r.decodeTokensPerSec)),
      samples: recs.length,
      representative: recs.every((r) => r.representative),
      simulated: recs.some((r) => r.simulated === true),
    };
  }).sort((a, b) => order(a.variant, b.variant));
  return { model, columns, rows };
}

// --- depth × length grids ----------------------------------------------------------------------

export interface HeatCell {
  readonly model: string;
  readonly task: string;
  readonly variant: TaskVariant;
  readonly label: string;
  readonly contextLength: number;
  readonly depth: number;
  /** Mean score over the samples at this depth and length. */
  readonly score: number;
  readonly samples: number;
}

/**
 * The NIAH figure's cells: for grid tasks (records with a depth), the mean score of the samples
 * of one (model, task, variant, length, depth). Samples without a score are left out; a cell
 * none of whose samples has a score is not drawn.
 */
export function heatCells(
  records: readonly Rec[],
  order: (a: TaskVariant, b: TaskVariant) => number,
): HeatCell[] {
  const grid = records.filter(isSample).filter((r) => r.depth !== null && r.score !== null);
  const variants = grid.map(taskVariantOf);
  const groups = new Map<string, SampleRec[]>();
  for (const r of grid) {
    const k = [r.model, r.task, taskVariantKey(taskVariantOf(r)), r.contextLength, r.depth].join(
      "|",
    );
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  return [...groups.values()].map((g): HeatCell => {
    const r = g[0];
    const variant = taskVariantOf(r);
    return {
      model: r.model,
      task: r.task,
      variant,
      label: taskVariantLabel(variant, variants),
      contextLength: r.contextLength,
      depth: r.depth!,
      score: mean(g.map((x) => x.score!)),
      samples: g.length,
    };
  }).sort((a, b) =>
    order(a.variant, b.variant) || a.contextLength - b.contextLength || a.depth - b.depth
  );
}

// --- max batch ---------------------------------------------------------------------------------

export interface BatchPoint {
  readonly model: string;
  readonly modelLabel: string | null;
  readonly variant: TaskVariant;
  readonly label: string;
  readonly contextLength: number;
  readonly memoryBudget: number;
  readonly maxBatch: number;
  readonly decodeTokensPerSec: number;
  readonly peakGpuBytes: number;
  readonly kvBytes: number;
  readonly fixedBytes: number;
  readonly bytesPerSequence: number;
  readonly representative: boolean;
  readonly simulated: boolean;
  readonly run: string;
}

/** One point per maxBatch record, in variant then length order. */
export function batchPoints(
  records: readonly Rec[],
  order: (a: TaskVariant, b: TaskVariant) => number,
): BatchPoint[] {
  const recs = records.filter(isMaxBatch);
  const variants = recs.map(taskVariantOf);
  return recs.map((r: MaxBatchRec): BatchPoint => {
    const variant = taskVariantOf(r);
    return {
      model: r.model,
      modelLabel: r.modelLabel,
      variant,
      label: taskVariantLabel(variant, variants),
      contextLength: r.contextLength,
      memoryBudget: r.memoryBudget,
      maxBatch: r.maxBatch,
      decodeTokensPerSec: r.decodeTokensPerSec,
      peakGpuBytes: r.peakGpuBytes,
      kvBytes: r.kvBytes,
      fixedBytes: r.fixedBytes,
      bytesPerSequence: r.bytesPerSequence,
      representative: r.representative,
      simulated: r.simulated === true,
      run: r.run,
    };
  }).sort((a, b) =>
    a.model.localeCompare(b.model) || order(a.variant, b.variant) ||
    a.contextLength - b.contextLength
  );
}
