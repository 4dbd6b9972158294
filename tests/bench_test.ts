// The kernel benchmark's CLI parsing, results folder (append-only, torn-line repair, resume) and
// a tiny end-to-end suite run on whatever adapter exists.

import assert from "node:assert/strict";
import { parseDepth, parseLength, specFromArgs } from "../engine/bench/main.ts";
import {
  type DecodeRecord,
  formatTable,
  type KernelSpec,
  type NeedleRecord,
  needleTable,
  runKernelSuite,
  summarize,
} from "../engine/bench/kernel_suite.ts";
import { needleCosine, needlePosition, plantNeedle } from "../engine/bench/needle.ts";
import { layerData } from "../engine/bench/kernel_data.ts";
import {
  readRecords,
  RecordWriter,
  resultsDir,
  ResultsError,
  specHash,
} from "../engine/bench/results.ts";
import { decodeAttentionRef } from "../engine/reference/attention.ts";
import { testGpu } from "./helpers.ts";

Deno.test("lengths parse with k and m suffixes; bad ones name the value", () => {
  assert.equal(parseLength("512"), 512);
  assert.equal(parseLength("4k"), 4096);
  assert.equal(parseLength("32K"), 32768);
  assert.equal(parseLength("1m"), 1048576);
  for (const bad of ["0", "-4", "abc", "1.5", ""]) {
    assert.throws(() => parseLength(bad), new RegExp(`context length: got "${bad}"`));
  }
});

Deno.test("CLI flags build a validated spec; bad flags name the value and what was expected", () => {
  const r = specFromArgs(
    ["--formats", "fp16,kivi2", "--lengths", "1k,2k", "--preset", "smoke"],
    false,
  );
  assert.notEqual(r, "help");
  if (r === "help") return;
  assert.deepEqual(r.spec.formats, ["fp16", "kivi2"]);
  assert.deepEqual(r.spec.lengths, [1024, 2048]);
  assert.equal(r.spec.heads, 32);
  // no --preset: default on a GPU, smoke on a software adapter
  const gpuDefault = specFromArgs([], false);
  const swDefault = specFromArgs([], true);
  assert.ok(gpuDefault !== "help" && gpuDefault.spec.preset === "default");
  assert.ok(swDefault !== "help" && swDefault.spec.preset === "smoke");
  assert.throws(
    () => specFromArgs(["--formats", "fp9"], false),
    /unknown cache format "fp9"; expected one of fp32, fp16, kivi2/,
  );
  assert.throws(
    () => specFromArgs(["--heads", "30", "--kv-heads", "8"], false),
    /H=30 query heads do not divide into Hkv=8/,
  );
  assert.throws(
    () => specFromArgs(["--preset", "huge"], false),
    /--preset: got "huge", expected one of smoke, default, full/,
  );
  assert.throws(() => specFromArgs(["--device", "tpu"], false), /--device: got "tpu"/);
  assert.throws(() => specFromArgs(["--batch", "0"], false), /batch size: got 0/);
  assert.throws(
    () => specFromArgs(["--head-dim", "48"], false),
    /head dim: got 48, expected a multiple of 32/,
  );
  assert.throws(
    () => specFromArgs(["--suite", "models"], false),
    /--suite: got "models", expected one of kernels, model/,
  );
  assert.throws(() => specFromArgs(["--nope"], false), /Unknown option '--nope'/);
});

Deno.test("spec hash is stable under key order", async () => {
  assert.equal(await specHash({ a: 1, b: [1, 2] }), await specHash({ b: [1, 2], a: 1 }));
  assert.notEqual(await specHash({ a: 1 }), await specHash({ a: 2 }));
});

Deno.test("records.jsonl: a torn last line is dropped and repaired; a bad middle line names file and line", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/records.jsonl`;
  Deno.writeTextFileSync(path, '{"a":1}\n{"a":2}\n{"a":');
  const { records, torn } = readRecords(path);
  assert.deepEqual(records, [{ a: 1 }, { a: 2 }]);
  assert.equal(torn, true);
  const w = new RecordWriter(path);
  w.repair();
  w.append({ a: 3 });
  assert.deepEqual(readRecords(path).records, [{ a: 1 }, { a: 2 }, { a: 3 }]);
  Deno.writeTextFileSync(path, '{"a":1}\nnot json\n{"a":3}\n');
  assert.throws(
    () => readRecords(path),
    (e: Error) => e instanceof ResultsError && e.message.includes(`${path}:2:`),
  );
  assert.deepEqual(readRecords(`${dir}/missing.jsonl`).records, []);
  Deno.removeSync(dir, { recursive: true });
});

const TINY: KernelSpec = {
  suite: "kernels",
  preset: "smoke",
  formats: ["fp16", "kivi4", "int4"],
  lengths: [40, 160],
  batchSize: 1,
  heads: 4,
  kvHeads: 2,
  headDim: 32,
  reps: 2,
  warmup: 0,
  copyMiB: 1,
  needleDepths: [],
  methods: [],
  budgets: [],
  seed: 1,
};

Deno.test("kernel suite writes one record per cell, resumes without redoing cells, and summarises", async () => {
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const out = resultsDir(dir);
  const ctx = { gpu, spec: TINY, runId: "test", specHash: "h", out, log: () => {} };
  const first = (await runKernelSuite(ctx)).filter((r): r is DecodeRecord => r.kind === "decode");
  assert.equal(first.length, 6);
  const lines = Deno.readTextFileSync(out.recordsPath).trim().split("\n");
  assert.equal(lines.length, 6);
  for (const r of first) {
    for (
      const key of [
        "schemaVersion",
        "suite",
        "format",
        "contextLength",
        "batchSize",
        "relError",
        "kvBytes",
        "kvBytesFp16",
        "ms",
        "gbPerSec",
        "bandwidthFraction",
        "adapter",
        "commit",
        "timestamp",
      ]
    ) {
      assert.ok(key in r, `record lacks ${key}`);
    }
    assert.equal(r.adapter.fallback, gpu.report.fallback);
    assert.equal(r.representative, !gpu.report.fallback);
    assert.ok(r.relError >= 0 && r.relError < 1, `${r.format} relError ${r.relError}`);
    assert.ok(r.ms > 0 && r.gbPerSec > 0);
  }
  const fp16 = first.find((r) => r.format === "fp16" && r.contextLength === 160)!;
  const kivi4 = first.find((r) => r.format === "kivi4" && r.contextLength === 160)!;
  assert.ok(
    fp16.relError < kivi4.relError,
    "past R = 128 tokens kivi4 quantizes: fp16 is closer to fp32",
  );
  const kivi4Short = first.find((r) => r.format === "kivi4" && r.contextLength === 40)!;
  assert.equal(
    kivi4Short.relError,
    first.find((r) => r.format === "fp16" && r.contextLength === 40)!.relError,
    "under R tokens kivi4 is all f16 residual",
  );
  assert.equal(fp16.kvBytes, fp16.kvBytesFp16);
  // a killed run: drop the last record and tear the line before it
  const kept = lines.slice(0, 4).join("\n") + "\n" + lines[4].slice(0, 20);
  Deno.writeTextFileSync(out.recordsPath, kept);
  const resumed = (await runKernelSuite(ctx)) as DecodeRecord[];
  assert.equal(resumed.length, 6);
  assert.equal(Deno.readTextFileSync(out.recordsPath).trim().split("\n").length, 6);
  assert.deepEqual(
    resumed.slice(0, 4).map((r) => r.timestamp),
    first.slice(0, 4).map((r) => r.timestamp),
  );
  const summary = summarize(TINY, resumed);
  assert.equal(summary.rows.length, 6);
  assert.ok(
    summary.targets.every((t) => t.status === "unmeasured"),
    "no N ≥ 32K cells: targets unmeasured",
  );
  const table = formatTable(resumed);
  assert.match(table, /kivi4\s+160/);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("resuming into a folder written by another adapter is refused", async () => {
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const out = resultsDir(dir);
  Deno.writeTextFileSync(
    out.recordsPath,
    JSON.stringify({ format: "fp16", contextLength: 40, adapter: { description: "Other GPU" } }) +
      "\n",
  );
  await assert.rejects(
    () => runKernelSuite({ gpu, spec: TINY, runId: "t", specHash: "h", out, log: () => {} }),
    /holds records from adapter "Other GPU"/,
  );
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("a context larger than one storage binding is refused before any input is generated", async () => {
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const spec = { ...TINY, lengths: [64, 1 << 24], kvHeads: 8, heads: 8, headDim: 128 };
  await assert.rejects(
    () =>
      runKernelSuite({ gpu, spec, runId: "t", specHash: "h", out: resultsDir(dir), log: () => {} }),
    /context length 16777216: the f32 K input .* larger than one storage binding can hold \(\d+ bytes on this device\)/,
  );
  assert.deepEqual(readRecords(resultsDir(dir).recordsPath).records, []);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("needle depths parse as percentages; bad ones name the value", () => {
  assert.equal(parseDepth("0"), 0);
  assert.equal(parseDepth("25%"), 0.25);
  assert.equal(parseDepth("100"), 1);
  assert.throws(
    () => parseDepth("120"),
    /needle depth: got "120", expected a percentage from 0 to 100/,
  );
  const r = specFromArgs(["--needle-depths", "none"], false);
  assert.ok(r !== "help" && r.spec.needleDepths.length === 0);
  const s = specFromArgs(["--needle-depths", "0,50"], false);
  assert.ok(s !== "help" && s.spec.needleDepths.join() === "0,0.5");
});

Deno.test("a planted needle dominates full attention (reference) at every depth", () => {
  const shape = { B: 1, H: 8, Hkv: 2, D: 32 };
  const T = 300;
  const layer = layerData(shape, T, 5);
  for (const depth of [0, 0.37, 1]) {
    const position = needlePosition(T, depth);
    const planted = plantNeedle(shape, T, layer, position, 9);
    const out = decodeAttentionRef(layer.q, planted.k, planted.v, [T], { ...shape, T });
    assert.ok(needleCosine(shape, out, planted.needles) > 0.95, `depth ${depth}`);
    // without the needle key the same values are not retrieved
    const miss = decodeAttentionRef(layer.q, layer.k, planted.v, [T], { ...shape, T });
    assert.ok(needleCosine(shape, miss, planted.needles) < 0.5, `no needle key at depth ${depth}`);
  }
  assert.equal(needlePosition(T, 0), 0);
  assert.equal(needlePosition(T, 1), T - 1);
  assert.throws(() => needlePosition(T, 1.5), /needle depth: got 1.5/);
});

Deno.test("kernel suite needle cells: full-precision formats retrieve at every depth; records and table", async () => {
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const spec = {
    ...TINY,
    formats: ["fp16", "int8", "kivi2"],
    lengths: [200],
    needleDepths: [0, 0.5, 1],
  };
  const all = await runKernelSuite({
    gpu,
    spec,
    runId: "n",
    specHash: "h",
    out: resultsDir(dir),
    log: () => {},
  });
  const needles = all.filter((r): r is NeedleRecord => r.kind === "needle");
  assert.equal(needles.length, 9);
  for (const r of needles) {
    assert.equal(r.needlePosition, needlePosition(200, r.needleDepth));
    assert.equal(r.method, "full");
    assert.equal(r.retrieved, r.needleCosine > 0.9);
    if (r.format !== "kivi2") {
      assert.ok(r.retrieved, `${r.format} at ${r.needleDepth}: cos ${r.needleCosine}`);
    }
  }
  assert.match(needleTable(all), /full\+fp16\s+3\/3/);
  assert.deepEqual(summarize(spec, all).needles.length, 9);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("needle cells with eviction: streaming_llm drops a mid-context needle, snapkv keeps it", async () => {
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const spec = {
    ...TINY,
    formats: ["fp16"],
    lengths: [200],
    needleDepths: [0, 0.5, 1],
    methods: ["streaming_llm", "snapkv+int8"],
    budgets: [{ ratio: 4 }],
  };
  const all = await runKernelSuite({
    gpu,
    spec,
    runId: "m",
    specHash: "h",
    out: resultsDir(dir),
    log: () => {},
  });
  const needles = all.filter((r): r is NeedleRecord => r.kind === "needle");
  assert.equal(needles.length, 9); // (full + 2 methods) × 3 depths
  const at = (method: string, depth: number) =>
    needles.find((r) => r.method === method && r.needleDepth === depth)!;
  for (const depth of [0, 0.5, 1]) {
    const s = at("snapkv", depth);
    assert.equal(s.format, "int8");
    assert.equal(s.keptTokens, 50);
    assert.equal(s.ratio, 4);
    assert.ok(
      s.needleKept && s.retrieved,
      `snapkv at ${depth}: kept ${s.needleKept}, cos ${s.needleCosine}`,
    );
    assert.ok(
      s.kvBytes < s.kvBytesFp16 / 4,
      "a quarter of the tokens in int8 is under a quarter of fp16's bytes",
    );
  }
  // streaming_llm keeps 4 sinks and the recent 46: the first and last tokens, not the middle one
  assert.ok(at("streaming_llm", 0).needleKept && at("streaming_llm", 0).retrieved);
  assert.ok(at("streaming_llm", 1).needleKept && at("streaming_llm", 1).retrieved);
  const mid = at("streaming_llm", 0.5);
  assert.equal(mid.needleKept, false);
  assert.equal(mid.retrieved, false);
  assert.match(needleTable(all), /streaming_llm\+fp16 1\/4\s+2\/3/);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("method flags: unknown methods, impossible budgets and bad ratios are refused", () => {
  assert.throws(() => specFromArgs(["--methods", "h3o"], false), /unknown method "h3o"/);
  assert.throws(
    () => specFromArgs(["--methods", "snapkv+fp8"], false),
    /unknown cache format "fp8" in "snapkv\+fp8"/,
  );
  assert.throws(
    () => specFromArgs(["--lengths", "256", "--budgets", "300"], false),
    /budgetTokens: got 300, expected an integer in \[1, 256\]/,
  );
  assert.throws(
    () => specFromArgs(["--ratios", "0.5"], false),
    /ratio: got 0.5, expected a finite number ≥ 1/,
  );
  assert.throws(
    () => specFromArgs(["--ratios", "x"], false),
    /--ratios: got "x", expected a number/,
  );
  const r = specFromArgs(
    ["--methods", "snapkv,knorm+kivi4", "--ratios", "2", "--budgets", "64"],
    false,
  );
  if (r === "help") throw new Error("expected a spec, not help");
  assert.deepEqual(r.spec.methods, ["snapkv", "knorm+kivi4"]);
  assert.deepEqual(r.spec.budgets, [{ ratio: 2 }, { budgetTokens: 64 }]);
});
