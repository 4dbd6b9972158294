// The site's results reader (site/lib/load.ts): the committed sample results load; a malformed
// line, or a record missing a field, is an error naming the file and line and rejects that run
// only; a torn last line is a warning; folders holding only a spec are runs with no records.

import assert from "node:assert/strict";
import {
  isDecode,
  isGenerate,
  isNeedle,
  loadResults,
  parseRecords,
  type Problem,
} from "../site/lib/load.ts";

const SAMPLE = "data/results";
const FIXTURES = "site/testdata/results";

function copyDir(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    if (e.isFile) Deno.copyFileSync(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

Deno.test("site load: the sample and fixture results load without problems", () => {
  const loaded = loadResults([SAMPLE, FIXTURES]);
  assert.deepEqual(loaded.problems, []);
  assert.ok(loaded.runs.length >= 3, `expected ≥ 3 runs, got ${loaded.runs.length}`);
  const records = loaded.runs.flatMap((r) => r.records);
  assert.ok(records.some(isDecode), "no kernel decode records");
  assert.ok(records.some(isNeedle), "no kernel needle records");
  assert.ok(records.some(isGenerate), "no model records");
  for (const r of records) {
    assert.equal(typeof r.adapter.description, "string");
    assert.ok(r.line >= 1);
  }
  const fixture = loaded.runs.find((r) => r.slug === "kernels-needles");
  assert.ok(fixture, "fixture run kernels-needles missing");
  assert.equal(fixture.runId, fixture.spec?.runId);
  assert.equal(fixture.suite, "kernels");
});

Deno.test("site load: a malformed line names file and line and rejects that run only", () => {
  const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-load-" });
  try {
    copyDir(`${FIXTURES}/model-tiny`, `${tmp}/good`);
    copyDir(`${FIXTURES}/kernels-needles`, `${tmp}/bad`);
    const lines = Deno.readTextFileSync(`${tmp}/bad/records.jsonl`).split("\n");
    lines[2] = lines[2].slice(0, 40); // line 3: cut mid-record, not the last line
    Deno.writeTextFileSync(`${tmp}/bad/records.jsonl`, lines.join("\n"));
    const loaded = loadResults([tmp]);
    const bad = loaded.runs.find((r) => r.slug === "bad")!;
    const good = loaded.runs.find((r) => r.slug === "good")!;
    assert.equal(bad.failed, true);
    assert.equal(bad.records.length, 0);
    assert.equal(good.failed, false);
    assert.equal(good.records.length, 6);
    const errors = loaded.problems.filter((p) => p.severity === "error");
    assert.equal(errors.length, 1, JSON.stringify(loaded.problems));
    assert.match(errors[0].message, /bad\/records\.jsonl:3: malformed record \(/);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("site load: a record missing a field its kind needs is an error naming the field", () => {
  const problems: Problem[] = [];
  const good = {
    suite: "model",
    kind: "generate",
    representative: false,
    adapter: { vendor: "", architecture: "", description: "x", fallback: true },
    model: "shape:tiny",
    format: "fp16",
    method: "full",
    contextLength: 64,
    batchSize: 1,
    newTokens: 8,
    kvBytes: 1,
    peakGpuBytes: 2,
    ttftMs: 3,
    prefillTokensPerSec: 4,
    decodeMsPerStep: 5,
    decodeTokensPerSec: 6,
    rooflineFraction: 0.1,
  };
  const { ttftMs: _, ...missing } = good;
  const text = [good, missing, { ...good, kvBytes: "many" }].map((r) => JSON.stringify(r))
    .join("\n") + "\n";
  const recs = parseRecords(text, { run: "r", file: "r/records.jsonl" }, problems);
  assert.equal(recs.length, 0, "a file with errors gives no records");
  assert.deepEqual(problems.map((p) => p.message), [
    "r/records.jsonl:2: model/generate record: ttftMs: expected a finite number, got nothing",
    'r/records.jsonl:3: model/generate record: kvBytes: expected a finite number, got "many"',
  ]);
});

Deno.test("site load: a torn last line is a warning; unknown kinds are kept as other records", () => {
  const problems: Problem[] = [];
  const other = { suite: "tasks", kind: "task", task: "niah_single_1", score: 0.5 };
  const text = JSON.stringify(other) + "\n" + '{"suite":"kernels","kind":"dec';
  const recs = parseRecords(text, { run: "r", file: "f.jsonl" }, problems);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].kind, "task");
  assert.deepEqual(problems, [{
    severity: "warning",
    message: "f.jsonl:2: torn last line dropped (a run killed mid-write?)",
  }]);
});

Deno.test("site load: records without kind are kernel decode records (docs/results.md)", () => {
  // a run written before records had `kind`: the sample's decode records with the field removed
  const sample = [...Deno.readDirSync(SAMPLE)].map((e) => e.name).find((n) =>
    n.startsWith("kernels-")
  );
  assert.ok(sample, `no kernels run in ${SAMPLE}`);
  const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-legacy-" });
  try {
    Deno.copyFileSync(`${SAMPLE}/${sample}/spec.json`, `${tmp}/spec.json`);
    const legacy = Deno.readTextFileSync(`${SAMPLE}/${sample}/records.jsonl`).trim().split("\n")
      .map((l) => JSON.parse(l)).filter((r) => r.kind === "decode")
      .map(({ kind: _kind, ...r }) => JSON.stringify(r)).join("\n") + "\n";
    Deno.writeTextFileSync(`${tmp}/records.jsonl`, legacy);
    const loaded = loadResults([tmp]);
    assert.equal(loaded.runs.length, 1, "a root that is itself a run folder is one run");
    const recs = loaded.runs[0].records;
    assert.ok(recs.length > 0);
    assert.ok(recs.every(isDecode));
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("site load: a spec-only folder is a run with no records; a missing root is an error", () => {
  const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-load-" });
  try {
    Deno.mkdirSync(`${tmp}/started`);
    Deno.writeTextFileSync(`${tmp}/started/spec.json`, '{"suite":"model","runId":"model-x"}\n');
    Deno.mkdirSync(`${tmp}/not-a-run`);
    const loaded = loadResults([tmp, `${tmp}/nowhere`]);
    assert.deepEqual(loaded.runs.map((r) => [r.slug, r.runId, r.records.length, r.failed]), [
      ["started", "model-x", 0, false],
    ]);
    assert.equal(loaded.problems.length, 1);
    assert.match(loaded.problems[0].message, /nowhere: not a results folder/);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("site load: malformed spec.json names the file and line", () => {
  const tmp = Deno.makeTempDirSync({ prefix: "kvlab-site-load-" });
  try {
    Deno.mkdirSync(`${tmp}/r`);
    Deno.writeTextFileSync(`${tmp}/r/spec.json`, '{\n  "suite": "kernels",\n  oops\n}\n');
    const loaded = loadResults([tmp]);
    assert.equal(loaded.runs[0].failed, true);
    assert.match(loaded.problems[0].message, /r\/spec\.json:3: malformed JSON/);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});
