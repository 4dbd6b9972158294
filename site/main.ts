// `deno task site`: builds the static report from every results folder (data/results/ and any
// --results given) into --out (default site/dist). Plots are drawn to SVG at build time, so the
// pages need no JavaScript. See site/README.md.
//
// Exit codes: 0 built; 1 built, but some results files had errors (each printed as FILE:LINE:
// what; those runs have a page with the error and are left out of every table and figure);
// 2 bad arguments; 3 the site could not be built (Astro missing or failing).

import { parseArgs } from "node:util";
import { astroInstalled, buildSite, installAstro, SiteError } from "./lib/build.ts";

const HELP = `deno task site [--results DIR ...] [--only] [--out DIR]

  --results DIR   a results folder (a folder of run folders, or one run folder); repeatable;
                  added to data/results/
  --only          use only the --results folders given, not data/results/
  --out DIR       output folder (default site/dist); emptied first if an earlier build wrote it
  --help

Astro is installed into site/astro/node_modules with \`npm install --prefix site/astro\` the first time.`;

function usage(message: string): never {
  console.error(`kvlab site: ${message}\n\n${HELP}`);
  Deno.exit(2);
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        results: { type: "string", multiple: true },
        only: { type: "boolean", default: false },
        out: { type: "string", default: "site/dist" },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const results = [...(values.only ? [] : ["data/results"]), ...(values.results ?? [])];
  if (results.length === 0) usage("--only needs at least one --results DIR");
  const log = (line: string) => console.error(line);
  try {
    if (!astroInstalled()) await installAstro(log);
    const t0 = performance.now();
    const built = await buildSite({ results, out: values.out!, log });
    for (const p of built.problems) {
      console.error(`kvlab site: ${p.severity}: ${p.message}`);
    }
    const errors = built.problems.filter((p) => p.severity === "error").length;
    console.error(
      `site: wrote ${built.model.pages.length} pages to ${built.out} in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s${errors ? `; ${errors} results file error(s): those runs are shown with the error` : ""}`,
    );
    return errors > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof SiteError) {
      console.error(`kvlab site: ${e.message}`);
      return 3;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
