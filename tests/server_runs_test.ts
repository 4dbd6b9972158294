// Real runs through the HTTP API on whatever adapter exists (CI: a software one): a queued
// kernel run that finishes on the GPU worker with its records streamed over SSE and served;
// cancelling a running run between cells and resuming it; a server restart that finds a run
// `running` (interrupted, then resumed with the runner's resume) and queued runs still queued
// (run first in, first out).

import assert from "node:assert/strict";
import { Run } from "../server/schemas.ts";
import { RunStore } from "../server/store.ts";
import {
  call,
  cellOf,
  fileRecords,
  followToEnd,
  LONGER,
  LONGER_CELLS,
  readEvents,
  tempDir,
  testApp,
  TINY,
} from "./server_helpers.ts";

/** TINY with two formats and one needle cell per format plus one SnapKV cell: 5 cells. */
const FIVE = {
  ...TINY,
  formats: ["fp16", "kivi4"],
  needleDepths: [0.5],
  methods: ["snapkv"],
  budgets: [{ ratio: 2 }],
};

Deno.test("a queued kernel run finishes on the GPU worker; SSE streams its records; records and summary are served", async () => {
  const kv = testApp({ autostart: true });
  try {
    const sub = await call(kv, "POST", "/v1/runs", { body: FIVE });
    assert.equal(sub.status, 202);
    const id = sub.body.id;
    const events = await followToEnd(kv, id);
    assert.equal(events[0].event, "status");
    const records = events.filter((e) => e.event === "record");
    assert.deepEqual(records.map((e) => e.id), ["1", "2", "3", "4", "5"]);
    for (const r of records) assert.equal(r.data.runId, id);
    assert.deepEqual(records.map((e) => e.data.kind), [
      "decode",
      "decode",
      "needle",
      "needle",
      "needle",
    ]);
    assert.ok(events.some((e) => e.event === "log" && /copy kernel/.test(e.data.line)));
    const [status, end] = events.slice(-2);
    assert.deepEqual([status.event, status.data.status], ["status", "done"]);
    assert.deepEqual(end.data, {
      id,
      status: "done",
      progress: { done: 5, total: 5 },
      error: null,
    });
    // Progress went up one cell at a time.
    const progress = events.filter((e) => e.event === "status").map((e) => e.data.progress.done);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));

    const run = Run.parse((await call(kv, "GET", `/v1/runs/${id}`)).body);
    assert.equal(run.status, "done");
    assert.deepEqual(run.progress, { done: 5, total: 5 });
    assert.ok(run.startedAt && run.finishedAt && run.startedAt <= run.finishedAt);

    const onDisk = fileRecords(kv.dataDir, id);
    assert.deepEqual(records.map((e) => e.data), onDisk);
    const json = await call(kv, "GET", `/v1/runs/${id}/records`);
    assert.deepEqual(json.body, { id, total: 5, offset: 0, records: onDisk });
    const nd = await call(kv, "GET", `/v1/runs/${id}/records`, {
      headers: { accept: "application/x-ndjson" },
    });
    assert.equal(nd.text, Deno.readTextFileSync(`${kv.dataDir}/results/${id}/records.jsonl`));
    const summary = await call(kv, "GET", `/v1/runs/${id}/summary`);
    assert.equal(summary.status, 200);
    assert.deepEqual(
      summary.body,
      JSON.parse(Deno.readTextFileSync(`${kv.dataDir}/results/${id}/summary.json`)),
    );
    assert.equal(summary.body.rows.length, 2);
    assert.equal(summary.body.needles.length, 3);
    assert.equal(summary.body.partial, undefined);

    // Reconnecting with Last-Event-ID (or ?from=) delivers only the records after it.
    const res = await kv.app.request(`/v1/runs/${id}/events`, {
      headers: { "last-event-id": "3" },
    });
    const later = await readEvents(res, (e) => e.event === "end");
    assert.deepEqual(later.filter((e) => e.event === "record").map((e) => e.id), ["4", "5"]);
    const none = await readEvents(
      await kv.app.request(`/v1/runs/${id}/events?from=5`),
      (e) => e.event === "end",
    );
    assert.deepEqual(none.map((e) => e.event), ["status", "end"]);

    // Submitting the finished spec again returns it, and does not run it again.
    const again = await call(kv, "POST", "/v1/runs", { body: FIVE });
    assert.deepEqual([again.status, again.body], [200, { id, status: "done" }]);
    assert.equal((await call(kv, "GET", "/health")).body.queue.running, 0);
  } finally {
    await kv.close();
  }
});

Deno.test("cancelling a running run stops it between cells, keeps its records, and it resumes", async () => {
  const kv = testApp({ autostart: true });
  try {
    const id = (await call(kv, "POST", "/v1/runs", { body: LONGER })).body.id;
    const res = await kv.app.request(`/v1/runs/${id}/events`);
    await readEvents(res, (e) => e.event === "record");
    const del = await call(kv, "DELETE", `/v1/runs/${id}`);
    assert.deepEqual([del.status, del.body], [200, { id, status: "cancelled" }]);
    const kept = fileRecords(kv.dataDir, id);
    assert.ok(kept.length >= 1 && kept.length < LONGER_CELLS, `${kept.length} records`);
    const run = Run.parse((await call(kv, "GET", `/v1/runs/${id}`)).body);
    assert.equal(run.status, "cancelled");
    assert.deepEqual(run.progress, { done: kept.length, total: LONGER_CELLS });
    assert.equal((await call(kv, "GET", `/v1/runs/${id}/records`)).body.total, kept.length);
    // The worker has stopped: nothing more is appended.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fileRecords(kv.dataDir, id).length, kept.length);
    assert.equal((await call(kv, "DELETE", `/v1/runs/${id}`)).status, 409);
    const partial = await call(kv, "GET", `/v1/runs/${id}/summary`);
    assert.equal(partial.body.partial, true);

    const resumed = await call(kv, "POST", `/v1/runs/${id}/resume`);
    assert.equal(resumed.status, 202);
    const end = (await followToEnd(kv, id)).at(-1)!;
    assert.equal(end.data.status, "done");
    const all = fileRecords(kv.dataDir, id);
    assert.equal(all.length, LONGER_CELLS);
    assert.equal(new Set(all.map(cellOf)).size, LONGER_CELLS);
    assert.deepEqual(all.slice(0, kept.length), kept); // append-only
  } finally {
    await kv.close();
  }
});

Deno.test("restart: a run left running becomes interrupted and resumes; the queue survives, FIFO", async () => {
  const dataDir = tempDir();
  const a = testApp({ dataDir, autostart: true });
  let r1: string, r2: string, r3: string;
  let kept: Record<string, unknown>[];
  try {
    r1 = (await call(a, "POST", "/v1/runs", { body: LONGER })).body.id;
    r2 = (await call(a, "POST", "/v1/runs", { body: { ...TINY, seed: 2 } })).body.id;
    r3 = (await call(a, "POST", "/v1/runs", { body: { ...TINY, seed: 3 } })).body.id;
    await readEvents(await a.app.request(`/v1/runs/${r1}/events`), (e) => e.event === "record");
  } finally {
    // A clean shutdown stops the run between cells and leaves it interrupted.
    await a.close();
  }
  {
    const store = new RunStore(`${dataDir}/kvlab.sqlite`);
    try {
      assert.equal(store.get(r1)?.status, "interrupted");
      assert.equal(store.get(r2)?.status, "queued");
      assert.equal(store.get(r3)?.status, "queued");
      // As if the process had been killed mid-run: the index still says running.
      store.update(r1, { status: "running" });
    } finally {
      store.close();
    }
    kept = fileRecords(dataDir, r1);
    assert.ok(kept.length >= 1 && kept.length < LONGER_CELLS);
  }
  const b = testApp({ dataDir, autostart: true });
  try {
    assert.deepEqual(b.interrupted, [r1]);
    const v1 = Run.parse((await call(b, "GET", `/v1/runs/${r1}`)).body);
    assert.equal(v1.status, "interrupted");
    assert.match(v1.error ?? "", /server stopped/);
    assert.deepEqual(v1.progress, { done: kept.length, total: LONGER_CELLS });
    // The queued runs run by themselves, one at a time, oldest first.
    assert.equal((await followToEnd(b, r3)).at(-1)!.data.status, "done");
    const v2 = Run.parse((await call(b, "GET", `/v1/runs/${r2}`)).body);
    const v3 = Run.parse((await call(b, "GET", `/v1/runs/${r3}`)).body);
    assert.equal(v2.status, "done");
    assert.ok(v2.finishedAt! <= v3.startedAt!, `${v2.finishedAt} > ${v3.startedAt}`);

    const res = await call(b, "POST", `/v1/runs/${r1}/resume`);
    assert.deepEqual([res.status, res.body.id], [202, r1]);
    assert.equal((await followToEnd(b, r1)).at(-1)!.data.status, "done");
    const all = fileRecords(dataDir, r1);
    assert.equal(all.length, LONGER_CELLS);
    assert.equal(new Set(all.map(cellOf)).size, LONGER_CELLS);
    assert.deepEqual(all.slice(0, kept.length), kept);
  } finally {
    await b.close();
  }
});
