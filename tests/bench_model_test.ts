// The model suite of the benchmark: flags, one tiny end-to-end run with records, resume.

import assert from "node:assert/strict";
import { modelSpecFromArgs } from "../engine/bench/main.ts";
import {
  type ModelSpec,
  modelTable,
  runModelSuite,
  summarizeModel,
} from "../engine/bench/model_suite.ts";
import { resultsDir } from "../engine/bench/results.ts";
import { testGpu } from "./helpers.ts";

Deno.test("model suite flags: presets by adapter, bad values named", () => {
  assert.equal(modelSpecFromArgs(["--suite", "model"], true).spec.preset, "smoke");
  assert.deepEqual(modelSpecFromArgs(["--suite", "model"], false).spec.models, [
    "shape:llama-3.2-1b",
    "shape:llama-3-8b",
  ]);
  assert.throws(
    () => modelSpecFromArgs(["--suite", "model", "--models", "shape:nope"], false),
    /unknown preset/,
  );
  assert.throws(
    () => modelSpecFromArgs(["--suite", "model", "--formats", "fp9"], false),
    /unknown cache format "fp9"/,
  );
  assert.throws(
    () => modelSpecFromArgs(["--suite", "model", "--new-tokens", "1"], false),
    /new tokens: got 1/,
  );
  assert.throws(
    () => modelSpecFromArgs(["--suite", "model", "--heads", "4"], false),
    /Unknown option '--heads'/,
  );
});

Deno.test("model suite: records per model × format × length, roofline fraction, resume", async () => {
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const spec: ModelSpec = {
    suite: "model",
    preset: "smoke",
    models: ["shape:tiny"],
    formats: ["fp16", "int8"],
    lengths: [16],
    batchSize: 2,
    newTokens: 3,
    copyMiB: 1,
    seed: 0,
  };
  const ctx = { gpu, spec, runId: "m", specHash: "h", out: resultsDir(dir), log: () => {} };
  const records = await runModelSuite(ctx);
  assert.equal(records.length, 2);
  for (const r of records) {
    assert.equal(r.suite, "model");
    assert.equal(r.accuracy, null, "random weights: accuracy not applicable");
    assert.equal(r.representative, !gpu.report.fallback);
    assert.ok(r.kvBytes > 0 && r.weightBytes > 0 && r.peakGpuBytes >= r.kvBytes);
    assert.ok(r.weightBytesPerStep > 0 && r.weightBytesPerStep <= r.weightBytes);
    assert.ok(r.ttftMs > 0 && r.decodeTokensPerSec > 0 && r.prefillTokensPerSec > 0);
    const ideal = r.weightBytesPerStep / (r.copyGbPerSec * 1e6);
    assert.ok(Math.abs(r.rooflineFraction - ideal / r.decodeMsPerStep) < 1e-9);
  }
  const [fp16, int8] = records;
  assert.ok(int8.kvBytes < fp16.kvBytes, "int8 stores the cache in fewer bytes than fp16");
  const again = await runModelSuite(ctx);
  assert.equal(again.length, 2);
  assert.equal(
    Deno.readTextFileSync(ctx.out.recordsPath).trim().split("\n").length,
    2,
    "resume adds nothing",
  );
  const summary = summarizeModel(spec, again);
  assert.equal(summary.rows.length, 2);
  if (gpu.report.fallback) assert.equal(summary.target.status, "unmeasured");
  assert.match(modelTable(again), /shape:tiny\s+int8/);
  Deno.removeSync(dir, { recursive: true });
});
