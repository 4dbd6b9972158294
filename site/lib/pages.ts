// Builds the site model (model.ts) from loaded results: every page, its blocks and figures, and
// the per-run downloads. Pure apart from Plot's drawing; the Astro templates render the result.
//
// Pages: the overview with a leaderboard per adapter, the task runner's results (per model:
// task-family table, score against compression, NIAH heatmaps, largest batch), trade-offs,
// needle heatmaps, efficiency, a page per run, per method and per format (every registry entry,
// and every name records use).

import {
  errorPoints,
  fp16Decode,
  type HardwareGroup,
  hardwareGroups,
  type Leaderboard,
  leaderboard,
  type MetricDef,
  needleCells,
  needlePoints,
  type Variant,
  variantLabel,
  variantOf,
  variantOrder,
} from "./analysis.ts";
import { toCsv } from "./csv.ts";
import { budgetLabel, bytes, colourColumn, ms, num, pct, times, tokens } from "./fmt.ts";
import {
  type Adapter,
  type DecodeRec,
  type GenerateRec,
  isDecode,
  isGenerate,
  isMaxBatch,
  isNeedle,
  isSample,
  type Loaded,
  type MaxBatchRec,
  type NeedleRec,
  type Rec,
  type Run,
  type SampleRec,
} from "./load.ts";
import {
  type Block,
  type Cell,
  type Column,
  type Download,
  type FigureBlock,
  finishPage,
  formatHref,
  methodHref,
  nameSlug,
  type Page,
  type Part,
  runHref,
  type SiteModel,
  type TableBlock,
} from "./model.ts";
import {
  cosineVsBytes,
  decodeFigure,
  errorBitsFigure,
  errorTradeoff,
  modelFigure,
  type Names,
  needleHeatmap,
  needleTradeoff,
} from "./plots.ts";
import { type FormatPage, formatPages, type MethodPage, methodPages } from "./registry.ts";
import { accuracyFigure, batchFigure, taskHeatmap } from "./task_plots.ts";
import {
  batchPoints,
  familyTable,
  heatCells,
  modelLabelText,
  modelNote,
  type TaskModel,
  taskModels,
  taskPoints,
  type TaskVariant,
  taskVariantLabel,
  taskVariantOf,
  taskVariantOrder,
} from "./tasks.ts";

export const SITE_TITLE = "kvlab report";

// --- small builders ----------------------------------------------------------------------------

const h2 = (text: string, id?: string): Block => ({ type: "heading", level: 2, text, id });
const h3 = (text: string, id?: string): Block => ({ type: "heading", level: 3, text, id });
const p = (...parts: Part[]): Block => ({ type: "p", parts });
const link = (text: string, href: string, code = false): Part => ({ text, href, code });
const code = (text: string): Part => ({ text, code: true });
const cell = (text: string, extra: Partial<Cell> = {}): Cell => ({ text, ...extra });
const ncell = (value: number, text: string, extra: Partial<Cell> = {}): Cell => ({
  text,
  sort: value,
  ...extra,
});
const safeId = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, "-");

function adapterText(a: Adapter): string {
  const parts = [a.description, a.vendor && `vendor ${a.vendor}`, a.architecture].filter(Boolean);
  return parts.join(", ");
}

function adapterBanner(a: Adapter, representative: boolean): Block {
  if (a.fallback || !representative) {
    return {
      type: "banner",
      tone: "warn",
      parts: [
        { text: "Software adapter. ", strong: true },
        `${a.description} is a CPU emulating a GPU: bytes, errors and needle results are real, but every timing from it († below) measures a CPU and is not representative of any GPU.`,
      ],
    };
  }
  return {
    type: "banner",
    tone: "info",
    parts: [{ text: "GPU. ", strong: true }, `Measured on ${adapterText(a)}.`],
  };
}

// --- the overview ------------------------------------------------------------------------------

function metricText(def: MetricDef, value: number): string {
  switch (def.kind) {
    case "rate":
      return pct(value, 0);
    case "ratio":
      return times(value);
    case "bytes":
      return bytes(value);
    case "cosine":
      return value.toFixed(3);
    case "error":
      return num(value);
    case "score":
      return pct(value);
  }
}

/** A leaderboard as a colour-coded, sortable table. */
export function leaderboardTable(board: Leaderboard, id: string): TableBlock {
  const columns: Column[] = [
    { label: "method + format, budget", note: "full cache: format only" },
    ...board.metrics.map((m) => ({
      label: m.label,
      note: m.note,
      numeric: true,
      group: m.group,
    })),
  ];
  const colours = board.metrics.map((m) =>
    colourColumn(board.rows.map((r) => r.metrics[m.id]?.value), m.higherIsBetter, m.log)
  );
  const rows = board.rows.map((row, i) => {
    const v = row.variant;
    const first = cell(variantLabel(v), {
      href: v.method === "full" ? formatHref(v.format) : methodHref(v.method),
      sort: i,
      title: v.method === "full"
        ? `${v.format}: every token kept, stored as ${v.format}`
        : `${v.method} keeping ${budgetLabel(v)} of the context, stored as ${v.format}`,
    });
    return [
      first,
      ...board.metrics.map((m, j) => {
        const metric = row.metrics[m.id];
        if (!metric) return cell("—", { title: "not measured" });
        const nonRep = Boolean(m.timing) && !metric.representative;
        return ncell(metric.value, metric.text ?? metricText(m, metric.value), {
          bg: colours[j][i],
          title: metric.source + (nonRep ? " — software adapter: not representative" : ""),
          nonRep,
        });
      }),
    ];
  });
  return {
    type: "table",
    id,
    columns,
    rows,
    sortable: true,
    caption: [
      "Rows: each cache format with every token kept, then each eviction method × format × budget. Cells are coloured from worst (red) to best (green) within the column; hover a cell for the run and context length it comes from. Single values are taken at the longest context length measured; speedups compare with fp16 in the same run.",
    ],
  };
}

function overviewPage(
  loaded: Loaded,
  groups: readonly HardwareGroup[],
  order: (a: Variant, b: Variant) => number,
  roots: readonly string[],
): Page {
  const runs = loaded.runs;
  const nRecords = runs.reduce((s, r) => s + r.records.length, 0);
  const blocks: Block[] = [
    p(
      "kvlab measures what each KV-cache compression method costs in accuracy and buys in memory and speed, in one harness on WebGPU. This report is built from ",
      { text: `${runs.length} run${runs.length === 1 ? "" : "s"}`, href: "/runs/" },
      ` (${nRecords} records) in ${
        roots.map((r) => `${r}`).join(", ")
      }. Every number comes from a results file written by `,
      code("deno task bench"),
      "; each run's page gives its exact command.",
    ),
  ];
  const errors = loaded.problems.filter((x) => x.severity === "error");
  if (errors.length > 0) {
    blocks.push({
      type: "banner",
      tone: "error",
      parts: [
        {
          text: `${errors.length} problem${errors.length === 1 ? "" : "s"} reading results. `,
          strong: true,
        },
        "Runs with a malformed file are listed with the error and left out of every table and figure: ",
        ...errors.slice(0, 5).flatMap((e, i) => [i ? "; " : "", code(e.message)]),
        errors.length > 5 ? `; and ${errors.length - 5} more (see the runs).` : ".",
      ],
    });
  }
  if (groups.length === 0) {
    blocks.push(p("No records yet: run ", code("deno task bench"), " and build again."));
  }
  const records = runs.flatMap((r) => r.records);
  const models = taskModels(records);
  if (models.length > 0) {
    blocks.push(
      p(
        "Accuracy columns: first the task runner's task families (mean score over every scored sample, pooled over the models below — see ",
        link("Tasks", "/tasks/"),
        " for each model on its own), then the kernel suite's: the share of planted needles decode attention still retrieves over the compressed cache, the mean needle cosine, and the relative error of the attention output.",
      ),
      {
        type: "list",
        items: models.map((m) => [
          code(m.model),
          ": ",
          { text: modelLabelText(m), strong: true },
          ". ",
          modelNote(m),
        ]),
      },
    );
  } else {
    blocks.push(
      p(
        "Accuracy columns: no task-runner records exist yet, so accuracy is the kernel suite's: the share of planted needles that decode attention still retrieves over the compressed cache, the mean needle cosine, and the relative error of the attention output. Task families (RULER, retrieval, LongBench) appear as columns before them when task records exist (",
        code("deno task bench --suite tasks"),
        ").",
      ),
    );
  }
  for (const g of groups) {
    blocks.push(h2(`Leaderboard: ${g.adapter.description}`, g.id));
    blocks.push(adapterBanner(g.adapter, g.representative));
    blocks.push(
      p(
        "Runs: ",
        ...g.runs.flatMap((slug, i) => [i ? ", " : "", link(slug, runHref(slug), true)]),
        ".",
      ),
    );
    blocks.push(leaderboardTable(leaderboard(g.records, order), `leaderboard-${g.id}`));
  }
  blocks.push(h2("Runs", "runs"), runsTable(runs));
  blocks.push(
    h2("Pages"),
    {
      type: "list",
      items: [
        [
          link("Tasks", "/tasks/"),
          ": the task runner per model: task families, score against compression, NIAH heatmaps, largest batch in a memory budget.",
        ],
        [
          link("Trade-offs", "/tradeoffs/"),
          ": score against KV bytes and compression, Pareto fronts.",
        ],
        [link("Needles", "/needles/"), ": depth × length heatmaps per method and format."],
        [
          link("Efficiency", "/efficiency/"),
          ": decode time, bandwidth, TTFT and throughput against length; error against bits.",
        ],
        [
          link("Methods", "/methods/"),
          " and ",
          link("formats", "/formats/"),
          ": what each does, its parameters and paper, its results.",
        ],
      ],
    },
  );
  return { path: "", title: "Overview", section: "overview", blocks };
}

function runsTable(runs: readonly Run[]): TableBlock {
  return {
    type: "table",
    id: "runs-table",
    sortable: true,
    columns: [
      { label: "run" },
      { label: "suite" },
      { label: "records", numeric: true },
      { label: "adapter" },
      { label: "timings" },
      { label: "date" },
      { label: "commit" },
      { label: "status" },
    ],
    rows: runs.map((run) => {
      const adapters = [...new Set(run.records.map((r) => r.adapter.description))];
      const fallback = run.records.some((r) => !r.representative);
      const times = run.records.map((r) => r.timestamp).filter(Boolean).sort();
      const commits = [...new Set(run.records.map((r) => r.commit))];
      return [
        cell(run.slug, { href: runHref(run.slug), code: true }),
        cell(run.suite),
        ncell(run.records.length, String(run.records.length)),
        cell(adapters.join(", ") || "—"),
        cell(run.records.length === 0 ? "—" : fallback ? "software adapter" : "GPU", {
          nonRep: fallback,
        }),
        cell(times.length ? times[times.length - 1].slice(0, 10) : "—"),
        cell(commits.map((c) => c.slice(0, 12)).join(", ") || "—", { code: true }),
        cell(
          run.failed
            ? "error: not read"
            : run.records.length === 0
            ? "no records"
            : run.problems.length
            ? "warning"
            : "ok",
          run.failed ? { bg: "#f4c7c3" } : {},
        ),
      ];
    }),
  };
}

// --- trade-offs, needles, efficiency -----------------------------------------------------------

function tradeoffsPage(records: readonly Rec[], names: Names, order: TaskOrder): Page {
  const blocks: Block[] = [
    p(
      "What each method and format buys in memory against what it costs in accuracy. Task runner: per model, the mean task score against the actual compression, one point per method × format × budget on each task and context length. Kernel suite: one point per method × budget (× format) at each context length, pooled over runs and needle depths; facets are context lengths.",
    ),
  ];
  const taskBlocks = taskSections(records, names, order, "tradeoff-task", { accuracy: true });
  if (taskBlocks.length > 0) blocks.push(...taskBlocks, h2("Kernel suite", "tradeoff-kernels"));
  const points = needlePoints(records);
  if (points.length > 0) {
    blocks.push(needleTradeoff("tradeoff-needle", points, names));
    blocks.push(cosineVsBytes("tradeoff-cosine", points, names));
  } else {
    blocks.push(
      p("No needle records yet (the kernel suite writes them with ", code("--needle-depths"), ")."),
    );
  }
  const errs = errorPoints(records);
  if (errs.length > 0) blocks.push(errorTradeoff("tradeoff-error", errs, names));
  else blocks.push(p("No kernel decode records yet."));
  return { path: "tradeoffs/", title: "Trade-offs", section: "tradeoffs", blocks };
}

function runHeatmaps(
  runs: readonly Run[],
  order: (a: Variant, b: Variant) => number,
  filter: (r: NeedleRec) => boolean,
  idPrefix: string,
): Block[] {
  const blocks: Block[] = [];
  for (const run of runs) {
    const recs = run.records.filter(isNeedle).filter(filter);
    if (recs.length === 0) continue;
    blocks.push(
      needleHeatmap(
        `${idPrefix}-${safeId(run.slug)}`,
        `Needle retrieval, run ${run.slug}`,
        needleCells(recs, order),
        [
          "Run ",
          link(run.slug, runHref(run.slug), true),
          ` (${recs[0].adapter.description}). `,
        ],
      ),
    );
  }
  return blocks;
}

function needlesPage(
  runs: readonly Run[],
  order: (a: Variant, b: Variant) => number,
  names: Names,
  taskOrder: TaskOrder,
): Page {
  const blocks: Block[] = [
    p(
      "Task runner: the grid tasks (",
      code("passkey"),
      ", ",
      code("kv_retrieval"),
      ", ",
      code("niah"),
      ") place a needle at each depth of contexts of each length; their heatmaps give the mean score per cell, one small grid per method variant. Kernel suite: one key/value pair planted at a depth of the context that the final query matches strongly (as a retrieval head's would), then decode attention over the stored cache; it separates eviction's failure (the needle was dropped) from quantization's (the needle was blurred).",
    ),
  ];
  const records = runs.flatMap((r) => r.records);
  const taskMaps = taskSections(records, names, taskOrder, "needles-task", { heatmaps: true });
  if (taskMaps.length > 0) blocks.push(...taskMaps, h2("Kernel suite", "needles-kernels"));
  const maps = runHeatmaps(runs, order, () => true, "needles");
  blocks.push(...(maps.length ? maps : [p("No kernel needle records yet.")]));
  return { path: "needles/", title: "Needle heatmaps", section: "needles", blocks };
}

function efficiencyPage(runs: readonly Run[], names: Names, taskOrder: TaskOrder): Page {
  const blocks: Block[] = [
    p(
      "Speed and memory against context length, per run: timings are only comparable within one run (one adapter, one process). Runs on a software adapter are marked †: their times measure a CPU.",
    ),
  ];
  let any = false;
  for (const run of runs) {
    const decodes = run.records.filter(isDecode);
    const gens = run.records.filter(isGenerate);
    if (decodes.length === 0 && gens.length === 0) continue;
    any = true;
    const id = safeId(run.slug);
    blocks.push(h2(`Run ${run.slug}`, `eff-${id}`));
    const a = (decodes[0] ?? gens[0]).adapter;
    blocks.push(adapterBanner(a, [...decodes, ...gens].every((r) => r.representative)));
    blocks.push(p("Run ", link(run.slug, runHref(run.slug), true), ` (${run.suite} suite).`));
    if (decodes.length > 0) {
      blocks.push(decodeFigure(`eff-ms-${id}`, "ms", decodes, names));
      blocks.push(decodeFigure(`eff-gbs-${id}`, "gbPerSec", decodes, names));
      blocks.push(decodeFigure(`eff-bw-${id}`, "bandwidthFraction", decodes, names));
      blocks.push(errorBitsFigure(`eff-bits-${id}`, errorPoints(decodes)));
    }
    if (gens.length > 0) {
      blocks.push(modelFigure(`eff-ttft-${id}`, "ttftMs", gens, names));
      blocks.push(modelFigure(`eff-tps-${id}`, "decodeTokensPerSec", gens, names));
      blocks.push(modelFigure(`eff-peak-${id}`, "peakGpuBytes", gens, names));
    }
  }
  if (!any) blocks.push(p("No kernel decode or model records yet."));
  blocks.push(h2("Largest batch within a memory budget", "eff-maxbatch"));
  const batch = taskSections(runs.flatMap((r) => r.records), names, taskOrder, "eff-task", {
    batch: true,
  });
  blocks.push(
    ...(batch.length ? batch : [
      p(
        "No max-batch records yet: the task runner writes them with ",
        code("--memory-budget"),
        " (e.g. ",
        code("deno task bench --suite tasks --memory-budget 8GiB"),
        ").",
      ),
    ]),
  );
  return { path: "efficiency/", title: "Efficiency", section: "efficiency", blocks };
}

// --- the task runner ---------------------------------------------------------------------------

type TaskOrder = (a: TaskVariant, b: TaskVariant) => number;

const modelSlug = (model: string) => safeId(model).replace(/^-+/, "") || "model";

/** The model's label, prominent: every task figure of this model sits under it. */
function modelBanner(m: TaskModel): Block {
  return {
    type: "banner",
    tone: m.modelKind === "builtin" || m.modelKind === "shape" ? "warn" : "info",
    parts: [
      { text: m.model, code: true },
      ": ",
      { text: modelLabelText(m), strong: true },
      ". ",
      modelNote(m),
    ],
  };
}

/** Records of one model, split by the adapter that measured them (timings never pool). */
function byModelAndAdapter(records: readonly Rec[]) {
  const out: { model: TaskModel; adapter: Adapter; records: Rec[]; id: string }[] = [];
  for (const m of taskModels(records)) {
    const mine = records.filter((r) => (isSample(r) || isMaxBatch(r)) && r.model === m.model);
    const adapters = [
      ...new Map(mine.map((r) => [r.adapter.description + r.adapter.fallback, r.adapter]))
        .values(),
    ];
    for (const [i, a] of adapters.entries()) {
      out.push({
        model: m,
        adapter: a,
        records: mine.filter((r) =>
          r.adapter.description === a.description &&
          r.adapter.fallback === a.fallback
        ),
        id: `${modelSlug(m.model)}${adapters.length > 1 ? `-${i + 1}` : ""}`,
      });
    }
  }
  return out;
}

/** The task-family table of one model: variants down, families (and tasks) across. */
export function familyTableBlock(
  records: readonly Rec[],
  model: string,
  order: TaskOrder,
  id: string,
): TableBlock {
  const t = familyTable(records, model, order);
  const variants = t.rows.map((r) => r.variant);
  const simulated = t.rows.some((r) => r.simulated);
  type Def = {
    label: string;
    note: string;
    group: string;
    better: boolean;
    log?: boolean;
    value: (r: (typeof t.rows)[number]) => number | undefined;
    text: (v: number) => string;
    timing?: boolean;
  };
  const defs: Def[] = [
    ...t.columns.map((c): Def => ({
      label: c.task ?? c.family,
      note: c.task ? `${c.family} task, mean score` : "family: mean score over its samples",
      group: "Accuracy",
      better: true,
      value: (r) => r.scores[c.id]?.value,
      text: (v) => pct(v),
    })),
    {
      label: "score vs full",
      note: "mean of score ÷ full fp16's",
      group: "Accuracy",
      better: true,
      value: (r) => r.relative ?? undefined,
      text: (v) => num(v),
    },
    {
      label: "KV bytes",
      note: "after prefill, all layers",
      group: "Memory",
      better: false,
      log: true,
      value: (r) => r.kvBytes,
      text: bytes,
    },
    {
      label: "compression",
      note: "fp16 bytes ÷ bytes, actual",
      group: "Memory",
      better: true,
      log: true,
      value: (r) => r.compression,
      text: times,
    },
    {
      label: "TTFT",
      note: "prefill + compression",
      group: "Speed",
      better: false,
      log: true,
      value: (r) => r.ttftMs,
      text: ms,
      timing: true,
    },
    {
      label: "decode tok/s",
      note: "B × steps ÷ time",
      group: "Speed",
      better: true,
      log: true,
      value: (r) => r.decodeTokensPerSec,
      text: num,
      timing: true,
    },
  ];
  const colours = defs.map((d) => colourColumn(t.rows.map(d.value), d.better, d.log));
  return {
    type: "table",
    id,
    sortable: true,
    columns: [
      { label: "method + format, budget" },
      { label: "samples", numeric: true },
      ...defs.map((d) => ({ label: d.label, note: d.note, numeric: true, group: d.group })),
      ...(simulated ? [{ label: "simulated" }] : []),
    ],
    rows: t.rows.map((row, i) => [
      cell(taskVariantLabel(row.variant, variants), {
        href: row.variant.method === "full"
          ? formatHref(row.variant.format)
          : methodHref(row.variant.method),
        sort: i,
      }),
      ncell(row.samples, String(row.samples)),
      ...defs.map((d, j) => {
        const v = d.value(row);
        if (v === undefined) return cell("—", { title: "not run, or accuracy not applicable" });
        const nonRep = Boolean(d.timing) && !row.representative;
        return ncell(v, d.text(v), {
          bg: colours[j][i],
          nonRep,
          title: nonRep ? "software adapter: not representative" : undefined,
        });
      }),
      ...(simulated ? [cell(row.simulated ? "yes" : "no")] : []),
    ]),
    caption: [
      "Rows: the full cache in each format, then each method × format × budget. Task columns: the mean score over every sample of that family (or task) at every context length; score vs full: the mean, over tasks and lengths, of the score ÷ the full fp16 cache's; memory and speed: means over the samples. Cells are coloured from worst (red) to best (green) within the column; † marks timings from a software adapter.",
    ],
  };
}

interface TaskSectionParts {
  readonly table?: boolean;
  readonly accuracy?: boolean;
  readonly heatmaps?: boolean;
  readonly batch?: boolean;
}

/** The task runner's blocks for every model (and adapter) in `records`. */
function taskSections(
  records: readonly Rec[],
  names: Names,
  order: TaskOrder,
  prefix: string,
  parts: TaskSectionParts,
): Block[] {
  const blocks: Block[] = [];
  for (const g of byModelAndAdapter(records)) {
    const samples = g.records.filter(isSample);
    const points = taskPoints(samples);
    const scored = points.filter((p) => p.score !== null);
    const cells = heatCells(samples, order);
    const batches = batchPoints(g.records, order);
    const wanted = (parts.table && samples.length > 0) || (parts.accuracy && scored.length > 0) ||
      (parts.heatmaps && cells.length > 0) || (parts.batch && batches.length > 0);
    if (!wanted) continue;
    const id = `${prefix}-${g.id}`;
    blocks.push(h2(`Model ${g.model.model}`, id), modelBanner(g.model));
    if (!g.records.every((r) => r.representative) || g.adapter.fallback) {
      blocks.push(adapterBanner(g.adapter, false));
    }
    const runs = [...new Set(g.records.map((r) => r.run))];
    blocks.push(
      p(
        `Measured on ${adapterText(g.adapter)}; runs: `,
        ...runs.flatMap((slug, i) => [i ? ", " : "", link(slug, runHref(slug), true)]),
        ".",
      ),
    );
    if (parts.table && samples.length > 0) {
      blocks.push(
        h3("Tasks by family"),
        familyTableBlock(samples, g.model.model, order, `${id}-families`),
      );
    }
    if (parts.accuracy && scored.length > 0) {
      blocks.push(accuracyFigure(`${id}-score`, points, names));
      if (points.some((x) => x.relative !== null)) {
        blocks.push(accuracyFigure(`${id}-relative`, points, names, true));
      }
    } else if (parts.accuracy && samples.length > 0) {
      blocks.push(p("No scores: accuracy is not applicable on these records (score is null)."));
    }
    if (parts.heatmaps) {
      for (const task of [...new Set(cells.map((c) => c.task))]) {
        blocks.push(
          taskHeatmap(`${id}-heat-${safeId(task)}`, cells.filter((c) => c.task === task), [
            { text: g.model.model, code: true },
            " — ",
            { text: modelLabelText(g.model), strong: true },
            `. Task ${task}. `,
          ]),
        );
      }
    }
    if (parts.batch && batches.length > 0) {
      blocks.push(batchFigure(`${id}-maxbatch`, "maxBatch", batches, names));
      blocks.push(batchFigure(`${id}-maxbatch-tps`, "decodeTokensPerSec", batches, names));
    }
  }
  return blocks;
}

function tasksPage(records: readonly Rec[], names: Names, order: TaskOrder): Page {
  const blocks: Block[] = [
    p(
      "The task runner (",
      code("deno task bench --suite tasks"),
      "): each task sample prefilled, compressed by the method, decoded greedily and scored, with the KV bytes, actual compression, TTFT and decode speed of that very run. Per model: a table of task families, the score against compression, the score relative to the full cache, depth × length heatmaps for the grid tasks (passkey, kv_retrieval, niah), and the largest batch that fits a memory budget (",
      code("--memory-budget"),
      "). What a model's scores mean is said at the top of its section.",
    ),
  ];
  const sections = taskSections(records, names, order, "tasks", {
    table: true,
    accuracy: true,
    heatmaps: true,
    batch: true,
  });
  blocks.push(
    ...(sections.length
      ? sections
      : [p("No task-runner records yet: run ", code("deno task bench --suite tasks"), ".")]),
  );
  return { path: "tasks/", title: "Task runner", section: "tasks", blocks };
}

function sampleTable(recs: readonly SampleRec[]): TableBlock {
  const variants = recs.map(taskVariantOf);
  return {
    type: "table",
    sortable: true,
    columns: [
      { label: "line", numeric: true },
      { label: "model" },
      { label: "task" },
      { label: "T", numeric: true },
      { label: "depth", numeric: true },
      { label: "method + format, budget" },
      { label: "score", numeric: true },
      { label: "prediction" },
      { label: "kept", numeric: true, note: "tokens per head" },
      { label: "KV bytes", numeric: true },
      { label: "compression", numeric: true },
      { label: "TTFT", numeric: true },
      { label: "decode tok/s", numeric: true },
      ...(recs.some((r) => r.simulated) ? [{ label: "simulated" }] : []),
    ],
    rows: recs.map((r) => {
      const nr = { nonRep: !r.representative };
      const v = taskVariantOf(r);
      const prediction = typeof r.raw.prediction === "string" ? r.raw.prediction : "";
      const answers = Array.isArray(r.raw.answers) ? r.raw.answers.join(" | ") : "";
      return [
        ncell(r.line, String(r.line)),
        cell(r.model, { code: true }),
        cell(r.task),
        ncell(r.contextLength, tokens(r.contextLength)),
        r.depth === null ? cell("—") : ncell(r.depth, pct(r.depth, 0)),
        cell(taskVariantLabel(v, variants), {
          href: v.method === "full" ? formatHref(v.format) : methodHref(v.method),
        }),
        r.score === null ? cell("n/a") : ncell(r.score, pct(r.score)),
        cell(prediction.length > 40 ? `${prediction.slice(0, 40)}…` : prediction, {
          title: `answers: ${answers}`,
          code: true,
        }),
        ncell(r.keptTokens, num(r.keptTokens)),
        ncell(r.kvBytes, bytes(r.kvBytes)),
        ncell(r.compression, times(r.compression)),
        ncell(r.ttftMs, ms(r.ttftMs), nr),
        ncell(r.decodeTokensPerSec, num(r.decodeTokensPerSec), nr),
        ...(recs.some((x) => x.simulated) ? [cell(r.simulated ? "yes" : "no")] : []),
      ];
    }),
  };
}

function maxBatchTable(recs: readonly MaxBatchRec[]): TableBlock {
  const variants = recs.map(taskVariantOf);
  return {
    type: "table",
    sortable: true,
    columns: [
      { label: "line", numeric: true },
      { label: "model" },
      { label: "method + format, budget" },
      { label: "T", numeric: true },
      { label: "memory budget", numeric: true },
      { label: "max batch", numeric: true },
      { label: "bytes/sequence", numeric: true },
      { label: "peak at max", numeric: true },
      { label: "decode tok/s", numeric: true },
      { label: "TTFT", numeric: true },
    ],
    rows: recs.map((r) => {
      const nr = { nonRep: !r.representative };
      const v = taskVariantOf(r);
      return [
        ncell(r.line, String(r.line)),
        cell(r.model, { code: true }),
        cell(taskVariantLabel(v, variants), {
          href: v.method === "full" ? formatHref(v.format) : methodHref(v.method),
        }),
        ncell(r.contextLength, tokens(r.contextLength)),
        ncell(r.memoryBudget, bytes(r.memoryBudget)),
        ncell(r.maxBatch, String(r.maxBatch)),
        ncell(r.bytesPerSequence, bytes(r.bytesPerSequence)),
        ncell(r.peakGpuBytes, bytes(r.peakGpuBytes)),
        ncell(r.decodeTokensPerSec, num(r.decodeTokensPerSec), nr),
        ncell(r.ttftMs, ms(r.ttftMs), nr),
      ];
    }),
  };
}

/** Task points of one method or format, across models (method and format pages). */
function taskPointsTable(records: readonly Rec[], keep: (v: TaskVariant) => boolean): TableBlock {
  const points = taskPoints(records).filter((x) => keep(x.variant));
  const variants = points.map((x) => x.variant);
  return {
    type: "table",
    sortable: true,
    columns: [
      { label: "model" },
      { label: "task" },
      { label: "T", numeric: true },
      { label: "method + format, budget" },
      { label: "samples", numeric: true },
      { label: "score", numeric: true },
      { label: "vs full", numeric: true },
      { label: "compression", numeric: true },
    ],
    rows: points.map((x) => [
      cell(x.model, { code: true, title: x.modelLabel ?? "real model" }),
      cell(x.task),
      ncell(x.contextLength, tokens(x.contextLength)),
      cell(taskVariantLabel(x.variant, variants)),
      ncell(x.samples, String(x.samples)),
      x.score === null ? cell("n/a") : ncell(x.score, pct(x.score)),
      x.relative === null ? cell("—") : ncell(x.relative, num(x.relative)),
      ncell(x.compression, times(x.compression)),
    ]),
    caption: [
      "Task runner: mean score per model × task × context length (model labels on hover; see ",
      link("the task page", "/tasks/"),
      " for what each model's scores mean).",
    ],
  };
}

// --- a run -------------------------------------------------------------------------------------

const jsonText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function decodeTable(
  recs: readonly DecodeRec[],
  all: readonly DecodeRec[],
  withRun = false,
): TableBlock {
  return {
    type: "table",
    sortable: true,
    columns: [
      ...(withRun ? [{ label: "run" }, { label: "adapter" }] : [{ label: "line", numeric: true }]),
      { label: "format" },
      { label: "bits", numeric: true },
      { label: "N", numeric: true },
      { label: "rel. error", numeric: true },
      { label: "KV bytes", numeric: true },
      { label: "compression", numeric: true },
      { label: "time", numeric: true },
      { label: "vs fp16", numeric: true, note: "speedup" },
      { label: "GB/s", numeric: true },
      { label: "of copy", numeric: true },
      { label: "peak", numeric: true },
    ],
    rows: recs.map((r) => {
      const base = fp16Decode(all, r);
      const nr = { nonRep: !r.representative };
      return [
        ...(withRun
          ? [cell(r.run, { href: runHref(r.run), code: true }), cell(r.adapter.description)]
          : [ncell(r.line, String(r.line))]),
        cell(r.format, { href: formatHref(r.format) }),
        ncell(r.bits, String(r.bits)),
        ncell(r.contextLength, tokens(r.contextLength)),
        ncell(r.relError, num(r.relError)),
        ncell(r.kvBytes, bytes(r.kvBytes)),
        ncell(r.compression, times(r.compression)),
        ncell(r.ms, ms(r.ms), nr),
        base ? ncell(base.ms / r.ms, times(base.ms / r.ms), nr) : cell("—"),
        ncell(r.gbPerSec, num(r.gbPerSec), nr),
        ncell(r.bandwidthFraction, pct(r.bandwidthFraction), nr),
        ncell(r.peakGpuBytes, bytes(r.peakGpuBytes)),
      ];
    }),
  };
}

function needleTable(recs: readonly NeedleRec[], withRun = false): TableBlock {
  return {
    type: "table",
    sortable: true,
    columns: [
      ...(withRun ? [{ label: "run" }] : [{ label: "line", numeric: true }]),
      { label: "method" },
      { label: "format" },
      { label: "budget" },
      { label: "N", numeric: true },
      { label: "depth", numeric: true },
      { label: "cosine", numeric: true },
      { label: "retrieved" },
      { label: "kept" },
      { label: "KV bytes", numeric: true },
      { label: "compression", numeric: true },
    ],
    rows: recs.map((r) => [
      ...(withRun
        ? [cell(r.run, { href: runHref(r.run), code: true })]
        : [ncell(r.line, String(r.line))]),
      cell(r.method, { href: methodHref(r.method) }),
      cell(r.format, { href: formatHref(r.format) }),
      cell(budgetLabel(r)),
      ncell(r.contextLength, tokens(r.contextLength)),
      ncell(r.needleDepth, pct(r.needleDepth, 0)),
      ncell(r.needleCosine, r.needleCosine.toFixed(3)),
      cell(r.retrieved ? "yes" : "no", { bg: r.retrieved ? "#d9ead3" : "#f4c7c3" }),
      cell(r.needleKept ? "yes" : "no"),
      ncell(r.kvBytes, bytes(r.kvBytes)),
      ncell(r.kvBytesFp16 / r.kvBytes, times(r.kvBytesFp16 / r.kvBytes)),
    ]),
  };
}

function generateTable(recs: readonly GenerateRec[], withRun = false): TableBlock {
  return {
    type: "table",
    sortable: true,
    columns: [
      ...(withRun ? [{ label: "run" }] : [{ label: "line", numeric: true }]),
      { label: "model" },
      { label: "format" },
      { label: "T", numeric: true },
      { label: "B", numeric: true },
      { label: "new", numeric: true },
      { label: "TTFT", numeric: true },
      { label: "prefill tok/s", numeric: true },
      { label: "decode tok/s", numeric: true },
      { label: "of roofline", numeric: true },
      { label: "KV bytes", numeric: true },
      { label: "peak", numeric: true },
    ],
    rows: recs.map((r) => {
      const nr = { nonRep: !r.representative };
      return [
        ...(withRun
          ? [cell(r.run, { href: runHref(r.run), code: true })]
          : [ncell(r.line, String(r.line))]),
        cell(r.model, { code: true }),
        cell(r.format, { href: formatHref(r.format) }),
        ncell(r.contextLength, tokens(r.contextLength)),
        ncell(r.batchSize, String(r.batchSize)),
        ncell(r.newTokens, String(r.newTokens)),
        ncell(r.ttftMs, ms(r.ttftMs), nr),
        ncell(r.prefillTokensPerSec, num(r.prefillTokensPerSec), nr),
        ncell(r.decodeTokensPerSec, num(r.decodeTokensPerSec), nr),
        ncell(r.rooflineFraction, pct(r.rooflineFraction), nr),
        ncell(r.kvBytes, bytes(r.kvBytes)),
        ncell(r.peakGpuBytes, bytes(r.peakGpuBytes)),
      ];
    }),
  };
}

const ENVELOPE_KEYS = new Set([
  "schemaVersion",
  "suite",
  "runId",
  "specHash",
  "simulated",
  "representative",
  "adapter",
  "deno",
  "kvlab",
  "commit",
  "timestamp",
]);

/** Records the site does not chart: their scalar fields, as written. */
function otherTable(recs: readonly Rec[]): TableBlock {
  const keys: string[] = [];
  for (const r of recs) {
    for (const [k, v] of Object.entries(r.raw)) {
      if (!ENVELOPE_KEYS.has(k) && (v === null || typeof v !== "object") && !keys.includes(k)) {
        keys.push(k);
      }
    }
  }
  const shown = keys.slice(0, 14);
  return {
    type: "table",
    sortable: true,
    columns: [{ label: "line", numeric: true }, ...shown.map((k) => ({ label: k }))],
    rows: recs.map((r) => [
      ncell(r.line, String(r.line)),
      ...shown.map((k) => {
        const v = r.raw[k];
        return typeof v === "number" ? ncell(v, num(v)) : cell(v === undefined ? "" : String(v));
      }),
    ]),
  };
}

function runPage(run: Run, downloads: readonly Download[]): Page {
  const blocks: Block[] = [];
  for (const prob of run.problems) {
    blocks.push({
      type: "banner",
      tone: prob.severity === "error" ? "error" : "warn",
      parts: [
        { text: prob.severity === "error" ? "Error: " : "Warning: ", strong: true },
        code(prob.message),
        prob.severity === "error"
          ? " — this run's records are not used anywhere in the report until the file is fixed."
          : "",
      ],
    });
  }
  const recs = run.records;
  const adapters = [...new Map(recs.map((r) => [r.adapter.description, r.adapter])).values()];
  const items: { term: string; parts: Part[] }[] = [
    { term: "run id", parts: [code(run.runId)] },
    { term: "suite", parts: [run.suite] },
    { term: "folder", parts: [code(run.dir)] },
  ];
  if (typeof run.spec?.command === "string") {
    items.push({ term: "command", parts: [code(run.spec.command)] });
  }
  if (typeof run.spec?.specHash === "string") {
    items.push({ term: "spec hash", parts: [code(run.spec.specHash)] });
  }
  blocks.push(h2("Run"), { type: "dl", items });
  if (adapters.length === 1) {
    blocks.push(adapterBanner(adapters[0], recs.every((r) => r.representative)));
  }

  const env: { term: string; parts: Part[] }[] = [];
  const uniq = (f: (r: Rec) => string) => [...new Set(recs.map(f))].filter(Boolean);
  env.push({
    term: "adapter",
    parts: adapters.length
      ? [
        adapters.map((a) => `${adapterText(a)}${a.fallback ? " (software fallback)" : ""}`).join(
          "; ",
        ),
      ]
      : ["— (no records)"],
  });
  env.push({
    term: "representative",
    parts: [
      recs.length === 0
        ? "—"
        : recs.every((r) => r.representative)
        ? "yes: timings are meaningful"
        : "no: timings measure a CPU (software adapter)",
    ],
  });
  env.push({ term: "Deno", parts: [uniq((r) => r.deno).join(", ") || "—"] });
  env.push({ term: "kvlab", parts: [uniq((r) => r.kvlab).join(", ") || "—"] });
  env.push({ term: "commit", parts: [code(uniq((r) => r.commit).join(", ") || "—")] });
  const ts = uniq((r) => r.timestamp).sort();
  env.push({ term: "time", parts: [ts.length ? `${ts[0]} – ${ts[ts.length - 1]}` : "—"] });
  blocks.push(h2("Environment"), { type: "dl", items: env });

  if (run.spec) {
    blocks.push(h2("Spec"), {
      type: "table",
      columns: [{ label: "field" }, { label: "value" }],
      rows: Object.entries(run.spec)
        .filter(([k]) => !["command", "specHash", "runId"].includes(k))
        .map(([k, v]) => [cell(k, { code: true }), cell(jsonText(v), { code: true })]),
    });
  }
  const targets = run.summary?.targets;
  if (Array.isArray(targets) && targets.length > 0) {
    blocks.push(h2("Targets"), {
      type: "table",
      columns: [{ label: "target" }, { label: "limit", numeric: true }, { label: "status" }, {
        label: "values",
      }],
      rows: targets.map((t: Record<string, unknown>) => [
        cell(String(t.name ?? "")),
        cell(jsonText(t.limit ?? "")),
        cell(String(t.status ?? ""), {
          bg: t.status === "met" ? "#d9ead3" : t.status === "missed" ? "#f4c7c3" : undefined,
        }),
        cell(Array.isArray(t.values) ? `${t.values.length} values` : "", {
          title: JSON.stringify(t.values ?? []),
        }),
      ]),
      caption: [
        "From summary.json: the engine's performance targets, judged on representative records at N ≥ 32K only.",
      ],
    });
  }

  blocks.push(h2("Downloads"));
  blocks.push({
    type: "list",
    items: downloads.map((d) => [link(d.path.split("/").pop()!, `/${d.path}`, true)]),
  });

  blocks.push(h2("Records"));
  if (run.failed) {
    blocks.push(
      p("Not shown: the records file has errors (above). The raw file is in the downloads."),
    );
  } else if (recs.length === 0) {
    blocks.push(
      p(
        "No records: the run wrote its spec but finished no cell (it failed, was stopped early, or is still running). Re-running its command resumes it.",
      ),
    );
  } else {
    const decodes = recs.filter(isDecode);
    const needles = recs.filter(isNeedle);
    const gens = recs.filter(isGenerate);
    const samples = recs.filter(isSample);
    const batches = recs.filter(isMaxBatch);
    const others = recs.filter((r) =>
      !isDecode(r) && !isNeedle(r) && !isGenerate(r) && !isSample(r) && !isMaxBatch(r)
    );
    if (decodes.length) {
      blocks.push(h3(`Kernel decode (${decodes.length})`), decodeTable(decodes, decodes));
    }
    if (needles.length) blocks.push(h3(`Kernel needle (${needles.length})`), needleTable(needles));
    if (gens.length) blocks.push(h3(`Model generate (${gens.length})`), generateTable(gens));
    if (samples.length) {
      blocks.push(h3(`Task samples (${samples.length})`), sampleTable(samples));
      for (const m of taskModels(samples)) blocks.push(modelBanner(m));
    }
    if (batches.length) {
      blocks.push(
        h3(`Largest batch in a memory budget (${batches.length})`),
        maxBatchTable(batches),
      );
    }
    if (samples.length || batches.length) {
      blocks.push(p("Figures: ", link("tasks", "/tasks/"), "."));
    }
    if (others.length) {
      blocks.push(
        h3(`Other records (${others.length})`),
        p("Records of a suite or kind this report does not chart yet: their fields as written."),
        otherTable(others),
      );
    }
    if (decodes.length || gens.length) {
      blocks.push(p("Figures: ", link("efficiency", `/efficiency/#eff-${safeId(run.slug)}`), "."));
    }
    if (needles.length) {
      blocks.push(p("Heatmap: ", link("needles", `/needles/#needles-${safeId(run.slug)}`), "."));
    }
  }
  return { path: `runs/${run.slug}/`, title: `Run ${run.slug}`, section: "runs", blocks };
}

function runDownloads(run: Run): Download[] {
  const base = `runs/${run.slug}`;
  const out: Download[] = [];
  for (const [name, text] of Object.entries(run.files)) out.push({ path: `${base}/${name}`, text });
  if (!run.failed && run.records.length > 0) {
    const raws = run.records.map((r) => r.raw);
    out.push({ path: `${base}/records.json`, text: JSON.stringify(raws, null, 2) + "\n" });
    out.push({ path: `${base}/records.csv`, text: toCsv(raws) });
  }
  return out;
}

function runsIndexPage(runs: readonly Run[]): Page {
  return {
    path: "runs/",
    title: "Runs",
    section: "runs",
    blocks: [
      p("Every results folder the report was built from. Each run's page has its spec, environment, records and downloads."),
      runsTable(runs),
    ],
  };
}

// --- methods and formats -----------------------------------------------------------------------

function paperPart(url?: string): Part[] {
  return url ? [link(url, url)] : ["—"];
}

function methodPage(
  m: MethodPage,
  runs: readonly Run[],
  records: readonly Rec[],
  order: (a: Variant, b: Variant) => number,
): Page {
  const blocks: Block[] = [p(m.description)];
  if (!m.registered) blocks.push({ type: "banner", tone: "warn", parts: [m.description] });
  blocks.push({
    type: "dl",
    items: [
      { term: "family", parts: [m.family] },
      { term: "mode", parts: [m.mode] },
      { term: "paper", parts: paperPart(m.paper) },
      ...(m.name === "full" ? [] : [{
        term: "use",
        parts: [
          code(`deno task bench --methods ${m.name}+kivi4 --ratios 4`),
          " (any format after +)",
        ],
      }]),
    ],
  });
  blocks.push(h2("Parameters"));
  if (m.params.length === 0) {
    blocks.push(p("None."));
  } else {
    blocks.push({
      type: "table",
      columns: [
        { label: "name" },
        { label: "type" },
        { label: "default", numeric: true },
        { label: "range" },
        { label: "what it does" },
      ],
      rows: m.params.map((x) => [
        cell(x.name, { code: true }),
        cell(x.type),
        ncell(x.default, String(x.default)),
        cell(`${x.min} – ${x.max}`),
        cell(x.description),
      ]),
    });
  }
  blocks.push(h2("Results"));
  const mine = records.filter((r) => variantOf(r)?.method === m.name);
  const needles = mine.filter(isNeedle);
  const gens = mine.filter(isGenerate);
  const tasks = records.some((r) => isSample(r) && r.method === m.name);
  if (
    needles.length === 0 && gens.length === 0 && !tasks &&
    (m.name !== "full" || !mine.some(isDecode))
  ) {
    blocks.push(p("No results for this method yet."));
  }
  if (m.name === "full" && mine.some(isDecode)) {
    blocks.push(
      p(
        "Kernel decode records are the full cache in each format: see the ",
        link("formats", "/formats/"),
        ".",
      ),
    );
  }
  if (needles.length > 0) {
    blocks.push(
      h3("Needle retrieval"),
      ...runHeatmaps(runs, order, (r) => r.method === m.name, `m-${safeId(m.name)}`),
      h3("Needle records"),
      needleTable(needles, true),
    );
  }
  if (gens.length > 0) blocks.push(h3("Model runs"), generateTable(gens, true));
  if (records.some((r) => isSample(r) && r.method === m.name)) {
    blocks.push(h3("Task runner"), taskPointsTable(records, (v) => v.method === m.name));
  }
  return {
    path: `methods/${nameSlug(m.name)}/`,
    title: `Method ${m.name}`,
    section: "methods",
    blocks,
  };
}

function formatPage(
  f: FormatPage,
  runs: readonly Run[],
  records: readonly Rec[],
  order: (a: Variant, b: Variant) => number,
): Page {
  const blocks: Block[] = [p(f.description)];
  if (!f.registered) blocks.push({ type: "banner", tone: "warn", parts: [f.description] });
  blocks.push({
    type: "dl",
    items: [
      { term: "family", parts: [f.family] },
      { term: "bits", parts: [f.bits === undefined ? "—" : String(f.bits)] },
      { term: "paper", parts: paperPart(f.paper) },
      {
        term: "use",
        parts: [code(`deno task bench --formats ${f.name}`), " or ", code(`<method>+${f.name}`)],
      },
    ],
  });
  blocks.push(h2("Results"));
  const decodes = records.filter(isDecode);
  const mine = decodes.filter((r) => r.format === f.name);
  const needles = records.filter(isNeedle).filter((r) => r.format === f.name);
  const gens = records.filter(isGenerate).filter((r) => r.format === f.name);
  const taskRecs = records.filter(isSample).filter((r) => r.format === f.name);
  if (mine.length + needles.length + gens.length + taskRecs.length === 0) {
    blocks.push(p("No results for this format yet."));
  }
  if (mine.length > 0) {
    const t = decodeTable(mine, decodes, true);
    blocks.push(h3("Kernel decode"), {
      ...t,
      caption: [
        "One attention layer filled through the format's append path, then decode attention over the stored form. † marks timings from a software adapter.",
      ],
    });
  }
  if (needles.length > 0) {
    blocks.push(
      h3("Needle retrieval"),
      ...runHeatmaps(runs, order, (r) => r.format === f.name, `f-${safeId(f.name)}`),
    );
  }
  if (gens.length > 0) blocks.push(h3("Model runs"), generateTable(gens, true));
  if (taskRecs.length > 0) {
    blocks.push(h3("Task runner"), taskPointsTable(records, (v) => v.format === f.name));
  }
  return {
    path: `formats/${nameSlug(f.name)}/`,
    title: `Format ${f.name}`,
    section: "formats",
    blocks,
  };
}

function indexTable(
  entries: readonly { name: string; description: string; paper?: string; registered: boolean }[],
  href: (n: string) => string,
  counts: (n: string) => number,
): TableBlock {
  return {
    type: "table",
    sortable: true,
    columns: [{ label: "name" }, { label: "what it does" }, { label: "paper" }, {
      label: "records",
      numeric: true,
    }],
    rows: entries.map((e) => [
      cell(e.name, { href: href(e.name), code: true }),
      cell(e.description),
      e.paper ? cell(e.paper.replace(/^https?:\/\//, ""), { href: e.paper }) : cell("—"),
      ncell(counts(e.name), String(counts(e.name))),
    ]),
  };
}

// --- the whole site ----------------------------------------------------------------------------

export interface BuildInput {
  readonly loaded: Loaded;
  /** The results folders, as given (shown on the overview). */
  readonly roots: readonly string[];
  /** ISO time of the build (fixed in tests). */
  readonly generated?: string;
}

/** Every page of the site, with links made relative, and the downloads. */
export function buildModel(input: BuildInput): SiteModel {
  const { loaded } = input;
  const runs = loaded.runs;
  const records = runs.flatMap((r) => r.records);
  const seenMethods = new Set<string>();
  const seenFormats = new Set<string>();
  for (const r of records) {
    const v = variantOf(r);
    if (v) {
      seenMethods.add(v.method);
      seenFormats.add(v.format);
    }
  }
  const methods = methodPages(seenMethods);
  const formats = formatPages(seenFormats);
  const order = variantOrder(methods.map((m) => m.name), formats.map((f) => f.name));
  const names: Names = { methods: methods.map((m) => m.name), formats: formats.map((f) => f.name) };
  const taskOrder = taskVariantOrder(names.methods, names.formats);
  const groups = hardwareGroups(runs);

  const downloads = runs.flatMap(runDownloads);
  const pages: Page[] = [
    overviewPage(loaded, groups, order, input.roots),
    tasksPage(records, names, taskOrder),
    tradeoffsPage(records, names, taskOrder),
    needlesPage(runs, order, names, taskOrder),
    efficiencyPage(runs, names, taskOrder),
    runsIndexPage(runs),
    ...runs.map((run) =>
      runPage(run, downloads.filter((d) => d.path.startsWith(`runs/${run.slug}/`)))
    ),
    {
      path: "methods/",
      title: "Methods",
      section: "methods",
      blocks: [
        p(
          "Eviction methods compress each layer once after a dense prefill: the method scores the prompt's tokens per KV head, the shared machinery keeps exactly the budget and packs the kept tokens into a fresh cache of any format. ",
          code("full"),
          " is the baseline that keeps every token.",
        ),
        indexTable(
          methods,
          methodHref,
          (n) => records.filter((r) => variantOf(r)?.method === n).length,
        ),
      ],
    },
    ...methods.map((m) => methodPage(m, runs, records, order)),
    {
      path: "formats/",
      title: "Cache formats",
      section: "formats",
      blocks: [
        p("KV-cache storage formats: each stores its compressed form for real on the GPU, and decode attention reads it directly. Quantization is a storage format, so it composes with any eviction method."),
        indexTable(
          formats,
          formatHref,
          (n) => records.filter((r) => variantOf(r)?.format === n).length,
        ),
      ],
    },
    ...formats.map((f) => formatPage(f, runs, records, order)),
  ];
  return {
    title: SITE_TITLE,
    generated: input.generated ?? new Date().toISOString(),
    pages: pages.map(finishPage),
    downloads,
  };
}

/** Every figure of a page (for tests and checks). */
export function figuresOf(page: Page): FigureBlock[] {
  return page.blocks.filter((b): b is FigureBlock => b.type === "figure");
}
