// The whole build, as `deno task site` runs it (site/main.ts → Astro under Deno), on the sample
// results plus the fixtures, and again with a malformed results file. Checks the written HTML:
// every page exists, every figure has an SVG and a table, no page needs JavaScript to show its
// numbers. Needs Astro installed (`npm install --prefix site/astro`, as .ci/run does) and
// permission to run deno; without that permission the tests are skipped with a message.

import assert from "node:assert/strict";
import { parseHTML } from "../site/lib/deps.ts";
import { astroInstalled } from "../site/lib/build.ts";
import { registeredFormats, registeredMethods } from "../site/lib/registry.ts";

const denoCmd = [Deno.execPath(), "deno"].find((command) =>
  Deno.permissions.querySync({ name: "run", command }).state === "granted"
);
const ignore = denoCmd === undefined;
if (ignore) {
  console.log(
    "site build tests skipped: they run `deno task site` and need --allow-run=deno " +
      "(deno task test grants it once its --allow-run lists deno)",
  );
}

const SORT_JS = "site/astro/src/scripts/sort.js";

interface SortDom {
  querySelector(s: string): SortDom | null;
  querySelectorAll(s: string): ArrayLike<SortDom>;
  readonly children: ArrayLike<SortDom>;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  dispatchEvent(e: unknown): boolean;
}

interface Dom {
  querySelectorAll(s: string): ArrayLike<Dom>;
  querySelector(s: string): Dom | null;
  textContent: string | null;
}

async function site(args: string[]) {
  const out = await new Deno.Command(denoCmd!, {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run=deno,npm",
      "site/main.ts",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, text: d.decode(out.stdout) + d.decode(out.stderr) };
}

function page(out: string, path: string): Dom {
  const html = Deno.readTextFileSync(`${out}/${path}index.html`);
  return (parseHTML(html) as unknown as { document: Dom }).document;
}

function checkFigures(doc: Dom, where: string): number {
  const figures = Array.from(doc.querySelectorAll("section.figure"));
  for (const f of figures) {
    assert.ok(f.querySelector("svg"), `${where}: a figure without an SVG`);
    assert.ok(f.querySelector("table tbody tr"), `${where}: a figure without a data table`);
    assert.match(f.querySelector("figcaption")?.textContent ?? "", /better/i, `${where}: caption`);
  }
  return figures.length;
}

Deno.test({
  name: "site build: deno task site builds every page from the sample results and fixtures",
  ignore,
  async fn() {
    assert.ok(
      astroInstalled(),
      "Astro is not installed: run `npm install --prefix site/astro` (as .ci/run does)",
    );
    const out = Deno.makeTempDirSync({ prefix: "kvlab-site-out-" });
    try {
      const r = await site(["--results", "site/testdata/results", "--out", out]);
      assert.equal(r.code, 0, r.text);
      const index = page(out, "");
      assert.ok(index.querySelector("table[id^=leaderboard-] tbody tr"), "no leaderboard rows");
      assert.match(index.querySelector("main")?.textContent ?? "", /Software adapter/);
      assert.ok(index.querySelector("td.nonrep"), "no timing marked non-representative");
      let figures = 0;
      for (const p of ["tradeoffs/", "needles/", "efficiency/"]) {
        figures += checkFigures(page(out, p), p);
      }
      assert.ok(figures >= 3 + 1 + 4 + 3, `only ${figures} figures`);
      for (const m of registeredMethods()) checkFigures(page(out, `methods/${m.name}/`), m.name);
      for (const f of registeredFormats()) checkFigures(page(out, `formats/${f.name}/`), f.name);
      const samples = [...Deno.readDirSync("data/results")].filter((e) => e.isDirectory).map((e) =>
        e.name
      );
      for (const run of [...samples, "kernels-needles", "model-tiny"]) {
        const doc = page(out, `runs/${run}/`);
        assert.ok(doc.querySelector("table tbody tr"), `${run}: no records table`);
        const csv = Deno.readTextFileSync(`${out}/runs/${run}/records.csv`);
        assert.ok(csv.split("\r\n").length > 2, `${run}: empty CSV`);
        JSON.parse(Deno.readTextFileSync(`${out}/runs/${run}/records.json`));
      }
      // The one script: sorting the leaderboard by a numeric column, both ways.
      const w = parseHTML(Deno.readTextFileSync(`${out}/index.html`)) as unknown as {
        document: SortDom;
        Event: new (type: string) => unknown;
      };
      new Function("document", Deno.readTextFileSync(SORT_JS))(w.document);
      const board = w.document.querySelector("table[id^=leaderboard-]")!;
      const heads = board.querySelectorAll("thead tr");
      const th = Array.from(heads[heads.length - 1].children)
        .find((x) => /rel\. error/.test(x.textContent ?? ""))!;
      const col = Array.from(heads[heads.length - 1].children).indexOf(th);
      const column = () =>
        Array.from(board.querySelector("tbody")!.children)
          .map((r) => r.children[col].getAttribute("data-v"))
          .filter((v) => v !== null && v !== "")
          .map(Number);
      th.querySelector("button")!.dispatchEvent(new w.Event("click"));
      const up = column();
      assert.ok(up.length > 2);
      assert.deepEqual(up, [...up].sort((a, b) => a - b));
      th.querySelector("button")!.dispatchEvent(new w.Event("click"));
      assert.deepEqual(column(), [...up].reverse());

      const html = Deno.readTextFileSync(`${out}/index.html`);
      assert.ok(!html.includes("<script src"), "the page loads external scripts");
      assert.ok(!/>\s*(NaN|undefined)\s*</.test(html), "NaN or undefined in the page");
    } finally {
      Deno.removeSync(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "site build: a malformed results file names file and line, exits 1, others still render",
  ignore,
  async fn() {
    const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-bad-" });
    try {
      Deno.mkdirSync(`${tmp}/results/broken`, { recursive: true });
      const good = "site/testdata/results/model-tiny";
      Deno.mkdirSync(`${tmp}/results/model-tiny`);
      for (const f of ["spec.json", "records.jsonl"]) {
        Deno.copyFileSync(`${good}/${f}`, `${tmp}/results/model-tiny/${f}`);
      }
      const lines = Deno.readTextFileSync(`${good}/records.jsonl`).trimEnd().split("\n");
      lines.splice(1, 0, "{not json");
      Deno.writeTextFileSync(`${tmp}/results/broken/records.jsonl`, lines.join("\n") + "\n");
      const r = await site(["--only", "--results", `${tmp}/results`, "--out", `${tmp}/out`]);
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /broken\/records\.jsonl:2: malformed record/);
      const broken = page(`${tmp}/out`, "runs/broken/");
      assert.match(
        broken.querySelector("main")?.textContent ?? "",
        /records\.jsonl:2: malformed record/,
      );
      const ok = page(`${tmp}/out`, "runs/model-tiny/");
      assert.ok(ok.querySelector("table tbody tr"), "the good run lost its records");
      assert.ok(checkFigures(page(`${tmp}/out`, "efficiency/"), "efficiency") >= 3);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "site build: refuses to write into a folder it did not write",
  ignore,
  async fn() {
    const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-out-" });
    try {
      Deno.writeTextFileSync(`${tmp}/precious.txt`, "keep me");
      const r = await site(["--only", "--results", "site/testdata/results", "--out", tmp]);
      assert.equal(r.code, 3, r.text);
      assert.match(r.text, /is not empty and was not written by deno task site/);
      assert.equal(Deno.readTextFileSync(`${tmp}/precious.txt`), "keep me");
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  },
});
