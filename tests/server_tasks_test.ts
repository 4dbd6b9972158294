// The task runner over HTTP (server/suite_tasks.ts): a tasks RunSpec is accepted with the CLI's
// run id and an equivalent command; bad specs are 400s naming the field; the catalog lists the
// tasks suite, its presets, the tasks and the built-in models; /openapi.json documents
// TaskRunSpec; the cells the server counts ahead are the records a real run writes (the
// stories260K fixture below --models-dir, skipped without ../shared); and the data-dir and
// run-folder locks keep two writers apart, taking over locks whose process is gone.

import assert from "node:assert/strict";
import { specHash } from "../engine/bench/results.ts";
import { taskSpecFromArgs } from "../engine/bench/task_cli.ts";
import { taskPreset, type TaskRunSpec } from "../engine/bench/task_spec.ts";
import { BUILTIN_MODELS } from "../engine/model/builtin/mod.ts";
import { TASKS as TASK_REGISTRY } from "../engine/tasks/registry.ts";
import { createApp, DATA_LOCK } from "../server/app.ts";
import { RUN_LOCK } from "../server/executor.ts";
import { acquireLock, LockError, readLock } from "../engine/bench/lock.ts";
import { ModelList, Run, SuiteList, TaskList } from "../server/schemas.ts";
import { enginePath, samplesOf, taskCells } from "../server/suite_tasks.ts";
import { sourceInfo } from "../engine/model/source.ts";
import { call, fileRecords, followToEnd, tempDir, testApp, TINY } from "./server_helpers.ts";

const post = (kv: ReturnType<typeof testApp>, body: unknown) =>
  call(kv, "POST", "/v1/runs", { body });
// deno-lint-ignore no-explicit-any
const paths = (body: any): string[] => body.error.details.map((d: any) => d.path.join("."));
// deno-lint-ignore no-explicit-any
const messages = (body: any): string => body.error.details.map((d: any) => d.message).join(" | ");

const FIXTURES = new URL("../../shared/fixtures", import.meta.url).pathname;
const STORIES = `${FIXTURES}/stories260K`;
const hasStories = (() => {
  try {
    return Deno.statSync(`${STORIES}/config.json`).isFile;
  } catch {
    return false;
  }
})();
if (!hasStories) console.warn(`server_tasks: ${STORIES} is absent: the real-run tests are skipped`);

const BUILTIN = Object.keys(BUILTIN_MODELS).map((n) => `builtin:${n}`);

/** A small spec on the default built-in model (nothing runs: the executor is not started). */
const SMALL = {
  suite: "tasks",
  preset: "smoke",
  models: ["builtin:induction"],
  methods: ["full", "snapkv", { name: "streaming_llm", params: { sinks: 8 } }],
  formats: ["fp16"],
  budgets: [{ ratio: 2 }],
  tasks: ["passkey"],
  lengths: [256],
  depths: [0.25, 0.75],
  maxNewTokens: 8,
};

// --- submitting --------------------------------------------------------------------------------

Deno.test("POST a tasks RunSpec: 202, the CLI's run id, and a command that gives the same spec", async () => {
  const kv = testApp();
  try {
    const r = await post(kv, SMALL);
    assert.equal(r.status, 202, r.text);
    assert.match(r.body.id, /^tasks-[0-9a-f]{12}$/);
    const dir = `${kv.dataDir}/results/${r.body.id}`;
    const specJson = JSON.parse(Deno.readTextFileSync(`${dir}/spec.json`));
    assert.equal(specJson.runId, r.body.id);
    // The same run from CLI flags: --params for the method's parameters.
    const cli = taskSpecFromArgs(
      [
        "--preset",
        "smoke",
        "--model",
        "builtin:induction",
        "--methods",
        "full,snapkv,streaming_llm",
        "--params",
        "streaming_llm.sinks=8",
        "--formats",
        "fp16",
        "--ratios",
        "2",
        "--tasks",
        "passkey",
        "--lengths",
        "256",
        "--depths",
        "25,75",
        "--new-tokens",
        "8",
      ],
      true,
    );
    const hash = await specHash(cli.spec);
    assert.equal(r.body.id, `tasks-${hash.slice(0, 12)}`);
    // A task named without params takes the preset's (as --tasks does).
    assert.deepEqual(specJson.tasks, taskPreset("smoke", "builtin:induction").tasks);
    // spec.json's command parses back to the same spec.
    assert.match(
      specJson.command,
      /^deno task bench --suite tasks .*--params streaming_llm\.sinks=8/,
    );
    const again = taskSpecFromArgs(specJson.command.split(" ").slice(3), true);
    assert.equal(await specHash(again.spec), hash);
    // Progress total: 3 variants × 2 depths × 1 length, known before the run.
    const run = Run.parse((await call(kv, "GET", `/v1/runs/${r.body.id}`)).body);
    assert.deepEqual(run.progress, { done: 0, total: 6 });
    assert.equal(run.suite, "tasks");

    // Task parameters cannot be flags: the command reads the run folder's run.json.
    const withParams = await post(kv, {
      ...SMALL,
      tasks: [{ name: "kv_retrieval", params: { depths: [0.5], keyDigits: 5 } }],
      depths: null,
    });
    assert.equal(withParams.status, 202, withParams.text);
    const wdir = `${kv.dataDir}/results/${withParams.body.id}`;
    const wspec = JSON.parse(Deno.readTextFileSync(`${wdir}/spec.json`));
    assert.equal(wspec.command, `deno task bench --suite tasks --config ${wdir}/run.json`);
    const fromConfig = taskSpecFromArgs(["--config", `${wdir}/run.json`], true);
    assert.equal(`tasks-${(await specHash(fromConfig.spec)).slice(0, 12)}`, withParams.body.id);
    const wrun = Run.parse((await call(kv, "GET", `/v1/runs/${withParams.body.id}`)).body);
    assert.equal(wrun.progress.total, 3); // 3 variants × 1 depth

    // Two models, each task on the model it suits (a task's own models list, as presets do):
    // 3 variants × (passkey × 2 depths on induction + fidelity × 1 sample on shape:tiny).
    const two = await post(kv, {
      ...SMALL,
      models: ["builtin:induction", "shape:tiny"],
      tasks: [
        { name: "passkey", models: ["builtin:induction"] },
        { name: "fidelity", params: { steps: 4 }, models: ["shape:tiny"] },
      ],
    });
    assert.equal(two.status, 202, two.text);
    const trun = Run.parse((await call(kv, "GET", `/v1/runs/${two.body.id}`)).body);
    assert.equal(trun.progress.total, 3 * 2 + 3 * 1);
    const bad = await post(kv, {
      ...SMALL,
      tasks: [{ name: "passkey", models: ["builtin:induction", "shape:tiny"] }],
    });
    assert.equal(bad.status, 400, bad.text);
    assert.deepEqual(paths(bad.body), ["tasks.0.models"]);

    // Defaults: the preset's, with the software adapter's preset when none is named.
    const bare = await post(kv, { suite: "tasks", seed: 5 });
    assert.equal(bare.status, 202, bare.text);
    const brun = Run.parse((await call(kv, "GET", `/v1/runs/${bare.body.id}`)).body);
    const health = (await call(kv, "GET", "/health")).body;
    const preset = health.software === false ? "default" : "smoke";
    assert.deepEqual(brun.spec, { ...taskPreset(preset), seed: 5 });
  } finally {
    await kv.close();
  }
});

Deno.test("POST a bad tasks RunSpec: 400 naming the field and what was expected", async () => {
  const kv = testApp();
  try {
    const bad = async (patch: Record<string, unknown>, expected: string[], match?: RegExp) => {
      const r = await post(kv, { ...SMALL, ...patch });
      assert.equal(r.status, 400, `${JSON.stringify(patch)} → ${r.status} ${r.text}`);
      assert.equal(r.body.error.code, "invalid_spec");
      assert.deepEqual(paths(r.body), expected, `${JSON.stringify(patch)}: ${r.text}`);
      if (match) assert.match(messages(r.body), match);
    };
    // names
    await bad({ methods: ["full", "nope"] }, ["methods.1"], /expected one of .*snapkv/);
    await bad({ methods: [{ name: "nope" }] }, ["methods.0.name"], /snapkv/);
    await bad({ methods: ["h2o+kivi2"] }, ["methods.0"]);
    await bad({ tasks: ["nope"] }, ["tasks.0"], /passkey/);
    await bad({ formats: ["fp9"] }, ["formats.0"], /kivi4/);
    await bad({ models: ["builtin:nope"] }, ["models.0"]);
    await bad({ models: ["shape:nope"] }, ["models.0"]);
    // method params checked against the method's ParamSpecs
    await bad({ methods: [{ name: "snapkv", params: { window: 0 } }] }, [
      "methods.0.params.window",
    ]);
    await bad({ methods: [{ name: "snapkv", params: { nope: 1 } }] }, ["methods.0.params.nope"]);
    await bad({ methods: [{ name: "full", params: { window: 1 } }] }, ["methods.0.params"]);
    // task params checked against the task's ParamSpecs
    await bad({ tasks: [{ name: "passkey", params: { depths: [2] } }] }, [
      "tasks.0.params.depths.0",
    ]);
    await bad({ tasks: [{ name: "passkey", params: { haystack: "lava" } }] }, [
      "tasks.0.params.haystack",
    ]);
    // a built-in model with a task it cannot solve
    await bad({ tasks: ["passkey", "niah_single_1"] }, ["tasks.1"], /not an LLM/);
    // random weights: only fidelity
    await bad({ models: ["shape:tiny"] }, ["tasks.0"], /fidelity/);
    // budget too large for the shortest length
    await bad({ budgets: [{ budgetTokens: 1000 }] }, ["budgets.0.budgetTokens"], /\[1, 256\]/);
    await bad({ budgets: [] }, ["budgets"]);
    await bad({ budgets: [{ ratio: 0.5 }] }, ["budgets.0.ratio"]);
    await bad({ budgets: [{ ratio: 2, budgetTokens: 3 }] }, ["budgets.0"]);
    // prefill streaming is a mode the engine runs: accepted (the one run this test queues)
    assert.equal((await post(kv, { ...SMALL, prefill: "streaming" })).status, 202);
    await bad({ prefillChunk: 64 }, ["prefillChunk"], /applies to --prefill streaming/);
    await bad({ prefill: "lazy" }, ["prefill"]);
    // wrong types and ranges
    await bad({ samples: "3" }, ["samples"]);
    await bad({ lengths: [12] }, ["lengths.0"]);
    await bad({ lengths: [256, 256] }, ["lengths"]);
    await bad({ depths: [1.5] }, ["depths.0"]);
    await bad({ memoryBudget: 5 }, ["memoryBudget"]);
    await bad({ batchSize: 0 }, ["batchSize"]);
    await bad({ chat: "yes" }, ["chat"]);
    await bad({ positions: { ropeFactor: 0.5 } }, ["positions.ropeFactor"]);
    await bad({ positions: { maxPositions: 1.5 } }, ["positions.maxPositions"]);
    await bad({ positions: { nope: 2 } }, ["positions.nope"]);
    await bad({ positions: {} }, ["positions"], /give maxPositions, ropeFactor or both/);
    await bad({ extra: 1 }, ["extra"]);
    // paths of the engine's own messages
    assert.deepEqual(enginePath('prefill "x": nope', taskPreset("smoke")), ["prefill"]);
    assert.deepEqual(enginePath("seed: got -1", taskPreset("smoke")), ["seed"]);
    assert.deepEqual(enginePath('task "passkey" on m: no', taskPreset("smoke")), ["tasks", 0]);
    assert.deepEqual(enginePath("something else", taskPreset("smoke")), []);
    // files: none without --models-dir / --task-data, never outside them
    await bad({ models: ["local:stories260K"] }, ["models.0"], /--models-dir/);
    await bad({ models: ["/etc"] }, ["models.0"]);
    await bad({ models: ["local:../etc"] }, ["models.0"]);
    await bad({ haystack: "essays" }, ["haystack"], /--task-data/);
    await bad({ data: "/etc/passwd" }, ["data"]);
    assert.equal(kv.service.store.ids().length, 1); // the streaming run above, nothing else
  } finally {
    await kv.close();
  }
});

Deno.test("local: models and data paths resolve below --models-dir and --task-data only", async () => {
  const models = tempDir("kvlab-models-");
  const data = tempDir("kvlab-data-");
  Deno.mkdirSync(`${models}/m1`);
  Deno.writeTextFileSync(`${models}/m1/config.json`, "{}");
  Deno.mkdirSync(`${models}/empty`);
  Deno.symlinkSync("/etc", `${models}/escape`);
  Deno.writeTextFileSync(
    `${data}/rows.jsonl`,
    [1, 2, 3].map((i) => JSON.stringify({ index: i, input: "x", outputs: ["y"] })).join("\n") +
      "\n",
  );
  const kv = testApp({ modelsDir: models, taskDataDir: data });
  try {
    const bad = async (patch: Record<string, unknown>, expected: string[], match: RegExp) => {
      const r = await post(kv, { ...SMALL, ...patch });
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(paths(r.body), expected, r.text);
      assert.match(messages(r.body), match);
    };
    await bad({ models: ["local:absent"] }, ["models.0"], /no such/);
    await bad({ models: ["local:empty"] }, ["models.0"], /config\.json/);
    await bad({ models: ["local:escape"] }, ["models.0"], /outside/);
    await bad({ haystack: "absent" }, ["haystack"], /no such/);
    // models listed
    const list = ModelList.parse((await call(kv, "GET", "/v1/models")).body);
    assert.deepEqual(list.local.map((x) => x.name), ["local:m1"]);
    assert.equal(list.modelsDir, models);
    // a data path for ruler_jsonl: resolved to the real file, its rows counted (3 rows, 2 taken)
    const spec = {
      suite: "tasks",
      preset: "smoke",
      models: ["shape:tiny"],
      methods: ["full"],
      formats: ["fp16"],
      tasks: ["fidelity"],
      lengths: [64],
      samples: 2,
    };
    const ok = await post(kv, spec);
    assert.equal(ok.status, 202, ok.text);
    const run = Run.parse((await call(kv, "GET", `/v1/runs/${ok.body.id}`)).body);
    assert.equal(run.progress.total, 2);
    const ruler: TaskRunSpec = {
      ...taskPreset("smoke"),
      models: [`${models}/m1`],
      methods: [{ name: "full" }],
      formats: ["fp16"],
      tasks: [{ name: "ruler_jsonl", params: { path: `${data}/rows.jsonl` } }],
      lengths: [64],
      samples: 2,
    };
    assert.equal(samplesOf(ruler, sourceInfo(`${models}/m1`), ruler.tasks[0]), 2);
    assert.equal(taskCells(ruler), 2);
    assert.equal(taskCells({ ...ruler, samples: 10 }), 3);
    // unreadable data: unknown ahead (null), never a guess
    assert.equal(
      taskCells({ ...ruler, tasks: [{ name: "ruler_jsonl", params: { path: `${data}/no` } }] }),
      null,
    );
  } finally {
    await kv.close();
  }
});

// --- catalog and schema ------------------------------------------------------------------------

Deno.test("the catalog lists the tasks suite, its presets, the tasks and the built-in models", async () => {
  const kv = testApp();
  try {
    const suites = SuiteList.parse((await call(kv, "GET", "/v1/suites")).body);
    const tasks = suites.suites.find((s) => s.name === "tasks");
    assert.ok(tasks, "no tasks suite in /v1/suites");
    assert.deepEqual(Object.keys(tasks.presets), ["smoke", "quick", "default", "paper", "full"]);
    assert.deepEqual(tasks.presets.smoke, taskPreset("smoke"));
    assert.ok(JSON.stringify(tasks.spec).includes('"tasks"'));

    const list = TaskList.parse((await call(kv, "GET", "/v1/tasks")).body);
    assert.deepEqual(list.tasks.map((t) => t.name), TASK_REGISTRY.map((t) => t.name));
    const passkey = list.tasks.find((t) => t.name === "passkey")!;
    assert.ok(passkey.params.some((p) => p.name === "depths"));
    for (const b of BUILTIN) {
      const supported = BUILTIN_MODELS[b.slice(8)].supportedTasks;
      for (const t of list.tasks) {
        assert.equal(t.builtinModels.includes(b), supported.includes(t.name), `${b} ${t.name}`);
      }
    }

    const models = ModelList.parse((await call(kv, "GET", "/v1/models")).body);
    assert.deepEqual(models.builtin.map((m) => m.name), BUILTIN);
    assert.ok(models.builtin.every((m) => m.label.length > 0));
    assert.deepEqual(models.local, []);
    assert.equal(models.modelsDir, null);

    const doc = (await call(kv, "GET", "/openapi.json")).body;
    const schemas = doc.components.schemas;
    assert.ok(schemas.TaskRunSpec, "TaskRunSpec not in /openapi.json");
    assert.ok(JSON.stringify(schemas.RunSpec).includes("#/components/schemas/TaskRunSpec"));
    const props = schemas.TaskRunSpec.properties;
    for (
      const k of [
        "models",
        "methods",
        "formats",
        "budgets",
        "tasks",
        "lengths",
        "depths",
        "prefill",
      ]
    ) {
      assert.ok(props[k], `TaskRunSpec.${k}`);
    }
    assert.ok(JSON.stringify(schemas.TaskMethod).includes("window"), "method params documented");
    assert.ok(JSON.stringify(schemas.TaskEntry).includes("depths"), "task params documented");
  } finally {
    await kv.close();
  }
});

// --- real runs ---------------------------------------------------------------------------------

Deno.test({
  name: "a tasks run's cells, counted ahead, are the records it writes (stories260K)",
  ignore: !hasStories,
  async fn() {
    const kv = testApp({ modelsDir: FIXTURES });
    try {
      // fp16 and int8 × full and snapkv at 1/2; the fixture's head dim (8) cannot hold int8, so
      // the runner skips int8 as the count does; 2 depths; a max-batch cell per usable variant.
      const spec = {
        suite: "tasks",
        preset: "smoke",
        models: ["local:stories260K"],
        methods: ["full", "snapkv"],
        formats: ["fp16", "int8"],
        budgets: [{ ratio: 2 }],
        tasks: ["passkey"],
        depths: [0.5, 0.9],
        lengths: [200],
        maxNewTokens: 4,
        memoryBudget: 4 << 20,
      };
      const r = await post(kv, spec);
      assert.equal(r.status, 202, r.text);
      const before = Run.parse((await call(kv, "GET", `/v1/runs/${r.body.id}`)).body);
      assert.deepEqual(before.spec.models, [Deno.realPathSync(STORIES)]);
      assert.equal(before.progress.total, 2 * 2 + 2);
      // Where the server cannot count ahead (total null), the runner's count replaces it.
      kv.service.store.update(r.body.id, { cellsTotal: null });
      const unknown = Run.parse((await call(kv, "GET", `/v1/runs/${r.body.id}`)).body);
      assert.deepEqual(unknown.progress, { done: 0, total: null });
      kv.executor.start();
      const events = await followToEnd(kv, r.body.id, 300_000);
      const end = events.at(-1)!.data;
      assert.equal(end.status, "done", JSON.stringify(end));
      const records = fileRecords(kv.dataDir, r.body.id);
      assert.equal(records.length, before.progress.total);
      assert.equal(records.filter((x) => x.kind === "sample").length, 4);
      assert.equal(records.filter((x) => x.kind === "maxBatch").length, 2);
      assert.ok(records.every((x) => x.format === "fp16"));
      const after = Run.parse((await call(kv, "GET", `/v1/runs/${r.body.id}`)).body);
      assert.deepEqual(after.progress, { done: 6, total: 6 });
      const summary = (await call(kv, "GET", `/v1/runs/${r.body.id}/summary`)).body;
      assert.equal(summary.suite, "tasks");
      assert.equal(summary.rows.length, 2);
      assert.equal(summary.maxBatch.length, 2);
      // the run folder's lock is free once the run ended
      assert.equal(readLock(`${kv.dataDir}/results/${r.body.id}/${RUN_LOCK}`)?.held, false);
    } finally {
      await kv.close();
    }
  },
});

Deno.test("a tasks run on builtin:induction and shape:tiny over HTTP: counted cells, real scores", async () => {
  const kv = testApp({ autostart: true });
  try {
    const r = await post(kv, {
      suite: "tasks",
      preset: "smoke",
      models: ["builtin:induction", "shape:tiny"],
      methods: ["full", "snapkv+kivi2"],
      formats: ["fp16"],
      budgets: [{ ratio: 2 }],
      tasks: [
        { name: "passkey", models: ["builtin:induction"] },
        { name: "fidelity", params: { steps: 4 }, models: ["shape:tiny"] },
      ],
      depths: [0.5],
      lengths: [256],
      maxNewTokens: 10,
    });
    assert.equal(r.status, 202, r.text);
    const before = Run.parse((await call(kv, "GET", `/v1/runs/${r.body.id}`)).body);
    // full fp16 and snapkv+kivi2 1/2 (both models' head dims hold kivi2) × one sample each
    assert.equal(before.progress.total, 2 * 2);
    const end = (await followToEnd(kv, r.body.id, 300_000)).at(-1)!.data;
    assert.equal(end.status, "done", JSON.stringify(end));
    const all = fileRecords(kv.dataDir, r.body.id);
    assert.equal(all.length, 4);
    const shape = all.filter((x) => x.model === "shape:tiny");
    assert.deepEqual(shape.map((x) => [x.task, x.modelLabel]), [
      ["fidelity", "random weights"],
      ["fidelity", "random weights"],
    ]);
    // fidelity scores agreement with the full cache: the full cache agrees with itself
    assert.equal(shape.find((x) => x.method === "full")!.score, 1);
    const records = all.filter((x) => x.model === "builtin:induction");
    assert.equal(records.length, 2);
    const full = records.find((x) => x.method === "full")!;
    assert.equal(full.modelLabel, "synthetic mechanism model, not an LLM");
    assert.equal(full.score, 1, `full cache: ${JSON.stringify(full.prediction)}`);
    assert.equal(records.find((x) => x.method === "snapkv")!.format, "kivi2");
  } finally {
    await kv.close();
  }
});

// --- locks -------------------------------------------------------------------------------------

const canRunDeno = Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted";

Deno.test("one server per data dir: a live holder is refused by name, a dead one's lock is free", async () => {
  const dataDir = tempDir();
  const lockPath = `${dataDir}/${DATA_LOCK}`;
  const a = testApp({ dataDir });
  try {
    assert.deepEqual(readLock(lockPath)?.held, true);
    assert.equal(readLock(lockPath)?.info?.pid, Deno.pid);
    assert.throws(
      () => createApp({ dataDir, autostart: false }),
      (e: unknown) =>
        e instanceof LockError && e.message.includes(`held by pid ${Deno.pid} (this process)`),
    );
  } finally {
    await a.close();
  }
  assert.deepEqual(readLock(lockPath), { info: null, held: false }, "close() releases the lock");

  // A server killed without closing left its text behind, but the kernel dropped its lock.
  Deno.writeTextFileSync(lockPath, JSON.stringify({ pid: 2 ** 30, purpose: "x", since: "" }));
  const b = testApp({ dataDir });
  try {
    assert.equal(readLock(lockPath)?.info?.pid, Deno.pid);
  } finally {
    await b.close();
  }

  if (!canRunDeno) {
    console.warn("server_tasks: no --allow-run=deno: the other-process lock check is skipped");
    return;
  }
  // Another live process holds it: refused, naming that process; free again once it ends.
  const child = new Deno.Command("deno", {
    args: [
      "eval",
      `const f = Deno.openSync(${JSON.stringify(lockPath)}, { read: true, write: true });
       if (!f.tryLockSync(true)) Deno.exit(3);
       f.truncateSync(0);
       f.writeSync(new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, purpose: "cli", since: "t" })));
       console.log("locked");
       await new Promise((r) => setTimeout(r, 60_000));`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value?.trim(), "locked");
    reader.releaseLock();
    assert.throws(
      () => createApp({ dataDir, autostart: false }),
      new RegExp(`held by pid ${child.pid} \\(cli, since t\\)`),
    );
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
  const c = testApp({ dataDir });
  await c.close();
});

Deno.test("a run whose folder another writer holds fails with why; it resumes once free", async () => {
  const kv = testApp();
  try {
    const r = await post(kv, { ...TINY, seed: 91 });
    assert.equal(r.status, 202, r.text);
    const id = r.body.id as string;
    // Another writer (as a bench CLI taking the same lock would) holds the run's folder.
    const other = acquireLock(`${kv.dataDir}/results/${id}/${RUN_LOCK}`, "bench cli");
    kv.executor.start();
    const last = (await followToEnd(kv, id)).at(-1)!.data;
    assert.equal(last.status, "failed");
    assert.match(last.error, /in use: .*held by pid \d+ .*\(bench cli, since/);
    assert.equal(fileRecords(kv.dataDir, id).length, 0, "nothing was written");
    other.release();
    assert.equal((await call(kv, "POST", `/v1/runs/${id}/resume`)).status, 202);
    assert.equal((await followToEnd(kv, id)).at(-1)!.data.status, "done");
    assert.equal(readLock(`${kv.dataDir}/results/${id}/${RUN_LOCK}`)?.held, false);
  } finally {
    await kv.close();
  }
});
