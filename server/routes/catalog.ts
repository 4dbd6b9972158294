// /v1/formats, /v1/methods, /v1/tasks, /v1/models, /v1/suites: what can be run, by name.

import { Hono } from "hono";
import type { Env } from "../../engine/model/hub.ts";
import * as catalog from "../catalog.ts";

export function catalogRoutes(env: Env, modelsDir?: string): Hono {
  const app = new Hono();
  app.get("/formats", (c) => c.json(catalog.formats()));
  app.get("/methods", (c) => c.json(catalog.methods()));
  app.get("/tasks", (c) => c.json(catalog.tasks()));
  app.get("/models", async (c) => c.json(await catalog.models(env, modelsDir)));
  app.get("/suites", (c) => c.json(catalog.suites()));
  return app;
}
