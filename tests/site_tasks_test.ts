// The report site's task-runner views (site/lib/tasks.ts, task_plots.ts and their pages): the
// task fixtures load as typed `sample` and `maxBatch` records, with field errors named; each
// view's data gives the hand-checked numbers (a point's mean and relative score, a heatmap
// cell's mean, a family column's mean, max-batch values as recorded) and agrees with the
// engine's own summary (task_summary.ts taskRows) on real records; the pages carry the model's
// label, software-adapter and simulated marks; and the built HTML has the new sections.

import assert from "node:assert/strict";
import { taskRows } from "../engine/bench/task_summary.ts";
import type { TaskRecord } from "../engine/bench/task_records.ts";
import { astroInstalled } from "../site/lib/build.ts";
import { parseHTML } from "../site/lib/deps.ts";
import {
  isMaxBatch,
  isSample,
  loadResults,
  parseRecords,
  type Problem,
  type Rec,
  toRecord,
} from "../site/lib/load.ts";
import type { Block, FigureBlock, Page, TableBlock } from "../site/lib/model.ts";
import { buildModel, familyTableBlock, figuresOf } from "../site/lib/pages.ts";
import {
  batchPoints,
  familyTable,
  heatCells,
  taskPoints,
  taskVariantKey,
  taskVariantLabel,
  taskVariantOrder,
} from "../site/lib/tasks.ts";

const FIXTURES = "site/testdata/results";
const INDUCTION = "tasks-induction";
const STORIES = "tasks-stories";
const order = taskVariantOrder(["full", "streaming_llm", "snapkv", "h2o"], ["fp16", "kivi2"]);

const loaded = loadResults([FIXTURES]);
const run = (slug: string) => {
  const r = loaded.runs.find((x) => x.slug === slug);
  assert.ok(r, `no run ${slug} in ${FIXTURES}`);
  return r;
};
const fixtureLines = (slug: string) =>
  Deno.readTextFileSync(`${FIXTURES}/${slug}/records.jsonl`).split("\n").filter((l) => l.trim())
    .map((l) => JSON.parse(l));

// --- hand-made records ---------------------------------------------------------------------------

const ADAPTER = { vendor: "v", architecture: "", description: "llvmpipe", fallback: true };
let line = 0;

/** A task-suite sample record as the runner writes it, with fields overridden. */
function raw(over: Record<string, unknown>): Record<string, unknown> {
  return {
    schemaVersion: 1,
    suite: "tasks",
    kind: "sample",
    runId: "tasks-000000000000",
    specHash: "0",
    simulated: false,
    representative: false,
    adapter: ADAPTER,
    deno: "2",
    kvlab: "0",
    commit: "unknown",
    timestamp: "2026-01-01T00:00:00.000Z",
    model: "builtin:induction",
    modelKind: "builtin",
    modelLabel: "synthetic mechanism model, not an LLM",
    weightBytes: 1,
    layers: 2,
    kvHeads: 2,
    headDim: 256,
    method: "full",
    params: {},
    format: "fp16",
    methodMode: "none",
    prefillMode: "dense",
    task: "passkey",
    taskFamily: "retrieval",
    sampleId: "s",
    contextLength: 256,
    promptTokens: 250,
    depth: 0.5,
    needleDepth: 120,
    chat: false,
    batchSize: 1,
    score: 1,
    scores: { exact: 1 },
    prediction: "1234567",
    answers: ["1234567"],
    newTokens: 8,
    keptTokens: 250,
    kvBytes: 1000,
    kvBytesPeak: 1000,
    kvBytesFp16: 1000,
    compression: 1,
    nominalRatio: 1,
    peakGpuBytes: 5000,
    ttftMs: 10,
    prefillTokensPerSec: 25000,
    decodeTokensPerSec: 100,
    ...over,
  };
}

function rec(over: Record<string, unknown>): Rec {
  const r = toRecord(raw(over), { run: "hand", file: "hand.jsonl", line: ++line });
  assert.ok(typeof r !== "string", r as string);
  return r;
}

const snap4 = { method: "snapkv", params: { window: 32, kernel: 7 }, ratio: 4 };

/** Two lengths, two depths, full and snapkv 1/4, two samples per cell (scores chosen by hand). */
const HAND: Rec[] = [
  // full fp16, T=256: depth 0.1 → 1, 1; depth 0.9 → 1, 0  (mean 0.75)
  rec({ depth: 0.1, score: 1, sampleId: "a" }),
  rec({ depth: 0.1, score: 1, sampleId: "b" }),
  rec({ depth: 0.9, score: 1, sampleId: "c" }),
  rec({ depth: 0.9, score: 0, sampleId: "d" }),
  // snapkv 1/4, T=256: depth 0.1 → 0, 0; depth 0.9 → 1, 0  (mean 0.25)
  rec({ ...snap4, depth: 0.1, score: 0, sampleId: "a", kvBytes: 250, compression: 4 }),
  rec({ ...snap4, depth: 0.1, score: 0, sampleId: "b", kvBytes: 250, compression: 4 }),
  rec({ ...snap4, depth: 0.9, score: 1, sampleId: "c", kvBytes: 300, compression: 3 }),
  rec({ ...snap4, depth: 0.9, score: 0, sampleId: "d", kvBytes: 300, compression: 3 }),
  // T=512, one depth: full 1; snapkv 0.5 (two samples 1 and 0)
  rec({ contextLength: 512, depth: 0.5, score: 1, sampleId: "e", ttftMs: 30 }),
  rec({ ...snap4, contextLength: 512, depth: 0.5, score: 1, sampleId: "e", compression: 4 }),
  rec({ ...snap4, contextLength: 512, depth: 0.5, score: 0, sampleId: "f", compression: 4 }),
  // a RULER task (no depth) for the family columns: full 0.5, snapkv 0
  rec({ task: "niah_single_1", taskFamily: "ruler", depth: null, score: 0.5, sampleId: "r" }),
  rec({ ...snap4, task: "niah_single_1", taskFamily: "ruler", depth: null, score: 0 }),
  // a grid sample without a score (accuracy not applicable) is left out of the heatmap
  rec({ ...snap4, depth: 0.1, score: null, sampleId: "z", contextLength: 1024 }),
];

// --- loading -------------------------------------------------------------------------------------

Deno.test("site tasks: the task fixtures load as typed sample and maxBatch records", () => {
  assert.deepEqual(loaded.problems, []);
  for (const slug of [INDUCTION, STORIES]) {
    const r = run(slug);
    const lines = fixtureLines(slug);
    assert.equal(r.suite, "tasks");
    assert.equal(r.records.length, lines.length);
    assert.equal(
      r.records.filter(isSample).length,
      lines.filter((x) => x.kind === "sample").length,
    );
    assert.equal(
      r.records.filter(isMaxBatch).length,
      lines.filter((x) => x.kind === "maxBatch").length,
    );
    assert.ok(r.records.filter(isSample).length > 0 && r.records.filter(isMaxBatch).length > 0);
  }
  const s = run(INDUCTION).records.filter(isSample)[0];
  assert.equal(s.modelLabel, "synthetic mechanism model, not an LLM");
  assert.equal(run(STORIES).records.filter(isSample)[0].modelLabel, null);
});

Deno.test("site tasks: a task record with a missing or mistyped field is an error naming it", () => {
  const problems: Problem[] = [];
  const text = [
    raw({}),
    raw({ score: null, modelLabel: null, depth: null }),
    raw({ score: "high" }),
    raw({ params: [1] }),
    (({ compression: _c, ...r }) => r)(raw({})),
    raw({ kind: "maxBatch" }),
  ].map((r) => JSON.stringify(r)).join("\n") + "\n";
  assert.deepEqual(parseRecords(text, { run: "r", file: "f.jsonl" }, problems), []);
  const messages = problems.map((p) => p.message);
  assert.deepEqual(messages.slice(0, 3), [
    'f.jsonl:3: tasks/sample record: score: expected a finite number or null, got "high"',
    "f.jsonl:4: tasks/sample record: params: expected an object, got [1]",
    "f.jsonl:5: tasks/sample record: compression: expected a finite number, got nothing",
  ]);
  assert.match(messages[3], /^f\.jsonl:6: tasks\/maxBatch record: memoryBudget: expected/);
  assert.equal(messages.length, 4, "null score, label and depth are allowed");
});

// --- the views' numbers ----------------------------------------------------------------------------

Deno.test("site tasks: a task point is the mean over its samples; relative is ÷ full fp16's", () => {
  const points = taskPoints(HAND);
  const at = (method: string, T: number, task = "passkey") => {
    const p = points.find((x) =>
      x.variant.method === method && x.contextLength === T && x.task === task
    );
    assert.ok(p, `no point ${method} T=${T} ${task}`);
    return p;
  };
  assert.equal(at("full", 256).score, 0.75);
  assert.equal(at("full", 256).samples, 4);
  assert.equal(at("full", 256).relative, 1);
  assert.equal(at("snapkv", 256).score, 0.25);
  assert.equal(at("snapkv", 256).relative, 0.25 / 0.75);
  assert.equal(at("snapkv", 256).compression, (4 + 4 + 3 + 3) / 4);
  assert.equal(at("snapkv", 256).kvBytes, (250 + 250 + 300 + 300) / 4);
  assert.equal(at("snapkv", 512).score, 0.5);
  assert.equal(at("snapkv", 512).relative, 0.5);
  assert.equal(at("snapkv", 256, "niah_single_1").relative, 0);
  // only unscored samples: score and relative are null (not 0)
  assert.equal(at("snapkv", 1024).score, null);
  assert.equal(at("snapkv", 1024).relative, null, "no full cache at T=1024");
  assert.equal(at("full", 256).representative, false);
});

Deno.test("site tasks: points agree with the engine's summary rows on the real fixtures", () => {
  for (const slug of [INDUCTION, STORIES]) {
    const recs = run(slug).records;
    const points = taskPoints(recs);
    const rows = taskRows(recs.map((r) => r.raw as unknown as TaskRecord));
    assert.equal(points.length, rows.length, slug);
    for (const row of rows) {
      const p = points.find((x) =>
        x.task === row.task && x.contextLength === row.contextLength &&
        x.variant.method === row.method && x.variant.format === row.format &&
        x.variant.ratio === row.ratio && x.variant.budgetTokens === row.budgetTokens
      );
      assert.ok(p, `${slug}: no point for ${JSON.stringify(row)}`);
      assert.equal(p.samples, row.samples);
      assert.equal(p.score, row.score);
      assert.equal(p.relative, row.relative);
      assert.equal(p.compression, row.compression);
      assert.equal(p.ttftMs, row.ttftMs);
    }
  }
  // the induction fixture really separates methods: some variant loses the needle somewhere
  const scores = taskPoints(run(INDUCTION).records).map((p) => p.score);
  assert.ok(scores.includes(1) && scores.some((s) => s !== null && s < 1), String(scores));
});

Deno.test("site tasks: a heatmap cell is the mean score of that variant's samples at that depth and length", () => {
  const cells = heatCells(HAND, order);
  const cell = (method: string, T: number, depth: number) => {
    const c = cells.find((x) =>
      x.variant.method === method && x.contextLength === T && x.depth === depth
    );
    assert.ok(c, `no cell ${method} T=${T} depth ${depth}`);
    return c;
  };
  assert.equal(cell("full", 256, 0.1).score, 1);
  assert.equal(cell("full", 256, 0.9).score, 0.5);
  assert.equal(cell("snapkv", 256, 0.1).score, 0);
  assert.equal(cell("snapkv", 256, 0.9).score, 0.5);
  assert.equal(cell("snapkv", 512, 0.5).score, 0.5);
  assert.equal(cell("snapkv", 512, 0.5).samples, 2);
  // no depth (RULER) or no score (T=1024): not drawn
  assert.equal(cells.filter((c) => c.task !== "passkey").length, 0);
  assert.equal(cells.filter((c) => c.contextLength === 1024).length, 0);
  assert.equal(cells.length, 2 * 2 + 2);
  // variant order: full first
  assert.equal(cells[0].variant.method, "full");
  assert.equal(cell("snapkv", 256, 0.1).label, "snapkv+fp16 1/4");

  // On the real induction fixture: each cell is the mean of exactly the samples it names.
  const recs = run(INDUCTION).records.filter(isSample);
  for (const c of heatCells(recs, order)) {
    const mine = recs.filter((r) =>
      r.task === c.task && r.contextLength === c.contextLength && r.depth === c.depth &&
      taskVariantKey({ method: r.method, params: r.params, format: r.format, ratio: r.ratio }) ===
        taskVariantKey(c.variant)
    );
    assert.equal(c.samples, mine.length);
    assert.equal(c.score, mine.reduce((s, r) => s + r.score!, 0) / mine.length);
  }
});

Deno.test("site tasks: the family table's columns are families (and their tasks), means over samples", () => {
  const t = familyTable(HAND, "builtin:induction", order);
  assert.deepEqual(t.columns.map((c) => c.id), ["family:ruler", "family:retrieval"]);
  assert.deepEqual(t.rows.map((r) => taskVariantLabel(r.variant)), [
    "full fp16",
    "snapkv+fp16 1/4",
  ]);
  const [full, snap] = t.rows;
  // retrieval: full 1,1,1,0,1 → 0.8; snapkv 0,0,1,0,1,0 → 1/3 (the null sample left out)
  assert.equal(full.scores["family:retrieval"].value, 0.8);
  assert.equal(snap.scores["family:retrieval"].value, 2 / 6);
  assert.equal(snap.scores["family:retrieval"].samples, 6);
  assert.equal(full.scores["family:ruler"].value, 0.5);
  assert.equal(snap.scores["family:ruler"].value, 0);
  // relative: mean over (task, length) points of snapkv's score ÷ full's: (1/3, 0.5, 0) → 5/18
  assert.ok(Math.abs(snap.relative! - (0.25 / 0.75 + 0.5 + 0) / 3) < 1e-12);
  assert.equal(full.ttftMs, (10 * 4 + 30 + 10) / 6);
  // a second task in a family adds per-task columns after the family's
  const more = familyTable(
    [...HAND, rec({ task: "kv_retrieval", depth: 0.5, score: 0, sampleId: "k" })],
    "builtin:induction",
    order,
  );
  assert.deepEqual(more.columns.map((c) => c.id), [
    "family:ruler",
    "family:retrieval",
    "task:kv_retrieval",
    "task:passkey",
  ]);
  assert.equal(more.rows[0].scores["task:passkey"].value, 0.8);
  assert.equal(more.rows[0].scores["task:kv_retrieval"].value, 0);
  assert.equal(more.rows[0].scores["family:retrieval"].value, 4 / 6);

  // the table block: software-adapter timings marked, no "simulated" column unless one is
  const block = familyTableBlock(HAND, "builtin:induction", order, "t");
  const labels = block.columns.map((c) => c.label);
  assert.ok(!labels.includes("simulated"));
  const ttft = labels.indexOf("TTFT");
  assert.ok(block.rows.every((r) => r[ttft].nonRep));
  const sim = familyTableBlock(
    [...HAND, rec({ ...snap4, simulated: true, sampleId: "s2" })],
    "builtin:induction",
    order,
    "t",
  );
  const simCol = sim.columns.map((c) => c.label).indexOf("simulated");
  assert.ok(simCol > 0);
  assert.deepEqual(sim.rows.map((r) => r[simCol].text), ["no", "yes"]);
});

Deno.test("site tasks: max-batch points are the records' values, in variant and length order", () => {
  const recs = run(INDUCTION).records;
  const lines = fixtureLines(INDUCTION).filter((x) => x.kind === "maxBatch");
  const points = batchPoints(recs, order);
  assert.equal(points.length, lines.length);
  for (const p of points) {
    const r = lines.find((x) =>
      x.method === p.variant.method && x.format === p.variant.format &&
      x.ratio === p.variant.ratio && x.contextLength === p.contextLength
    );
    assert.ok(r);
    assert.equal(p.maxBatch, r.maxBatch);
    assert.equal(p.decodeTokensPerSec, r.decodeTokensPerSec);
    assert.equal(p.memoryBudget, r.memoryBudget);
    assert.equal(p.representative, r.representative);
  }
  assert.equal(points[0].variant.method, "full");
});

// --- pages -------------------------------------------------------------------------------------------

const model = buildModel({ loaded, roots: [FIXTURES], generated: "2026-01-01T00:00:00.000Z" });
const page = (path: string): Page => {
  const p = model.pages.find((x) => x.path === path);
  assert.ok(p, `no page ${path}`);
  return p;
};
const text = (b: Block | Block[]) => JSON.stringify(b);

Deno.test("site tasks: the tasks page has, per model, its label, families, scores, heatmaps and batches", () => {
  const tasks = page("tasks/");
  const all = text(tasks.blocks as Block[]);
  const heads = tasks.blocks.filter((b) => b.type === "heading").map((b) =>
    (b as { text: string }).text
  );
  assert.ok(heads.includes("Model builtin:induction"), heads.join(" | "));
  assert.ok(heads.some((h) => h.includes("stories260K")), heads.join(" | "));
  // the label is said at the top of the model's section, in bold
  const i = tasks.blocks.findIndex((b) => text(b).includes("Model builtin:induction"));
  const banner = tasks.blocks[i + 1];
  assert.equal(banner.type, "banner");
  assert.match(text(banner), /"text":"synthetic mechanism model, not an LLM","strong":true/);
  assert.match(all, /"text":"real model","strong":true/);
  // software adapter: the timings are marked
  assert.match(all, /Software adapter/);
  const figs = figuresOf(tasks);
  const ids = figs.map((f) => f.id);
  for (const suffix of ["score", "relative", "heat-passkey", "maxbatch", "maxbatch-tps"]) {
    assert.ok(ids.includes(`tasks-builtin-induction-${suffix}`), `${suffix}: ${ids.join(" ")}`);
  }
  for (const f of figs) {
    assert.ok(f.svg.includes("<svg"), f.id);
    assert.ok(!/NaN|undefined/.test(f.svg), `${f.id}: NaN or undefined in the SVG`);
    assert.ok(f.table.rows.length > 0, f.id);
    assert.match(text({ type: "p", parts: f.caption }), /better/i, f.id);
  }
  const tables = tasks.blocks.filter((b): b is TableBlock => b.type === "table");
  const fam = tables.find((t) => t.id === "tasks-builtin-induction-families");
  assert.ok(fam, "no family table");
  assert.deepEqual(
    fam.columns.slice(0, 3).map((c) => c.label),
    ["method + format, budget", "samples", "retrieval"],
  );
  // the heatmap's table holds the cells' means; the max-batch figure's, the recorded batches
  const heat = figs.find((f) => f.id === "tasks-builtin-induction-heat-passkey")!;
  const cells = heatCells(run(INDUCTION).records, order);
  assert.equal(heat.table.rows.length, cells.length);
  const mb = figs.find((f) => f.id === "tasks-builtin-induction-maxbatch") as FigureBlock;
  assert.deepEqual(
    mb.table.rows.map((r) => Number(r[3].text)).sort(),
    batchPoints(run(INDUCTION).records, order).map((p) => p.maxBatch).sort(),
  );
  assert.ok(mb.table.rows.every((r) => r[4].nonRep), "max-batch speeds not marked †");
});

Deno.test("site tasks: trade-offs, needles, efficiency, runs, methods and formats show task results", () => {
  const ids = (path: string) => figuresOf(page(path)).map((f) => f.id);
  assert.ok(ids("tradeoffs/").includes("tradeoff-task-builtin-induction-score"));
  assert.ok(ids("needles/").includes("needles-task-builtin-induction-heat-passkey"));
  assert.ok(ids("efficiency/").includes("eff-task-builtin-induction-maxbatch"));
  const runPage = text(page(`runs/${INDUCTION}/`).blocks as Block[]);
  assert.match(runPage, /Task samples \(\d+\)/);
  assert.match(runPage, /Largest batch in a memory budget \(\d+\)/);
  assert.ok(!runPage.includes("Other records"));
  assert.match(text(page("methods/snapkv/").blocks as Block[]), /Task runner/);
  assert.match(text(page("formats/kivi2/").blocks as Block[]), /Task runner/);
  // the overview's leaderboard has the task family column and the models' labels
  const index = page("");
  const board = index.blocks.find((b): b is TableBlock =>
    b.type === "table" && (b.id ?? "").startsWith("leaderboard-")
  )!;
  assert.ok(board.columns.some((c) => c.label === "retrieval"));
  assert.match(text(index.blocks as Block[]), /synthetic mechanism model, not an LLM/);
});

// --- the built HTML ------------------------------------------------------------------------------------

interface Dom {
  querySelectorAll(s: string): ArrayLike<Dom>;
  querySelector(s: string): Dom | null;
  textContent: string | null;
}

const denoCmd = [Deno.execPath(), "deno"].find((command) =>
  Deno.permissions.querySync({ name: "run", command }).state === "granted"
);

Deno.test({
  name: "site tasks: the built site has the tasks page and its sections",
  ignore: denoCmd === undefined,
  async fn() {
    assert.ok(astroInstalled(), "Astro is not installed: run `npm install --prefix site/astro`");
    const out = Deno.makeTempDirSync({ prefix: "kvlab-site-tasks-" });
    try {
      const r = await new Deno.Command(denoCmd!, {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-run=deno,npm",
          "site/main.ts",
          "--only",
          "--results",
          FIXTURES,
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      assert.equal(r.code, 0, d.decode(r.stdout) + d.decode(r.stderr));
      const html = Deno.readTextFileSync(`${out}/tasks/index.html`);
      const doc = (parseHTML(html) as unknown as { document: Dom }).document;
      const main = doc.querySelector("main")?.textContent ?? "";
      assert.match(main, /Model builtin:induction/);
      assert.match(main, /synthetic mechanism model, not an LLM/);
      assert.match(main, /Tasks by family/);
      assert.match(main, /Task score against KV compression/);
      assert.match(main, /passkey by depth and length/);
      assert.match(main, /Largest batch within/);
      const figures = Array.from(doc.querySelectorAll("section.figure"));
      assert.ok(figures.length >= 5, `${figures.length} figures`);
      for (const f of figures) {
        assert.ok(f.querySelector("svg"), "a figure without an SVG");
        assert.ok(f.querySelector("table tbody tr"), "a figure without a data table");
      }
      assert.ok(doc.querySelector("td.nonrep"), "no timing marked as a software adapter's");
      assert.ok(!/>\s*(NaN|undefined)\s*</.test(html), "NaN or undefined in the page");
      const nav = Array.from(doc.querySelectorAll("nav a")).map((a) => a.textContent?.trim());
      assert.ok(nav.includes("Tasks"), nav.join(" "));
      const runHtml = Deno.readTextFileSync(`${out}/runs/${INDUCTION}/index.html`);
      assert.match(runHtml, /Task samples/);
    } finally {
      Deno.removeSync(out, { recursive: true });
    }
  },
});
