// server/main.ts on a random loopback port: flags, a whole run over real HTTP (submit, follow
// the SSE stream to the end, fetch records and summary), the bearer token over the wire; and,
// where the test may start Deno itself (--allow-run for Deno.execPath()), a server killed with
// SIGKILL mid-run whose records survive and whose run restarts interrupted and resumes.

import assert from "node:assert/strict";
import { readRecords } from "../engine/bench/results.ts";
import { serve } from "../server/main.ts";
import { RunStore } from "../server/store.ts";
import {
  cellOf,
  fileRecords,
  LONGER,
  LONGER_CELLS,
  readEvents,
  tempDir,
  TINY,
} from "./server_helpers.ts";

Deno.test("main.ts flags: help, bad values, and no non-loopback host without a token", async () => {
  assert.equal(await serve(["--help"]), "help");
  await assert.rejects(() => serve(["--port", "70000"], { quiet: true }), /--port: got "70000"/);
  await assert.rejects(() => serve(["--device", "tpu"], { quiet: true }), /--device: got "tpu"/);
  await assert.rejects(() => serve(["--nope"], { quiet: true }), /Unknown option '--nope'/);
  await assert.rejects(
    () => serve(["--host", "0.0.0.0"], { quiet: true, env: {} }),
    /--host 0.0.0.0: serving beyond loopback needs KVLAB_TOKEN/,
  );
});

Deno.test("main.ts serves on a random loopback port: a whole run over HTTP", async () => {
  const dir = tempDir();
  const s = await serve(["--port", "0", "--data", dir], {
    quiet: true,
    env: { KVLAB_TOKEN: "tok", HF_HUB_CACHE: `${dir}/hf` },
  });
  assert.ok(s !== "help");
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(s.url, "http://127.0.0.1:8787");
    const health = await fetch(`${s.url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).auth, true);

    const denied = await fetch(`${s.url}/v1/runs`, { method: "POST", body: JSON.stringify(TINY) });
    assert.equal(denied.status, 401);
    assert.equal((await denied.json()).error.code, "unauthorized");
    const sub = await fetch(`${s.url}/v1/runs`, {
      method: "POST",
      body: JSON.stringify(TINY),
      headers: { authorization: "Bearer tok", "content-type": "application/json" },
    });
    assert.equal(sub.status, 202);
    const { id } = await sub.json();

    const events = await readEvents(
      await fetch(`${s.url}/v1/runs/${id}/events`),
      (e) => e.event === "end",
    );
    assert.equal(events.at(-1)!.data.status, "done");
    const streamed = events.filter((e) => e.event === "record").map((e) => e.data);
    assert.equal(streamed.length, 1);
    const records = await (await fetch(`${s.url}/v1/runs/${id}/records`)).json();
    assert.deepEqual(records.records, streamed);
    const nd = await fetch(`${s.url}/v1/runs/${id}/records`, {
      headers: { accept: "application/x-ndjson" },
    });
    assert.equal((await nd.text()).trim().split("\n").length, 1);
    const summary = await (await fetch(`${s.url}/v1/runs/${id}/summary`)).json();
    assert.equal(summary.rows[0].format, "fp16");
    const doc = await (await fetch(`${s.url}/openapi.json`)).json();
    assert.equal(doc.openapi, "3.1.0");

    // Stopping with a run on the GPU and a stream open on a queued run: the run is left
    // interrupted, the stream closes, and shutdown completes.
    const auth = { authorization: "Bearer tok" };
    const busy = await fetch(`${s.url}/v1/runs`, {
      method: "POST",
      body: JSON.stringify(LONGER),
      headers: auth,
    });
    const waiting = await fetch(`${s.url}/v1/runs`, {
      method: "POST",
      body: JSON.stringify({ ...TINY, seed: 5 }),
      headers: auth,
    });
    const [busyId, waitingId] = [(await busy.json()).id, (await waiting.json()).id];
    const stream = await fetch(`${s.url}/v1/runs/${waitingId}/events`);
    const watching = readEvents(stream, () => false, 30_000);
    await readEvents(await fetch(`${s.url}/v1/runs/${busyId}/events`), (e) => e.event === "record");
    await s.shutdown();
    const seen = await watching;
    assert.deepEqual(seen.map((e) => [e.event, e.data.status]), [["status", "queued"]]);
  } finally {
    await s.shutdown();
  }
  const store = new RunStore(`${dir}/kvlab.sqlite`);
  try {
    assert.deepEqual(
      store.list({ limit: 10 }).rows.map((r) => r.status),
      ["queued", "interrupted", "done"],
    );
  } finally {
    store.close();
  }
});

// --- a real process, killed ------------------------------------------------------------------------

/** How this test may start Deno: its own executable, or `deno` on PATH (--allow-run=deno). */
async function denoCommand(): Promise<string | undefined> {
  for (const command of [Deno.execPath(), "deno"]) {
    if ((await Deno.permissions.query({ name: "run", command })).state === "granted") {
      return command;
    }
  }
  return undefined;
}
const deno = await denoCommand();

interface Child {
  readonly url: string;
  readonly process: Deno.ChildProcess;
  readonly output: string[];
  readonly drained: Promise<void>;
}

async function startServer(dataDir: string): Promise<Child> {
  const process = new Deno.Command(deno!, {
    args: [
      "run",
      "--unstable-webgpu",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net=127.0.0.1",
      "--allow-run=git",
      new URL("../server/main.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--data",
      dataDir,
    ],
    env: { NO_COLOR: "1", KVLAB_TOKEN: "" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const url = Promise.withResolvers<string>();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        output.push(line);
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) url.resolve(m[1]);
      }
    }
  };
  const drained = Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => {
    url.reject(new Error(`server exited before listening:\n${output.join("\n")}`));
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("server did not start in 30 s")), 30_000);
  });
  try {
    return { url: await Promise.race([url.promise, timeout]), process, output, drained };
  } catch (e) {
    process.kill("SIGKILL");
    await process.status;
    await drained;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name:
    "a server killed with SIGKILL mid-run keeps its records; on restart the run is interrupted and resumes",
  ignore: deno === undefined,
  async fn() {
    const dir = tempDir();
    const first = await startServer(dir);
    let id: string;
    try {
      const sub = await fetch(`${first.url}/v1/runs`, {
        method: "POST",
        body: JSON.stringify(LONGER),
      });
      assert.equal(sub.status, 202);
      id = (await sub.json()).id;
      await readEvents(
        await fetch(`${first.url}/v1/runs/${id}/events`),
        (e) => e.event === "record",
      );
    } finally {
      first.process.kill("SIGKILL");
      assert.equal((await first.process.status).signal, "SIGKILL");
      await first.drained;
    }
    // Every record written before the kill is intact (a torn last line would be dropped).
    const kept = readRecords(`${dir}/results/${id}/records.jsonl`).records;
    assert.ok(kept.length >= 1 && kept.length < LONGER_CELLS, `${kept.length} records`);

    const second = await startServer(dir);
    try {
      assert.ok(second.output.some((l) => l.includes(`run ${id} was running: now interrupted`)));
      const run = await (await fetch(`${second.url}/v1/runs/${id}`)).json();
      assert.equal(run.status, "interrupted");
      assert.equal(run.progress.done, kept.length);
      const res = await fetch(`${second.url}/v1/runs/${id}/resume`, { method: "POST" });
      assert.equal(res.status, 202);
      await res.body?.cancel();
      const events = await readEvents(
        await fetch(`${second.url}/v1/runs/${id}/events`),
        (e) => e.event === "end",
      );
      assert.equal(events.at(-1)!.data.status, "done");
      const all = fileRecords(dir, id);
      assert.equal(all.length, LONGER_CELLS);
      assert.equal(new Set(all.map(cellOf)).size, LONGER_CELLS);
      assert.deepEqual(all.slice(0, kept.length), kept);
    } finally {
      second.process.kill("SIGTERM");
      const status = await second.process.status;
      await second.drained;
      assert.equal(status.code, 0, second.output.join("\n"));
    }
  },
});
