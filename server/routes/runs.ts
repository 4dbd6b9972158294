// /v1/runs: submit, list, read, cancel, resume, and a run's events, records and summary.
// Handlers translate HTTP to RunService calls (server/service.ts) and back; nothing else.

import { type Context, Hono } from "hono";
import type { z } from "zod";
import { ApiError, fieldErrors } from "../errors.ts";
import { runFolder } from "../records.ts";
import { EventsQuery, ListRunsQuery, RecordsQuery } from "../schemas.ts";
import type { RunService } from "../service.ts";
import { runEventStream } from "../sse.ts";

export interface RunRoutesOptions {
  readonly keepAliveMs: number;
}

/** The request body as JSON (any content type: `curl -d` sends form encoding by default). */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") throw new ApiError(400, "invalid_json", "expected a JSON request body");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(
      400,
      "invalid_json",
      `the request body is not JSON: ${(e as Error).message}`,
    );
  }
}

export function parseQuery<T extends z.ZodType>(schema: T, c: Context): z.output<T> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) {
    throw new ApiError(400, "invalid_query", "the query string is not valid", fieldErrors(r.error));
  }
  return r.data;
}

export function runRoutes(service: RunService, o: RunRoutesOptions): Hono {
  const app = new Hono();

  app.post("/", async (c) => {
    const { row, created } = await service.submit(await readJson(c));
    c.header("Location", `/v1/runs/${row.id}`);
    return c.json({ id: row.id, status: row.status }, created ? 202 : 200);
  });

  app.get("/", (c) => {
    const q = parseQuery(ListRunsQuery, c);
    return c.json(service.list({ statuses: q.status, limit: q.limit, cursor: q.cursor }));
  });

  app.get("/:id", (c) => c.json(service.view(service.get(c.req.param("id")))));

  app.delete("/:id", async (c) => {
    const row = await service.cancel(c.req.param("id"));
    return c.json({ id: row.id, status: row.status });
  });

  app.post("/:id/resume", (c) => {
    const row = service.resume(c.req.param("id"));
    c.header("Location", `/v1/runs/${row.id}`);
    return c.json({ id: row.id, status: row.status }, 202);
  });

  app.get("/:id/records", (c) => {
    const q = parseQuery(RecordsQuery, c);
    const all = service.records(c.req.param("id"));
    const page = all.slice(q.offset, q.limit === undefined ? undefined : q.offset + q.limit);
    if ((c.req.header("accept") ?? "").includes("application/x-ndjson")) {
      const body = page.map((r) => JSON.stringify(r) + "\n").join("");
      return c.body(body, 200, { "content-type": "application/x-ndjson; charset=utf-8" });
    }
    return c.json({ id: c.req.param("id"), total: all.length, offset: q.offset, records: page });
  });

  app.get("/:id/summary", (c) => c.json(service.summary(c.req.param("id")) as object));

  app.get("/:id/events", (c) => {
    const row = service.get(c.req.param("id"));
    const q = parseQuery(EventsQuery, c);
    const last = c.req.header("last-event-id");
    const from = q.from ?? (last && /^\d{1,12}$/.test(last.trim()) ? Number(last) : 0);
    const stream = runEventStream(service.store, service.executor, {
      id: row.id,
      recordsPath: runFolder(service.o.dataDir, row.id).recordsPath,
      from,
      keepAliveMs: o.keepAliveMs,
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  });

  return app;
}
