// Loads a .wgsl file that sits beside its host module (read once, then cached).
const cache = new Map<string, string>();

export function wgsl(url: URL): string {
  const key = url.href;
  let code = cache.get(key);
  if (code === undefined) {
    code = Deno.readTextFileSync(url);
    cache.set(key, code);
  }
  return code;
}

/**
 * Splices a format's read snippet into a kernel body. The snippet's `override` declarations
 * are hoisted above the body: naga (wgpu 29, as in Deno 2.9) panics when an override is declared
 * after a function that uses it is reached from an entry point declared earlier.
 */
export function splice(body: string, snippet: string): string {
  const lines = snippet.split("\n");
  const isOverride = (l: string) => /^\s*override\s/.test(l);
  return [
    ...lines.filter(isOverride),
    body,
    ...lines.filter((l) => !isOverride(l)),
  ].join("\n");
}
