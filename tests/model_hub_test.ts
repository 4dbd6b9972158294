// `hf:org/name[@revision]` model sources: resolution in the Hugging Face cache layout
// (HF_HUB_CACHE, HF_HOME), offline refusal, bad ids; and the download path against a mock hub
// on loopback (skipped with a message without --allow-net): the API call, HF_TOKEN, a partial
// `.incomplete` file resumed with a Range request, refs/main written, the second resolve served
// from the cache, and the downloaded snapshot generating the fixture's reference tokens.

import assert from "node:assert/strict";
import { cachedSnapshot, parseHubId, resolveModel } from "../engine/model/hub.ts";
import { ModelError } from "../engine/model/errors.ts";
import { Model } from "../engine/model/model.ts";
import { generate } from "../engine/model/generate.ts";
import { hasStories, STORIES_DIR } from "./model_fixtures.ts";
import { testGpu } from "./helpers.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";

Deno.test("hf: ids parse with a default revision; bad ids name the value", () => {
  assert.deepEqual(parseHubId("hf:acme/tiny"), { org: "acme", name: "tiny", revision: "main" });
  assert.deepEqual(parseHubId("hf:HuggingFaceTB/SmolLM2-135M@v1.0"), {
    org: "HuggingFaceTB",
    name: "SmolLM2-135M",
    revision: "v1.0",
  });
  for (const bad of ["hf:tiny", "hf:a/b/c", "hf:a/b@", "hf:../x/y", "hf:a/b@x y"]) {
    assert.throws(
      () => parseHubId(bad),
      new RegExp(`got "${bad.replace(/[.]/g, "\\.")}", expected hf:org/name`),
    );
  }
});

Deno.test("hf: resolves from HF_HUB_CACHE and HF_HOME by ref and by commit; offline miss is an error", async () => {
  const home = await Deno.makeTempDir({ prefix: "kvlab-hf-" });
  const repo = `${home}/hub/models--acme--tiny`;
  await Deno.mkdir(`${repo}/snapshots/${SHA}`, { recursive: true });
  await Deno.mkdir(`${repo}/refs`);
  await Deno.writeTextFile(`${repo}/refs/main`, `${SHA}\n`);
  await Deno.writeTextFile(`${repo}/snapshots/${SHA}/config.json`, "{}");
  const snap = `${repo}/snapshots/${SHA}`;
  assert.equal(await resolveModel("hf:acme/tiny", { env: { HF_HUB_CACHE: `${home}/hub` } }), snap);
  assert.equal(await resolveModel("hf:acme/tiny", { env: { HF_HOME: home } }), snap);
  assert.equal(await resolveModel(`hf:acme/tiny@${SHA}`, { env: { HF_HOME: home } }), snap);
  assert.equal(await cachedSnapshot(parseHubId("hf:acme/tiny@dev"), { HF_HOME: home }), undefined);
  await assert.rejects(
    () => resolveModel("hf:acme/other", { env: { HF_HOME: home, HF_HUB_OFFLINE: "1" } }),
    (e: Error) =>
      e instanceof ModelError &&
      e.message ===
        `hf:acme/other is not in the Hugging Face cache (${home}/hub/models--acme--other) and HF_HUB_OFFLINE is set`,
  );
  assert.equal(await resolveModel("/some/folder"), "/some/folder", "a path is a path");
  await Deno.remove(home, { recursive: true });
});

const NET = Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted";
if (!NET) console.log("hf: download test: skipped, needs --allow-net (a mock hub on 127.0.0.1)");

Deno.test({
  name: "hf: downloads into the cache layout from a mock hub, resuming a partial file",
  ignore: !NET || !hasStories("hf: download test"),
  fn: async () => {
    const files = [
      "config.json",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "model.safetensors",
    ];
    const data = new Map<string, Uint8Array<ArrayBuffer>>();
    for (const f of files) data.set(f, await Deno.readFile(`${STORIES_DIR}/${f}`));
    const seen: { path: string; range: string | null; auth: string | null }[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const path = new URL(req.url).pathname;
      seen.push({ path, range: req.headers.get("range"), auth: req.headers.get("authorization") });
      if (path === "/api/models/acme/stories/revision/main") {
        return Response.json({
          sha: SHA,
          siblings: [...files, "README.md"].map((rfilename) => ({ rfilename })),
        });
      }
      const m = /^\/acme\/stories\/resolve\/([0-9a-f]{40})\/(.+)$/.exec(path);
      const body = m && m[1] === SHA ? data.get(m[2]) : undefined;
      if (!body) return new Response("not found", { status: 404 });
      const r = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
      if (!r) return new Response(body);
      const from = Number(r[1]);
      return new Response(body.slice(from), {
        status: 206,
        headers: { "content-range": `bytes ${from}-${body.byteLength - 1}/${body.byteLength}` },
      });
    });
    const home = await Deno.makeTempDir({ prefix: "kvlab-hf-" });
    const env = {
      HF_HOME: home,
      HF_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
      HF_TOKEN: "tok",
    };
    // a download cut off halfway through the weights
    const snap = `${home}/hub/models--acme--stories/snapshots/${SHA}`;
    await Deno.mkdir(snap, { recursive: true });
    const weights = data.get("model.safetensors")!;
    const half = Math.floor(weights.byteLength / 2);
    await Deno.writeFile(`${snap}/model.safetensors.incomplete`, weights.subarray(0, half));
    const lines: string[] = [];
    try {
      const dir = await resolveModel("hf:acme/stories", { env, progress: (l) => lines.push(l) });
      assert.equal(dir, snap);
      for (const f of files) assert.deepEqual(await Deno.readFile(`${dir}/${f}`), data.get(f), f);
      assert.equal(
        (await Deno.readTextFile(`${home}/hub/models--acme--stories/refs/main`)).trim(),
        SHA,
      );
      const w = seen.find((s) => s.path.endsWith("/model.safetensors"));
      assert.equal(w?.range, `bytes=${half}-`, "the partial file is resumed, not restarted");
      assert.ok(seen.every((s) => s.auth === "Bearer tok"), "HF_TOKEN is sent");
      assert.ok(
        !seen.some((s) => s.path.endsWith("README.md")),
        "only the files the runtime reads",
      );
      assert.ok(
        lines.some((l) => l.startsWith("model.safetensors [") && l.includes("MiB")),
        "progress",
      );
      // cached now: no request at all
      const before = seen.length;
      assert.equal(
        await resolveModel("hf:acme/stories", { env: { ...env, HF_HUB_OFFLINE: "1" } }),
        snap,
      );
      assert.equal(seen.length, before);
      // the downloaded model generates the fixture's reference tokens
      const gpu = await testGpu();
      const model = await Model.load(gpu, dir);
      const r = await generate(model, [[1]], { maxNewTokens: 8, format: "fp32" });
      const ref = JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/reference_greedy.json`));
      assert.deepEqual(r.ids[0], ref.greedy_ids_200.slice(0, 9));
      model.destroy();
      // an unknown repository: the hub's status, named
      await assert.rejects(
        () => resolveModel("hf:acme/missing", { env, progress: () => {} }),
        /hf:acme\/missing@main: http:\/\/127.0.0.1:\d+\/api\/models\/acme\/missing\/revision\/main answered 404/,
      );
    } finally {
      await server.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});
