// The site model (site/lib/pages.ts) on the sample results plus the fixtures: every method,
// format and run has a page; every figure has an SVG and a data table; the leaderboard's numbers
// are the records' numbers; software-adapter timings are marked; links are relative; the CSV is
// the records; task records add leaderboard columns.

import assert from "node:assert/strict";
import { leaderboard, paretoFront, variantOrder } from "../site/lib/analysis.ts";
import { toCsv } from "../site/lib/csv.ts";
import { colourColumn } from "../site/lib/fmt.ts";
import { loadResults, type Rec } from "../site/lib/load.ts";
import { type Block, type Page, relHref, type TableBlock } from "../site/lib/model.ts";
import { buildModel, figuresOf } from "../site/lib/pages.ts";
import { registeredFormats, registeredMethods } from "../site/lib/registry.ts";

const ROOTS = ["data/results", "site/testdata/results"];
const loaded = loadResults(ROOTS);
const model = buildModel({ loaded, roots: ROOTS, generated: "2026-01-01T00:00:00.000Z" });
const page = (path: string): Page => {
  const p = model.pages.find((x) => x.path === path);
  assert.ok(p, `no page ${path}; pages: ${model.pages.map((x) => x.path).join(" ")}`);
  return p;
};
const tables = (p: Page) => p.blocks.filter((b): b is TableBlock => b.type === "table");
const text = (b: Block) => JSON.stringify(b);

Deno.test("site pages: every method, format and run has a page", () => {
  for (const m of registeredMethods()) page(`methods/${m.name}/`);
  for (const f of registeredFormats()) page(`formats/${f.name}/`);
  for (const r of loaded.runs) page(`runs/${r.slug}/`);
  for (const p of ["", "tradeoffs/", "needles/", "efficiency/", "runs/", "methods/", "formats/"]) {
    page(p);
  }
  const paths = model.pages.map((p) => p.path);
  assert.equal(new Set(paths).size, paths.length, "duplicate page paths");
});

Deno.test("site pages: every figure has an SVG and a data table with rows", () => {
  let n = 0;
  for (const p of model.pages) {
    const ids = new Set<string>();
    for (const f of figuresOf(p)) {
      n++;
      assert.match(f.svg, /^<(svg|figure)[\s>]/, `${p.path}#${f.id}: not SVG markup`);
      assert.ok(f.svg.includes("<svg"), `${p.path}#${f.id}: no <svg>`);
      assert.ok(!/NaN|undefined/.test(f.svg), `${p.path}#${f.id}: NaN or undefined in the SVG`);
      assert.ok(f.table.rows.length > 0, `${p.path}#${f.id}: empty data table`);
      assert.ok(f.caption.length > 0 && /better/i.test(text({ type: "p", parts: f.caption })));
      assert.ok(!ids.has(f.id), `${p.path}: figure id ${f.id} twice`);
      ids.add(f.id);
    }
  }
  // trade-offs: 3, needles: 1 heatmap, efficiency: 4 per kernel run + 3 per model run
  assert.ok(n >= 3 + 1 + 4 * 2 + 3, `only ${n} figures`);
  const kernelTradeoffs = (p: Page) =>
    figuresOf(p).filter((f) => !f.id.startsWith("tradeoff-task-")).length;
  assert.equal(kernelTradeoffs(page("tradeoffs/")), 3);
  assert.ok(figuresOf(page("needles/")).length >= 1);
  assert.ok(figuresOf(page("methods/snapkv/")).length >= 1, "snapkv page has no heatmap");
});

Deno.test("site pages: the leaderboard shows the records' numbers and marks software timings", () => {
  const index = page("");
  const board = tables(index).find((t) => t.id?.startsWith("leaderboard-"));
  assert.ok(board, "no leaderboard table on the overview");
  assert.ok(board.sortable);
  const labels = board.columns.map((c) => c.label);
  for (const l of ["needle retrieved", "rel. error", "KV compression", "decode speedup"]) {
    assert.ok(labels.includes(l), `leaderboard lacks "${l}": ${labels.join(", ")}`);
  }
  const row = (label: string) => {
    const r = board.rows.find((cells) => cells[0].text === label);
    assert.ok(r, `no leaderboard row ${label}`);
    return (col: string) => r[labels.indexOf(col)];
  };
  // fp16 against itself: compression 1, speedup 1.
  assert.equal(row("fp16")("KV compression").text, "×1.00");
  assert.equal(row("fp16")("decode speedup").text, "×1.00");
  // kivi2 at the longest length: compression from the record, not recomputed.
  const kivi2 = loaded.runs.flatMap((r) => r.records).filter((r) =>
    r.kind === "decode" && r.raw.format === "kivi2" && r.raw.contextLength === 1024
  );
  assert.ok(kivi2.length > 0);
  assert.ok(
    kivi2.some((r) => row("kivi2")("KV compression").sort === r.raw.compression),
    "kivi2 compression is not a record's value",
  );
  // Timings from the software adapter are marked; bytes and errors are not.
  assert.equal(row("kivi4")("decode speedup").nonRep, true);
  assert.ok(!row("kivi4")("rel. error").nonRep);
  assert.ok(text(index.blocks.find((b) => b.type === "banner")!).includes("Software adapter"));
  // An eviction method at a budget has a row with a retrieval count from its needle cells.
  const snap = row("snapkv+fp16 1/4")("needle retrieved");
  assert.match(snap.text, /^\d+\/\d+$/);
  // Colour-coded: at least one coloured cell in every metric column that varies.
  for (let j = 1; j < labels.length; j++) {
    const values = new Set(board.rows.map((r) => r[j].sort).filter((v) => v !== undefined));
    if (values.size > 2) {
      assert.ok(board.rows.some((r) => r[j].bg), `column ${labels[j]} uncoloured`);
    }
  }
});

Deno.test("site pages: run pages give spec, environment, records and downloads", () => {
  const run = loaded.runs.find((r) => r.slug === "kernels-needles")!;
  const p = page(`runs/${run.slug}/`);
  const all = p.blocks.map(text).join("\n");
  assert.ok(all.includes(String(run.spec?.command)), "command missing");
  assert.ok(all.includes("llvmpipe"), "adapter missing");
  assert.ok(all.includes("records.csv") && all.includes("records.json"), "downloads missing");
  const recordRows = tables(p).reduce(
    (s, t) => s + (t.columns[0].label === "line" ? t.rows.length : 0),
    0,
  );
  assert.equal(recordRows, run.records.length);
  const csv = model.downloads.find((d) => d.path === `runs/${run.slug}/records.csv`)!;
  assert.equal(csv.text.trimEnd().split("\r\n").length, run.records.length + 1);
  const json = model.downloads.find((d) => d.path === `runs/${run.slug}/records.json`)!;
  assert.equal(JSON.parse(json.text).length, run.records.length);
  // The spec-only sample run gets a page that says it has no records.
  const empty = loaded.runs.find((r) => r.records.length === 0 && !r.failed);
  if (empty) assert.ok(page(`runs/${empty.slug}/`).blocks.map(text).join().includes("No records"));
});

Deno.test("site pages: links are relative and point at pages or downloads that exist", () => {
  const targets = new Set([
    ...model.pages.map((p) => `${p.path}index.html`),
    ...model.downloads.map((d) => d.path),
  ]);
  let checked = 0;
  for (const p of model.pages) {
    const hrefs = [...JSON.stringify(p).matchAll(/"href":"([^"]+)"/g)].map((m) => m[1]);
    for (const href of hrefs) {
      if (/^https?:/.test(href)) continue;
      assert.ok(!href.startsWith("/"), `${p.path}: absolute link ${href}`);
      const url = new URL(href, `file:///site/${p.path}`);
      const target = url.pathname.replace(/^\/site\//, "");
      assert.ok(targets.has(target), `${p.path}: link ${href} → ${target} does not exist`);
      checked++;
    }
  }
  assert.ok(checked > 100, `only ${checked} links checked`);
  assert.equal(relHref("runs/x/", "/methods/snapkv/"), "../../methods/snapkv/index.html");
  assert.equal(relHref("", "/#runs"), "index.html#runs");
});

Deno.test("site pages: a malformed run is shown with its error; the others still render", () => {
  const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-pages-" });
  try {
    Deno.mkdirSync(`${tmp}/broken`);
    Deno.writeTextFileSync(`${tmp}/broken/records.jsonl`, '{"suite":"kernels"\n{}\n');
    const roots = [...ROOTS, tmp];
    const m = buildModel({ loaded: loadResults(roots), roots });
    const broken = m.pages.find((p) => p.path === "runs/broken/")!;
    assert.ok(broken.blocks.map(text).join().includes("broken/records.jsonl:1: malformed record"));
    assert.ok(
      m.pages.find((p) => p.path === "")!.blocks.some((b) =>
        b.type === "banner" && b.tone === "error"
      ),
    );
    assert.equal(m.pages.length, model.pages.length + 1);
    assert.equal(
      figuresOf(m.pages.find((p) => p.path === "tradeoffs/")!).length,
      figuresOf(page("tradeoffs/")).length,
    );
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("site pages: task records (the runner's) add leaderboard columns", () => {
  const base = loaded.runs.flatMap((r) => r.records).filter((r) => r.kind === "needle");
  const task = (method: string, score: number, category: string): Rec =>
    ({
      run: "t",
      file: "t",
      line: 1,
      suite: "tasks",
      kind: "task",
      adapter: base[0].adapter,
      representative: true,
      commit: "",
      deno: "",
      kvlab: "",
      timestamp: "",
      raw: {
        task: "niah_single_1",
        category,
        score,
        method,
        format: "fp16",
        ...(method === "full" ? {} : { ratio: 4 }),
      },
    }) as Rec;
  const order = variantOrder(["full", "snapkv"], ["fp16"]);
  const board = leaderboard(
    [
      ...base,
      task("full", 1, "retrieval"),
      task("snapkv", 0.5, "retrieval"),
      task("snapkv", 0.7, "qa"),
      task("full", 0.7, "qa"),
    ],
    order,
  );
  const ids = board.metrics.map((m) => m.id);
  assert.deepEqual(ids.slice(0, 3), ["task:qa", "task:retrieval", "relFull"]);
  const snap = board.rows.find((r) => r.variant.method === "snapkv" && r.variant.ratio === 4)!;
  assert.equal(snap.metrics["task:retrieval"].value, 0.5);
  assert.equal(snap.metrics.relFull.value, (0.5 / 1 + 0.7 / 0.7) / 2);
});

Deno.test("site pages: Pareto front, colour scale and CSV quoting", () => {
  const pts = [{ x: 1, y: 1 }, { x: 2, y: 0.5 }, { x: 2, y: 0.9 }, { x: 4, y: 0.2 }, {
    x: 3,
    y: 0.1,
  }];
  assert.deepEqual(paretoFront(pts, (p) => p.x, (p) => p.y, true), [
    { x: 1, y: 1 },
    { x: 2, y: 0.9 },
    { x: 4, y: 0.2 },
  ]);
  const c = colourColumn([1, 2, 3, undefined], true);
  assert.equal(c[3], undefined);
  assert.notEqual(c[0], c[2]);
  assert.deepEqual(colourColumn([5, 5], true), [undefined, undefined]);
  assert.equal(
    toCsv([{ a: 1, b: 'x,"y"', adapter: { fallback: true } }, { a: 2, c: [1, 2] }]),
    'a,b,adapter.fallback,c\r\n1,"x,""y""",true,\r\n2,,,"[1,2]"\r\n',
  );
});
