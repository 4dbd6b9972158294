// The task runner's figures: score against actual KV compression (absolute and relative to the
// full cache), the NIAH depth × length heatmap per method variant, and the largest batch within
// a memory budget with its decode speed. Observable Plot drawn to static SVG (plots.ts's draw),
// each with a caption (what is plotted, which way is better) and its data as a table. Each
// function takes already-derived data (tasks.ts) for one model.

import { Plot } from "./deps.ts";
import { bytes, num, pct, times, tokens } from "./fmt.ts";
import type { Cell, Column, FigureBlock, Part, TableBlock } from "./model.ts";
import { formatHref, methodHref } from "./model.ts";
import {
  draw,
  labelWidth,
  nameColours,
  type Names,
  nonRepNote,
  octaves,
  presentIn,
} from "./plots.ts";
import { type BatchPoint, type HeatCell, type TaskPoint, taskVariantLabel } from "./tasks.ts";

const table = (
  columns: readonly Column[],
  rows: readonly (readonly Cell[])[],
  caption?: Part[],
): TableBlock => ({ type: "table", columns, rows, caption, sortable: true });
const n = (value: number, text: string, extra: Partial<Cell> = {}): Cell => ({
  text,
  sort: value,
  ...extra,
});
const s = (text: string, extra: Partial<Cell> = {}): Cell => ({ text, ...extra });
const sorted = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

/** "synthetic mechanism model, not an LLM" etc., leading every task figure's caption. */
function modelPart(model: string, label: string | null): Part[] {
  return [
    { text: model, code: true },
    label ? [" — ", { text: label, strong: true }, ". "] : ". ",
  ].flat() as Part[];
}

const simulatedNote = (any: boolean): Part[] =>
  any
    ? [
      " ",
      {
        text:
          "Some points are simulated (simulated: true): their memory is computed, not allocated.",
        strong: true,
      },
    ]
    : [];

// --- score against compression -----------------------------------------------------------------

/**
 * One model's task points: score (or score ÷ the full cache's) against the actual compression,
 * a line per method × format through its budgets, colour = method, symbol = format; facets are
 * tasks (columns) and context lengths (rows). The full fp16 cache's score is the dashed rule.
 */
export function accuracyFigure(
  id: string,
  points: readonly TaskPoint[],
  names: Names,
  relative = false,
): FigureBlock {
  const y = (p: TaskPoint) => (relative ? p.relative : p.score);
  const data = points.filter((p) => y(p) !== null)
    .map((p) => ({
      ...p,
      y: y(p)!,
      method: p.variant.method,
      format: p.variant.format,
      series: `${p.variant.method}(${JSON.stringify(p.variant.params)})+${p.variant.format}`,
      label: taskVariantLabel(p.variant, points.map((x) => x.variant)),
    }))
    .sort((a, b) => a.compression - b.compression);
  const model = points[0]?.model ?? "";
  const label = points[0]?.modelLabel ?? null;
  const tasks = [...new Set(data.map((p) => p.task))];
  const lengths = sorted(data.map((p) => p.contextLength));
  const fulls = data.filter((p) => p.method === "full" && p.format === "fp16");
  const yMax = Math.max(1, ...data.map((p) => p.y));
  const svg = draw(id, {
    width: Math.max(460, 280 * tasks.length + 120),
    height: 60 + 230 * lengths.length,
    marginRight: lengths.length > 1 ? 70 : 20,
    marginBottom: 42,
    grid: true,
    fx: { label: "task", padding: 0.15 },
    fy: lengths.length > 1 ? { label: "context length", tickFormat: tokens } : undefined,
    x: {
      type: "log",
      label: "actual KV compression vs fp16 (×) →",
      ticks: octaves(data.map((p) => p.compression)),
      tickFormat: (x: number) => `${x}`,
    },
    y: {
      domain: [0, yMax],
      label: relative ? "↑ score ÷ full fp16's" : "↑ score (mean over samples)",
      tickFormat: (v: number) => (relative ? `${v}` : pct(v, 0)),
    },
    color: {
      ...nameColours(names.methods, data.map((p) => p.method)),
      legend: true,
      label: "method",
    },
    symbol: {
      legend: true,
      label: "format",
      domain: presentIn(names.formats, data.map((p) => p.format)),
    },
    marks: [
      Plot.ruleY(relative ? [1] : fulls, {
        ...(relative
          ? {}
          : { y: "y", fx: "task", fy: lengths.length > 1 ? "contextLength" : undefined }),
        stroke: "#888",
        strokeDasharray: "4,3",
      }),
      Plot.line(data, {
        x: "compression",
        y: "y",
        z: "series",
        fx: "task",
        fy: lengths.length > 1 ? "contextLength" : undefined,
        stroke: "method",
        strokeOpacity: 0.6,
      }),
      Plot.dot(data, {
        x: "compression",
        y: "y",
        fx: "task",
        fy: lengths.length > 1 ? "contextLength" : undefined,
        stroke: "method",
        symbol: "format",
        r: 4,
        strokeWidth: 1.5,
        title: (p: (typeof data)[number]) =>
          `${p.label} ${p.task} T=${p.contextLength}: ${relative ? num(p.y) : pct(p.y)} at ×${
            p.compression.toFixed(2)
          } (${p.samples} samples)`,
      }),
    ],
  });
  return {
    type: "figure",
    id,
    title: relative
      ? `Score relative to the full cache against KV compression: ${model}`
      : `Task score against KV compression: ${model}`,
    caption: [
      ...modelPart(model, label),
      relative
        ? "Each point is one method × format × budget on one task at one context length: its mean score divided by the full fp16 cache's on the same samples (1 = no loss, the dashed line), against the actual KV compression (fp16 bytes ÷ its bytes, from allocations, metadata and room for new tokens included). "
        : "Each point is one method × format × budget on one task at one context length: the mean score over its samples against the actual KV compression (fp16 bytes ÷ its bytes, from allocations, metadata and room for new tokens included); the dashed line is the full fp16 cache's score. ",
      { text: "Up and to the right is better", strong: true },
      "; lines join one method × format through its budgets.",
      ...simulatedNote(data.some((p) => p.simulated)),
    ],
    svg,
    table: table(
      [
        { label: "method + format, budget" },
        { label: "task" },
        { label: "T", numeric: true },
        { label: "samples", numeric: true },
        { label: "score", numeric: true },
        { label: "vs full", numeric: true },
        { label: "compression", numeric: true },
        { label: "KV bytes", numeric: true },
      ],
      data.map((p) => [
        s(p.label, { href: p.method === "full" ? formatHref(p.format) : methodHref(p.method) }),
        s(p.task),
        n(p.contextLength, tokens(p.contextLength)),
        n(p.samples, String(p.samples)),
        p.score === null ? s("n/a") : n(p.score, pct(p.score)),
        p.relative === null ? s("—") : n(p.relative, num(p.relative)),
        n(p.compression, times(p.compression)),
        n(p.kvBytes, bytes(p.kvBytes)),
      ]),
    ),
  };
}

// --- NIAH heatmap ------------------------------------------------------------------------------

/**
 * One model × task's depth × length grid, one small heatmap per method variant (stacked, the
 * variant on the left): the classic needle-in-a-haystack figure.
 */
export function taskHeatmap(id: string, cells: readonly HeatCell[], where: Part[]): FigureBlock {
  const labels = [...new Set(cells.map((c) => c.label))];
  const lengths = sorted(cells.map((c) => c.contextLength));
  const depths = sorted(cells.map((c) => c.depth));
  const left = labelWidth(labels);
  const cellH = 16;
  const svg = draw(id, {
    width: Math.max(360, left + 60 + lengths.length * 64),
    height: 70 + labels.length * (depths.length * cellH + 14),
    marginLeft: left,
    marginRight: 50,
    marginBottom: 40,
    fy: { domain: labels, label: null, padding: 0.12 },
    x: { domain: lengths, type: "band", label: "context length (tokens) →", tickFormat: tokens },
    y: {
      domain: depths,
      type: "band",
      label: "needle depth",
      axis: "right",
      tickFormat: (d: number) => pct(d, 0),
    },
    // Binned, not continuous: a continuous legend needs a canvas, which the build's DOM lacks.
    color: {
      type: "threshold",
      domain: [0.2, 0.4, 0.6, 0.8, 0.999],
      range: ["#d7301f", "#f08b4f", "#f4d35e", "#a6d96a", "#66bd63", "#1a9850"],
      legend: true,
      label: "mean score",
      tickFormat: (v: number) => (v > 0.99 ? "100%" : pct(v, 0)),
    },
    marks: [
      Plot.cell(cells, {
        x: "contextLength",
        y: "depth",
        fy: "label",
        fill: "score",
        inset: 0.5,
        title: (c: HeatCell) =>
          `${c.label} T=${c.contextLength} depth ${pct(c.depth, 0)}: ${
            pct(c.score)
          } (${c.samples} samples)`,
      }),
      Plot.text(cells, {
        x: "contextLength",
        y: "depth",
        fy: "label",
        text: (c: HeatCell) => pct(c.score, 0),
        fill: "black",
        fontSize: 9,
      }),
    ],
  });
  const first = cells[0];
  return {
    type: "figure",
    id,
    title: `${first?.task ?? "task"} by depth and length: ${first?.model ?? ""}`,
    caption: [
      ...where,
      "Each small grid is one method × format × budget; each cell the mean score of the samples whose needle was placed at that depth of a context of that length. ",
      { text: "Green (100%) is better", strong: true },
      ": a method that keeps the needle wherever it lies is green throughout; one that evicts the middle of the context shows a band.",
    ],
    svg,
    table: table(
      [
        { label: "method + format, budget" },
        { label: "T", numeric: true },
        { label: "depth", numeric: true },
        { label: "samples", numeric: true },
        { label: "mean score", numeric: true },
      ],
      cells.map((c) => [
        s(c.label),
        n(c.contextLength, tokens(c.contextLength)),
        n(c.depth, pct(c.depth, 0)),
        n(c.samples, String(c.samples)),
        n(c.score, pct(c.score)),
      ]),
    ),
  };
}

// --- max batch ---------------------------------------------------------------------------------

/**
 * One model's largest batch within the memory budget (metric "maxBatch") or decode tokens/s at
 * that batch ("decodeTokensPerSec"), a bar per variant, facets per context length.
 */
export function batchFigure(
  id: string,
  metric: "maxBatch" | "decodeTokensPerSec",
  points: readonly BatchPoint[],
  names: Names,
): FigureBlock {
  const labels = [...new Set(points.map((p) => p.label))];
  const lengths = sorted(points.map((p) => p.contextLength));
  const left = labelWidth(labels);
  const timing = metric === "decodeTokensPerSec";
  const nonRep = timing && points.some((p) => !p.representative);
  const budgets = [...new Set(points.map((p) => p.memoryBudget))];
  const model = points[0]?.model ?? "";
  const data = points.map((p) => ({ ...p, method: p.variant.method }));
  const svg = draw(id, {
    width: Math.max(420, left + 40 + 240 * lengths.length),
    height: 70 + labels.length * 20,
    marginLeft: left,
    marginRight: 30,
    marginBottom: 40,
    subtitle: nonRep ? "† software adapter: speeds not representative" : undefined,
    fx: { label: "context length (tokens)", tickFormat: tokens, padding: 0.12 },
    y: { domain: labels, label: null },
    x: {
      label: timing ? "decode tokens/s at that batch →" : "largest batch within the budget →",
      grid: true,
      zero: true,
    },
    color: {
      ...nameColours(names.methods, data.map((p) => p.method)),
      legend: true,
      label: "method",
    },
    marks: [
      Plot.barX(data, {
        x: metric,
        y: "label",
        fx: "contextLength",
        fill: "method",
        title: (p: BatchPoint) =>
          `${p.label} T=${p.contextLength}: B=${p.maxBatch}, ${num(p.decodeTokensPerSec)} tok/s`,
      }),
      Plot.text(data, {
        x: metric,
        y: "label",
        fx: "contextLength",
        text: (p: BatchPoint) => (timing ? num(p.decodeTokensPerSec) : String(p.maxBatch)),
        dx: 4,
        textAnchor: "start",
        fontSize: 9,
      }),
      Plot.ruleX([0]),
    ],
  });
  return {
    type: "figure",
    id,
    title: timing
      ? `Decode throughput at the largest batch: ${model}`
      : `Largest batch within ${budgets.map(bytes).join(", ")}: ${model}`,
    caption: [
      ...modelPart(model, points[0]?.modelLabel ?? null),
      timing
        ? "Decode tokens per second over all sequences of the largest batch that fits the memory budget (16 decode steps, readbacks included), per method × format × budget. "
        : `The largest batch B whose peak GPU memory (weights, activations, caches, measured from allocations) stays within the budget of ${
          budgets.map(bytes).join(", ")
        }, per method × format × budget: B is measured to fit and B + 1 not to. `,
      { text: "Longer bars are better", strong: true },
      ": compression pays off in serving when a smaller cache lets more sequences share the GPU.",
      ...simulatedNote(points.some((p) => p.simulated)),
      ...nonRepNote(nonRep),
    ],
    svg,
    table: table(
      [
        { label: "method + format, budget" },
        { label: "T", numeric: true },
        { label: "memory budget", numeric: true },
        { label: "max batch", numeric: true },
        { label: "decode tok/s", numeric: true },
        { label: "bytes/sequence", numeric: true },
        { label: "fixed bytes", numeric: true },
        { label: "peak at max", numeric: true },
      ],
      points.map((p) => [
        s(p.label, {
          href: p.variant.method === "full"
            ? formatHref(p.variant.format)
            : methodHref(p.variant.method),
        }),
        n(p.contextLength, tokens(p.contextLength)),
        n(p.memoryBudget, bytes(p.memoryBudget)),
        n(p.maxBatch, String(p.maxBatch)),
        n(p.decodeTokensPerSec, num(p.decodeTokensPerSec), { nonRep: !p.representative }),
        n(p.bytesPerSequence, bytes(p.bytesPerSequence)),
        n(p.fixedBytes, bytes(p.fixedBytes)),
        n(p.peakGpuBytes, bytes(p.peakGpuBytes)),
      ]),
    ),
  };
}
