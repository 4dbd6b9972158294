// The HTTP API's routes through app.request(), without running anything on the GPU (the
// executor is not started): catalog, validation and its field errors, the CLI-compatible run
// ids, listing, cancel/resume of queued runs, auth, body limit, CORS, error shapes, reindex
// from results folders, and many concurrent submissions. tests/server_runs_test.ts runs real
// suites; tests/server_main_test.ts serves on loopback.

import assert from "node:assert/strict";
import { specFromArgs } from "../engine/bench/main.ts";
import { specHash } from "../engine/bench/results.ts";
import { formatNames } from "../engine/cache/registry.ts";
import { METHODS, parseComposition } from "../engine/methods/registry.ts";
import { presetNames, PRESETS as MODEL_PRESETS } from "../engine/model/presets.ts";
import { tokensEqual } from "../server/auth.ts";
import {
  compositionNames,
  FormatList,
  Health,
  MethodList,
  ModelList,
  Run,
  RunList,
  TaskList,
} from "../server/schemas.ts";
import { runIdOf, specHashSync } from "../server/service.ts";
import { KERNELS } from "../server/suites.ts";
import { call, tempDir, testApp, TINY } from "./server_helpers.ts";

const post = (kv: ReturnType<typeof testApp>, body: unknown, headers?: Record<string, string>) =>
  call(kv, "POST", "/v1/runs", { body, headers });

/** Field paths of a 400's details. */
// deno-lint-ignore no-explicit-any
const paths = (body: any): string[] => body.error.details.map((d: any) => d.path.join("."));

// --- catalog ---------------------------------------------------------------------------------------

Deno.test("GET /health reports status, version, adapter and its software flag", async () => {
  const kv = testApp();
  try {
    const r = await call(kv, "GET", "/health");
    assert.equal(r.status, 200);
    const h = Health.parse(r.body);
    assert.equal(h.version, "0.1.0");
    if (h.adapter) {
      assert.equal(h.status, "ok");
      assert.equal(h.software, h.adapter.fallback);
    } else {
      assert.equal(h.status, "degraded");
      assert.ok(h.adapterError);
    }
    assert.deepEqual(h.queue, { queued: 0, running: 0 });
    assert.equal(h.auth, false);
  } finally {
    await kv.close();
  }
});

Deno.test("GET /v1/formats and /v1/methods list the engine registries with params and papers", async () => {
  const kv = testApp();
  try {
    const f = FormatList.parse((await call(kv, "GET", "/v1/formats")).body);
    assert.deepEqual(f.formats.map((x) => x.name), formatNames());
    assert.equal(
      f.formats.find((x) => x.name === "kivi4")?.paper,
      "https://arxiv.org/abs/2402.02750",
    );
    assert.equal(f.formats.find((x) => x.name === "kivi2")?.bits, 2);

    const m = MethodList.parse((await call(kv, "GET", "/v1/methods")).body);
    assert.deepEqual(m.methods.map((x) => x.name), METHODS.map((x) => x.name));
    for (const info of METHODS) {
      const got = m.methods.find((x) => x.name === info.name)!;
      assert.equal(got.paper, info.paper);
      assert.deepEqual(got.params, info.params.map((p) => ({ ...p })));
      // The JSON Schema states each parameter's type, range and default.
      const props = (got.paramsSchema as { properties?: Record<string, Record<string, unknown>> })
        .properties ?? {};
      for (const p of info.params) {
        assert.equal(props[p.name].type, p.type === "int" ? "integer" : "number");
        assert.equal(props[p.name].minimum, p.min);
        assert.equal(props[p.name].maximum, p.max);
        assert.equal(props[p.name].default, p.default);
      }
      for (const c of got.compositions) assert.equal(parseComposition(c).method.name, info.name);
    }
    const snap = m.methods.find((x) => x.name === "snapkv")!;
    assert.ok(snap.compositions.includes("snapkv+kivi4"));
    assert.ok(m.budgets);
  } finally {
    await kv.close();
  }
});

Deno.test("GET /v1/tasks lists the task registry with parameter schemas (empty without one)", async () => {
  const kv = testApp();
  try {
    const r = await call(kv, "GET", "/v1/tasks");
    assert.equal(r.status, 200);
    const t = TaskList.parse(r.body);
    const url = new URL("../engine/tasks/registry.ts", import.meta.url);
    let registry: { TASKS?: { name: string; params: { name: string; default?: unknown }[] }[] } =
      {};
    try {
      Deno.statSync(url);
      registry = await import(url.href);
    } catch {
      // not written yet
    }
    const expected = registry.TASKS ?? [];
    assert.deepEqual(t.tasks.map((x) => x.name), expected.map((x) => x.name));
    for (const [i, task] of t.tasks.entries()) {
      assert.deepEqual(task.params.map((p) => p.name), expected[i].params.map((p) => p.name));
      const props = (task.paramsSchema as { properties?: Record<string, { default?: unknown }> })
        .properties ?? {};
      for (const p of expected[i].params) {
        assert.ok(props[p.name], `${task.name}.${p.name} in paramsSchema`);
        assert.deepEqual(props[p.name].default, p.default);
      }
    }
  } finally {
    await kv.close();
  }
});

/** A Hugging Face cache with one runnable llama snapshot and one unsupported model. */
function fakeHubCache(): string {
  const cache = tempDir("kvlab-hf-");
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const add = (repo: string, config: unknown) => {
    Deno.mkdirSync(`${cache}/models--${repo}/refs`, { recursive: true });
    Deno.mkdirSync(`${cache}/models--${repo}/snapshots/${commit}`, { recursive: true });
    Deno.writeTextFileSync(`${cache}/models--${repo}/refs/main`, commit);
    Deno.writeTextFileSync(
      `${cache}/models--${repo}/snapshots/${commit}/config.json`,
      JSON.stringify(config),
    );
  };
  add("acme--tiny-llama", MODEL_PRESETS.tiny.config);
  add("acme--gpt2", { architectures: ["GPT2LMHeadModel"], model_type: "gpt2" });
  return cache;
}

Deno.test("GET /v1/models lists shape: presets and the local Hugging Face cache", async () => {
  const cache = fakeHubCache();
  const kv = testApp({ env: { HF_HUB_CACHE: cache } });
  try {
    const m = ModelList.parse((await call(kv, "GET", "/v1/models")).body);
    assert.deepEqual(m.presets.map((p) => p.name), presetNames().map((n) => `shape:${n}`));
    const tiny = m.presets.find((p) => p.name === "shape:tiny")!;
    assert.equal(tiny.family, "llama");
    assert.equal(tiny.config.kvHeads, 4);
    assert.equal(m.hubCache, cache);
    const llama = m.cached.find((c) => c.name === "hf:acme/tiny-llama")!;
    assert.equal(llama.supported, true);
    assert.equal(llama.parameters, tiny.parameters);
    assert.ok(llama.path.endsWith("/snapshots/0123456789abcdef0123456789abcdef01234567"));
    const gpt2 = m.cached.find((c) => c.name === "hf:acme/gpt2")!;
    assert.equal(gpt2.supported, false);
    assert.equal(gpt2.family, "gpt2");
    assert.match(gpt2.error!, /GPT2LMHeadModel/);
  } finally {
    await kv.close();
  }
});

Deno.test("GET /openapi.json documents every route and the registry-derived RunSpec", async () => {
  const kv = testApp();
  try {
    const r = await call(kv, "GET", "/openapi.json");
    assert.equal(r.status, 200);
    const doc = r.body;
    assert.equal(doc.openapi, "3.1.0");
    for (
      const p of [
        "/health",
        "/v1/formats",
        "/v1/methods",
        "/v1/tasks",
        "/v1/models",
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/runs/{id}/events",
        "/v1/runs/{id}/records",
        "/v1/runs/{id}/summary",
        "/v1/runs/{id}/resume",
        "/openapi.json",
      ]
    ) assert.ok(doc.paths[p], `path ${p}`);
    const kernel = doc.components.schemas.KernelRunSpec;
    assert.deepEqual(kernel.properties.formats.items.enum, formatNames());
    assert.deepEqual(kernel.properties.methods.items.enum, compositionNames());
    assert.equal(kernel.additionalProperties, false);
    assert.deepEqual(doc.paths["/v1/runs"].post.requestBody.content["application/json"].schema, {
      $ref: "#/components/schemas/RunSpec",
    });
    for (const m of METHODS) assert.ok(doc.components.schemas[`MethodParams.${m.name}`]);
    const listParams = doc.paths["/v1/runs"].get.parameters.map((p: { name: string }) => p.name);
    assert.deepEqual(listParams, ["status", "limit", "cursor"]);
    assert.ok(doc.paths["/v1/runs"].post.security);
  } finally {
    await kv.close();
  }
});

// --- submitting --------------------------------------------------------------------------------

Deno.test("POST /v1/runs: malformed bodies and specs are 400s listing field errors", async () => {
  const kv = testApp();
  try {
    const bad = async (body: unknown, code: string) => {
      const r = await post(kv, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.body.error.code, code);
      return r.body;
    };
    await bad("{not json", "invalid_json");
    await bad("", "invalid_json");
    await bad([], "invalid_spec");
    assert.deepEqual(paths(await bad({}, "invalid_spec")), ["suite"]);
    assert.deepEqual(paths(await bad({ suite: "nope" }, "invalid_spec")), ["suite"]);
    assert.deepEqual(
      paths(await bad({ ...TINY, heads: "4", lengths: [64.5], reps: 0 }, "invalid_spec")),
      ["lengths.0", "heads", "reps"],
    );
    const fmt = await bad({ ...TINY, formats: ["fp16", "fp9"] }, "invalid_spec");
    assert.deepEqual(paths(fmt), ["formats.1"]);
    assert.match(fmt.error.details[0].message, /kivi4/);
    assert.deepEqual(paths(await bad({ ...TINY, methods: ["snapkv+fp9"] }, "invalid_spec")), [
      "methods.0",
    ]);
    assert.deepEqual(paths(await bad({ ...TINY, methods: ["nope"] }, "invalid_spec")), [
      "methods.0",
    ]);
    assert.deepEqual(paths(await bad({ ...TINY, extra: 1 }, "invalid_spec")), ["extra"]);
    assert.deepEqual(paths(await bad({ ...TINY, heads: 6, kvHeads: 4 }, "invalid_spec")), [
      "kvHeads",
    ]);
    assert.deepEqual(paths(await bad({ ...TINY, headDim: 48 }, "invalid_spec")), ["headDim"]);
    assert.deepEqual(paths(await bad({ ...TINY, formats: ["fp16", "fp16"] }, "invalid_spec")), [
      "formats",
    ]);
    assert.deepEqual(
      paths(await bad({ ...TINY, budgets: [{ ratio: 2, budgetTokens: 3 }] }, "invalid_spec")),
      [
        "budgets.0",
      ],
    );
    // Cross-field rules the engine's own validator checks: a budget larger than a context.
    const engine = await bad(
      { ...TINY, methods: ["snapkv"], needleDepths: [0.5], budgets: [{ budgetTokens: 100 }] },
      "invalid_spec",
    );
    assert.match(
      engine.error.details[0].message,
      /budgetTokens: got 100, expected an integer in \[1, 64\]/,
    );
    // Model suite: presets and hf: ids come from the registries and the local cache.
    assert.deepEqual(paths(await bad({ suite: "model", models: ["shape:nope"] }, "invalid_spec")), [
      "models.0",
    ]);
    assert.deepEqual(
      paths(
        await bad({ suite: "model", models: ["shape:tiny", "hf:acme/absent"] }, "invalid_spec"),
      ),
      ["models.1"],
    );
    assert.deepEqual(paths(await bad({ suite: "model", newTokens: 1 }, "invalid_spec")), [
      "newTokens",
    ]);
    assert.equal(kv.service.store.ids().length, 0);
  } finally {
    await kv.close();
  }
});

Deno.test("POST /v1/runs queues a run whose id, folder and command are the CLI's", async () => {
  const kv = testApp();
  try {
    const r = await post(kv, TINY);
    assert.equal(r.status, 202);
    assert.equal(r.body.status, "queued");
    assert.equal(r.headers.get("location"), `/v1/runs/${r.body.id}`);
    // The same spec from CLI flags hashes to the same id.
    const cli = specFromArgs(
      "--preset smoke --formats fp16 --lengths 64 --heads 4 --kv-heads 2 --head-dim 32 --reps 1 --warmup 0 --copy-mib 1 --needle-depths none --methods none"
        .split(" "),
      true,
    );
    assert.ok(cli !== "help");
    const hash = await specHash(cli.spec);
    assert.equal(r.body.id, `kernels-${hash.slice(0, 12)}`);
    // spec.json as the CLI writes it, with the equivalent command, which parses to the same spec.
    const spec = JSON.parse(Deno.readTextFileSync(`${kv.dataDir}/results/${r.body.id}/spec.json`));
    assert.equal(spec.runId, r.body.id);
    assert.equal(spec.specHash, hash);
    const again = specFromArgs(spec.command.split(" ").slice(3), true);
    assert.ok(again !== "help");
    assert.equal(await specHash(again.spec), hash);

    // Idempotent: the same spec again is the same run.
    const twice = await post(kv, TINY);
    assert.equal(twice.status, 200);
    assert.deepEqual(twice.body, { id: r.body.id, status: "queued" });

    const g = await call(kv, "GET", `/v1/runs/${r.body.id}`);
    assert.equal(g.status, 200);
    const run = Run.parse(g.body);
    assert.deepEqual(run.progress, { done: 0, total: 1 });
    assert.equal(run.queuePosition, 1);
    assert.equal(run.spec.heads, 4);
    assert.equal(run.error, null);
    assert.ok(run.createdAt && run.startedAt === null);

    // Defaults come from the preset, as on the CLI.
    const full = await post(kv, { suite: "kernels", preset: "smoke", heads: 4, kvHeads: 2 });
    assert.equal(full.status, 202);
    const fullRun = Run.parse((await call(kv, "GET", `/v1/runs/${full.body.id}`)).body);
    assert.deepEqual(fullRun.spec.lengths, [256, 1024]);
    assert.deepEqual(fullRun.spec.formats, formatNames());
    assert.deepEqual(fullRun.spec.budgets, [{ ratio: 4 }]);
    assert.equal(fullRun.queuePosition, 2);
    // No preset: default on a GPU, smoke on a software adapter (as the CLI decides).
    const auto = await post(kv, { suite: "kernels", heads: 4, kvHeads: 2, seed: 77 });
    const autoRun = Run.parse((await call(kv, "GET", `/v1/runs/${auto.body.id}`)).body);
    const health = Health.parse((await call(kv, "GET", "/health")).body);
    assert.equal(autoRun.spec.preset, health.software === false ? "default" : "smoke");
    assert.equal(
      fullRun.progress.total,
      KERNELS.totalCells(fullRun.spec as unknown as Parameters<typeof KERNELS.totalCells>[0]),
    );
  } finally {
    await kv.close();
  }
});

Deno.test("POST /v1/runs accepts a model in the local Hugging Face cache, as its snapshot folder", async () => {
  const cache = fakeHubCache();
  const kv = testApp({ env: { HF_HUB_CACHE: cache } });
  try {
    const r = await post(kv, { suite: "model", models: ["hf:acme/tiny-llama"], lengths: [16] });
    assert.equal(r.status, 202, r.text);
    assert.match(r.body.id, /^model-[0-9a-f]{12}$/);
    const run = Run.parse((await call(kv, "GET", `/v1/runs/${r.body.id}`)).body);
    assert.deepEqual(run.spec.models, [
      `${cache}/models--acme--tiny-llama/snapshots/0123456789abcdef0123456789abcdef01234567`,
    ]);
    assert.equal(run.progress.total, 2); // smoke preset: fp16, kivi4
  } finally {
    await kv.close();
  }
});

// --- reading, cancelling, resuming -------------------------------------------------------------

Deno.test("GET /v1/runs lists newest first with status filter, limit and cursor", async () => {
  const kv = testApp();
  try {
    const ids: string[] = [];
    for (const seed of [1, 2, 3]) ids.push((await post(kv, { ...TINY, seed })).body.id);
    await call(kv, "DELETE", `/v1/runs/${ids[1]}`);
    const all = RunList.parse((await call(kv, "GET", "/v1/runs")).body);
    assert.deepEqual(all.runs.map((r) => r.id), [...ids].reverse());
    assert.equal(all.nextCursor, null);
    const p1 = RunList.parse((await call(kv, "GET", "/v1/runs?limit=2")).body);
    assert.deepEqual(p1.runs.map((r) => r.id), [ids[2], ids[1]]);
    assert.ok(p1.nextCursor);
    const p2 = RunList.parse(
      (await call(kv, "GET", `/v1/runs?limit=2&cursor=${p1.nextCursor}`)).body,
    );
    assert.deepEqual(p2.runs.map((r) => r.id), [ids[0]]);
    assert.equal(p2.nextCursor, null);
    const cancelled = RunList.parse((await call(kv, "GET", "/v1/runs?status=cancelled")).body);
    assert.deepEqual(cancelled.runs.map((r) => r.id), [ids[1]]);
    const two = RunList.parse((await call(kv, "GET", "/v1/runs?status=queued,cancelled")).body);
    assert.equal(two.runs.length, 3);
    for (
      const q of ["status=bogus", "limit=0", "limit=abc", "limit=1000", "cursor=-1", "cursor=x"]
    ) {
      const r = await call(kv, "GET", `/v1/runs?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, "invalid_query");
    }
  } finally {
    await kv.close();
  }
});

Deno.test("bad run ids are 400 and unknown runs 404 on every run route", async () => {
  const kv = testApp();
  try {
    const routes = (id: string) => [
      ["GET", `/v1/runs/${id}`],
      ["GET", `/v1/runs/${id}/events`],
      ["GET", `/v1/runs/${id}/records`],
      ["GET", `/v1/runs/${id}/summary`],
      ["DELETE", `/v1/runs/${id}`],
      ["POST", `/v1/runs/${id}/resume`],
    ];
    for (
      const bad of [
        "..%2F..%2Fetc%2Fpasswd",
        "kernels-ZZZZZZZZZZZZ",
        "kernels-abc",
        "KERNELS-0123456789ab",
        "kernels-0123456789ab%00",
      ]
    ) {
      for (const [method, path] of routes(bad)) {
        const r = await call(kv, method, path);
        assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
        assert.equal(r.body.error.code, "invalid_run_id");
      }
    }
    for (const [method, path] of routes("kernels-0123456789ab")) {
      const r = await call(kv, method, path);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.body.error.code, "not_found");
    }
    // Dot segments are resolved by URL parsing before routing: they never reach a run route.
    for (
      const path of ["/v1/runs/%2e%2e", "/v1/runs/../../etc/passwd", "/v1/runs/%2e%2e/records"]
    ) {
      const r = await call(kv, "GET", path);
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      assert.ok(r.body.error.code);
    }
    const none = await call(kv, "GET", "/v1/nothing");
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, "not_found");
  } finally {
    await kv.close();
  }
});

Deno.test("DELETE cancels a queued run; finished runs are 409; resume requeues", async () => {
  const kv = testApp();
  try {
    const { id } = (await post(kv, TINY)).body;
    const records = await call(kv, "GET", `/v1/runs/${id}/records`);
    assert.deepEqual(records.body, { id, total: 0, offset: 0, records: [] });
    const noSummary = await call(kv, "GET", `/v1/runs/${id}/summary`);
    assert.equal(noSummary.status, 404);
    assert.equal(noSummary.body.error.code, "no_summary");
    const busy = await call(kv, "POST", `/v1/runs/${id}/resume`);
    assert.equal(busy.status, 409);

    const del = await call(kv, "DELETE", `/v1/runs/${id}`);
    assert.deepEqual([del.status, del.body], [200, { id, status: "cancelled" }]);
    const again = await call(kv, "DELETE", `/v1/runs/${id}`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "conflict");
    const run = Run.parse((await call(kv, "GET", `/v1/runs/${id}`)).body);
    assert.equal(run.status, "cancelled");
    assert.ok(run.finishedAt);

    const res = await call(kv, "POST", `/v1/runs/${id}/resume`);
    assert.deepEqual([res.status, res.body], [202, { id, status: "queued" }]);
    // Re-submitting a cancelled spec resumes it too.
    await call(kv, "DELETE", `/v1/runs/${id}`);
    const re = await post(kv, TINY);
    assert.deepEqual([re.status, re.body], [202, { id, status: "queued" }]);

    // A finished run: cancelling it is a conflict.
    kv.service.store.update(id, { status: "done" });
    const fin = await call(kv, "DELETE", `/v1/runs/${id}`);
    assert.equal(fin.status, 409);
    assert.match(fin.body.error.message, /is done/);
    assert.equal((await call(kv, "POST", `/v1/runs/${id}/resume`)).status, 409);
    assert.equal((await post(kv, TINY)).status, 200);
  } finally {
    await kv.close();
  }
});

// --- security and limits -------------------------------------------------------------------------

Deno.test("with a token, mutating requests need Authorization: Bearer; reads do not", async () => {
  const kv = testApp({ token: "s3cret-token" });
  try {
    const none = await post(kv, TINY);
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, "unauthorized");
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.equal((await post(kv, TINY, { authorization: "Bearer wrong" })).status, 401);
    assert.equal((await post(kv, TINY, { authorization: "Basic s3cret-token" })).status, 401);
    assert.equal((await post(kv, TINY, { authorization: "Bearer s3cret-token-" })).status, 401);
    const ok = await post(kv, TINY, { authorization: "Bearer s3cret-token" });
    assert.equal(ok.status, 202);
    const id = ok.body.id;
    assert.equal((await call(kv, "GET", `/v1/runs/${id}`)).status, 200);
    assert.equal((await call(kv, "GET", "/v1/runs")).status, 200);
    assert.equal((await call(kv, "DELETE", `/v1/runs/${id}`)).status, 401);
    assert.equal((await call(kv, "POST", `/v1/runs/${id}/resume`)).status, 401);
    const auth = { headers: { authorization: "Bearer s3cret-token" } };
    assert.equal((await call(kv, "DELETE", `/v1/runs/${id}`, auth)).status, 200);
    assert.equal((await call(kv, "POST", `/v1/runs/${id}/resume`, auth)).status, 202);
    assert.equal((await call(kv, "GET", "/health")).body.auth, true);
  } finally {
    await kv.close();
  }
});

Deno.test("tokens compare by digest in constant time", async () => {
  assert.equal(await tokensEqual("abc", "abc"), true);
  assert.equal(await tokensEqual("abc", "abd"), false);
  assert.equal(await tokensEqual("abc", "abcd"), false);
  assert.equal(await tokensEqual("", "x"), false);
});

Deno.test("bodies over the limit are 413", async () => {
  const kv = testApp({ maxBodyBytes: 1024 });
  try {
    const big = { ...TINY, pad: "x".repeat(2000) };
    const r = await post(kv, big);
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "payload_too_large");
    // Streamed without a length, too.
    const stream = new Blob([JSON.stringify(big)]).stream();
    const s = await kv.app.request("/v1/runs", { method: "POST", body: stream });
    assert.equal(s.status, 413);
    assert.equal((await s.json()).error.code, "payload_too_large");
    assert.equal((await post(kv, TINY)).status, 202);
  } finally {
    await kv.close();
  }
});

Deno.test("CORS is off unless origins are configured", async () => {
  const off = testApp();
  try {
    const r = await call(off, "GET", "/health", { headers: { origin: "http://example.test" } });
    assert.equal(r.headers.get("access-control-allow-origin"), null);
  } finally {
    await off.close();
  }
  const on = testApp({ corsOrigins: ["http://ui.test"] });
  try {
    const r = await call(on, "GET", "/health", { headers: { origin: "http://ui.test" } });
    assert.equal(r.headers.get("access-control-allow-origin"), "http://ui.test");
    const other = await call(on, "GET", "/health", { headers: { origin: "http://evil.test" } });
    assert.notEqual(other.headers.get("access-control-allow-origin"), "http://evil.test");
    const pre = await on.app.request("/v1/runs", {
      method: "OPTIONS",
      headers: {
        origin: "http://ui.test",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /Authorization/i);
  } finally {
    await on.close();
  }
});

// --- results folders ---------------------------------------------------------------------------

/** Writes a kernel results folder as the runner would: spec.json, `n` records, maybe a summary. */
async function fakeFolder(
  dataDir: string,
  input: Record<string, unknown>,
  n: number,
  summary: string | null,
): Promise<string> {
  const spec = await KERNELS.normalize(input, { software: true, env: {} });
  const hash = specHashSync(spec);
  const id = runIdOf("kernels", hash);
  const dir = `${dataDir}/results/${id}`;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(
    `${dir}/spec.json`,
    JSON.stringify({ ...spec, runId: id, specHash: hash, command: KERNELS.command(spec) }),
  );
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      suite: "kernels",
      kind: "decode",
      runId: id,
      format: spec.formats[i % spec.formats.length],
      contextLength: spec.lengths[0],
      timestamp: "2026-01-01T00:00:00.000Z",
      representative: false,
      adapter: { description: "test" },
    }) + "\n").join("");
  Deno.writeTextFileSync(`${dir}/records.jsonl`, lines);
  if (summary !== null) Deno.writeTextFileSync(`${dir}/summary.json`, summary);
  return id;
}

Deno.test("the index is rebuilt from the results folders (reindex), and unseen folders are indexed", async () => {
  const dataDir = tempDir();
  const done = await fakeFolder(
    dataDir,
    { ...TINY, formats: ["fp16", "int8"] },
    2,
    '{"suite":"kernels","rows":[]}',
  );
  const partial = await fakeFolder(dataDir, { ...TINY, formats: ["fp16", "int4"] }, 1, null);
  // Not run folders: a bad name, a spec that does not hash to its name, no spec.json.
  Deno.mkdirSync(`${dataDir}/results/not-a-run`, { recursive: true });
  Deno.writeTextFileSync(
    `${dataDir}/results/not-a-run/spec.json`,
    JSON.stringify({ suite: "kernels" }),
  );
  Deno.mkdirSync(`${dataDir}/results/kernels-0123456789ab`);
  Deno.copyFileSync(
    `${dataDir}/results/${done}/spec.json`,
    `${dataDir}/results/kernels-0123456789ab/spec.json`,
  );
  Deno.mkdirSync(`${dataDir}/results/kernels-ba9876543210`);
  const quiet = console.error;
  console.error = () => {};
  try {
    const first = testApp({ dataDir });
    try {
      assert.equal(first.indexed, 2);
      const d = Run.parse((await call(first, "GET", `/v1/runs/${done}`)).body);
      assert.equal(d.status, "done");
      assert.deepEqual(d.progress, { done: 2, total: 2 });
      assert.equal(d.startedAt, "2026-01-01T00:00:00.000Z");
      const p = Run.parse((await call(first, "GET", `/v1/runs/${partial}`)).body);
      assert.equal(p.status, "interrupted");
      assert.deepEqual(p.progress, { done: 1, total: 2 });
      // Served from the folder.
      const s = await call(first, "GET", `/v1/runs/${done}/summary`);
      assert.deepEqual(s.body, { suite: "kernels", rows: [] });
      const nd = await call(first, "GET", `/v1/runs/${done}/records`, {
        headers: { accept: "application/x-ndjson" },
      });
      assert.match(nd.headers.get("content-type") ?? "", /application\/x-ndjson/);
      assert.equal(nd.text, Deno.readTextFileSync(`${dataDir}/results/${done}/records.jsonl`));
      const page = await call(first, "GET", `/v1/runs/${done}/records?offset=1&limit=5`);
      assert.equal(page.body.total, 2);
      assert.equal(page.body.records.length, 1);
      assert.equal(page.body.records[0].format, "int8");
      // A partial run's summary is computed from its records so far.
      const ps = await call(first, "GET", `/v1/runs/${partial}/summary`);
      assert.equal(ps.status, 200);
      assert.equal(ps.body.partial, true);
      // Change the index so a rebuild is visible.
      first.service.store.update(done, { status: "failed", error: "x" });
      assert.equal((await call(first, "POST", `/v1/runs/${partial}/resume`)).status, 202);
    } finally {
      await first.close();
    }
    const rebuilt = testApp({ dataDir, reindex: true });
    try {
      assert.equal(rebuilt.indexed, 2);
      assert.deepEqual(rebuilt.service.store.ids().sort(), [done, partial].sort());
      assert.equal(rebuilt.service.store.get(done)?.status, "done");
      assert.equal(rebuilt.service.store.get(partial)?.status, "interrupted");
      // A finished run from an older runner (its spec predates needle cells): still done, and
      // the index says why it cannot be resumed.
      const old = Object.fromEntries(
        Object.entries(await KERNELS.normalize(TINY, { software: true, env: {} }))
          .filter(([k]) => !["needleDepths", "methods", "budgets"].includes(k)),
      );
      const oldId = runIdOf("kernels", specHashSync(old));
      Deno.mkdirSync(`${dataDir}/results/${oldId}`);
      Deno.writeTextFileSync(
        `${dataDir}/results/${oldId}/spec.json`,
        JSON.stringify({ ...old, runId: oldId }),
      );
      Deno.writeTextFileSync(`${dataDir}/results/${oldId}/records.jsonl`, '{"kind":"decode"}\n');
      Deno.writeTextFileSync(`${dataDir}/results/${oldId}/summary.json`, "{}");
      const legacy = Run.parse((await call(rebuilt, "GET", `/v1/runs/${oldId}`)).body);
      assert.equal(legacy.status, "done");
      assert.deepEqual(legacy.progress, { done: 1, total: 1 });
      assert.match(legacy.error ?? "", /does not validate with this version/);
      // A folder written after startup (by the CLI) is indexed when asked for.
      const late = await fakeFolder(dataDir, { ...TINY, seed: 9 }, 0, null);
      assert.equal((await call(rebuilt, "GET", `/v1/runs/${late}`)).body.status, "interrupted");
    } finally {
      await rebuilt.close();
    }
  } finally {
    console.error = quiet;
  }
});

Deno.test("errors are JSON without stack traces: corrupt results are 500s", async () => {
  const dataDir = tempDir();
  const id = await fakeFolder(dataDir, TINY, 1, "{ not json");
  const kv = testApp({ dataDir });
  const quiet = console.error;
  const logged: unknown[] = [];
  console.error = (...a: unknown[]) => logged.push(a);
  try {
    const r = await call(kv, "GET", `/v1/runs/${id}/summary`);
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, {
      error: { code: "internal", message: "internal server error", details: null },
    });
    assert.equal(logged.length, 1); // the cause went to the server log
    Deno.writeTextFileSync(`${dataDir}/results/${id}/records.jsonl`, "{}\nnot json\n{}\n");
    const c = await call(kv, "GET", `/v1/runs/${id}/records`);
    assert.equal(c.status, 500);
    assert.equal(c.body.error.code, "corrupt_results");
    assert.doesNotMatch(c.text, /\bat .*\.ts:\d+/);
  } finally {
    console.error = quiet;
    await kv.close();
  }
});

Deno.test("200 concurrent submissions and reads lose and duplicate no run", async () => {
  const kv = testApp();
  try {
    const specs = Array.from({ length: 10 }, (_, seed) => ({ ...TINY, seed }));
    const requests = Array.from(
      { length: 200 },
      (_, i) =>
        i % 4 === 3 ? call(kv, "GET", "/v1/runs?limit=200") : post(kv, specs[i % specs.length]),
    );
    const replies = await Promise.all(requests);
    for (const r of replies) assert.ok(r.status === 200 || r.status === 202, r.text);
    const posted = replies.filter((r) => r.body.id);
    const ids = new Set(posted.map((r) => r.body.id));
    assert.equal(ids.size, 10);
    // Exactly one 202 per distinct spec; every other submission of it is a 200.
    assert.equal(posted.filter((r) => r.status === 202).length, 10);
    const indexed = kv.service.store.ids().sort();
    const folders = [...Deno.readDirSync(`${kv.dataDir}/results`)].map((e) => e.name).sort();
    assert.deepEqual(indexed, [...ids].sort());
    assert.deepEqual(folders, indexed);
    for (const id of folders) {
      const spec = JSON.parse(Deno.readTextFileSync(`${kv.dataDir}/results/${id}/spec.json`));
      assert.equal(spec.runId, id);
    }
    // FIFO positions 1..10 in submission order of first arrival.
    const positions = (await call(kv, "GET", "/v1/runs?limit=200")).body.runs
      .map((r: { queuePosition: number }) => r.queuePosition).sort((a: number, b: number) => a - b);
    assert.deepEqual(positions, Array.from({ length: 10 }, (_, i) => i + 1));
  } finally {
    await kv.close();
  }
});
