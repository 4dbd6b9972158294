// `deno task serve`: the Hono HTTP API. Placeholder until the HTTP API issue lands; it says so
// and exits non-zero rather than pretending to serve.
console.error(
  "kvlab serve: the HTTP API is not built yet (see the HTTP API issue); use `deno task bench`.",
);
Deno.exit(1);
