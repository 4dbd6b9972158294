// kvlab's version and the environment facts every record carries.

export const KVLAB_VERSION = "0.1.0";

let commit: string | undefined;

/** The git commit of the checkout (with "-dirty" if it has changes), or "unknown". */
export function gitCommit(): string {
  if (commit !== undefined) return commit;
  try {
    const run = (args: string[]) =>
      new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).outputSync();
    const head = run(["rev-parse", "HEAD"]);
    if (!head.success) return (commit = "unknown");
    const dirty = run(["status", "--porcelain", "--untracked-files=no"]);
    const id = new TextDecoder().decode(head.stdout).trim();
    commit = id + (dirty.success && dirty.stdout.length > 0 ? "-dirty" : "");
  } catch {
    commit = "unknown";
  }
  return commit;
}

export function denoVersion(): string {
  return Deno.version.deno;
}
