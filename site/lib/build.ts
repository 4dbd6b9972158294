// The build: load results → site model (pages.ts) → Astro renders every page (site/src/) → the
// per-run downloads are written beside the pages. Astro runs in a child Deno process over
// site/astro/node_modules (installed by `npm install --prefix site/astro`), so the project's own
// deno.json needs no node_modules of its own.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadResults, type Problem } from "./load.ts";
import type { SiteModel } from "./model.ts";
import { buildModel } from "./pages.ts";

/**
 * The Astro project: site/astro/ (package.json, astro.config.mjs, src/, node_modules/). It has a
 * folder of its own because Deno treats a folder holding package.json and node_modules as a
 * package: site/'s Deno code must not sit below one.
 */
export const ASTRO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "astro");
export const ASTRO_BIN = join(ASTRO_DIR, "node_modules", "astro", "bin", "astro.mjs");
/** Written into the output folder: marks it as ours, so a rebuild may empty it. */
export const MARKER = ".kvlab-site";

export class SiteError extends Error {
  override name = "SiteError";
}

export interface SiteOptions {
  /** Results folders: each a folder of run folders, or one run folder. */
  readonly results: readonly string[];
  /** Output folder (default site/dist). */
  readonly out: string;
  /** Fixed build time (tests); default now. */
  readonly generated?: string;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

export interface SiteResult {
  readonly model: SiteModel;
  /** Problems reading results (errors and warnings), each naming its file and line. */
  readonly problems: readonly Problem[];
  readonly out: string;
}

export function astroInstalled(): boolean {
  try {
    return Deno.statSync(ASTRO_BIN).isFile;
  } catch {
    return false;
  }
}

/**
 * Runs `npm install` in site/astro/: Astro and its dependencies as package-lock.json pins them.
 * Not `npm ci`: npm 11 writes a lock without the other platforms' optional native packages and
 * then `npm ci` refuses it as out of sync; `npm install` installs the locked tree unchanged.
 */
export async function installAstro(log: (line: string) => void = () => {}): Promise<void> {
  log("site: installing Astro: npm install --prefix site/astro");
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--prefix", ASTRO_DIR],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new SiteError(`could not run npm to install Astro (${(e as Error).message})`);
  }
  if (!out.success) {
    throw new SiteError(
      `npm install --prefix site/astro failed:\n${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Refuses to build into a non-empty folder that an earlier build did not write. */
function prepareOut(out: string): void {
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(out)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (entries.length === 0) return;
  if (!entries.includes(MARKER)) {
    throw new SiteError(
      `${out} is not empty and was not written by deno task site (no ${MARKER}); ` +
        `choose an empty or new --out folder`,
    );
  }
  Deno.removeSync(out, { recursive: true });
}

/** The deno binary to run Astro with: this one where permitted, else `deno` from PATH. */
function denoCommand(): string {
  const exec = Deno.execPath();
  const state = Deno.permissions.querySync({ name: "run", command: exec }).state;
  return state === "granted" ? exec : "deno";
}

async function runAstro(modelPath: string, out: string): Promise<void> {
  if (!astroInstalled()) {
    throw new SiteError(
      `Astro is not installed (${ASTRO_BIN} is missing): run \`npm install --prefix site/astro\``,
    );
  }
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(denoCommand(), {
      args: [
        "run",
        "-A",
        "--no-config",
        "--no-lock",
        "--node-modules-dir=manual",
        ASTRO_BIN,
        "build",
        "--root",
        ASTRO_DIR,
        "--silent",
      ],
      cwd: ASTRO_DIR,
      env: {
        KVLAB_SITE_MODEL: modelPath,
        KVLAB_SITE_OUT: out,
        ASTRO_TELEMETRY_DISABLED: "1",
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new SiteError(`could not start Astro under Deno (${(e as Error).message})`);
  }
  if (!result.success) {
    const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    throw new SiteError(`astro build failed (exit ${result.code}):\n${text.trim()}`);
  }
}

/**
 * Builds the site. Results files with errors do not stop it: their runs get a page with the
 * error and are left out of every table and figure; the problems are returned for the caller to
 * report. Throws SiteError when the site itself cannot be built.
 */
export async function buildSite(opts: SiteOptions): Promise<SiteResult> {
  const log = opts.log ?? (() => {});
  const out = resolve(opts.out);
  const loaded = loadResults(opts.results);
  const model = buildModel({ loaded, roots: opts.results, generated: opts.generated });
  log(
    `site: ${loaded.runs.length} runs, ${
      loaded.runs.reduce((s, r) => s + r.records.length, 0)
    } records, ${model.pages.length} pages`,
  );
  prepareOut(out);
  const tmp = await Deno.makeTempDir({ prefix: "kvlab-site-" });
  try {
    const modelPath = join(tmp, "model.json");
    await Deno.writeTextFile(modelPath, JSON.stringify(model));
    await runAstro(modelPath, out);
  } finally {
    await Deno.remove(tmp, { recursive: true });
    // Astro's generated types (site/astro/.astro/) import "astro": not for `deno check site/`.
    await Deno.remove(join(ASTRO_DIR, ".astro"), { recursive: true }).catch(() => {});
  }
  for (const d of model.downloads) {
    const path = join(out, d.path);
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, d.text);
  }
  await Deno.writeTextFile(join(out, MARKER), "written by deno task site; rebuilt from scratch\n");
  return { model, problems: loaded.problems, out };
}
