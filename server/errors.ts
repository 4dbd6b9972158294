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

/** Zod issues → field errors (paths as arrays, keys or indices). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((i) => {
    const path = i.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    // An unknown field is reported at its own path, one error per field.
    if (i.code === "unrecognized_keys") {
      return i.keys.map((k) => ({ path: [...path, k], message: `unknown field "${k}"` }));
    }
    return [{ path, message: i.message }];
  });
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
