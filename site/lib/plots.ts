// Every figure of the site: Observable Plot drawn into linkedom's server-side DOM at build time,
// serialised to static SVG, with a caption (what is plotted, what is better) and the plotted data
// as a table. Each function takes already-derived data (analysis.ts) and returns a FigureBlock.

import { parseHTML, Plot } from "./deps.ts";
import { bytes, ms, num, pct, times, tokens } from "./fmt.ts";
import type { ErrorPoint, NeedleCell, NeedlePoint } from "./analysis.ts";
import { paretoFront } from "./analysis.ts";
import type { DecodeRec, GenerateRec } from "./load.ts";
import {
  type Cell,
  type Column,
  type FigureBlock,
  formatHref,
  type Part,
  type TableBlock,
} from "./model.ts";

// --- drawing -----------------------------------------------------------------------------------

/** The parts of a DOM node this module reads. */
interface Serialisable {
  readonly outerHTML: string;
}

/** Draws a Plot spec into a fresh server-side document and returns the markup. */
export function draw(id: string, options: Record<string, unknown>): string {
  // linkedom's types speak of DOM globals that Deno's lib (deno.window) leaves out.
  const { document } = parseHTML(
    "<!doctype html><html><head></head><body></body></html>",
  ) as unknown as { document: unknown };
  const node = Plot.plot({
    document,
    className: `plot-${id}`,
    style: { fontSize: "11px", overflow: "visible" },
    ...options,
  } as Plot.PlotOptions) as unknown as Serialisable;
  return node.outerHTML;
}

/** Observable's categorical palette; a name keeps its colour on every figure (registry order). */
const PALETTE = [
  "#4269d0",
  "#efb118",
  "#ff725c",
  "#6cc5b0",
  "#3ca951",
  "#ff8ab7",
  "#a463f2",
  "#97bbf5",
  "#9c6b4e",
  "#9498a0",
];

/** An ordinal colour scale over the names present, coloured by their place in `all`. */
export function nameColours(all: readonly string[], present: Iterable<string>) {
  const names = new Set(present);
  const domain = [
    ...all.filter((n) => names.has(n)),
    ...[...names].filter((n) => !all.includes(n)),
  ];
  const range = domain.map((n) => {
    const i = all.indexOf(n);
    return PALETTE[(i < 0 ? all.length + domain.indexOf(n) : i) % PALETTE.length];
  });
  return { type: "ordinal", domain, range };
}

/** Powers of ten spanning the values, for log axes (labels like 1e-3). */
function decades(values: readonly number[]): number[] {
  const pos = values.filter((v) => v > 0);
  if (pos.length === 0) return [];
  const lo = Math.floor(Math.log10(Math.min(...pos)));
  const hi = Math.ceil(Math.log10(Math.max(...pos)));
  return Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
}

/** Powers of two within the values' range (compression ratios: ×0.5, ×1, ×2, ×4…), ≤ max of them. */
export function octaves(values: readonly number[], max = 5): number[] {
  const pos = values.filter((v) => v > 0);
  if (pos.length === 0) return [];
  // Inside the data's range (within 2%), so facets' edge labels do not collide.
  const lo = Math.ceil(Math.log2(Math.min(...pos)) - 0.03);
  const hi = Math.floor(Math.log2(Math.max(...pos)) + 0.03);
  const step = Math.ceil((hi - lo + 1) / max);
  const out: number[] = [];
  for (let e = lo; e <= hi; e += step) out.push(2 ** e);
  return out;
}

const expTick = (x: number) => x.toExponential(0).replace("e+", "e");

/** Registry order of methods and formats: fixes colours and legend order. */
export interface Names {
  readonly methods: readonly string[];
  readonly formats: readonly string[];
}

export const presentIn = (all: readonly string[], present: readonly string[]) => [
  ...all.filter((n) => present.includes(n)),
  ...[...new Set(present)].filter((n) => !all.includes(n)),
];

const FONT = 11;
/** Space for labels of a band axis (rough: 6.2 px a character at 11 px). */
export const labelWidth = (labels: readonly string[]) =>
  Math.min(260, 12 + Math.max(0, ...labels.map((l) => l.length)) * (FONT * 0.6));

export const nonRepNote = (nonRep: boolean): Part[] =>
  nonRep
    ? [
      " ",
      {
        text:
          "† Measured on a software adapter: the times measure a CPU emulating a GPU and are not representative of any GPU.",
        strong: true,
      },
    ]
    : [];

function table(
  columns: readonly Column[],
  rows: readonly (readonly Cell[])[],
  caption?: Part[],
): TableBlock {
  return { type: "table", columns, rows, caption, sortable: true };
}

const n = (value: number, text: string, extra: Partial<Cell> = {}): Cell => ({
  text,
  sort: value,
  ...extra,
});
const s = (text: string, extra: Partial<Cell> = {}): Cell => ({ text, ...extra });

// --- trade-offs --------------------------------------------------------------------------------

const lengthsOf = (xs: readonly { contextLength: number }[]) =>
  [...new Set(xs.map((x) => x.contextLength))].sort((a, b) => a - b);

/** Each context length's Pareto front (analysis.ts paretoFront), concatenated. */
function frontsByLength<P extends { readonly contextLength: number }>(
  points: readonly P[],
  x: (p: P) => number,
  y: (p: P) => number,
  higherYIsBetter: boolean,
): P[] {
  return lengthsOf(points).flatMap((N) =>
    paretoFront(points.filter((p) => p.contextLength === N), x, y, higherYIsBetter)
  );
}

/** Plot options of a trade-off figure: one facet per context length, a grid. */
function lengthFacets(points: readonly { contextLength: number }[], marginRight = 20) {
  return {
    width: Math.max(420, 300 * lengthsOf(points).length),
    height: 300,
    marginRight,
    marginBottom: 40,
    grid: true,
    fx: { label: "context length (tokens)", tickFormat: tokens, padding: 0.18 },
  };
}

/** The log x axis of actual KV compression against fp16. */
function compressionAxis(values: readonly number[]) {
  return {
    type: "log",
    label: "KV compression vs fp16 (×) →",
    ticks: octaves(values),
    tickFormat: (x: number) => `${x}`,
  };
}

/** The dashed line through each facet's Pareto front. */
function frontLine(fronts: readonly object[], x: string, y: string) {
  return Plot.line(fronts, { x, y, fx: "contextLength", stroke: "#999", strokeDasharray: "4,3" });
}

/** Colour by method, symbol by format: the legends of variant points. */
function variantLegends(points: readonly NeedlePoint[], names: Names) {
  return {
    color: {
      ...nameColours(names.methods, points.map((p) => p.variant.method)),
      legend: true,
      label: "method",
    },
    symbol: {
      legend: true,
      label: "format",
      domain: presentIn(names.formats, points.map((p) => p.variant.format)),
    },
  };
}

/** One dot per variant point: stroke by method, symbol by format. */
function variantDots(points: readonly NeedlePoint[], x: string, y: string, extra = {}) {
  return Plot.dot(points, {
    x,
    y,
    fx: "contextLength",
    stroke: (p: NeedlePoint) => p.variant.method,
    symbol: (p: NeedlePoint) => p.variant.format,
    r: 4,
    strokeWidth: 1.5,
    ...extra,
  });
}

/** Needle retrieval rate against actual KV compression, faceted by context length. */
export function needleTradeoff(
  id: string,
  points: readonly NeedlePoint[],
  names: Names,
): FigureBlock {
  const fronts = frontsByLength(points, (p) => p.compression, (p) => p.rate, true);
  const svg = draw(id, {
    ...lengthFacets(points),
    x: compressionAxis(points.map((p) => p.compression)),
    y: { domain: [0, 1], label: "↑ needle retrieval rate", tickFormat: (x: number) => pct(x, 0) },
    ...variantLegends(points, names),
    marks: [
      frontLine(fronts, "compression", "rate"),
      variantDots(points, "compression", "rate", {
        title: (p: NeedlePoint) => `${p.label} N=${p.contextLength}: ${p.retrieved}/${p.cells}`,
      }),
    ],
  });
  return {
    type: "figure",
    id,
    title: "Needle retrieval against KV compression",
    caption: [
      "Each point is one method × format × budget at one context length: the share of its needle cells (all depths, all runs) whose attention output still points at the needle (cosine > 0.9), against the actual KV compression (fp16 bytes ÷ its bytes, from allocations). ",
      { text: "Up and to the right is better", strong: true },
      "; the dashed line joins the Pareto-optimal points (nothing else retrieves as well at as much compression).",
    ],
    svg,
    table: table(
      [
        { label: "method + format, budget" },
        { label: "N", numeric: true },
        { label: "compression", numeric: true },
        { label: "KV bytes", numeric: true },
        { label: "retrieved", numeric: true },
        { label: "mean cosine", numeric: true },
        { label: "Pareto" },
      ],
      points.map((p) => [
        s(p.label),
        n(p.contextLength, tokens(p.contextLength)),
        n(p.compression, times(p.compression)),
        n(p.kvBytes, bytes(p.kvBytes)),
        n(p.rate, `${p.retrieved}/${p.cells}`),
        n(p.cosine, p.cosine.toFixed(3)),
        s(fronts.includes(p) ? "yes" : ""),
      ]),
    ),
  };
}

/** Mean needle cosine against KV bytes (absolute), faceted by context length. */
export function cosineVsBytes(
  id: string,
  points: readonly NeedlePoint[],
  names: Names,
): FigureBlock {
  const fronts = frontsByLength(points, (p) => -p.kvBytes, (p) => p.cosine, true);
  const svg = draw(id, {
    ...lengthFacets(points),
    x: {
      type: "log",
      label: "← KV bytes (one layer)",
      ticks: octaves(points.map((p) => p.kvBytes), 4),
      tickFormat: bytes,
    },
    y: { label: "↑ mean needle cosine", domain: [Math.min(0, ...points.map((p) => p.cosine)), 1] },
    ...variantLegends(points, names),
    marks: [
      Plot.ruleY([0.9], { stroke: "#2a9d8f", strokeDasharray: "2,2" }),
      frontLine(fronts, "kvBytes", "cosine"),
      variantDots(points, "kvBytes", "cosine"),
    ],
  });
  return {
    type: "figure",
    id,
    title: "Needle cosine against KV bytes",
    caption: [
      "The mean cosine between attention's output and the planted needle value (1 = the needle comes back exactly; the dotted line at 0.9 is the retrieval threshold) against the bytes the cache really occupies for one layer. ",
      { text: "Up and to the left is better", strong: true },
      "; the dashed line joins the Pareto-optimal points. The cosine separates blurring (quantization: slightly below 1) from eviction (near 0).",
    ],
    svg,
    table: table(
      [
        { label: "method + format, budget" },
        { label: "N", numeric: true },
        { label: "KV bytes", numeric: true },
        { label: "mean cosine", numeric: true },
        { label: "cells", numeric: true },
      ],
      points.map((p) => [
        s(p.label),
        n(p.contextLength, tokens(p.contextLength)),
        n(p.kvBytes, bytes(p.kvBytes)),
        n(p.cosine, p.cosine.toFixed(3)),
        n(p.cells, String(p.cells)),
      ]),
    ),
  };
}

/** Relative error of the attention output against compression, faceted by context length. */
export function errorTradeoff(
  id: string,
  points: readonly ErrorPoint[],
  names: Names,
): FigureBlock {
  const fronts = frontsByLength(points, (p) => p.compression, (p) => p.relError, false);
  const svg = draw(id, {
    ...lengthFacets(points, 30),
    x: compressionAxis(points.map((p) => p.compression)),
    y: {
      type: "log",
      label: "↓ relative error of the attention output",
      ticks: decades(points.map((p) => p.relError)),
      tickFormat: expTick,
    },
    color: {
      ...nameColours(names.formats, points.map((p) => p.format)),
      legend: true,
      label: "format",
    },
    marks: [
      frontLine(fronts, "compression", "relError"),
      Plot.dot(points, {
        x: "compression",
        y: "relError",
        fx: "contextLength",
        fill: "format",
        r: 4,
      }),
      Plot.text(points, {
        x: "compression",
        y: "relError",
        fx: "contextLength",
        text: "format",
        dx: 6,
        textAnchor: "start",
        fontSize: 9,
      }),
    ],
  });
  return {
    type: "figure",
    id,
    title: "Attention error against KV compression",
    caption: [
      "Each point is one cache format at one context length (kernel suite, mean over runs): ‖o − o_ref‖ / ‖o_ref‖ of the decode-attention output against float64 attention over the unquantized keys and values, against the actual compression. ",
      { text: "Down and to the right is better", strong: true },
      "; the dashed line joins the Pareto-optimal formats.",
    ],
    svg,
    table: table(
      [
        { label: "format" },
        { label: "bits", numeric: true },
        { label: "N", numeric: true },
        { label: "compression", numeric: true },
        { label: "KV bytes", numeric: true },
        { label: "rel. error", numeric: true },
      ],
      points.map((p) => [
        s(p.format, { href: formatHref(p.format) }),
        n(p.bits, String(p.bits)),
        n(p.contextLength, tokens(p.contextLength)),
        n(p.compression, times(p.compression)),
        n(p.kvBytes, bytes(p.kvBytes)),
        n(p.relError, num(p.relError)),
      ]),
    ),
  };
}

// --- needle heatmap ----------------------------------------------------------------------------

/** Depth × length per variant: one row of cells per variant, one column group per length. */
export function needleHeatmap(
  id: string,
  title: string,
  cells: readonly NeedleCell[],
  where: Part[],
): FigureBlock {
  const labels = [...new Set(cells.map((c) => c.label))];
  const lengths = lengthsOf(cells);
  const depths = [...new Set(cells.map((c) => c.depth))].sort((a, b) => a - b);
  const left = labelWidth(labels);
  const svg = draw(id, {
    width: Math.max(360, left + 40 + lengths.length * Math.max(90, depths.length * 30)),
    height: 70 + labels.length * 22,
    marginLeft: left,
    marginBottom: 36,
    padding: 0.06,
    fx: { label: "context length (tokens)", tickFormat: tokens, padding: 0.08 },
    x: { domain: depths, label: "needle depth", tickFormat: (d: number) => pct(d, 0) },
    y: { domain: labels, label: null },
    color: {
      type: "threshold",
      domain: [0.5, 0.9],
      range: ["#e76f51", "#f4d35e", "#2a9d8f"],
      legend: true,
      label: "needle cosine (> 0.9 retrieved)",
      tickFormat: (x: number) => String(x),
    },
    marks: [
      Plot.cell(cells, {
        x: "depth",
        y: "label",
        fx: "contextLength",
        fill: "cosine",
        title: (c: NeedleCell) =>
          `${c.label} N=${c.contextLength} depth ${pct(c.depth, 0)}: cos ${c.cosine.toFixed(3)}${
            c.kept ? "" : " (evicted)"
          }`,
      }),
      Plot.text(cells, {
        x: "depth",
        y: "label",
        fx: "contextLength",
        text: (c: NeedleCell) => (c.retrieved ? "✓" : c.kept ? "✗" : "–"),
        fill: "black",
        fontSize: 10,
      }),
    ],
  });
  return {
    type: "figure",
    id,
    title,
    caption: [
      ...where,
      "Each cell is one needle: one key/value planted at that depth of a context of that length, then decode attention over the stored (compressed) cache. Colour is the cosine between attention's output and the needle value: ",
      { text: "green (> 0.9, ✓ retrieved) is better", strong: true },
      ", yellow is blurred, red is lost; – marks a needle the method evicted, ✗ one kept but not retrieved.",
    ],
    svg,
    table: table(
      [
        { label: "method + format, budget" },
        { label: "N", numeric: true },
        { label: "depth", numeric: true },
        { label: "cosine", numeric: true },
        { label: "retrieved" },
        { label: "needle kept" },
      ],
      cells.map((c) => [
        s(c.label),
        n(c.contextLength, tokens(c.contextLength)),
        n(c.depth, pct(c.depth, 0)),
        n(c.cosine, c.cosine.toFixed(3)),
        s(c.retrieved ? "yes" : "no"),
        s(c.kept ? "yes" : "no"),
      ]),
    ),
  };
}

// --- efficiency: kernel suite ------------------------------------------------------------------

type DecodeMetric = "ms" | "gbPerSec" | "bandwidthFraction";

const DECODE_METRICS: Record<
  DecodeMetric,
  {
    title: string;
    axis: string;
    better: string;
    what: string;
    fmt: (x: number) => string;
    log: boolean;
  }
> = {
  ms: {
    title: "Decode-attention time against context length",
    axis: "↓ decode attention time (ms)",
    better: "Lower is better",
    what:
      "the median GPU time of one decode-attention step (both split-K passes) over the stored cache",
    fmt: ms,
    log: true,
  },
  gbPerSec: {
    title: "Decode bandwidth against context length",
    axis: "↑ bytes moved per second (GB/s)",
    better: "Higher is better",
    what: "the bytes one decode step moves (cache, query, partials, output) per second",
    fmt: (x) => `${num(x)} GB/s`,
    log: true,
  },
  bandwidthFraction: {
    title: "Bandwidth fraction against context length",
    axis: "↑ fraction of the copy kernel's bandwidth",
    better: "Higher is better; 1 is the copy kernel's speed",
    what:
      "decode bandwidth as a fraction of the copy kernel's bandwidth measured in the same run (the roofline; the dotted line is the fp16 target of 0.7)",
    fmt: (x) => pct(x),
    log: false,
  },
};

/** One kernel-suite timing metric against context length, a line per format, for one run. */
export function decodeFigure(
  id: string,
  metric: DecodeMetric,
  recs: readonly DecodeRec[],
  names: Names,
): FigureBlock {
  const formats = names.formats;
  const def = DECODE_METRICS[metric];
  const lengths = lengthsOf(recs);
  const nonRep = recs.some((r) => !r.representative);
  const data = [...recs].sort((a, b) =>
    formats.indexOf(a.format) - formats.indexOf(b.format) || a.contextLength - b.contextLength
  );
  const svg = draw(id, {
    width: 560,
    height: 300,
    marginLeft: 56,
    marginRight: 50,
    grid: true,
    subtitle: nonRep ? "† software adapter: times not representative" : undefined,
    x: {
      type: lengths.length > 1 ? "log" : "point",
      ...(lengths.length > 1 ? { base: 2, ticks: lengths } : {}),
      label: "context length (tokens) →",
      tickFormat: tokens,
    },
    y: {
      type: def.log ? "log" : "linear",
      label: def.axis,
      ...(metric === "bandwidthFraction"
        ? { domain: [0, Math.max(1, ...recs.map((r) => r.bandwidthFraction))] }
        : {}),
    },
    color: { ...nameColours(formats, recs.map((r) => r.format)), legend: true, label: "format" },
    marks: [
      ...(metric === "bandwidthFraction"
        ? [Plot.ruleY([0.7], { stroke: "#2a9d8f", strokeDasharray: "2,2" })]
        : []),
      Plot.line(data, { x: "contextLength", y: metric, stroke: "format", z: "format" }),
      Plot.dot(data, { x: "contextLength", y: metric, fill: "format", r: 3 }),
      Plot.text(
        data,
        Plot.selectLast({
          x: "contextLength",
          y: metric,
          z: "format",
          text: "format",
          dx: 5,
          textAnchor: "start",
          fontSize: 9,
        }),
      ),
    ],
  });
  return {
    type: "figure",
    id,
    title: def.title,
    caption: [
      `Kernel suite, one attention layer (B=${
        recs[0]?.batchSize ?? "?"
      }): ${def.what}, for each cache format. `,
      { text: `${def.better}.`, strong: true },
      ...nonRepNote(nonRep),
    ],
    svg,
    table: table(
      [
        { label: "format" },
        { label: "N", numeric: true },
        { label: "time", numeric: true },
        { label: "GB/s", numeric: true },
        { label: "of copy", numeric: true },
      ],
      data.map((r) => [
        s(r.format, { href: formatHref(r.format) }),
        n(r.contextLength, tokens(r.contextLength)),
        n(r.ms, ms(r.ms), { nonRep: !r.representative }),
        n(r.gbPerSec, num(r.gbPerSec), { nonRep: !r.representative }),
        n(r.bandwidthFraction, pct(r.bandwidthFraction), { nonRep: !r.representative }),
      ]),
    ),
  };
}

/** Relative error against bits per value, one point per format and length. */
export function errorBitsFigure(id: string, points: readonly ErrorPoint[]): FigureBlock {
  const lengths = lengthsOf(points);
  const bits = [...new Set(points.map((p) => p.bits))].sort((a, b) => a - b);
  const svg = draw(id, {
    width: 560,
    height: 300,
    marginTop: 30,
    marginRight: 60,
    grid: true,
    x: { type: "log", base: 2, ticks: bits, label: "bits per stored value →", tickFormat: String },
    y: {
      type: "log",
      label: "↓ relative error of the attention output",
      ticks: decades(points.map((p) => p.relError)),
      tickFormat: expTick,
    },
    color: {
      type: "ordinal",
      legend: true,
      label: "context length",
      domain: lengths,
      range: lengths.map((_, i) => PALETTE[i % PALETTE.length]),
      tickFormat: tokens,
    },
    marks: [
      Plot.dot(points, { x: "bits", y: "relError", stroke: "contextLength", r: 4 }),
      Plot.text(
        points,
        Plot.selectLast({
          x: "bits",
          y: "relError",
          z: "format",
          text: "format",
          dx: 7,
          textAnchor: "start",
          fontSize: 9,
        }),
      ),
    ],
  });
  return {
    type: "figure",
    id,
    title: "Attention error against bits",
    caption: [
      "Kernel suite: the relative error of the decode-attention output against float64 attention, for each cache format at its code width (kivi and int formats at 2, 4, 8 bits; fp16, fp32), one point per context length. ",
      { text: "Lower is better", strong: true },
      "; at equal bits, the lower format stores the same budget more faithfully.",
    ],
    svg,
    table: table(
      [
        { label: "format" },
        { label: "bits", numeric: true },
        { label: "N", numeric: true },
        { label: "rel. error", numeric: true },
      ],
      points.map((p) => [
        s(p.format, { href: formatHref(p.format) }),
        n(p.bits, String(p.bits)),
        n(p.contextLength, tokens(p.contextLength)),
        n(p.relError, num(p.relError)),
      ]),
    ),
  };
}

// --- efficiency: model suite -------------------------------------------------------------------

type ModelMetric = "ttftMs" | "decodeTokensPerSec" | "peakGpuBytes";

const MODEL_METRICS: Record<
  ModelMetric,
  { title: string; axis: string; better: string; what: string; fmt: (x: number) => string }
> = {
  ttftMs: {
    title: "Time to first token against prompt length",
    axis: "↓ TTFT (ms)",
    better: "Lower is better",
    what: "the dense prefill of the prompt, from submit to GPU idle",
    fmt: ms,
  },
  decodeTokensPerSec: {
    title: "Decode throughput against prompt length",
    axis: "↑ decode tokens/s",
    better: "Higher is better",
    what: "greedy decode tokens per second over all sequences (readbacks included)",
    fmt: (x) => `${num(x)} tok/s`,
  },
  peakGpuBytes: {
    title: "Peak GPU memory against batch size",
    axis: "↓ peak GPU memory",
    better: "Lower is better",
    what: "the peak of all live kvlab allocations during the run, weights included",
    fmt: bytes,
  },
};

/** A model-suite metric against prompt length (or batch size for memory), a line per format. */
export function modelFigure(
  id: string,
  metric: ModelMetric,
  recs: readonly GenerateRec[],
  names: Names,
): FigureBlock {
  const formats = names.formats;
  const def = MODEL_METRICS[metric];
  const xKey = metric === "peakGpuBytes" ? "batchSize" : "contextLength";
  const xs = [...new Set(recs.map((r) => r[xKey]))].sort((a, b) => a - b);
  const models = [...new Set(recs.map((r) => r.model))];
  const timing = metric !== "peakGpuBytes";
  const nonRep = timing && recs.some((r) => !r.representative);
  const data = [...recs].sort((a, b) =>
    a.model.localeCompare(b.model) || formats.indexOf(a.format) - formats.indexOf(b.format) ||
    a[xKey] - b[xKey]
  );
  const series = (r: GenerateRec) =>
    metric === "peakGpuBytes" ? `${r.format} T=${r.contextLength}` : r.format;
  const svg = draw(id, {
    width: Math.max(460, 300 * models.length),
    height: 300,
    marginLeft: 64,
    marginRight: 60,
    grid: true,
    subtitle: nonRep ? "† software adapter: times not representative" : undefined,
    fx: models.length > 1 ? { label: "model" } : undefined,
    x: {
      type: xs.length > 1 ? "log" : "point",
      ...(xs.length > 1 ? { base: 2, ticks: xs } : {}),
      label: metric === "peakGpuBytes" ? "batch size →" : "prompt length (tokens) →",
      tickFormat: metric === "peakGpuBytes" ? String : tokens,
    },
    y: {
      type: metric === "peakGpuBytes" ? "linear" : "log",
      label: def.axis,
      ...(metric === "peakGpuBytes" ? { tickFormat: bytes, zero: true } : {}),
    },
    color: { ...nameColours(formats, recs.map((r) => r.format)), legend: true, label: "format" },
    marks: [
      Plot.line(data, {
        x: xKey,
        y: metric,
        stroke: "format",
        z: series,
        fx: models.length > 1 ? "model" : undefined,
      }),
      Plot.dot(data, {
        x: xKey,
        y: metric,
        fill: "format",
        r: 3,
        fx: models.length > 1 ? "model" : undefined,
      }),
    ],
  });
  return {
    type: "figure",
    id,
    title: def.title,
    caption: [
      `Model suite (${models.join(", ")}): ${def.what}, for each cache format. `,
      { text: `${def.better}.`, strong: true },
      ...(metric === "peakGpuBytes" && xs.length < 2
        ? [" This run measured one batch size; more points appear when runs use several."]
        : []),
      ...nonRepNote(nonRep),
    ],
    svg,
    table: table(
      [
        { label: "model" },
        { label: "format" },
        { label: "T", numeric: true },
        { label: "B", numeric: true },
        { label: "TTFT", numeric: true },
        { label: "decode tok/s", numeric: true },
        { label: "KV bytes", numeric: true },
        { label: "peak", numeric: true },
      ],
      data.map((r) => [
        s(r.model, { code: true }),
        s(r.format, { href: formatHref(r.format) }),
        n(r.contextLength, tokens(r.contextLength)),
        n(r.batchSize, String(r.batchSize)),
        n(r.ttftMs, ms(r.ttftMs), { nonRep: !r.representative }),
        n(r.decodeTokensPerSec, num(r.decodeTokensPerSec), { nonRep: !r.representative }),
        n(r.kvBytes, bytes(r.kvBytes)),
        n(r.peakGpuBytes, bytes(r.peakGpuBytes)),
      ]),
    ),
  };
}
