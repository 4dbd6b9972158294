// Every registered compression method (engine/methods/registry.ts METHODS, so a new one is
// picked up) through the model: each layer compressed after its dense prefill — once (one-shot
// methods), or then evicting at every decode step (decode-time methods: the DecodeEvictor) — or,
// for quest (sparse), full caches with page selection at each decode step from layer 2 on.
//   - one-shot and quest, budget = the prompt: the generated ids equal the full cache's exactly,
//     in several formats, and so do the bytes (quest: the ids); every eviction method at a real
//     budget: tokens kept per layer as the budget says, kvBytes from the compressed caches'
//     allocations, below the full cache's; quest at a real budget: kvBytes above the full
//     cache's (page metadata) and bytes read per decode step below; a format a method cannot use
//     is refused, naming both;
//   - positions: after compression a layer holds `budget` tokens but the next token sits at T;
//     decode logits equal the reference forward (engine/reference/model.ts) that attends, from
//     position T on, to exactly the tokens the caches held at that step (read back from the
//     GPU: kept prompt tokens, generated ones, evictions) at their true positions; for quest, to
//     the tokens of the pages each layer's selection read at that step;
//   - bad input names the value; the CLI exits 2 with one line.
// A small random checkpoint (3 layers, D = 32, so the quantized formats apply and quest has one
// sparse layer) and the stories260K fixture (skipped with a message when ../shared is absent).

import assert from "node:assert/strict";
import { createCache, getFormat } from "../engine/cache/registry.ts";
import { toF32 } from "../engine/model/dtype.ts";
import { generate, type GenerateOptions, type GenerateResult } from "../engine/model/generate.ts";
import { run } from "../engine/model/generate_cli.ts";
import { Model } from "../engine/model/model.ts";
import { Checkpoint } from "../engine/model/safetensors.ts";
import { Session } from "../engine/model/session.ts";
import { ModelTokenizer } from "../engine/model/tokenizer.ts";
import type { MethodInfo } from "../engine/methods/method.ts";
import { QUEST_DENSE_LAYERS } from "../engine/methods/quest.ts";
import { METHODS } from "../engine/methods/registry.ts";
import { NO_PAGE } from "../engine/reference/quest.ts";
import type { Budget } from "../engine/methods/budget.ts";
import { referenceForward, type TensorSource } from "../engine/reference/model.ts";
import { rng } from "../engine/reference/random.ts";
import type { Gpu } from "../engine/gpu/mod.ts";
import { hasStories, STORIES_DIR, tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { assertClose, testGpu } from "./helpers.ts";

const HAS = hasStories("model × methods tests on stories260K");

/** A method as the runtime runs it: evicting during decode or not. */
interface MethodRun {
  readonly info: MethodInfo;
  readonly evict: boolean;
  readonly label: string;
}

/** Every method its own way, and one-shot methods with a decode rule evicting too. */
const RUNS: MethodRun[] = METHODS.flatMap((info) => {
  const own = { info, evict: info.mode === "decode", label: info.name };
  if (info.mode === "decode" || !info.decode) return [own];
  return [own, { info, evict: true, label: `${info.name}(decode-evict)` }];
});

/** Whether a run can store its cache as `format` (the method's list; evicting: slot writes). */
function combines(r: MethodRun, format: string): boolean {
  if (r.info.formats && !r.info.formats.includes(format)) return false;
  return !r.evict || getFormat(format).slotWrites === true;
}

const CONFIG = tinyConfig({
  head_dim: 32,
  vocab_size: 131,
  max_position_embeddings: 512,
  num_hidden_layers: 3,
});

/** B prompts of n ids each (BOS first). */
function prompts(B: number, n: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from(
    { length: B },
    () => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 120))],
  );
}

/** Bytes of one cache per layer, each of `format` with capacity budgets[l] + room. */
async function cacheBytes(
  gpu: Gpu,
  format: string,
  B: number,
  Hkv: number,
  D: number,
  capacities: readonly number[],
): Promise<number> {
  let sum = 0;
  for (const capacity of capacities) {
    const c = await createCache(gpu, format, { B, Hkv, D, capacity });
    sum += c.bytes();
    c.destroy();
  }
  return sum;
}

// --- every method × format: exact at a full budget, smaller at a real one -----------------------

Deno.test("methods × formats through the model: budget = prompt is exact, a real budget is smaller", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 11 });
  const model = await Model.load(gpu, m.dir);
  const c = model.config;
  // 150 tokens: past KIVI's 128-token residual, so a compressed KIVI cache is smaller too; and
  // quest's budget of T reads ceil(150/16) = 10 pages, every token held through N steps
  const T = 150, N = 6;
  const ps = prompts(2, T, 3);
  const base: GenerateOptions = { maxNewTokens: N, readEvery: 4, stopAtEos: false };
  const report: string[] = [];
  // fp32: the positions test below
  for (const format of ["fp16", "kivi4", "int4"]) {
    const full = await generate(model, ps, { ...base, format });
    assert.equal(full.kvBytesFull, full.kvBytes, `${format}: full run's kvBytesFull`);
    assert.equal(full.compression, undefined);
    // decode attention reads every held token (T + N − 1 of the T + N slots) of every layer
    assert.ok(
      full.bytesReadPerStep <= full.kvBytes && full.bytesReadPerStep > 0.95 * full.kvBytes,
      `${format}: full run reads ${full.bytesReadPerStep} of ${full.kvBytes} bytes per step`,
    );
    for (const r of RUNS) {
      const { info } = r;
      const what = `${r.label}+${format}`;
      const run = (budget: Budget) =>
        generate(model, ps, {
          ...base,
          format,
          method: info.name,
          budget,
          decodeEviction: r.evict,
        });
      if (!combines(r, format)) {
        await assert.rejects(() => run({ ratio: 2 }), (e: Error) => {
          assert.ok(e instanceof RangeError && e.message.includes(format), `${what}: ${e}`);
          return true;
        });
        report.push(`${what} refused`);
        continue;
      }
      if (info.mode === "sparse") {
        report.push(await checkQuest(run, full, T, c.layers, what));
        continue;
      }
      if (!r.evict) {
        const same = await run({ budgetTokens: T });
        assert.deepEqual(same.ids, full.ids, `${what}, budget = T: ids equal the full cache's`);
        assert.deepEqual(same.compression?.budgets, new Array(c.layers).fill(T));
        assert.equal(same.kvBytes, full.kvBytes, `${what}, budget = T: bytes`);
      }
      const cut = await run({ ratio: 2 });
      const budgets = cut.compression!.budgets;
      assert.deepEqual(
        [cut.compression!.method, cut.compression!.mode, cut.format],
        [info.name, r.evict ? "decode" : "one-shot", format],
      );
      assert.equal(
        budgets.reduce((a, b) => a + b, 0),
        c.layers * Math.ceil(T / 2),
        `${what}: ratio 2 keeps ceil(T/2) tokens per layer on average (${budgets})`,
      );
      if (!r.evict) {
        // a fresh cache of the layer's budget + room for the new tokens, nothing else
        const want = await cacheBytes(gpu, format, 2, c.Hkv, c.D, budgets.map((k) => k + N));
        assert.equal(cut.kvBytes, want, `${what}: kvBytes = the compressed caches' allocations`);
      } else {
        // a cache of capacity = the budget, plus the evictor's per-slot positions (and stats)
        const caches = await cacheBytes(gpu, format, 2, c.Hkv, c.D, budgets);
        const perSlot = 2 * c.Hkv * budgets.reduce((a, b) => a + b, 0) * 4;
        assert.ok(
          cut.kvBytes >= caches + perSlot && cut.kvBytes <= caches + 2 * perSlot + 4 * c.layers,
          `${what}: kvBytes ${cut.kvBytes} vs caches ${caches} + slot state ${perSlot}`,
        );
      }
      assert.equal(cut.kvBytesFull, full.kvBytes, `${what}: kvBytesFull = the full run's bytes`);
      assert.ok(cut.kvBytes < full.kvBytes, `${what}: ${cut.kvBytes} ≥ full ${full.kvBytes}`);
      assert.ok(cut.bytesReadPerStep < full.bytesReadPerStep, `${what}: bytes read per step`);
      assert.ok(cut.bytesReadPerStep <= cut.kvBytes, `${what}: reads no more than it stores`);
      cut.ids.forEach((ids, b) => {
        assert.equal(ids.length, T + N);
        assert.deepEqual(ids.slice(0, T), ps[b]);
        assert.ok(ids.every((id) => id >= 0 && id < c.vocab), `${what}: ids in [0, V)`);
      });
      // the first new token comes from the dense prefill: the same as the full cache's
      assert.deepEqual(cut.newIds.map((x) => x[0]), full.newIds.map((x) => x[0]));
      if (format === "fp16") report.push(`${what} ${cut.kvBytes}/${full.kvBytes}`);
    }
  }
  console.log(`ratio 2 (quest: 4), kvBytes / full: ${report.join("; ")}`);
  // a "+<format>" part picks the format
  const composed = await generate(model, ps, {
    ...base,
    method: "snapkv+kivi4",
    budget: { ratio: 2 },
  });
  assert.equal(composed.format, "kivi4");
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

/**
 * quest through generate(): budget = the prompt gives the full cache's ids (its pages cover every
 * token held when T + N − 1 ≤ ceil(T / 16)·16: full attention at every step); ratio 4 stores
 * more than the full cache (page metadata) and reads less per decode step. Returns a report.
 */
async function checkQuest(
  run: (budget: Budget) => Promise<GenerateResult>,
  full: GenerateResult,
  T: number,
  layers: number,
  what: string,
): Promise<string> {
  const same = await run({ budgetTokens: T });
  assert.deepEqual(same.ids, full.ids, `${what}, budget = T: ids equal the full cache's`);
  assert.deepEqual(
    [same.compression?.mode, same.compression?.prefill, same.compression?.budgets],
    ["sparse", "dense", new Array(layers).fill(T)],
  );
  const cut = await run({ ratio: 4 });
  const K = Math.ceil(T / 4);
  assert.deepEqual(
    cut.compression?.budgets,
    Array.from({ length: layers }, (_, l) => (l < QUEST_DENSE_LAYERS ? T : K)),
  );
  assert.equal(cut.kvBytesFull, full.kvBytes, `${what}: kvBytesFull`);
  assert.ok(cut.kvBytes > full.kvBytes, `${what}: metadata: ${cut.kvBytes} ≤ ${full.kvBytes}`);
  assert.ok(
    cut.bytesReadPerStep < full.bytesReadPerStep,
    `${what}: reads ${cut.bytesReadPerStep} per step, the full cache ${full.bytesReadPerStep}`,
  );
  assert.deepEqual(cut.newIds.map((x) => x[0]), full.newIds.map((x) => x[0]), "prefill's token");
  cut.ids.forEach((ids) => assert.ok(ids.every((id) => id >= 0 && id < 131)));
  return `${what} stored ${cut.kvBytes}/${full.kvBytes}, read ${cut.bytesReadPerStep}/${full.bytesReadPerStep}`;
}

// --- positions after compression ---------------------------------------------------------------

/**
 * quest after a decode step, the cache holding `len` tokens: [b][layer][hk] → the positions the
 * step's attention read — every held one in the dense first layers, the tokens of the selected
 * pages (QuestLayer.sel) in the others (the last page always among them, its count the layer's
 * tokensRead).
 */
async function questRead(s: Session, len: number): Promise<number[][][][]> {
  const { layers, Hkv } = s.model.config;
  const raw = await s.model.gpu.read(s.quest.filter((q) => q).map((q) => ({ buffer: q.sel })));
  return Array.from({ length: s.o.B }, (_, b) =>
    Array.from({ length: layers }, (_, l) => {
      const q = s.quest[l];
      if (!q) {
        assert.ok(l < QUEST_DENSE_LAYERS, `layer ${l}: a QuestLayer`);
        return new Array(Hkv).fill(0).map(() => Array.from({ length: len }, (_, i) => i));
      }
      const sel = new Uint32Array(raw[l - QUEST_DENSE_LAYERS]);
      return Array.from({ length: Hkv }, (_, hk) => {
        const pages = [...sel.subarray((b * Hkv + hk) * q.pages, (b * Hkv + hk + 1) * q.pages)]
          .filter((p) => p !== NO_PAGE);
        const set = pages.flatMap((p) =>
          Array.from({ length: Math.min(q.page, len - p * q.page) }, (_, i) => p * q.page + i)
        );
        assert.equal(set.length, q.tokensRead(len), `layer ${l}: tokens read`);
        assert.equal(set.at(-1), len - 1, `layer ${l}: the last page is read`);
        return set;
      });
    }));
}

/**
 * Prefill + `steps` decode steps of a compressed session (fp32); the prefill logits against the
 * dense reference, every decode step's against the reference through the positions the caches
 * held at that step (read back after it; quest: the tokens of the pages each layer read).
 * Returns the largest gap between the decode logits and the *dense* reference, which must be
 * well above the tolerance for the test to show anything.
 */
async function checkPositions(
  model: Model,
  tensor: TensorSource,
  ps: number[][],
  r: MethodRun,
  budget: Budget,
  steps: number,
  tol: number,
): Promise<number> {
  const gpu = model.gpu;
  const config = model.config;
  const V = config.vocab;
  const T = ps[0].length;
  const s = await Session.create(model, {
    B: ps.length,
    maxPrompt: T,
    maxNewTokens: steps + 1,
    format: "fp32",
    method: r.info.name,
    budget,
    decodeEviction: r.evict,
    inspect: true,
  });
  const what = r.label;
  const sparse = r.info.mode === "sparse";
  try {
    if (!sparse) {
      assert.equal(s.caches.length, 0, `${what}: no cache before prefill`);
      assert.equal(s.kvBytes(), 0);
    }
    await s.prefill(ps);
    const budgets = s.budgets!;
    const bytes = s.kvBytes();
    /** [step][b][layer][hk]: what the caches held after step s + 1 (row T + s saw it). */
    const heldAt: number[][][][][] = [];
    const checkHeld = (held: number[][][][], step: number) =>
      !sparse && held.forEach((layers) =>
        layers.forEach((heads, l) =>
          heads.forEach((set) => {
            const n = r.evict ? budgets[l] : budgets[l] + step;
            assert.equal(set.length, n, `${what}, step ${step}, layer ${l}: tokens held`);
            assert.ok(set.every((j, i) => j < T + step && (i === 0 || j > set[i - 1])), `${set}`);
          })
        )
      );
    const readHeld = () =>
      sparse ? questRead(s, T + s.generated - 1) : Promise.all(ps.map((_, b) => s.readHeld(b)));
    if (!sparse) checkHeld(await readHeld(), 0);
    const seqs = ps.map((p) => [...p]);
    let denseGap = 0;
    for (let step = 0; step <= steps; step++) {
      if (step > 0) {
        s.decode(1);
        const held = await readHeld();
        checkHeld(held, step);
        heldAt.push(held);
      }
      const [raw, idsRaw, posRaw] = await gpu.read([
        { buffer: s.logits },
        { buffer: s.buf.next },
        { buffer: s.buf.pos },
      ]);
      const got = new Float32Array(raw);
      // the next token's position: T + step, whatever the caches hold
      assert.deepEqual([...new Uint32Array(posRaw)], ps.map(() => T + step));
      for (let b = 0; b < ps.length; b++) {
        const n = seqs[b].length;
        const dense = referenceForward(config, tensor, seqs[b]).subarray((n - 1) * V, n * V);
        const want = step === 0 ? dense : referenceForward(config, tensor, seqs[b], {
          T,
          visible: (l, hk, i) => heldAt[i - T][b][l][hk],
        }).subarray((n - 1) * V, n * V);
        const row = got.subarray(b * V, (b + 1) * V);
        assertClose(row, want, { atol: tol, rtol: tol, label: `${what}, step ${step}, b ${b}` });
        for (let i = 0; i < V; i++) denseGap = Math.max(denseGap, Math.abs(row[i] - dense[i]));
        seqs[b].push(new Uint32Array(idsRaw)[b]);
      }
    }
    assert.equal(s.kvBytes(), bytes, `${what}: decode allocates no KV bytes`);
    return denseGap;
  } finally {
    s.destroy();
  }
}

Deno.test("positions after compression: decode equals the reference over the held tokens at T + i", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 12 });
  const model = await Model.load(gpu, m.dir);
  const ps = prompts(2, 64, 8);
  const gaps: string[] = [];
  for (const r of RUNS) {
    // 36 of 64 tokens: room for SnapKV's default 32-token window; evicting runs start evicting
    // at the first step
    const gap = await checkPositions(model, m.tensor, ps, r, { budgetTokens: 36 }, 3, 1e-4);
    gaps.push(`${r.label} ${gap.toExponential(2)}`);
    assert.ok(gap > 1e-2, `${r.label}: eviction left the logits within ${gap} of dense`);
  }
  console.log(`largest decode-logit gap to dense attention: ${gaps.join("; ")}`);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

// --- bad input ---------------------------------------------------------------------------------

Deno.test("methods through the model: bad input names the value", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(tinyConfig(), { seed: 2 }); // D = 16: no quantized format
  const model = await Model.load(gpu, m.dir);
  const ps = prompts(1, 40, 1);
  const o: GenerateOptions = { maxNewTokens: 2 };
  const live = gpu.liveBytes;
  const cases: [Partial<GenerateOptions>, RegExp, number[][]?][] = [
    [{ method: "h3o", budget: { ratio: 2 } }, /unknown method "h3o" in "h3o"; expected one of/],
    [{ method: "snapkv+fp8", budget: { ratio: 2 } }, /unknown cache format "fp8" in "snapkv\+fp8"/],
    [{ method: "knorm", budget: { budgetTokens: 0 } }, /budgetTokens: got 0, expected an integer/],
    [
      { method: "knorm", budget: { budgetTokens: 41 } },
      /budgetTokens: got 41, expected an integer in \[1, 40\] \(the prompt has T=40 tokens\)/,
    ],
    [{ method: "knorm", budget: { ratio: 0.5 } }, /ratio: got 0.5, expected a finite number ≥ 1/],
    [{ method: "knorm" }, /method "knorm": needs a budget/],
    [{ budget: { ratio: 2 } }, /budget \{"ratio":2\}: needs a method/],
    [
      { method: "snapkv+kivi4", format: "int4", budget: { ratio: 2 } },
      /method "snapkv\+kivi4" stores its cache as kivi4, but the format is int4/,
    ],
    [
      { method: "h2o+kivi4", budget: { ratio: 2 } },
      /h2o cannot be stored as kivi4 \(in "h2o\+kivi4"\); it combines with fp32, fp16/,
    ],
    [
      { method: "streaming_llm", format: "kivi2", budget: { ratio: 2 }, decodeEviction: true },
      /streaming_llm\+kivi2: decode-time eviction overwrites single tokens in place/,
    ],
    [
      { method: "snapkv", budget: { ratio: 2 }, decodeEviction: true },
      /snapkv does not evict during decode/,
    ],
    [
      { method: "h2o", budget: { ratio: 2 }, decodeEviction: false },
      /decodeEviction: false, but h2o evicts during decode by definition/,
    ],
    [{ decodeEviction: true }, /decodeEviction true: needs a method/],
    [
      { method: "snapkv+int4", budget: { ratio: 2 } },
      /cache format "int4" for this model: D \(head dim\): got 16, expected a multiple of 32/,
    ],
    [
      { method: "snapkv", params: { windw: 8 }, budget: { ratio: 2 } },
      /snapkv: unknown parameter "windw"; expected one of window, kernel/,
    ],
    [
      { method: "snapkv", budget: { budgetTokens: 20 } },
      /snapkv\+fp16" on a 40-token prompt, layer 0: .*budget of 20 tokens cannot hold the 32/,
    ],
    [
      { method: "snapkv", params: { window: 8 }, budget: { ratio: 2 } },
      /method "snapkv": every prompt of a batch must have the same length, got 40, 12 tokens/,
      [ps[0], ps[0].slice(0, 12)],
    ],
    [{ method: "quest" }, /method "quest": needs a budget/],
    [
      { method: "quest", budget: { ratio: 2 }, decodeEviction: true },
      /quest selects pages per decode step and evicts nothing/,
    ],
    [
      { method: "quest", budget: { budgetTokens: 41 } },
      /method "quest\+fp16" on a 40-token prompt: budgetTokens: got 41, expected an integer in/,
    ],
    [
      { method: "quest", params: { page: 6 }, budget: { ratio: 2 } },
      /quest page: got 6, expected a multiple of 4/,
    ],
    [
      { method: "quest", budget: { ratio: 2 } },
      /method "quest": every prompt of a batch must have the same length, got 40, 12 tokens/,
      [ps[0], ps[0].slice(0, 12)],
    ],
  ];
  for (const [opts, pattern, p] of cases) {
    await assert.rejects(() => generate(model, p ?? ps, { ...o, ...opts }), (e: Error) => {
      assert.ok(e instanceof RangeError, `${JSON.stringify(opts)}: ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  // a window longer than the prompt, through a Session directly (the plan names both)
  await assert.rejects(
    () =>
      Session.create(model, {
        B: 1,
        maxPrompt: 20,
        maxNewTokens: 2,
        format: "fp16",
        method: "snapkv",
        budget: { ratio: 1 },
      }),
    /"snapkv\+fp16" scores with the prompt's last 32 queries, but the prompt has 20 tokens/,
  );
  assert.equal(gpu.liveBytes, live, "the refusals left nothing allocated");
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

// --- stories260K --------------------------------------------------------------------------------

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside " +
  "in the park with her friends. One day, she saw a big red ball under a tree. She ran to the " +
  "tree and picked up the ball. Her mom said she could keep it if she shared it with her friend";

Deno.test({
  name: "stories260K × methods: budget = prompt reproduces the full cache; ratio 2 is smaller",
  ignore: !HAS,
  fn: async () => {
    const gpu = await testGpu();
    const model = await Model.load(gpu, STORIES_DIR);
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const ids = tok.encode(STORY);
    const T = ids.length, N = 12;
    assert.ok(T >= 64, `the story is ${T} tokens`);
    const report: string[] = [];
    const format = "fp32";
    const full = await generate(model, [ids], { maxNewTokens: N, format, stopAtEos: false });
    for (const r of RUNS) {
      const run = (budget: Budget) =>
        generate(model, [ids], {
          maxNewTokens: N,
          format,
          stopAtEos: false,
          method: r.info.name,
          budget,
          decodeEviction: r.evict,
        });
      if (!r.evict) {
        const same = await run({ budgetTokens: T });
        assert.deepEqual(same.ids, full.ids, `${r.label}: budget = T gives the full cache's ids`);
      }
      const cut = await run({ ratio: 2 });
      if (r.info.mode === "sparse") {
        // quest keeps every token (plus page metadata) and reads fewer (T = 97: the budget's 7
        // pages hold every token up to T + N − 1 = 108, so budget = T above is full attention)
        assert.ok(cut.kvBytes > full.kvBytes, `${r.label}: kvBytes`);
      } else {
        assert.ok(cut.kvBytes < full.kvBytes, `${r.label}: kvBytes`);
      }
      assert.ok(cut.bytesReadPerStep < full.bytesReadPerStep, `${r.label}: bytes read per step`);
      assert.equal(cut.kvBytesFull, full.kvBytes);
      const agree = cut.newIds[0].findIndex((id, i) => id !== full.newIds[0][i]);
      report.push(
        `${r.label} ${agree < 0 ? N : agree}/${N} ${cut.kvBytes}/${full.kvBytes} ` +
          `read ${cut.bytesReadPerStep}/${full.bytesReadPerStep}`,
      );
    }
    console.log(
      `stories260K, T=${T}, ratio 2, fp32: new tokens equal to the full cache's before the ` +
        `first difference, kvBytes/full, bytes read per step/full: ${report.join("; ")}`,
    );
    model.destroy();
  },
});

/** Every tensor of a checkpoint as f32, for the reference forward. */
async function loadTensors(dir: string): Promise<TensorSource> {
  const ckpt = await Checkpoint.open(dir);
  const values = new Map<string, Float32Array>();
  try {
    for (const name of ckpt.index.keys()) {
      const info = ckpt.info(name);
      values.set(name, toF32(await ckpt.read(info), info.dtype).slice());
    }
  } finally {
    ckpt.close();
  }
  return (name) => {
    const v = values.get(name);
    if (!v) throw new Error(`no tensor ${name}`);
    return v;
  };
}

Deno.test({
  name: "stories260K: positions after compression match the reference over the kept tokens",
  ignore: !HAS,
  fn: async () => {
    const gpu = await testGpu();
    const model = await Model.load(gpu, STORIES_DIR);
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const tensor = await loadTensors(STORIES_DIR);
    const ids = tok.encode(STORY);
    for (const r of RUNS) {
      const gap = await checkPositions(model, tensor, [ids], r, { ratio: 2 }, 3, 2e-4);
      assert.ok(gap > 1e-3, `${r.label}: eviction left the logits within ${gap} of dense`);
    }
    model.destroy();
  },
});

Deno.test({
  name: "stories260K: a batch of equal-length prompts gets each sequence's ids alone (snapkv)",
  ignore: !HAS,
  fn: async () => {
    const gpu = await testGpu();
    const model = await Model.load(gpu, STORIES_DIR);
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const a = tok.encode(STORY);
    const b = tok.encode("Tom had a big dog. The dog liked to run and jump in the garden. " + STORY)
      .slice(0, a.length);
    const o = { maxNewTokens: 24, method: "snapkv", budget: { ratio: 2 }, format: "fp32" };
    const both = await generate(model, [a, b], o);
    for (const [i, p] of [a, b].entries()) {
      const alone = await generate(model, [p], o);
      assert.deepEqual(both.ids[i], alone.ids[0], `sequence ${i}`);
    }
    model.destroy();
  },
});

// --- the CLI ------------------------------------------------------------------------------------

async function cli(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await run(
    args,
    { out: (l) => out.push(l), err: (l) => err.push(l) },
    await testGpu(),
  );
  return { code, out, err };
}

Deno.test({
  name: "generate CLI with --method: --json reports method, budget, kvBytes and kvBytesFull",
  ignore: !HAS,
  fn: async () => {
    const story = ["--model", STORIES_DIR, "--prompt", STORY, "--max-new-tokens", "8", "--json"];
    const full = await cli([...story, "--format", "fp32"]);
    assert.equal(full.code, 0, full.err.join("\n"));
    const f = JSON.parse(full.out[0]);
    assert.deepEqual([f.method, f.budget, f.params], [null, null, null]);
    assert.equal(f.kvBytesFull, f.kvBytes);
    const T = f.promptTokens;
    assert.equal(f.kvBytes, 5 * (2 * 4 * (T + 8) * 8 * 4 + 2 * 4));
    const r = await cli([
      ...story,
      "--method",
      "snapkv+fp32",
      "--ratio",
      "4",
      "--params",
      "window=8,kernel=5",
    ]);
    assert.equal(r.code, 0, r.err.join("\n"));
    const j = JSON.parse(r.out[0]);
    const K = Math.ceil(T / 4);
    assert.deepEqual(
      [j.method, j.format, j.params, j.ratio, j.budget],
      ["snapkv", "fp32", { window: 8, kernel: 5 }, 4, new Array(5).fill(K)],
    );
    assert.equal(j.kvBytes, 5 * (2 * 4 * (K + 8) * 8 * 4 + 2 * 4));
    assert.equal(j.kvBytesFull, f.kvBytes);
    assert.deepEqual(j.ids.slice(0, T + 1), f.ids.slice(0, T + 1), "prompt and first token");
    const b = await cli([...story, "--method", "streaming_llm", "--budget", "20"]);
    assert.equal(b.code, 0, b.err.join("\n"));
    const bj = JSON.parse(b.out[0]);
    assert.deepEqual([bj.method, bj.methodMode, bj.format, bj.budgetTokens, bj.budget], [
      "streaming_llm",
      "one-shot",
      "fp16",
      20,
      [20, 20, 20, 20, 20],
    ]);
    assert.equal(j.methodMode, "one-shot");
    // evicting during decode: the cache stays at the budget, plus the evictor's slot state
    const e = await cli([
      ...story,
      "--method",
      "streaming_llm",
      "--budget",
      "20",
      "--decode-evict",
    ]);
    assert.equal(e.code, 0, e.err.join("\n"));
    const ej = JSON.parse(e.out[0]);
    assert.deepEqual([ej.methodMode, ej.budget], ["decode", [20, 20, 20, 20, 20]]);
    assert.ok(ej.kvBytes < bj.kvBytes, `${ej.kvBytes} ≥ ${bj.kvBytes}`);
  },
});

Deno.test({
  name: "generate CLI with --method: bad input exits 2 with one line naming the value",
  ignore: !HAS,
  fn: async () => {
    const base = ["--model", STORIES_DIR, "--prompt", "Lily and Tom went to the park to play"];
    const cases: [string[], RegExp][] = [
      [["--method", "h3o", "--ratio", "2"], /unknown method "h3o" in "h3o"; expected one of/],
      [["--method", "h2o+kivi4", "--ratio", "2"], /h2o cannot be stored as kivi4/],
      [["--method", "knorm", "--budget", "0"], /--budget: got "0", expected an integer ≥ 1/],
      [["--method", "knorm", "--budget", "500"], /budgetTokens: got 500, expected an integer in/],
      [["--method", "knorm", "--ratio", "0.5"], /--ratio: got "0.5", expected a number ≥ 1/],
      [["--method", "knorm"], /--method knorm: give one of --ratio X .* or --budget N/],
      [["--method", "knorm", "--ratio", "2", "--budget", "3"], /give one of --ratio X/],
      [["--ratio", "2"], /--ratio: needs --method NAME/],
      [["--decode-evict"], /--decode-evict: needs --method NAME/],
      [
        ["--method", "knorm", "--ratio", "2", "--decode-evict"],
        /knorm does not evict during decode/,
      ],
      [["--method", "snapkv", "--ratio", "2", "--params", "window"], /--params: got "window"/],
      [
        ["--method", "snapkv+kivi4", "--format", "int4", "--ratio", "2"],
        /stores its cache as kivi4, but the format is int4/,
      ],
      [
        ["--method", "snapkv+kivi4", "--ratio", "1"],
        /cache format "kivi4" for this model: D \(head dim\): got 8, expected a multiple of 32/,
      ],
      [["--method", "snapkv", "--ratio", "1"], /last 32 queries, but the prompt has \d+ tokens/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli([...base, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: exit code (${r.err.join(" | ")})`);
      assert.match(r.err[0], pattern);
      assert.match(r.err[0], /^kvlab generate: /);
      assert.ok(!r.err.join("\n").includes("    at "), "no stack trace");
      assert.deepEqual(r.out, []);
    }
  },
});
