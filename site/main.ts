// `deno task site`: the static report. Placeholder until the report-site issue lands; it says
// so and exits non-zero rather than pretending to build.
console.error(
  "kvlab site: the report site is not built yet (see the report-site issue); results are in data/results/.",
);
Deno.exit(1);
