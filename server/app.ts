// The kvlab HTTP API as a Hono app. createApp() takes the data dir's lock (one server per data
// dir), opens the run index under it, marks runs that were `running` as `interrupted`, indexes
// results folders it has not seen, starts the GPU executor, and returns the app; it never
// listens (server/main.ts does).
//
//   GET  /health                      status, adapter (software fallback?), version
//   GET  /v1/formats|methods|tasks|models|suites
//   POST /v1/runs                     RunSpec → 202 {id, status}
//   GET  /v1/runs?status=&limit=&cursor=
//   GET  /v1/runs/:id                 status, progress, spec, timestamps, error
//   GET  /v1/runs/:id/events          Server-Sent Events
//   GET  /v1/runs/:id/records         JSON, or JSONL with Accept: application/x-ndjson
//   GET  /v1/runs/:id/summary
//   DELETE /v1/runs/:id               cancel
//   POST /v1/runs/:id/resume
//   GET  /openapi.json
//
// Security: mutating requests need the bearer token when one is configured; bodies are
// limited; run ids are checked against one pattern before any path is built; CORS is off
// unless origins are given; every error is {error: {code, message, details}}.

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import {
  type AdapterReport,
  chooseAdapter,
  type DeviceChoice,
  reportAdapter,
} from "../engine/gpu/mod.ts";
import type { Env } from "../engine/model/hub.ts";
import { denoVersion, KVLAB_VERSION } from "../engine/version.ts";
import { requireToken } from "./auth.ts";
import { ApiError, errorBody, handleError } from "./errors.ts";
import { Executor } from "./executor.ts";
import { acquireLock } from "../engine/bench/lock.ts";
import { openApiDocument } from "./openapi.ts";
import { catalogRoutes } from "./routes/catalog.ts";
import { runRoutes } from "./routes/runs.ts";
import { RunService } from "./service.ts";
import { RunStore } from "./store.ts";

export interface AppOptions {
  /** Holds results/<run id>/ and the index (kvlab.sqlite). */
  readonly dataDir: string;
  /** Bearer token for mutating requests (main.ts passes KVLAB_TOKEN); none: no auth. */
  readonly token?: string;
  /** Origins allowed by CORS; empty or absent: no CORS headers at all. */
  readonly corsOrigins?: readonly string[];
  /** Largest request body in bytes (default 64 KiB). */
  readonly maxBodyBytes?: number;
  /** Adapter choice for health and the GPU worker (default auto). */
  readonly device?: DeviceChoice;
  /** Start executing queued runs (default true; tests of routes alone turn it off). */
  readonly autostart?: boolean;
  /** Empty the index and rebuild it from the results folders. */
  readonly reindex?: boolean;
  /** How long a cancel waits for the runner to stop between cells before killing the worker. */
  readonly cancelGraceMs?: number;
  /** SSE keep-alive comment interval. */
  readonly keepAliveMs?: number;
  /** Environment for the Hugging Face cache lookup (default Deno.env). */
  readonly env?: Env;
  /** The GPU worker module (default server/run_worker.ts). */
  readonly workerUrl?: URL;
  /** Where `local:<name>` models live (tasks RunSpecs); none: local models are refused. */
  readonly modelsDir?: string;
  /** What task data paths in a tasks RunSpec are relative to; none: such paths are refused. */
  readonly taskDataDir?: string;
}

export interface KvlabApp {
  readonly app: Hono;
  readonly service: RunService;
  readonly executor: Executor;
  /** Ids of runs found `running` at startup, now `interrupted`. */
  readonly interrupted: readonly string[];
  /** Folders indexed at startup. */
  readonly indexed: number;
  /** Stops the executor (a running run becomes `interrupted`) and closes the index. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY = 64 * 1024;
export const INDEX_FILE = "kvlab.sqlite";
/** Held for the app's lifetime: one server per data dir (engine/bench/lock.ts). */
export const DATA_LOCK = "kvlab.lock";

interface AdapterProbe {
  readonly report: AdapterReport | null;
  readonly error: string | null;
}

export function createApp(o: AppOptions): KvlabApp {
  const device = o.device ?? "auto";
  const env = o.env ?? Deno.env.toObject();
  Deno.mkdirSync(`${o.dataDir}/results`, { recursive: true });
  // Before the index is touched: a second server on this data dir would share its queue and
  // run the same runs twice. Throws LockError naming the holder; a dead holder's lock is taken.
  const lock = acquireLock(`${o.dataDir}/${DATA_LOCK}`, `kvlab serve (data ${o.dataDir})`);
  let store: RunStore;
  try {
    store = new RunStore(`${o.dataDir}/${INDEX_FILE}`);
  } catch (e) {
    lock.release();
    throw e;
  }
  const interrupted = store.interruptRunning();
  const executor = new Executor(store, {
    dataDir: o.dataDir,
    device,
    cancelGraceMs: o.cancelGraceMs ?? 10_000,
    workerUrl: o.workerUrl,
  });
  let probe: Promise<AdapterProbe> | undefined;
  const adapter = () =>
    probe ??= chooseAdapter(device)
      .then((a) => ({ report: reportAdapter(a), error: null }))
      .catch((e) => ({ report: null, error: (e as Error).message }));
  const service = new RunService(store, executor, {
    dataDir: o.dataDir,
    env,
    software: async () => (await adapter()).report?.fallback,
    modelsDir: o.modelsDir,
    taskDataDir: o.taskDataDir,
  });
  const indexed = service.sync(o.reindex ?? false);

  const app = new Hono();
  app.onError(handleError);
  app.notFound((c) =>
    c.json(errorBody("not_found", `no route ${c.req.method} ${c.req.path.slice(0, 200)}`), 404)
  );
  if (o.corsOrigins?.length) {
    app.use(
      "*",
      cors({
        origin: [...o.corsOrigins],
        allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
        allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID"],
        exposeHeaders: ["Location"],
        maxAge: 600,
      }),
    );
  }
  const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const limit = bodyLimit({
    maxSize: maxBody,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `request body larger than ${maxBody} bytes`);
    },
  });
  // Only POST reads a body; other methods pass through (re-wrapping their empty body would
  // copy the request for nothing).
  app.use("/v1/*", (c, next) => (c.req.method === "POST" ? limit(c, next) : next()));
  app.use("/v1/*", requireToken(o.token));

  app.get("/health", async (c) => {
    const a = await adapter();
    const counts = store.counts();
    return c.json({
      status: a.report ? "ok" : "degraded",
      version: KVLAB_VERSION,
      deno: denoVersion(),
      adapter: a.report
        ? {
          vendor: a.report.vendor,
          architecture: a.report.architecture,
          description: a.report.description,
          fallback: a.report.fallback,
        }
        : null,
      software: a.report ? a.report.fallback : null,
      adapterError: a.error,
      queue: { queued: counts.queued, running: counts.running },
      auth: Boolean(o.token),
    });
  });
  let doc: unknown;
  app.get("/openapi.json", (c) => c.json(doc ??= openApiDocument()));
  app.route("/v1", catalogRoutes(env, o.modelsDir));
  app.route("/v1/runs", runRoutes(service, { keepAliveMs: o.keepAliveMs ?? 15_000 }));

  if (o.autostart ?? true) executor.start();
  let closed: Promise<void> | undefined;
  return {
    app,
    service,
    executor,
    interrupted,
    indexed,
    close: () =>
      closed ??= executor.close().finally(() => {
        store.close();
        lock.release();
      }),
  };
}
