// Streaming prefill (SessionOptions.prefill "streaming", `--prefill streaming`; engine/methods/
// stream.ts): the prompt in chunks, each layer compacted back to its budget after every chunk.
//   - where nothing differs it is the dense prefill exactly: a budget of the whole prompt in
//     chunks (nothing is ever dropped), or one chunk at a tight budget — for every eviction
//     method, one-shot and decode-time, and a quantized composition;
//   - at a tight budget in chunks the result differs from the dense one (prefill logits), the
//     same on every run; and it is what the chunks saw: the prefill's and every decode step's
//     logits equal the reference forward (engine/reference/model.ts) in which each prompt row of
//     chunk c attends to exactly the positions its layer held after chunk c − 1 (read back) plus
//     its own chunk, and each decode row to what the caches held at that step;
//   - knorm and random score each token alone, so the first layer (whose keys no compaction can
//     change) keeps the dense prompt's set exactly;
//   - peak GPU memory: below the dense prefill's at T ≫ budget, and nearly flat in T (no store
//     of T tokens);
//   - bad input names the value; the CLI records the mode and the chunk.
// A small random checkpoint (2 layers, D = 32) and shape:tiny for the CLI.

import assert from "node:assert/strict";
import type { Budget } from "../engine/methods/budget.ts";
import { METHODS } from "../engine/methods/registry.ts";
import type { MethodInfo } from "../engine/methods/method.ts";
import { generate, type GenerateOptions } from "../engine/model/generate.ts";
import { run } from "../engine/model/generate_cli.ts";
import { Model } from "../engine/model/model.ts";
import { Session, type SessionOptions, streamSpans } from "../engine/model/session.ts";
import { referenceForward, type TensorSource } from "../engine/reference/model.ts";
import { rng } from "../engine/reference/random.ts";
import { tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { assertClose, testGpu } from "./helpers.ts";

interface MethodRun {
  readonly info: MethodInfo;
  readonly evict: boolean;
  readonly label: string;
}

/** Every eviction method its own way, and streaming_llm evicting during decode too. */
const RUNS: MethodRun[] = METHODS.filter((m) => m.mode !== "sparse").flatMap((info) => {
  const own = { info, evict: info.mode === "decode", label: info.name };
  if (info.mode === "decode" || !info.decode) return [own];
  return [own, { info, evict: true, label: `${info.name}(decode-evict)` }];
});

const CONFIG = tinyConfig({ head_dim: 32, vocab_size: 131, max_position_embeddings: 2048 });

function prompts(B: number, n: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from(
    { length: B },
    () => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 120))],
  );
}

/** The prefill's logits [B, V] of a session (then destroyed). */
async function prefillLogits(model: Model, ps: number[][], o: Partial<SessionOptions>) {
  const s = await Session.create(model, {
    B: ps.length,
    maxPrompt: ps[0].length,
    maxNewTokens: 1,
    format: "fp16",
    ...o,
  });
  try {
    await s.prefill(ps);
    const [raw] = await model.gpu.read([{ buffer: s.logits }]);
    return new Float32Array(raw);
  } finally {
    s.destroy();
  }
}

// --- equal to dense where nothing differs --------------------------------------------------------

Deno.test("streaming prefill equals dense: budget = T in chunks, or one chunk at a tight budget; a tight budget in chunks differs, deterministically", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 31 });
  const model = await Model.load(gpu, m.dir);
  // 104 tokens in chunks of 32: [0, 32) [32, 64) [64, 104) for window methods (the last 8
  // join the chunk before: fewer than the 32 queries they score with), else a fourth of 8
  const T = 104, N = 5, CHUNK = 32;
  const ps = prompts(2, T, 5);
  const base: GenerateOptions = { maxNewTokens: N, readEvery: 4, stopAtEos: false };
  const report: string[] = [];
  for (const r of RUNS) {
    const what = r.label;
    const o = { ...base, method: r.info.name, decodeEviction: r.evict };
    const all: Budget = { budgetTokens: T }, tight: Budget = { budgetTokens: 40 };
    const dense = await generate(model, ps, { ...o, budget: all });
    const chunks = await generate(model, ps, {
      ...o,
      budget: all,
      prefill: "streaming",
      prefillChunk: CHUNK,
    });
    assert.deepEqual(chunks.ids, dense.ids, `${what}, budget = T in chunks: ids`);
    assert.deepEqual(
      [chunks.compression?.prefill, chunks.compression?.prefillChunk, dense.compression?.prefill],
      ["streaming", CHUNK, "dense"],
    );
    assert.deepEqual(chunks.compression?.budgets, dense.compression?.budgets);
    assert.equal(chunks.kvBytes, dense.kvBytes, `${what}: the same caches`);
    const denseTight = await generate(model, ps, { ...o, budget: tight });
    const one = await generate(model, ps, { ...o, budget: tight, prefill: "streaming" });
    assert.deepEqual(one.ids, denseTight.ids, `${what}, one chunk (default 512 ≥ T): ids`);
    assert.equal(one.compression?.prefillChunk, 512);
    // a tight budget in chunks: later chunks see compressed sets, so the prefill's logits move
    const so = {
      method: r.info.name,
      decodeEviction: r.evict,
      budget: tight,
      prefill: "streaming" as const,
      prefillChunk: CHUNK,
    };
    const a = await prefillLogits(model, ps, so);
    const b = await prefillLogits(model, ps, so);
    assert.deepEqual(a, b, `${what}: streaming is deterministic`);
    const d = await prefillLogits(model, ps, { ...so, prefill: "dense", prefillChunk: undefined });
    const gap = a.reduce((g, x, i) => Math.max(g, Math.abs(x - d[i])), 0);
    assert.ok(gap > 1e-3, `${what}: streaming at a tight budget left the logits within ${gap}`);
    const cut = await generate(model, ps, { ...o, ...so });
    assert.equal(cut.kvBytes, denseTight.kvBytes, `${what}: the same cache sizes`);
    report.push(`${what} ${gap.toExponential(2)}`);
  }
  console.log(`largest prefill-logit gap, streaming (chunks of 32) vs dense: ${report.join("; ")}`);
  // a quantized composition streams too
  const q = { ...base, method: "snapkv+kivi4", budget: { budgetTokens: T } };
  const dense = await generate(model, ps, q);
  const streamed = await generate(model, ps, { ...q, prefill: "streaming", prefillChunk: CHUNK });
  assert.deepEqual(streamed.ids, dense.ids, "snapkv+kivi4, budget = T in chunks");
  assert.equal(streamed.format, "kivi4");
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

// --- what the chunks saw -----------------------------------------------------------------------

/**
 * Streaming prefill + `steps` decode steps (fp32, inspect): the prefill's and every decode step's
 * logits against the reference through what each layer held (see the header). Returns the
 * largest gap to the dense reference (what streaming changed).
 */
async function checkStreamed(
  model: Model,
  tensor: TensorSource,
  ps: number[][],
  r: MethodRun,
  budget: Budget,
  chunk: number,
  steps: number,
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
    prefill: "streaming",
    prefillChunk: chunk,
  });
  const what = r.label;
  try {
    await s.prefill(ps);
    const c = s.compressor!;
    const spans = streamSpans(T, chunk, ps.length, c.method.queries(c.params));
    assert.equal(s.chunkHeld.length, spans.length, `${what}: one held set per chunk`);
    // after chunk c every layer holds min(budget, tokens so far), ascending, in the prompt so far
    spans.forEach(([t0, n], ci) =>
      s.chunkHeld[ci].forEach((seqs, l) =>
        seqs.forEach((heads) =>
          heads.forEach((set) => {
            assert.equal(set.length, Math.min(s.budgets![l], t0 + n), `${what}, chunk ${ci}`);
            assert.ok(set.every((j, i) => j < t0 + n && (i === 0 || j > set[i - 1])), `${set}`);
          })
        )
      )
    );
    /** Row i < T: the chunk's own tokens up to i, and what the layer held after the last one. */
    const promptVisible = (b: number, l: number, hk: number, i: number) => {
      const ci = spans.findIndex(([t0, n]) => i >= t0 && i < t0 + n);
      const own = Array.from({ length: i - spans[ci][0] + 1 }, (_, j) => spans[ci][0] + j);
      return [...s.chunkHeld[ci - 1][l][b][hk], ...own];
    };
    const heldAt: number[][][][][] = []; // [step][b][layer][hk]
    const seqs = ps.map((p) => [...p]);
    let denseGap = 0;
    for (let step = 0; step <= steps; step++) {
      if (step > 0) {
        s.decode(1);
        heldAt.push(await Promise.all(ps.map((_, b) => s.readHeld(b))));
      }
      const [raw, idsRaw] = await gpu.read([{ buffer: s.logits }, { buffer: s.buf.next }]);
      const got = new Float32Array(raw);
      for (let b = 0; b < ps.length; b++) {
        const n = seqs[b].length;
        const want = referenceForward(config, tensor, seqs[b], {
          T: spans[0][1],
          visible: (l, hk, i) => i < T ? promptVisible(b, l, hk, i) : heldAt[i - T][b][l][hk],
        }).subarray((n - 1) * V, n * V);
        const dense = referenceForward(config, tensor, seqs[b]).subarray((n - 1) * V, n * V);
        const row = got.subarray(b * V, (b + 1) * V);
        assertClose(row, want, { atol: 1e-4, rtol: 1e-4, label: `${what}, step ${step}, b ${b}` });
        for (let i = 0; i < V; i++) denseGap = Math.max(denseGap, Math.abs(row[i] - dense[i]));
        seqs[b].push(new Uint32Array(idsRaw)[b]);
      }
    }
    return denseGap;
  } finally {
    s.destroy();
  }
}

Deno.test("streaming prefill: prefill and decode logits equal the reference over what each layer held after each chunk", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 32 });
  const model = await Model.load(gpu, m.dir);
  // 96 tokens, chunks of 32, 40 kept: room for SnapKV's 32-token window; two compactions
  const ps = prompts(2, 96, 9);
  const gaps: string[] = [];
  for (const r of RUNS) {
    const gap = await checkStreamed(model, m.tensor, ps, r, { budgetTokens: 40 }, 32, 2);
    gaps.push(`${r.label} ${gap.toExponential(2)}`);
    assert.ok(gap > 1e-2, `${r.label}: streaming left the logits within ${gap} of dense`);
  }
  console.log(`largest logit gap to the dense reference: ${gaps.join("; ")}`);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("streaming prefill: knorm and random keep the dense prompt's set in the first layer", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 33 });
  const model = await Model.load(gpu, m.dir);
  const ps = prompts(2, 100, 11);
  for (const method of ["knorm", "random"]) {
    const held = async (o: Partial<SessionOptions>) => {
      const s = await Session.create(model, {
        B: 2,
        maxPrompt: 100,
        maxNewTokens: 1,
        format: "fp16",
        method,
        budget: { budgetTokens: 30 },
        inspect: true,
        ...o,
      });
      try {
        await s.prefill(ps);
        return await Promise.all([0, 1].map((b) => s.readHeld(b)));
      } finally {
        s.destroy();
      }
    };
    const dense = await held({});
    const streamed = await held({ prefill: "streaming", prefillChunk: 16 });
    for (let b = 0; b < 2; b++) {
      assert.deepEqual(streamed[b][0], dense[b][0], `${method}, b ${b}: layer 0's kept set`);
    }
    if (method === "random") {
      // its scores hash the position alone: every layer draws the dense set
      assert.deepEqual(streamed, dense, "random: every layer");
    } else {
      // the second layer's keys came from attention over compressed sets: another set
      assert.notDeepEqual(streamed.map((x) => x[1]), dense.map((x) => x[1]), "knorm: layer 1");
    }
  }
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

// --- memory ------------------------------------------------------------------------------------

Deno.test("streaming prefill: peak GPU bytes below the dense prefill's, nearly flat in T", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 34 });
  const model = await Model.load(gpu, m.dir);
  const c = model.config;
  const peak = async (T: number, prefill: "dense" | "streaming") => {
    const ps = prompts(1, T, 13);
    gpu.resetPeak();
    const base = gpu.liveBytes;
    const r = await generate(model, ps, {
      maxNewTokens: 2,
      stopAtEos: false,
      method: "snapkv",
      budget: { budgetTokens: 64 },
      prefill,
      prefillChunk: prefill === "streaming" ? 64 : undefined,
    });
    assert.equal(r.compression?.prefill, prefill);
    return gpu.peakBytes - base;
  };
  const dense1k = await peak(1024, "dense");
  const stream1k = await peak(1024, "streaming");
  const stream512 = await peak(512, "streaming");
  console.log(
    `snapkv, 64 kept, chunks of 64: peak bytes over the model's, T=1024 dense ${dense1k}, ` +
      `streaming ${stream1k}; T=512 streaming ${stream512}`,
  );
  assert.ok(stream1k < dense1k / 2, `streaming peak ${stream1k} vs dense ${dense1k}`);
  // 512 more tokens cost the RoPE table's rows only, far less than one layer's f32 k, v of
  // those tokens (a prompt-sized store would grow by that per layer)
  const store = 512 * c.Hkv * c.D * 4 * 2;
  assert.ok(
    stream1k - stream512 < store / 2,
    `streaming peak grew by ${stream1k - stream512} bytes from T=512 to 1024 (store: ${store})`,
  );
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

// --- bad input ---------------------------------------------------------------------------------

Deno.test("streaming prefill: bad input names the value; nothing is left allocated", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(CONFIG, { seed: 35 });
  const model = await Model.load(gpu, m.dir);
  const base: SessionOptions = { B: 1, maxPrompt: 64, maxNewTokens: 2, format: "fp16" };
  const live = gpu.liveBytes;
  const cases: [Partial<SessionOptions>, RegExp][] = [
    [{ prefill: "streaming" }, /prefill "streaming": needs a compression method/],
    [
      { prefill: "sparse" as "dense", method: "knorm", budget: { ratio: 2 } },
      /prefill: got "sparse", expected one of dense, streaming/,
    ],
    [
      { prefill: "streaming", method: "quest", budget: { ratio: 2 } },
      /prefill "streaming" with method "quest": quest keeps every token/,
    ],
    [
      { prefill: "streaming", prefillChunk: 0, method: "knorm", budget: { ratio: 2 } },
      /prefillChunk \(tokens per prefill chunk\): got 0/,
    ],
    [
      { prefill: "streaming", prefillChunk: 16, method: "snapkv", budget: { ratio: 1 } },
      /prefillChunk 16: method "snapkv\+fp16" scores each streaming chunk with its last 32 queries; expected a chunk of ≥ 32 tokens/,
    ],
    [
      { prefillChunk: 16, method: "knorm", budget: { ratio: 2 } },
      /chunked prefill runs with full caches only .*prefill "streaming" chunks the prompt/,
    ],
    [
      { prefill: "streaming", method: "snapkv", budget: { budgetTokens: 20 } },
      /snapkv\+fp16" on a 64-token prompt, layer 0: .*budget of 20 tokens cannot hold the 32/,
    ],
  ];
  for (const [o, pattern] of cases) {
    await assert.rejects(() => Session.create(model, { ...base, ...o }), (e: Error) => {
      assert.ok(e instanceof RangeError, `${JSON.stringify(o)}: ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  assert.equal(gpu.liveBytes, live, "the refusals left nothing allocated");
  // a smaller window takes smaller chunks
  const s = await Session.create(model, {
    ...base,
    prefill: "streaming",
    prefillChunk: 16,
    method: "snapkv",
    params: { window: 8 },
    budget: { ratio: 2 },
  });
  await s.prefill(prompts(1, 64, 3));
  assert.deepEqual(s.compression?.budgets, [32, 32]);
  s.destroy();
  // what stays is the prefill attention's cached 32-byte uniforms (one per chunk shape)
  const left = gpu.liveBytes - live;
  assert.ok(left % 32 === 0 && left <= 32 * 16, `the run left ${left} bytes allocated`);
  model.destroy();
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("generate CLI: --prefill streaming records the mode and the chunk; bad values exit 2", async () => {
  const gpu = await testGpu();
  const out: string[] = [], err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  const args = ["--model", "shape:tiny", "--prompt-tokens", "100", "--max-new-tokens", "3"];
  const method = ["--method", "snapkv", "--budget", "40", "--json"];
  assert.equal(
    await run([...args, ...method, "--prefill", "streaming", "--prefill-chunk", "32"], io, gpu),
    0,
    err.join("\n"),
  );
  const j = JSON.parse(out[0]);
  assert.deepEqual(
    [j.method, j.methodMode, j.prefill, j.prefillChunk, j.budget],
    ["snapkv", "one-shot", "streaming", 32, [40, 40, 40, 40]],
  );
  assert.ok(j.bytesReadPerStep > 0 && j.bytesReadPerStep <= j.kvBytes, `${j.bytesReadPerStep}`);
  assert.equal(await run([...args, ...method], io, gpu), 0);
  assert.deepEqual([JSON.parse(out[1]).prefill, JSON.parse(out[1]).prefillChunk], ["dense", null]);
  const bad: [string[], RegExp][] = [
    [["--prefill", "streaming"], /--prefill streaming: needs --method NAME/],
    [
      [...method, "--prefill", "chunked"],
      /--prefill: got "chunked", expected one of dense, streaming/,
    ],
    [
      [...method, "--prefill", "streaming", "--prefill-chunk", "8"],
      /prefillChunk 8: method "snapkv\+fp16" scores each streaming chunk with its last 32 queries/,
    ],
  ];
  for (const [extra, pattern] of bad) {
    assert.equal(await run([...args, ...extra], io, gpu), 2, extra.join(" "));
    assert.match(err.at(-1)!, pattern);
    assert.match(err.at(-1)!, /^kvlab generate: /);
  }
});
