// GET /openapi.json: an OpenAPI 3.1 document built from the zod schemas the routes validate
// with (server/schemas.ts): component schemas from its registry, query parameters from the
// query schemas, method parameter objects from each method's ParamSpecs.

import { z } from "zod";
import { METHODS } from "../engine/methods/registry.ts";
import { KVLAB_VERSION } from "../engine/version.ts";
import {
  EventsQuery,
  ListRunsQuery,
  methodParamsSchema,
  RecordsQuery,
  registry,
  RUN_ID,
} from "./schemas.ts";

type Json = Record<string, unknown>;

const strip = (s: Json): Json => {
  const { $schema: _s, $id: _i, ...rest } = s;
  return rest;
};

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string, description: string) => ({
  description,
  content: { "application/json": { schema: ref(id) } },
});
const error = (description: string) => json("Error", description);

function queryParams(schema: z.ZodObject): Json[] {
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: "query",
    required: false,
    schema: strip(z.toJSONSchema(field as z.ZodType, { io: "input", unrepresentable: "any" })),
  }));
}

const idParam = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", pattern: RUN_ID.source },
};

const secured = { security: [{ bearer: [] }] };

export function openApiDocument(): Json {
  const components = z.toJSONSchema(registry, {
    uri: (id) => `#/components/schemas/${id}`,
    io: "input",
    unrepresentable: "any",
  }).schemas as Record<string, Json>;
  const schemas: Record<string, Json> = {};
  for (const [id, s] of Object.entries(components)) schemas[id] = strip(s);
  for (const m of METHODS) {
    schemas[`MethodParams.${m.name}`] = strip(
      z.toJSONSchema(methodParamsSchema(m.params), { io: "input" }) as Json,
    );
  }
  const runNotFound = { "400": error("malformed run id"), "404": error("unknown run") };
  return {
    openapi: "3.1.0",
    info: {
      title: "kvlab",
      version: KVLAB_VERSION,
      description:
        "Submit, watch and fetch KV-cache compression benchmark runs. Mutating endpoints need " +
        "`Authorization: Bearer <token>` when the server has KVLAB_TOKEN set. Errors are " +
        "{error: {code, message, details}}.",
    },
    paths: {
      "/health": {
        get: { summary: "Status, adapter and version", responses: { "200": json("Health", "ok") } },
      },
      "/v1/formats": {
        get: { summary: "Cache formats", responses: { "200": json("FormatList", "ok") } },
      },
      "/v1/methods": {
        get: { summary: "Compression methods", responses: { "200": json("MethodList", "ok") } },
      },
      "/v1/tasks": { get: { summary: "Tasks", responses: { "200": json("TaskList", "ok") } } },
      "/v1/models": { get: { summary: "Models", responses: { "200": json("ModelList", "ok") } } },
      "/v1/suites": {
        get: {
          summary: "Suites, presets and RunSpec schemas",
          responses: { "200": json("SuiteList", "ok") },
        },
      },
      "/v1/runs": {
        post: {
          summary: "Submit a run",
          ...secured,
          requestBody: {
            required: true,
            content: { "application/json": { schema: ref("RunSpec") } },
          },
          responses: {
            "202": json(
              "RunAccepted",
              "queued (new, or a failed/cancelled/interrupted run resumed)",
            ),
            "200": json("RunAccepted", "the same spec is already queued, running or done"),
            "400": error("malformed JSON or an invalid spec: details lists field errors"),
            "401": error("missing or wrong bearer token"),
            "409": error("a run with this id exists with a different spec"),
            "413": error("body too large"),
          },
        },
        get: {
          summary: "List runs, newest first",
          parameters: queryParams(ListRunsQuery),
          responses: { "200": json("RunList", "ok"), "400": error("bad query") },
        },
      },
      "/v1/runs/{id}": {
        parameters: [idParam],
        get: { summary: "A run", responses: { "200": json("Run", "ok"), ...runNotFound } },
        delete: {
          summary: "Cancel a queued or running run (records written stay)",
          ...secured,
          responses: {
            "200": json("RunAccepted", "cancelled"),
            "401": error("missing or wrong bearer token"),
            "409": error("the run is not queued or running"),
            ...runNotFound,
          },
        },
      },
      "/v1/runs/{id}/resume": {
        parameters: [idParam],
        post: {
          summary: "Resume an interrupted, cancelled or failed run (cells recorded are skipped)",
          ...secured,
          responses: {
            "202": json("RunAccepted", "queued"),
            "401": error("missing or wrong bearer token"),
            "409": error("the run is queued, running or done"),
            ...runNotFound,
          },
        },
      },
      "/v1/runs/{id}/events": {
        parameters: [idParam],
        get: {
          summary: "Server-Sent Events: status, record (id: index), log, end",
          parameters: [
            ...queryParams(EventsQuery),
            { name: "Last-Event-ID", in: "header", required: false, schema: { type: "string" } },
          ],
          responses: {
            "200": {
              description: "an event stream",
              content: { "text/event-stream": { schema: { type: "string" } } },
            },
            ...runNotFound,
          },
        },
      },
      "/v1/runs/{id}/records": {
        parameters: [idParam],
        get: {
          summary: "Records (JSON, or JSONL with Accept: application/x-ndjson)",
          parameters: queryParams(RecordsQuery),
          responses: {
            "200": {
              description: "records as written",
              content: {
                "application/json": { schema: ref("RecordsPage") },
                "application/x-ndjson": { schema: { type: "string" } },
              },
            },
            ...runNotFound,
          },
        },
      },
      "/v1/runs/{id}/summary": {
        parameters: [idParam],
        get: {
          summary:
            "summary.json; before the run is done, the summary of its records so far (partial: true)",
          responses: {
            "200": {
              description: "the suite's summary",
              content: { "application/json": { schema: { type: "object" } } },
            },
            "400": error("malformed run id"),
            "404": error("unknown run, or no records yet"),
          },
        },
      },
      "/openapi.json": {
        get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "KVLAB_TOKEN, when the server has one",
        },
      },
    },
  };
}
