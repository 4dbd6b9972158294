// Bearer-token check for mutating requests, when the server has a token (KVLAB_TOKEN). Tokens
// are compared as SHA-256 digests with a loop that visits every byte, so the time taken says
// nothing about how much of a guess matched, or about the token's length.

import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
}

/** Constant-time equality of two strings (via their digests). */
export async function tokensEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** Requires `Authorization: Bearer <token>` on every non-GET/HEAD/OPTIONS request. */
export function requireToken(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!token || SAFE_METHODS.has(c.req.method)) return await next();
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m || !(await tokensEqual(m[1], token))) {
      c.header("WWW-Authenticate", 'Bearer realm="kvlab"');
      throw new ApiError(
        401,
        "unauthorized",
        m ? "invalid bearer token" : "this server requires Authorization: Bearer <KVLAB_TOKEN>",
      );
    }
    await next();
  };
}
