// Astro's configuration for the kvlab report. site/main.ts runs `astro build` with the site model's
// path in KVLAB_SITE_MODEL and the output folder in KVLAB_SITE_OUT; this file only reads them.
// Static output, one folder per page (runs/x/index.html), no client-side framework.

import process from "node:process";

export default {
  output: "static",
  outDir: process.env.KVLAB_SITE_OUT || "./dist",
  build: { format: "directory" },
  trailingSlash: "ignore",
  devToolbar: { enabled: false },
};
