// quest in the kernel suite's needle cells (engine/bench/quest_needle.ts): it stores the whole
// context (kvBytes ≥ the full cache's) and reads a fraction of it per step (bytesReadPerStep),
// retrieves the needle wherever its page is selected; method cells resume by method and budget.

import assert from "node:assert/strict";
import {
  cellKey,
  type KernelSpec,
  type NeedleRecord,
  needleTable,
  runKernelSuite,
  summarize,
} from "../engine/bench/kernel_suite.ts";
import { defaultMethods } from "../engine/bench/kernel_spec.ts";
import { resultsDir } from "../engine/bench/results.ts";
import { testGpu } from "./helpers.ts";

const SPEC: KernelSpec = {
  suite: "kernels",
  preset: "smoke",
  formats: ["fp16"],
  lengths: [200],
  batchSize: 1,
  heads: 4,
  kvHeads: 2,
  headDim: 32,
  reps: 1,
  warmup: 0,
  copyMiB: 1,
  needleDepths: [0, 0.5, 1],
  methods: ["quest", "quest+kivi4", "snapkv"],
  budgets: [{ ratio: 4 }],
  seed: 1,
};

Deno.test("kernel suite: quest needle cells record bytes read beside bytes stored", async () => {
  assert.ok(defaultMethods().includes("quest"), "quest is a default needle method");
  const gpu = await testGpu();
  const dir = Deno.makeTempDirSync();
  const out = resultsDir(dir);
  const ctx = { gpu, spec: SPEC, runId: "q", specHash: "h", out, log: () => {} };
  const all = await runKernelSuite(ctx);
  const needles = all.filter((r): r is NeedleRecord => r.kind === "needle");
  assert.equal(needles.length, 4 * 3); // (full + 3 method cells) × 3 depths
  const full = needles.find((r) => r.method === "full")!;
  for (const r of needles.filter((x) => x.method === "quest")) {
    const what = `${r.format} at ${r.needleDepth}`;
    assert.equal(r.ratio, 4);
    assert.equal(r.prefillMode, "dense");
    assert.deepEqual(r.params, { page: 16 });
    // ratio 4 of 200 tokens → 50 → 4 pages: 3 full ones and the last page's 200 − 12·16 = 8
    assert.equal(r.keptTokens, 3 * 16 + 8, what);
    assert.ok(r.needleKept && r.retrieved, `${what}: kept ${r.needleKept}, cos ${r.needleCosine}`);
    // stored: the whole cache and the metadata; read: a fraction of it
    const meta = 2 * 13 * 32 * 4; // Hkv × pages × 4·D
    if (r.format === "fp16") assert.equal(r.kvBytes, full.kvBytes + meta, what);
    assert.ok(r.bytesReadPerStep! < r.bytesReadDense!, what);
    assert.equal(
      r.bytesReadPerStep,
      Math.round((56 / 200) * (r.kvBytes - meta)) + meta,
      `${what}: 56 of 200 tokens' K and V + every page's metadata`,
    );
  }
  for (const r of needles.filter((x) => x.method === "snapkv")) {
    assert.equal(r.prefillMode, "dense");
    assert.equal(r.bytesReadPerStep, undefined);
  }
  assert.match(needleTable(all), /quest\+kivi4 1\/4\s+3\/3/);
  const s = summarize(SPEC, all).needles.filter((x) => x.method === "quest");
  assert.ok(s.every((x) => x.bytesReadPerStep !== null && x.bytesReadPerStep < x.kvBytes));

  // resume: every method cell has its own key, so dropping the quest+kivi4 cells redoes them only
  const keys = new Set(needles.map(cellKey));
  assert.equal(keys.size, needles.length, "distinct resume keys");
  const lines = Deno.readTextFileSync(out.recordsPath).trim().split("\n");
  const keep = lines.filter((l) => !(l.includes('"method":"quest"') && l.includes('"kivi4"')));
  assert.equal(keep.length, lines.length - 3);
  Deno.writeTextFileSync(out.recordsPath, keep.join("\n") + "\n");
  const logged: string[] = [];
  const again = await runKernelSuite({ ...ctx, log: (l) => logged.push(l) });
  assert.equal(again.filter((r) => r.kind === "needle").length, 12);
  assert.equal(logged.filter((l) => l.includes("quest+kivi4")).length, 3, logged.join("\n"));
  assert.equal(logged.filter((l) => l.includes("snapkv")).length, 0);
  Deno.removeSync(dir, { recursive: true });
});
