// The task suite's summary.json and its table: per (model, task, length, method variant) the mean
// score over samples (RULER/LongBench report 100 x that mean), the score relative to the full
// cache, and the mean measurements. "Relative to the full cache": the mean score of `full` in
// fp16 for the same model, task and length (the first full format when fp16 did not run).

import { table } from "./kernel_summary.ts";
import { SCHEMA_VERSION } from "./results.ts";
import type { MaxBatchRecord, SampleRecord, TaskRecord } from "./task_records.ts";
import type { TaskRunSpec } from "./task_spec.ts";

export interface TaskRow {
  model: string;
  modelLabel: string | null;
  task: string;
  contextLength: number;
  method: string;
  format: string;
  ratio?: number;
  budgetTokens?: number;
  batchSize: number;
  samples: number;
  /** Mean primary score in [0, 1]; null where accuracy is not applicable. */
  score: number | null;
  /** score / the full cache's score (null when either is missing or the full cache scored 0). */
  relative: number | null;
  /** Fidelity: mean KL(full || method) over steps, mean over samples; null for other tasks. */
  meanKl: number | null;
  kvBytes: number;
  compression: number;
  peakGpuBytes: number;
  ttftMs: number;
  decodeTokensPerSec: number;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

function groupKey(r: SampleRecord): string {
  const b = r.ratio !== undefined
    ? `r${r.ratio}`
    : r.budgetTokens !== undefined
    ? `t${r.budgetTokens}`
    : "-";
  return [
    r.model,
    r.task,
    r.contextLength,
    r.method,
    JSON.stringify(r.params),
    r.format,
    b,
    r.batchSize,
  ].join("|");
}

export function taskRows(records: readonly TaskRecord[]): TaskRow[] {
  const groups = new Map<string, SampleRecord[]>();
  for (const r of records) {
    if (r.kind !== "sample") continue;
    const k = groupKey(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const rows: TaskRow[] = [...groups.values()].map((g) => {
    const r = g[0];
    const scored = g.filter((x) => x.score !== null).map((x) => x.score!);
    return {
      model: r.model,
      modelLabel: r.modelLabel,
      task: r.task,
      contextLength: r.contextLength,
      method: r.method,
      format: r.format,
      ...(r.ratio !== undefined ? { ratio: r.ratio } : {}),
      ...(r.budgetTokens !== undefined ? { budgetTokens: r.budgetTokens } : {}),
      batchSize: r.batchSize,
      samples: g.length,
      score: scored.length > 0 ? mean(scored) : null,
      relative: null,
      meanKl: g.every((x) => typeof x.scores?.mean_kl === "number")
        ? mean(g.map((x) => x.scores.mean_kl))
        : null,
      kvBytes: mean(g.map((x) => x.kvBytes)),
      compression: mean(g.map((x) => x.compression)),
      peakGpuBytes: Math.max(...g.map((x) => x.peakGpuBytes)),
      ttftMs: mean(g.map((x) => x.ttftMs)),
      decodeTokensPerSec: mean(g.map((x) => x.decodeTokensPerSec)),
    };
  });
  for (const row of rows) {
    const fulls = rows.filter((x) =>
      x.method === "full" && x.model === row.model && x.task === row.task &&
      x.contextLength === row.contextLength && x.batchSize === row.batchSize
    );
    const base = fulls.find((x) => x.format === "fp16") ?? fulls[0];
    if (base && base.score !== null && base.score > 0 && row.score !== null) {
      row.relative = row.score / base.score;
    }
  }
  return rows;
}

export function summarizeTasks(spec: TaskRunSpec, records: readonly TaskRecord[]) {
  const samples = records.filter((r): r is SampleRecord => r.kind === "sample");
  return {
    schemaVersion: SCHEMA_VERSION,
    suite: "tasks",
    spec,
    records: records.length,
    representative: records.every((r) => r.representative),
    simulated: records.some((r) => r.simulated),
    adapters: [...new Set(records.map((r) => JSON.stringify(r.adapter)))].map((s) => JSON.parse(s)),
    models: [...new Set(samples.map((r) => r.model))].map((model) => ({
      model,
      label: samples.find((r) => r.model === model)!.modelLabel,
    })),
    rows: taskRows(records),
    maxBatch: records.filter((r): r is MaxBatchRecord => r.kind === "maxBatch").map((r) => ({
      model: r.model,
      method: r.method,
      format: r.format,
      ratio: r.ratio,
      budgetTokens: r.budgetTokens,
      contextLength: r.contextLength,
      memoryBudget: r.memoryBudget,
      maxBatch: r.maxBatch,
      decodeTokensPerSec: r.decodeTokensPerSec,
      peakGpuBytes: r.peakGpuBytes,
    })),
  };
}

const budgetText = (r: { ratio?: number; budgetTokens?: number }) =>
  r.ratio !== undefined ? `${r.ratio}x` : r.budgetTokens !== undefined ? `${r.budgetTokens}t` : "-";

/** The end-of-run table: one row per (model, task, length, variant). */
export function taskTable(records: readonly TaskRecord[]): string {
  const rows = taskRows(records);
  const body = rows.map((r) => [
    r.model,
    r.task,
    String(r.contextLength),
    r.method,
    r.format,
    budgetText(r),
    String(r.samples),
    r.score === null ? "n/a" : (100 * r.score).toFixed(1),
    r.relative === null ? "-" : r.relative.toFixed(2),
    r.meanKl === null ? "-" : r.meanKl.toExponential(1),
    (r.kvBytes / 2 ** 20).toFixed(2),
    r.compression.toFixed(2),
    r.ttftMs.toFixed(1),
    r.decodeTokensPerSec.toFixed(1),
  ]);
  let out = table(
    [
      "model",
      "task",
      "T",
      "method",
      "format",
      "budget",
      "n",
      "score",
      "vs full",
      "KL",
      "KV MiB",
      "x fp16",
      "TTFT ms",
      "decode tok/s",
    ],
    body,
    6,
  );
  const mb = records.filter((r): r is MaxBatchRecord => r.kind === "maxBatch");
  if (mb.length > 0) {
    out += "\n\n" + table(
      ["model", "T", "method", "format", "budget", "max batch", "peak MiB", "decode tok/s"],
      mb.map((r) => [
        r.model,
        String(r.contextLength),
        r.method,
        r.format,
        budgetText(r),
        String(r.maxBatch),
        (r.peakGpuBytes / 2 ** 20).toFixed(1),
        r.decodeTokensPerSec.toFixed(1),
      ]),
      5,
    );
  }
  const labels = [...new Set(rows.filter((r) => r.modelLabel).map((r) => r.model))];
  for (const m of labels) {
    out += `\n${m}: ${rows.find((r) => r.model === m)!.modelLabel}`;
  }
  return out;
}
