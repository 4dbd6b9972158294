// What the pages show, derived from records: hardware groups, the leaderboard, trade-off points,
// needle grids, per-run series. Pure functions of the loaded records; nothing here draws.
//
// Conventions:
// - A variant is what a leaderboard row is: a method (eviction, or `full`) × cache format ×
//   budget. Kernel `decode` records are the full cache in their format.
// - Timings are compared only within one run (the same adapter, the same process): a speedup is
//   fp16's time over the variant's at the same context length and batch in the same run.
// - Where a figure needs one value per variant, it takes the longest context length measured,
//   and among equal lengths the newest record; the cell's tooltip names the run and length.

import { budgetLabel } from "./fmt.ts";
import {
  type Adapter,
  type DecodeRec,
  type GenerateRec,
  isDecode,
  isGenerate,
  isNeedle,
  isSample,
  type NeedleRec,
  type Rec,
  type Run,
} from "./load.ts";

// --- variants ----------------------------------------------------------------------------------

export interface Variant {
  readonly method: string;
  readonly format: string;
  readonly ratio?: number;
  readonly budgetTokens?: number;
}

export const variantKey = (v: Variant) => `${v.method}+${v.format}@${budgetLabel(v)}`;

/** "fp16" for the full cache, "snapkv+kivi4 1/4" for a method at a budget. */
export function variantLabel(v: Variant): string {
  return v.method === "full" ? v.format : `${v.method}+${v.format} ${budgetLabel(v)}`;
}

/** The variant a record measures, or undefined for records that are not about one. */
export function variantOf(r: Rec): Variant | undefined {
  if (isDecode(r)) return { method: "full", format: r.format };
  if (isNeedle(r) || isGenerate(r) || isTaskRec(r)) {
    const raw = r.raw;
    const v: Variant = {
      method: String(raw.method ?? "full"),
      format: String(raw.format ?? "fp16"),
    };
    if (typeof raw.ratio === "number") return { ...v, ratio: raw.ratio };
    if (typeof raw.budgetTokens === "number") return { ...v, budgetTokens: raw.budgetTokens };
    return v;
  }
  return undefined;
}

/** Sorts variants: full caches first in registry order, then methods in registry order. */
export function variantOrder(methods: readonly string[], formats: readonly string[]) {
  const mi = (m: string) => (methods.indexOf(m) + 1 || 999) + (m === "full" ? -1000 : 0);
  const fi = (f: string) => formats.indexOf(f) + 1 || 999;
  const bi = (v: Variant) => v.ratio ?? (v.budgetTokens !== undefined ? 1e6 + v.budgetTokens : 0);
  return (a: Variant, b: Variant) =>
    mi(a.method) - mi(b.method) || fi(a.format) - fi(b.format) || bi(a) - bi(b) ||
    variantKey(a).localeCompare(variantKey(b));
}

// --- task records (the task runner's) --------------------------------------------------------

/**
 * A scored task record: any record with a string `task` and a finite numeric `score` (the task
 * runner's `sample` records; null scores — random-weight models — are not scored). Its category
 * is `category`, else `taskFamily`, else the task name. Each category becomes a leaderboard
 * column; the per-model views are in tasks.ts.
 */
export function isTaskRec(r: Rec): boolean {
  return typeof r.raw.task === "string" && typeof r.raw.score === "number" &&
    Number.isFinite(r.raw.score);
}

export function taskCategory(r: Rec): string {
  return String(r.raw.category ?? r.raw.taskFamily ?? r.raw.task);
}

// --- hardware ----------------------------------------------------------------------------------

export interface HardwareGroup {
  /** Stable id for anchors. */
  readonly id: string;
  readonly adapter: Adapter;
  readonly runs: readonly string[];
  readonly records: readonly Rec[];
  /** True when every record of the group is representative. */
  readonly representative: boolean;
}

export const adapterKey = (a: Adapter) =>
  `${a.description}|${a.vendor}|${a.architecture}|${a.fallback}`;

/** Records grouped by the adapter that measured them, GPUs first, in first-seen order. */
export function hardwareGroups(runs: readonly Run[]): HardwareGroup[] {
  const groups = new Map<string, { adapter: Adapter; runs: Set<string>; records: Rec[] }>();
  for (const run of runs) {
    for (const r of run.records) {
      const key = adapterKey(r.adapter);
      let g = groups.get(key);
      if (!g) groups.set(key, g = { adapter: r.adapter, runs: new Set(), records: [] });
      g.runs.add(run.slug);
      g.records.push(r);
    }
  }
  return [...groups.values()]
    .sort((a, b) => Number(a.adapter.fallback) - Number(b.adapter.fallback))
    .map((g, i) => ({
      id: `hw-${i + 1}`,
      adapter: g.adapter,
      runs: [...g.runs],
      records: g.records,
      representative: g.records.every((r) => r.representative),
    }));
}

// --- picking one record ------------------------------------------------------------------------

/** The record at the longest context length, the newest among equals. */
export function longestNewest<T extends Rec & { contextLength: number }>(
  rs: readonly T[],
): T | undefined {
  let best: T | undefined;
  for (const r of rs) {
    if (
      !best || r.contextLength > best.contextLength ||
      (r.contextLength === best.contextLength && r.timestamp > best.timestamp)
    ) best = r;
  }
  return best;
}

/** fp16's decode time at the same run, length and batch as `r`, if measured. */
export function fp16Decode(all: readonly DecodeRec[], r: DecodeRec): DecodeRec | undefined {
  return all.find((x) =>
    x.format === "fp16" && x.run === r.run && x.contextLength === r.contextLength &&
    x.batchSize === r.batchSize
  );
}

export function fp16Generate(all: readonly GenerateRec[], r: GenerateRec): GenerateRec | undefined {
  return all.find((x) =>
    x.format === "fp16" && x.method === "full" && x.run === r.run && x.model === r.model &&
    x.contextLength === r.contextLength && x.batchSize === r.batchSize
  );
}

// --- leaderboard -------------------------------------------------------------------------------

/** One measured value of a row, with where it came from. */
export interface Metric {
  readonly value: number;
  /** e.g. "run kernels-x, N=1024". */
  readonly source: string;
  /** False when it is a timing from a software adapter. */
  readonly representative: boolean;
  /** Display text, when not the default formatting (e.g. "14/15"). */
  readonly text?: string;
}

export interface LeaderRow {
  readonly variant: Variant;
  readonly metrics: Readonly<Record<string, Metric>>;
}

export interface MetricDef {
  readonly id: string;
  readonly label: string;
  readonly note: string;
  readonly group: "Accuracy" | "Memory" | "Speed";
  readonly higherIsBetter: boolean;
  /** Colour on a log scale. */
  readonly log?: boolean;
  /** A timing: marked when measured on a software adapter. */
  readonly timing?: boolean;
  readonly kind: "rate" | "ratio" | "error" | "bytes" | "cosine" | "score";
}

const geomean = (xs: readonly number[]) =>
  Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);

/** The fixed metric columns; task categories (if any) come first, from `leaderboard`. */
export const METRICS: readonly MetricDef[] = [
  {
    id: "needle",
    label: "needle retrieved",
    note: "share of needle cells, higher is better",
    group: "Accuracy",
    higherIsBetter: true,
    kind: "rate",
  },
  {
    id: "cosine",
    label: "needle cosine",
    note: "mean, 1 is exact",
    group: "Accuracy",
    higherIsBetter: true,
    kind: "cosine",
  },
  {
    id: "relError",
    label: "rel. error",
    note: "attention output vs float64, lower is better",
    group: "Accuracy",
    higherIsBetter: false,
    log: true,
    kind: "error",
  },
  {
    id: "compression",
    label: "KV compression",
    note: "fp16 bytes ÷ bytes, actual",
    group: "Memory",
    higherIsBetter: true,
    log: true,
    kind: "ratio",
  },
  {
    id: "peak",
    label: "peak GPU memory",
    note: "kernel cell, lower is better",
    group: "Memory",
    higherIsBetter: false,
    kind: "bytes",
  },
  {
    id: "speedKernel",
    label: "decode speedup",
    note: "kernel: fp16 time ÷ time",
    group: "Speed",
    higherIsBetter: true,
    log: true,
    timing: true,
    kind: "ratio",
  },
  {
    id: "speedModel",
    label: "model decode speedup",
    note: "tokens/s ÷ fp16's",
    group: "Speed",
    higherIsBetter: true,
    log: true,
    timing: true,
    kind: "ratio",
  },
];

export interface Leaderboard {
  readonly metrics: readonly MetricDef[];
  readonly rows: readonly LeaderRow[];
}

/**
 * The leaderboard of one hardware group: a row per variant, a column per metric that has at
 * least one value. Task categories (records with `task` and `score`) add one column each, then
 * "score vs full": the mean over categories of the variant's score ÷ the full cache's in the
 * same format.
 */
export function leaderboard(
  records: readonly Rec[],
  order: (a: Variant, b: Variant) => number,
): Leaderboard {
  const byVariant = new Map<string, { variant: Variant; recs: Rec[] }>();
  for (const r of records) {
    const v = variantOf(r);
    if (!v) continue;
    const key = variantKey(v);
    let e = byVariant.get(key);
    if (!e) byVariant.set(key, e = { variant: v, recs: [] });
    e.recs.push(r);
  }
  const decodes = records.filter(isDecode);
  const generates = records.filter(isGenerate);
  const tasks = records.filter(isTaskRec);
  const categories = [...new Set(tasks.map(taskCategory))].sort();
  const taskScore = (v: Variant, cat: string) => {
    const xs = tasks.filter((r) =>
      taskCategory(r) === cat && variantKey(variantOf(r)!) === variantKey(v)
    )
      .map((r) => r.raw.score as number);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
  };

  const rows: LeaderRow[] = [];
  for (const { variant, recs } of byVariant.values()) {
    const m: Record<string, Metric> = {};
    for (const cat of categories) {
      const s = taskScore(variant, cat);
      const n = tasks.filter((r) =>
        taskCategory(r) === cat && variantKey(variantOf(r)!) === variantKey(variant)
      ).length;
      if (s !== undefined) {
        m[`task:${cat}`] = { value: s, source: `${n} records`, representative: true };
      }
    }
    if (categories.length > 0) {
      const rel = categories.flatMap((cat) => {
        const s = taskScore(variant, cat);
        const f = taskScore({ method: "full", format: variant.format }, cat);
        return s !== undefined && f !== undefined && f > 0 ? [s / f] : [];
      });
      if (rel.length > 0) {
        m.relFull = {
          value: rel.reduce((a, b) => a + b, 0) / rel.length,
          source: `${rel.length} categories`,
          representative: true,
        };
      }
    }
    const needles = recs.filter(isNeedle);
    if (needles.length > 0) {
      const hit = needles.filter((r) => r.retrieved).length;
      const runs = [...new Set(needles.map((r) => r.run))].join(", ");
      m.needle = {
        value: hit / needles.length,
        text: `${hit}/${needles.length}`,
        source: `${needles.length} needle cells (lengths × depths), run ${runs}`,
        representative: true,
      };
      m.cosine = {
        value: needles.reduce((s, r) => s + r.needleCosine, 0) / needles.length,
        source: `mean over ${needles.length} needle cells`,
        representative: true,
      };
    }
    const d = longestNewest(recs.filter(isDecode));
    if (d) {
      const where = `run ${d.run}, N=${d.contextLength}`;
      m.relError = { value: d.relError, source: where, representative: true };
      m.compression = { value: d.compression, source: where, representative: true };
      m.peak = { value: d.peakGpuBytes, source: where, representative: true };
      const base = fp16Decode(decodes, d);
      if (base && d.ms > 0) {
        m.speedKernel = {
          value: base.ms / d.ms,
          source: `${where}: fp16 ${base.ms.toFixed(3)} ms ÷ ${d.ms.toFixed(3)} ms`,
          representative: d.representative && base.representative,
        };
      }
    } else {
      const n = longestNewest(needles);
      if (n && n.kvBytes > 0) {
        m.compression = {
          value: n.kvBytesFp16 / n.kvBytes,
          source: `run ${n.run}, N=${n.contextLength} (needle cell)`,
          representative: true,
        };
      }
    }
    if (!m.compression) {
      // Task-runner samples: their actual compression (fp16 bytes ÷ bytes of the whole cache).
      const ts = recs.filter(isSample);
      if (ts.length > 0) {
        m.compression = {
          value: ts.reduce((s, r) => s + r.compression, 0) / ts.length,
          source: `mean over ${ts.length} task samples (${
            [...new Set(ts.map((r) => r.model))].join(", ")
          })`,
          representative: true,
        };
      }
    }
    const gens = recs.filter(isGenerate);
    if (gens.length > 0) {
      // Per model, the longest prompt; speedup against fp16 in the same run; geometric mean.
      const ratios: number[] = [];
      const sources: string[] = [];
      let representative = true;
      for (const model of new Set(gens.map((g) => g.model))) {
        const g = longestNewest(gens.filter((x) => x.model === model))!;
        const base = fp16Generate(generates, g);
        if (base && base.decodeTokensPerSec > 0) {
          ratios.push(g.decodeTokensPerSec / base.decodeTokensPerSec);
          sources.push(`${model} T=${g.contextLength} (run ${g.run})`);
          representative &&= g.representative && base.representative;
        }
      }
      if (ratios.length > 0) {
        m.speedModel = { value: geomean(ratios), source: sources.join("; "), representative };
      }
    }
    rows.push({ variant, metrics: m });
  }
  rows.sort((a, b) => order(a.variant, b.variant));

  const taskDefs: MetricDef[] = categories.map((cat) => ({
    id: `task:${cat}`,
    label: cat,
    note: "task score, higher is better",
    group: "Accuracy",
    higherIsBetter: true,
    kind: "score",
  }));
  if (categories.length > 0) {
    taskDefs.push({
      id: "relFull",
      label: "score vs full",
      note: "mean of score ÷ full cache's",
      group: "Accuracy",
      higherIsBetter: true,
      kind: "ratio",
    });
  }
  const metrics = [...taskDefs, ...METRICS].filter((def) => rows.some((r) => def.id in r.metrics));
  return { metrics, rows };
}

// --- trade-off points --------------------------------------------------------------------------

export interface NeedlePoint {
  readonly variant: Variant;
  readonly label: string;
  readonly contextLength: number;
  readonly kvBytes: number;
  readonly kvBytesFp16: number;
  readonly compression: number;
  readonly retrieved: number;
  readonly cells: number;
  readonly rate: number;
  readonly cosine: number;
  readonly runs: readonly string[];
}

/**
 * One point per variant × context length × layer shape (kvBytesFp16 stands for the shape),
 * pooled over depths and runs: the needle retrieval rate and the mean cosine.
 */
export function needlePoints(records: readonly Rec[]): NeedlePoint[] {
  const groups = new Map<string, NeedleRec[]>();
  for (const r of records.filter(isNeedle)) {
    const key = `${variantKey(variantOf(r)!)}|${r.contextLength}|${r.kvBytesFp16}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const r = rs[0];
    const variant = variantOf(r)!;
    const hit = rs.filter((x) => x.retrieved).length;
    const kvBytes = rs.reduce((s, x) => s + x.kvBytes, 0) / rs.length;
    return {
      variant,
      label: variantLabel(variant),
      contextLength: r.contextLength,
      kvBytes,
      kvBytesFp16: r.kvBytesFp16,
      compression: r.kvBytesFp16 / kvBytes,
      retrieved: hit,
      cells: rs.length,
      rate: hit / rs.length,
      cosine: rs.reduce((s, x) => s + x.needleCosine, 0) / rs.length,
      runs: [...new Set(rs.map((x) => x.run))],
    };
  });
}

export interface ErrorPoint {
  readonly format: string;
  readonly bits: number;
  readonly contextLength: number;
  readonly kvBytes: number;
  readonly compression: number;
  readonly relError: number;
  readonly runs: readonly string[];
}

/** One point per format × context length × shape, pooled over runs (mean error). */
export function errorPoints(records: readonly Rec[]): ErrorPoint[] {
  const groups = new Map<string, DecodeRec[]>();
  for (const r of records.filter(isDecode)) {
    const key = `${r.format}|${r.contextLength}|${r.kvBytesFp16}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const r = rs[0];
    const mean = (f: (x: DecodeRec) => number) => rs.reduce((s, x) => s + f(x), 0) / rs.length;
    return {
      format: r.format,
      bits: r.bits,
      contextLength: r.contextLength,
      kvBytes: mean((x) => x.kvBytes),
      compression: mean((x) => x.compression),
      relError: mean((x) => x.relError),
      runs: [...new Set(rs.map((x) => x.run))],
    };
  });
}

/**
 * The Pareto-optimal points of a set: no other point has x at least as large and y at least as
 * good (and one of them strictly better). `x` is always "higher is better".
 */
export function paretoFront<T>(
  points: readonly T[],
  x: (p: T) => number,
  y: (p: T) => number,
  higherYIsBetter: boolean,
): T[] {
  const better = (a: number, b: number) => (higherYIsBetter ? a > b : a < b);
  const sorted = [...points].sort((a, b) =>
    x(b) - x(a) || (higherYIsBetter ? y(b) - y(a) : y(a) - y(b))
  );
  const front: T[] = [];
  for (const p of sorted) {
    if (front.length === 0 || better(y(p), y(front[front.length - 1]))) front.push(p);
  }
  return front.sort((a, b) => x(a) - x(b));
}

// --- needle grids ------------------------------------------------------------------------------

export interface NeedleCell {
  readonly label: string;
  readonly variant: Variant;
  readonly contextLength: number;
  readonly depth: number;
  readonly cosine: number;
  readonly retrieved: boolean;
  readonly kept: boolean;
}

/** A run's (or any set's) needle cells, labelled by variant, in variant order. */
export function needleCells(
  records: readonly Rec[],
  order: (a: Variant, b: Variant) => number,
): NeedleCell[] {
  return records.filter(isNeedle)
    .map((r) => {
      const variant = variantOf(r)!;
      return {
        label: variantLabel(variant),
        variant,
        contextLength: r.contextLength,
        depth: r.needleDepth,
        cosine: r.needleCosine,
        retrieved: r.retrieved,
        kept: r.needleKept,
      };
    })
    .sort((a, b) =>
      order(a.variant, b.variant) || a.contextLength - b.contextLength || a.depth - b.depth
    );
}
