// The kernel suite's summary.json and printed tables: decode rows, the engine targets checked
// on representative records at N ≥ 32K, and needle retrieval.

import type { DecodeRecord, KernelRecord, NeedleRecord } from "./kernel_records.ts";
import type { KernelSpec } from "./kernel_spec.ts";
import { type ResultsDir, SCHEMA_VERSION, writeJson } from "./results.ts";

/** Targets from the engine-core issue, checked on the records at N ≥ 32K. */
export const TARGETS = {
  minLength: 32768,
  fp16BandwidthFraction: 0.7,
  kivi4TimeVsFp16: 0.4,
  kivi2TimeVsFp16: 0.25,
};

export function summarize(spec: KernelSpec, all: readonly KernelRecord[]) {
  const records = all.filter((r): r is DecodeRecord => r.kind === "decode");
  const needles = all.filter((r): r is NeedleRecord => r.kind === "needle");
  const at = (f: string, T: number) => records.find((r) => r.format === f && r.contextLength === T);
  const rows = records.map((r) => {
    const base = at("fp16", r.contextLength);
    return {
      format: r.format,
      contextLength: r.contextLength,
      relError: r.relError,
      kvBytes: r.kvBytes,
      compression: r.compression,
      ms: r.ms,
      gbPerSec: r.gbPerSec,
      bandwidthFraction: r.bandwidthFraction,
      timeVsFp16: base ? r.ms / base.ms : null,
    };
  });
  const big = records.filter((r) => r.contextLength >= TARGETS.minLength && r.representative);
  const check = (name: string, f: (T: number) => number | null, limit: number, higher: boolean) => {
    const values = [...new Set(big.map((r) => r.contextLength))].map((T) => ({ T, value: f(T) }))
      .filter((x) => x.value !== null) as { T: number; value: number }[];
    if (values.length === 0) return { name, limit, status: "unmeasured" as const, values };
    const ok = values.every((x) => (higher ? x.value >= limit : x.value <= limit));
    return { name, limit, status: ok ? "met" as const : "missed" as const, values };
  };
  const ratio = (f: string) => (T: number) => {
    const a = at(f, T), b = at("fp16", T);
    return a && b ? a.ms / b.ms : null;
  };
  const adapters = [...new Set(records.map((r) => JSON.stringify(r.adapter)))].map((s) =>
    JSON.parse(s)
  );
  return {
    schemaVersion: SCHEMA_VERSION,
    suite: "kernels",
    spec,
    adapters,
    representative: all.every((r) => r.representative),
    copyGbPerSec: records[0]?.copyGbPerSec ?? null,
    rows,
    needles: needles.map((r) => ({
      format: r.format,
      method: r.method,
      ratio: r.ratio ?? null,
      budgetTokens: r.budgetTokens ?? null,
      keptTokens: r.keptTokens,
      needleKept: r.needleKept,
      contextLength: r.contextLength,
      needleDepth: r.needleDepth,
      needleCosine: r.needleCosine,
      retrieved: r.retrieved,
      kvBytes: r.kvBytes,
      bytesReadPerStep: r.bytesReadPerStep ?? null,
    })),
    targets: [
      check(
        "fp16 decode bandwidth fraction of copy",
        (T) => at("fp16", T)?.bandwidthFraction ?? null,
        TARGETS.fp16BandwidthFraction,
        true,
      ),
      check("kivi4 decode time / fp16", ratio("kivi4"), TARGETS.kivi4TimeVsFp16, false),
      check("kivi2 decode time / fp16", ratio("kivi2"), TARGETS.kivi2TimeVsFp16, false),
    ],
  };
}

export function writeSummary(out: ResultsDir, summary: unknown): void {
  writeJson(out.summaryPath, summary);
}

export function formatTable(all: readonly KernelRecord[]): string {
  const records = all.filter((r): r is DecodeRecord => r.kind === "decode");
  const head = [
    "format",
    "length",
    "rel.err",
    "KV MiB",
    "B/token",
    "×comp",
    "ms",
    "GB/s",
    "% copy",
    "×fp16 t",
  ];
  const rows = [...records].sort((a, b) =>
    a.contextLength - b.contextLength || a.bits - b.bits || a.format.localeCompare(b.format)
  )
    .map((r) => {
      const base = records.find((x) => x.format === "fp16" && x.contextLength === r.contextLength);
      return [
        r.format,
        String(r.contextLength),
        r.relError.toExponential(2),
        (r.kvBytes / 2 ** 20).toFixed(2),
        r.bytesPerToken.toFixed(0),
        r.compression.toFixed(2),
        r.ms.toFixed(3),
        r.gbPerSec.toFixed(1),
        (100 * r.bandwidthFraction).toFixed(1),
        base ? (r.ms / base.ms).toFixed(2) : "-",
      ];
    });
  return table(head, rows);
}

/**
 * Needle retrieval per format (rows) and context length (columns): "retrieved/depths, min cos".
 * Empty string when there are no needle records.
 */
export function needleTable(all: readonly KernelRecord[]): string {
  const needles = all.filter((r): r is NeedleRecord => r.kind === "needle");
  if (needles.length === 0) return "";
  const lengths = [...new Set(needles.map((r) => r.contextLength))].sort((a, b) => a - b);
  const labels = [...new Set(needles.map(needleLabel))];
  const rows = labels.map((label) => [
    label,
    ...lengths.map((T) => {
      const cells = needles.filter((r) => needleLabel(r) === label && r.contextLength === T);
      if (cells.length === 0) return "-";
      const ok = cells.filter((r) => r.retrieved).length;
      const min = Math.min(...cells.map((r) => r.needleCosine));
      return `${ok}/${cells.length}, ${min.toFixed(3)}`;
    }),
  ]);
  return table(["needle: method+format budget", ...lengths.map((T) => `N=${T}`)], rows);
}

/** "full+fp16", "snapkv+fp16 1/4", "streaming_llm+int8 512 tok". */
export function needleLabel(r: NeedleRecord): string {
  const budget = r.ratio !== undefined
    ? ` 1/${r.ratio}`
    : r.budgetTokens !== undefined
    ? ` ${r.budgetTokens} tok`
    : "";
  return `${r.method}+${r.format}${budget}`;
}

/** A plain-text table: the first `left` columns left-aligned, the rest right-aligned. */
export function table(head: string[], rows: string[][], left = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
