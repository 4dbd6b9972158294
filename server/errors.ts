// The API's one error shape, {error: {code, message, details}}, and the handler that maps every
// thrown error to it: ApiError keeps its status; Hono's HTTPException (malformed JSON, body too
// large) keeps its status; anything else is a 500 with a fixed message (the cause goes to the
// server's log, never into the response: no stack traces leave the process).

import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

export type ErrorStatus = 400 | 401 | 404 | 409 | 413 | 500;

/** A field-level problem: the path into the request (body or query) and what was expected. */
export interface FieldError {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, details: unknown = null) {
  return { error: { code, message, details } };
}

type Issue = z.core.$ZodIssue;
type Key = string | number;

/**
 * A union's issue → the issues of the branch the value was meant for: the one branch that got
 * past the value's type (its issues lie deeper, or are not a type mismatch). `"snapkv"` in
 * `"full" | {name, params}` → the enum's "expected one of …"; `{name: "snapkv", params:
 * {window: 0}}` → `params.window: too small`. When no single branch stands out, one error at
 * the union's path joins the branches' messages.
 */
function unionIssues(i: Issue & { code: "invalid_union" }, path: Key[]): FieldError[] {
  const branches = (i.errors ?? []) as Issue[][];
  const rank = (b: Issue[]) =>
    b.some((x) => x.path.length > 0) ? 2 : b.some((x) => x.code !== "invalid_type") ? 1 : 0;
  const ranks = branches.map(rank);
  const best = Math.max(0, ...ranks);
  const top = branches.filter((_, k) => ranks[k] === best);
  if (best > 0 && top.length === 1) return top[0].flatMap((x) => issueErrors(x, path));
  const messages = [...new Set(branches.flatMap((b) => b.map((x) => x.message)))];
  return [{ path, message: messages.length ? messages.join("; or ") : i.message }];
}

function issueErrors(i: Issue, prefix: Key[]): FieldError[] {
  const path = [...prefix, ...i.path.map((p) => (typeof p === "symbol" ? String(p) : p))];
  // An unknown field is reported at its own path, one error per field.
  if (i.code === "unrecognized_keys") {
    return i.keys.map((k) => ({ path: [...path, k], message: `unknown field "${k}"` }));
  }
  if (i.code === "invalid_union" && (i.errors?.length ?? 0) > 0) return unionIssues(i, path);
  return [{ path, message: i.message }];
}

/** Zod issues → field errors (paths as arrays, keys or indices). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((i) => issueErrors(i as Issue, []));
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} not found`);

/** Hono's onError: every error becomes the JSON shape with the right status. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = status === 413
      ? "payload_too_large"
      : status === 401
      ? "unauthorized"
      : status === 404
      ? "not_found"
      : "bad_request";
    return c.json(errorBody(code, err.message || "bad request"), status);
  }
  console.error(`kvlab serve: ${c.req.method} ${c.req.path}: internal error:`, err);
  return c.json(errorBody("internal", "internal server error"), 500);
}
