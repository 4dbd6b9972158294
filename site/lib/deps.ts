// The site's only npm imports on the Deno side (pinned in deno.json): Observable Plot draws every figure and
// linkedom is the server-side DOM it draws into, so each figure is static SVG at build time.

export * as Plot from "@observablehq/plot";
export { parseHTML } from "linkedom";
