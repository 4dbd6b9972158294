// The task runner (engine/bench/task_*.ts): spec parsing and validation (every bad value named),
// the cross product and its skips, a stable spec hash, the summary's relative scores, and end to
// end on the stories260K fixture: every cell recorded with its measurements, and a run killed
// mid-way (SIGKILL, a real process) resumes to completion with no duplicate records.

import assert from "node:assert/strict";
import { acquireLock } from "../engine/bench/lock.ts";
import { readRecords, resultsDir, specHash } from "../engine/bench/results.ts";
import { listing, parseBytes, parseConfig, taskSpecFromArgs } from "../engine/bench/task_cli.ts";
import { recordKey, type SampleRecord, type TaskRecord } from "../engine/bench/task_records.ts";
import { taskPreset, type TaskRunSpec, variants } from "../engine/bench/task_spec.ts";
import { runTaskSuite } from "../engine/bench/task_suite.ts";
import { taskRows } from "../engine/bench/task_summary.ts";
import type { Gpu } from "../engine/gpu/mod.ts";
import { testGpu } from "./helpers.ts";
import { hasStories, STORIES_DIR } from "./model_fixtures.ts";

const HAS = hasStories("task runner end-to-end tests");

/** `deno task bench` as a subprocess: the task's permissions, then the flags. */
const BENCH = [
  "run",
  "--unstable-webgpu",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run=git",
  new URL("../engine/bench/main.ts", import.meta.url).pathname,
];

Deno.test("task spec: presets and flags", () => {
  const sw = taskSpecFromArgs([], true).spec;
  assert.equal(sw.preset, "smoke");
  assert.deepEqual(sw.models, ["builtin:induction", "shape:tiny"]);
  assert.deepEqual(sw.tasks.map((t) => [t.name, t.models]), [
    ["passkey", ["builtin:induction"]],
    ["fidelity", ["shape:tiny"]],
  ]);
  assert.equal(taskSpecFromArgs([], false).spec.preset, "default");
  const s = taskSpecFromArgs([
    "--model",
    "shape:tiny",
    "--tasks",
    "fidelity",
    "--methods",
    "full,snapkv,h2o+int8",
    "--params",
    "snapkv.window=16",
    "--ratios",
    "2,4",
    "--budgets",
    "64",
    "--lengths",
    "256,1k",
    "--memory-budget",
    "64MiB",
    "--batch",
    "2",
  ], true).spec;
  assert.deepEqual(s.models, ["shape:tiny"]);
  assert.deepEqual(s.lengths, [256, 1024]);
  assert.deepEqual(s.budgets, [{ ratio: 2 }, { ratio: 4 }, { budgetTokens: 64 }]);
  assert.deepEqual(s.methods[1], { name: "snapkv", params: { window: 16 } });
  assert.equal(s.memoryBudget, 64 * 2 ** 20);
  assert.equal(s.batchSize, 2);
  // no position override: no such field, so every earlier spec keeps its hash
  assert.ok(!("positions" in s));
  const p = taskSpecFromArgs(["--max-positions", "8192", "--rope-factor", "2"], true).spec;
  assert.deepEqual(p.positions, { maxPositions: 8192, ropeFactor: 2 });
  assert.throws(
    () => taskSpecFromArgs(["--rope-factor", "1"], true),
    /positions: ropeFactor: got 1, expected a number > 1/,
  );
  assert.throws(
    () => taskSpecFromArgs(["--max-positions", "8k"], true),
    /--max-positions: got "8k", expected an integer/,
  );
  assert.deepEqual(parseConfig('{"positions": {"maxPositions": 4096}}', "run.json"), {
    positions: { maxPositions: 4096 },
  });
  assert.throws(
    () => parseConfig('{"positions": {"max": 4096}}', "run.json"),
    /run.json: "positions" is \{"max":4096\}; expected \{ "maxPositions": n, "ropeFactor": x \}/,
  );
});

Deno.test("task spec: bad values are named with what was expected", () => {
  const bad = (args: string[], re: RegExp) => assert.throws(() => taskSpecFromArgs(args, true), re);
  bad(["--methods", "nope"], /unknown method "nope"/);
  bad(["--methods", "h2o+kivi4"], /h2o cannot be stored as kivi4/);
  bad(["--formats", "fp9"], /unknown cache format "fp9"/);
  bad(["--tasks", "nope"], /unknown task "nope"/);
  bad(["--prefill-chunk", "64"], /prefill chunk 64: applies to --prefill streaming/);
  bad(["--prefill", "streaming", "--prefill-chunk", "0"], /prefill chunk \(tokens\): got 0/);
  bad(["--prefill", "sideways"], /--prefill: got "sideways", expected one of dense, streaming/);
  bad(["--model", "shape:tiny", "--tasks", "passkey"], /shape:tiny has random weights.*fidelity/);
  bad(
    ["--model", "builtin:induction", "--tasks", "niah_single_1"],
    /synthetic mechanism model, not an LLM.*supports: passkey, kv_retrieval/,
  );
  bad(["--budgets", "2k", "--lengths", "1k"], /budget 2048 tokens: larger than the shortest/);
  bad(["--ratios", "0.5"], /ratio: got 0.5, expected a finite number ≥ 1/);
  bad(["--batch", "0"], /batch size: got 0/);
  bad(["--memory-budget", "lots"], /--memory-budget: got "lots", expected a size/);
  bad(["--params", "h2o.window=3", "--methods", "full,snapkv"], /"h2o" is not among the methods/);
  bad(["--params", "snapkv.nope=3", "--methods", "snapkv"], /nope/);
  bad(["--preset", "huge"], /--preset: got "huge", expected one of smoke, quick, default/);
  bad(["--config", "/nonexistent/run.json"], /--config: cannot read \/nonexistent\/run.json/);
  bad(["--bogus"], /Unknown option '--bogus'/);
});

Deno.test("task spec: config files are type-checked field by field", () => {
  const c = parseConfig(
    JSON.stringify({ methods: ["full", { name: "snapkv", params: { window: 8 } }], seed: 3 }),
    "run.json",
  );
  assert.deepEqual(c.methods, [{ name: "full" }, { name: "snapkv", params: { window: 8 } }]);
  assert.throws(() => parseConfig("{", "run.json"), /run.json: not JSON/);
  // a results folder's spec.json is a config too
  const again = parseConfig(
    JSON.stringify({ ...taskPreset("smoke"), runId: "tasks-0", specHash: "0", command: "x" }),
    "spec.json",
  );
  const { suite: _suite, ...fields } = taskPreset("smoke");
  assert.deepEqual(again, fields);
  assert.throws(() => parseConfig('{"nope": 1}', "run.json"), /unknown field "nope"/);
  assert.throws(
    () => parseConfig('{"lengths": "4k"}', "run.json"),
    /"lengths" is "4k"; expected a list of token counts/,
  );
  assert.equal(parseBytes("8GiB"), 8 * 2 ** 30);
  assert.equal(parseBytes("2GB"), 2e9);
  assert.equal(parseBytes("1024"), 1024);
});

Deno.test("task spec: the cross product, its skips, and a stable hash", async () => {
  const spec: TaskRunSpec = {
    ...taskPreset("smoke"),
    methods: [{ name: "full" }, { name: "h2o" }, { name: "snapkv+int4" }],
    formats: ["fp16", "kivi2"],
    budgets: [{ ratio: 2 }, { budgetTokens: 32 }],
  };
  const { variants: vs, skipped } = variants(spec);
  const names = vs.map((v) =>
    `${v.method}+${v.format}@${v.budget ? JSON.stringify(v.budget) : "-"}`
  );
  assert.deepEqual(names, [
    "full+fp16@-",
    "full+kivi2@-",
    'h2o+fp16@{"ratio":2}',
    'h2o+fp16@{"budgetTokens":32}',
    'snapkv+int4@{"ratio":2}',
    'snapkv+int4@{"budgetTokens":32}',
  ]);
  assert.equal(skipped.length, 1);
  assert.match(skipped[0], /^h2o\+kivi2: /);
  // the hash ignores key order and changes with any value
  const reordered = Object.fromEntries(Object.entries(spec).reverse());
  assert.equal(await specHash(spec), await specHash(reordered));
  assert.notEqual(await specHash(spec), await specHash({ ...spec, seed: 1 }));
  const a = taskSpecFromArgs(["--lengths", "256", "--ratios", "4"], true).spec;
  const b = taskSpecFromArgs(["--ratios", "4", "--lengths", "256"], true).spec;
  assert.equal(await specHash(a), await specHash(b));
});

Deno.test("task spec: --list names every method, format, task and model kind", () => {
  const text = listing();
  for (
    const name of ["snapkv", "h2o", "kivi2", "int4", "passkey", "fidelity", "builtin:induction"]
  ) {
    assert.ok(text.includes(name), `--list lacks ${name}`);
  }
  assert.match(text, /shape:llama-3-8b/);
});

Deno.test("task summary: scores relative to the full fp16 cache", () => {
  const rec = (method: string, format: string, score: number, ratio?: number) =>
    ({
      kind: "sample",
      model: "m",
      modelLabel: null,
      task: "passkey",
      contextLength: 256,
      method,
      params: {},
      format,
      ...(ratio ? { ratio } : {}),
      batchSize: 1,
      score,
      kvBytes: 100,
      compression: 1,
      peakGpuBytes: 1,
      ttftMs: 1,
      decodeTokensPerSec: 1,
    }) as unknown as TaskRecord;
  const rows = taskRows([
    rec("full", "fp16", 1),
    rec("full", "fp16", 0.5),
    rec("full", "kivi2", 0.25),
    rec("snapkv", "fp16", 0.25, 4),
    rec("snapkv", "fp16", 0.5, 4),
  ]);
  const row = (m: string, f: string) => rows.find((r) => r.method === m && r.format === f)!;
  assert.equal(row("full", "fp16").score, 0.75);
  assert.equal(row("full", "fp16").relative, 1);
  assert.equal(row("full", "kivi2").relative, 0.25 / 0.75);
  assert.equal(row("snapkv", "fp16").samples, 2);
  assert.equal(row("snapkv", "fp16").relative, 0.375 / 0.75);
});

/** runTaskSuite's context for a test: results in `dir`, log lines to `log` (default dropped). */
function suiteCtx(
  gpu: Gpu,
  spec: TaskRunSpec,
  dir: string,
  log: (line: string) => void = () => {},
) {
  return { gpu, spec, runId: "t", specHash: "h", out: resultsDir(dir), log, tty: false };
}

function storiesSpec(over: Partial<TaskRunSpec> = {}): TaskRunSpec {
  return {
    ...taskPreset("smoke", STORIES_DIR),
    methods: [{ name: "full" }, { name: "snapkv" }, { name: "h2o" }],
    formats: ["fp16"],
    budgets: [{ ratio: 4 }],
    tasks: [{ name: "passkey", params: { depths: [0.5] } }],
    lengths: [200],
    maxNewTokens: 4,
    ...over,
  };
}

Deno.test({
  name: "task runner: stories260K end to end: every cell recorded and measured",
  ignore: !HAS,
  async fn() {
    const gpu = await testGpu();
    const dir = await Deno.makeTempDir();
    try {
      const spec = storiesSpec({ samples: 2 });
      const out = resultsDir(dir);
      const lines: string[] = [];
      const records = await runTaskSuite(suiteCtx(gpu, spec, dir, (l) => lines.push(l)));
      assert.equal(records.length, 3 * 2);
      const onDisk = readRecords(out.recordsPath).records as unknown as SampleRecord[];
      assert.deepEqual(onDisk.map((r) => recordKey(r)), records.map((r) => recordKey(r)));
      for (const r of onDisk) {
        assert.equal(r.kind, "sample");
        assert.equal(r.suite, "tasks");
        assert.equal(r.representative, !gpu.report.fallback);
        assert.equal(r.adapter.fallback, gpu.report.fallback);
        assert.equal(r.prefillMode, "dense");
        assert.equal(r.simulated, false);
        assert.ok(r.score === 0 || r.score === 1, `passkey exact is 0 or 1, got ${r.score}`);
        assert.ok(r.promptTokens <= 200 && r.promptTokens > 100, `prompt ${r.promptTokens}`);
        assert.ok(r.ttftMs > 0 && r.prefillTokensPerSec > 0 && r.peakGpuBytes > r.kvBytes);
        assert.ok(r.newTokens >= 1 && r.newTokens <= 4);
        if (r.method === "full") {
          assert.equal(r.kvBytes, r.kvBytesFp16);
          assert.equal(r.compression, 1);
          assert.equal(r.keptTokens, r.promptTokens);
        } else {
          assert.equal(r.ratio, 4);
          assert.equal(r.keptTokens, Math.ceil(r.promptTokens / 4));
          assert.ok(r.compression > 2, `${r.method}: ${r.compression}`);
          assert.equal(r.methodMode, r.method === "h2o" ? "decode" : "one-shot");
        }
      }
      // a second run of the same spec finds everything done
      const again = await runTaskSuite(suiteCtx(gpu, spec, dir, (l) => lines.push(l)));
      assert.equal(again.length, 6);
      assert.equal(readRecords(out.recordsPath).records.length, 6);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "task runner: a run killed mid-way resumes to completion with no duplicate records",
  ignore: !HAS,
  async fn() {
    const dir = await Deno.makeTempDir();
    const args = [
      ...BENCH,
      "--suite",
      "tasks",
      "--model",
      STORIES_DIR,
      "--tasks",
      "passkey",
      "--depths",
      "20,80",
      "--lengths",
      "200",
      "--methods",
      "full,snapkv,knorm,streaming_llm",
      "--formats",
      "fp16",
      "--ratios",
      "2,4",
      "--new-tokens",
      "4",
      "--out",
      dir,
    ];
    const expected = 2 * (1 + 3 * 2);
    try {
      const records = `${dir}/records.jsonl`;
      const first = new Deno.Command("deno", { args, stdout: "null", stderr: "null" })
        .spawn();
      let lines = 0;
      for (let i = 0; i < 1200 && lines < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          lines = readRecords(records).records.length;
        } catch {
          lines = 0;
        }
      }
      first.kill("SIGKILL");
      const status = await first.status;
      const killedAt = readRecords(records).records.length;
      assert.ok(killedAt >= 2, `the first run wrote ${killedAt} records before the kill`);
      assert.ok(
        killedAt < expected && !status.success,
        `the run finished (${killedAt}/${expected}) before it was killed; the test proves nothing`,
      );
      const second = await new Deno.Command("deno", { args, stdout: "piped" }).output();
      const text = new TextDecoder().decode(second.stdout);
      assert.equal(second.code, 0, text);
      assert.match(text, new RegExp(`resuming: ${killedAt} records already there`));
      const all = readRecords(records).records as unknown as TaskRecord[];
      assert.equal(all.length, expected);
      assert.equal(new Set(all.map(recordKey)).size, expected, "duplicate records");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bench CLI: --suite all runs the kernel suite, then the task runner, each into a folder",
  ignore: !HAS,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const r = await new Deno.Command("deno", {
        args: [
          ...BENCH,
          "--suite",
          "all",
          "--model",
          STORIES_DIR,
          "--tasks",
          "passkey",
          "--depths",
          "50",
          "--lengths",
          "200",
          "--formats",
          "fp16",
          "--methods",
          "full,snapkv",
          "--ratios",
          "4",
          "--new-tokens",
          "2",
          "--heads",
          "4",
          "--kv-heads",
          "2",
          "--head-dim",
          "32",
          "--reps",
          "1",
          "--warmup",
          "0",
          "--copy-mib",
          "1",
          "--out",
          dir,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, text);
      const runs = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.equal(runs.length, 2, runs.join(", "));
      assert.match(runs[0], /^kernels-[0-9a-f]{12}$/);
      assert.match(runs[1], /^tasks-[0-9a-f]{12}$/);
      const kernels = readRecords(`${dir}/${runs[0]}/records.jsonl`).records;
      const tasks = readRecords(`${dir}/${runs[1]}/records.jsonl`).records;
      // kernels: fp16 decode + needle cells for full and snapkv; tasks: full and snapkv
      assert.ok(kernels.some((x) => x.kind === "decode" && x.headDim === 32));
      assert.ok(kernels.some((x) => x.kind === "needle" && x.method === "snapkv"));
      assert.deepEqual(tasks.map((x) => x.method).sort(), ["full", "snapkv"]);
      assert.match(text, /== kernel suite ==[\s\S]*== task suite ==/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bench CLI: a results folder another process is writing is refused, naming the holder",
  ignore: !HAS,
  async fn() {
    const dir = await Deno.makeTempDir();
    const lock = acquireLock(`${dir}/run.lock`, "a test holding the folder");
    try {
      const r = await new Deno.Command("deno", {
        args: [
          ...BENCH,
          "--suite",
          "tasks",
          "--model",
          STORIES_DIR,
          "--tasks",
          "passkey",
          "--lengths",
          "200",
          "--methods",
          "full",
          "--out",
          dir,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 2, err);
      assert.match(err, /run\.lock is held by pid \d+ \(a test holding the folder/);
      assert.equal(readRecords(`${dir}/records.jsonl`).records.length, 0);
    } finally {
      lock.release();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "task runner: streaming prefill is recorded per variant (full and quest prefill dense)",
  ignore: !HAS,
  async fn() {
    const gpu = await testGpu();
    const dir = await Deno.makeTempDir();
    try {
      const spec = storiesSpec({
        methods: [{ name: "full" }, { name: "snapkv" }],
        prefill: "streaming",
        prefillChunk: 64,
      });
      const records = await runTaskSuite(suiteCtx(gpu, spec, dir)) as SampleRecord[];
      const by = (m: string) => records.find((r) => r.method === m)!;
      assert.equal(by("full").prefillMode, "dense");
      assert.equal(by("full").prefillChunk, null);
      assert.equal(by("snapkv").prefillMode, "streaming");
      assert.equal(by("snapkv").prefillChunk, 64);
      assert.equal(by("snapkv").keptTokens, Math.ceil(by("snapkv").promptTokens / 4));
      assert.ok(by("snapkv").bytesReadPerStep > 0);
      assert.ok(by("snapkv").bytesReadPerStep < by("full").bytesReadPerStep);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "task runner: methods past a model's sliding window are refused before anything runs",
  ignore: !HAS,
  async fn() {
    const gpu = await testGpu();
    // stories260K's weights under a mistral config with a 64-token window
    const model = await Deno.makeTempDir();
    const dir = await Deno.makeTempDir();
    try {
      for (const f of Deno.readDirSync(STORIES_DIR)) {
        if (f.name !== "config.json") {
          await Deno.copyFile(`${STORIES_DIR}/${f.name}`, `${model}/${f.name}`);
        }
      }
      const config = JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/config.json`));
      await Deno.writeTextFile(
        `${model}/config.json`,
        JSON.stringify({
          ...config,
          architectures: ["MistralForCausalLM"],
          model_type: "mistral",
          sliding_window: 64,
        }),
      );
      const base = { ...storiesSpec(), models: [model] };
      const ctx = (spec: TaskRunSpec) => suiteCtx(gpu, spec, dir);
      await assert.rejects(
        () => runTaskSuite(ctx(base)),
        /passkey at length 200: \d+ prompt tokens \+ 4 new tokens exceed .* sliding_window 64, which only full caches apply; methods snapkv, h2o need lengths ≤ 60 \(or run "full" alone\)/,
      );
      assert.equal(readRecords(`${dir}/records.jsonl`).records.length, 0, "nothing ran");
      // full caches apply the window
      const records = await runTaskSuite(
        ctx({ ...base, methods: [{ name: "full" }], formats: ["fp16"] }),
      );
      assert.equal(records.length, 1);
      const full = records[0] as SampleRecord;
      assert.equal(full.slidingWindow, 64);
      // fp16 rolls past the window: its cache (and its fp16 baseline) hold 64 prompt tokens
      assert.deepEqual([full.keptTokens, full.compression], [64, 1]);
      assert.ok(full.promptTokens > 64);
    } finally {
      await Deno.remove(model, { recursive: true });
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "task runner: a length past max_position_embeddings runs with positions, and says so",
  ignore: !HAS,
  async fn() {
    const gpu = await testGpu();
    const dir = await Deno.makeTempDir();
    try {
      // stories260K: max_position_embeddings 512; passkey at 600 tokens
      const spec = storiesSpec({ methods: [{ name: "full" }], lengths: [600] });
      const ctx = (s: TaskRunSpec) => suiteCtx(gpu, s, dir);
      await assert.rejects(
        () => runTaskSuite(ctx(spec)),
        /exceed .*'s context of 512 \(max_position_embeddings 512\); .*positions \{ maxPositions, ropeFactor \} allows longer/,
      );
      const records = await runTaskSuite(ctx({ ...spec, positions: { maxPositions: 1024 } }));
      const r = records[0] as SampleRecord;
      assert.ok(r.promptTokens > 512, `${r.promptTokens} tokens`);
      assert.deepEqual([r.maxPositions, r.ropeScaling], [1024, null]);
      await assert.rejects(
        () => runTaskSuite(ctx({ ...spec, positions: { maxPositions: 100 } })),
        /positions for .*stories260K: max positions: got 100, expected an integer in \[512/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
