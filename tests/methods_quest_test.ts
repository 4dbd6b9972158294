// quest (engine/methods/quest.ts, QuestLayer in quest_layer.ts) against its float64 reference
// (engine/reference/quest.ts) on seeded random inputs:
//   - the reference itself: outward f16 rounding, and the page bound is an upper bound of q·k for
//     every key of the page and every head of the group;
//   - the kernels over several shapes (GQA 1 to 12, D 8 to 128, ragged B > 1, lengths that are
//     not multiples of the page nor of the 256-thread select workgroup, more than 256 pages):
//     page metadata bit for bit, bounds close, selection = the reference selection on the GPU's
//     bounds bit for bit (and a top set of the reference bounds), attention over the selected
//     pages close to the reference;
//   - a budget ≥ T reads every page: full attention;
//   - decode steps recorded in one command buffer (page boundaries, a KIVI key flush) equal the
//     reference at every step and the same steps submitted one by one, bit for bit;
//   - every cache format composes (quest+kivi4, quest+int8, …), bytes come from allocations;
//   - bad inputs name the value.

import assert from "node:assert/strict";
import type { KvCache } from "../engine/cache/format.ts";
import { createCache, formatNames } from "../engine/cache/registry.ts";
import { DecodeAttention } from "../engine/kernels/decode_attention.ts";
import { Compressor } from "../engine/methods/compress.ts";
import { planEviction } from "../engine/methods/evict.ts";
import { QUEST } from "../engine/methods/quest.ts";
import { QuestLayer, type QuestOptions } from "../engine/methods/quest_layer.ts";
import { getMethod, parseComposition } from "../engine/methods/registry.ts";
import { decodeAttentionRef } from "../engine/reference/attention.ts";
import {
  f16Down,
  f16Up,
  NO_PAGE,
  pageBoundsRef,
  pageMetaRef,
  questAttentionRef,
  questRef,
  selectPagesRef,
} from "../engine/reference/quest.ts";
import { f16Bits, GroupwiseRef, KiviRef, unpackHalf2 } from "../engine/reference/quant.ts";
import { randn } from "../engine/reference/random.ts";
import { assertClose, assertExact, testGpu } from "./helpers.ts";

// --- helpers -----------------------------------------------------------------------------------

/** k, v [B, T, Hkv, D] as the format stores them (what decode reads), T = max(lens). */
function storedRef(
  format: string,
  shape: { B: number; Hkv: number; D: number; capacity: number },
  k: Float32Array,
  v: Float32Array,
  T: number,
  lens: readonly number[],
): { k: Float32Array; v: Float32Array } {
  if (format === "fp32") return { k, v };
  if (format === "fp16") {
    return { k: k.map((x) => Math.f16round(x)), v: v.map((x) => Math.f16round(x)) };
  }
  const ref = format.startsWith("kivi")
    ? new KiviRef(shape, Number(format.slice(4)), 128)
    : new GroupwiseRef(shape, Number(format.slice(3)));
  ref.append(k, v, T, lens);
  const d = ref.dequantized();
  assert.equal(d.T, T);
  return { k: d.k, v: d.v };
}

/** meta [B, Hkv, P, 2, D/2] u32 words → max, min [B, Hkv, P, D] values. */
function unpackMeta(words: Uint32Array, B: number, Hkv: number, P: number, D: number) {
  const max = new Float32Array(B * Hkv * P * D);
  const min = new Float32Array(B * Hkv * P * D);
  for (let r = 0; r < B * Hkv * P; r++) {
    for (let w = 0; w < D / 2; w++) {
      const [a, b] = unpackHalf2(words[r * D + w]);
      const [c, d] = unpackHalf2(words[r * D + D / 2 + w]);
      max.set([a, b], r * D + 2 * w);
      min.set([c, d], r * D + 2 * w);
    }
  }
  return { max, min };
}

interface Filled {
  readonly cache: KvCache;
  readonly quest: QuestLayer;
  readonly qb: GPUBuffer;
  readonly ob: GPUBuffer;
  destroy(): void;
}

async function filled(
  format: string,
  c: { B: number; H: number; Hkv: number; D: number; lens: number[] },
  k: Float32Array,
  v: Float32Array,
  q: Float32Array,
  o: Omit<QuestOptions, "H">,
  capacity = Math.max(...c.lens),
): Promise<Filled> {
  const gpu = await testGpu();
  const T = Math.max(...c.lens);
  const cache = await createCache(gpu, format, { B: c.B, Hkv: c.Hkv, D: c.D, capacity });
  const kb = gpu.upload("test.k", k), vb = gpu.upload("test.v", v);
  gpu.submit((pass) => cache.append(pass, kb, vb, T, c.lens));
  const quest = await QuestLayer.create(gpu, cache, { H: c.H, T, ...o });
  const qb = gpu.upload("test.q", q);
  const ob = gpu.createBuffer("test.out", c.B * c.H * c.D * 4);
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.destroy(kb);
  gpu.destroy(vb);
  return {
    cache,
    quest,
    qb,
    ob,
    destroy() {
      gpu.destroy(qb);
      gpu.destroy(ob);
      quest.destroy();
      cache.destroy();
    },
  };
}

/** One step over the filled cache: out, sel, scores, meta read back. */
async function step(f: Filled) {
  const gpu = await testGpu();
  gpu.submit((pass) => f.quest.encode(pass, f.qb, f.ob));
  const [out, sel, scores, meta] = await gpu.read([
    { buffer: f.ob },
    { buffer: f.quest.sel },
    { buffer: f.quest.scores },
    { buffer: f.quest.pagesMeta.meta },
  ]);
  return {
    out: new Float32Array(out),
    sel: new Uint32Array(sel),
    scores: new Float32Array(scores),
    meta: new Uint32Array(meta),
  };
}

// --- the reference -----------------------------------------------------------------------------

Deno.test("quest reference: outward f16 rounding; the page bound is an upper bound of q·k", () => {
  for (const x of [0, 1, -1, 1 / 3, -1 / 3, 1e-3, -7.123456, 65504, 70000, -1e6, 3.0000001]) {
    const up = f16Up(x), down = f16Down(x);
    const c = Math.min(65504, Math.max(-65504, x));
    assert.ok(up >= c && down <= c, `${x}: ${down} ≤ ${c} ≤ ${up}`);
    assert.equal(Math.f16round(up), up);
    assert.equal(Math.f16round(down), down);
    // neighbours: no f16 lies strictly between them (x is an f16 iff they are equal)
    if (x !== 0) assert.ok(Math.abs(f16Bits(up) - f16Bits(down)) <= 1, `${x}: tight`);
    assert.equal(up === down, Math.f16round(c) === c);
  }
  const B = 2, T = 70, H = 6, Hkv = 2, D = 16, page = 8, lens = [70, 33];
  const shape = { B, T, H, Hkv, D };
  const k = randn(1, B * T * Hkv * D, 3), q = randn(2, B * H * D);
  const meta = pageMetaRef(k, lens, shape, page);
  const bounds = pageBoundsRef(q, meta, lens, shape, page);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / 3);
      for (let t = 0; t < lens[b]; t++) {
        let dot = 0;
        for (let d = 0; d < D; d++) {
          dot += q[(b * H + h) * D + d] * k[((b * T + t) * Hkv + hk) * D + d];
        }
        const u = bounds[(b * Hkv + hk) * meta.P + Math.floor(t / page)];
        assert.ok(dot <= u + 1e-9, `b=${b} h=${h} t=${t}: q·k ${dot} > bound ${u}`);
      }
    }
  }
  // pages past the length are not scored; the selection always holds the last page
  assert.equal(bounds[(1 * Hkv + 0) * meta.P + 5], -Infinity);
  const sel = selectPagesRef(Float32Array.from(bounds), lens, { B, Hkv, P: meta.P }, page, 3);
  for (let r = 0; r < B * Hkv; r++) {
    const last = Math.ceil(lens[Math.floor(r / Hkv)] / page) - 1;
    assert.equal(sel[r * 3 + 2], last, `row ${r}: last page selected`);
  }
  // fewer pages than the budget: every page, then NO_PAGE
  const few = selectPagesRef(Float32Array.from(bounds), [9, 9], { B, Hkv, P: meta.P }, page, 3);
  assert.deepEqual([...few.subarray(0, 3)], [0, 1, NO_PAGE]);
});

// --- kernels against the reference -------------------------------------------------------------

interface Case {
  B: number;
  H: number;
  Hkv: number;
  D: number;
  lens: number[];
  page?: number;
  budget: QuestOptions["budget"];
}

const CASES: Case[] = [
  // G = 1, T = 37: not a multiple of the page
  { B: 1, H: 4, Hkv: 4, D: 32, lens: [37], budget: { budgetTokens: 20 } },
  // GQA 4, ragged batch
  { B: 2, H: 8, Hkv: 2, D: 64, lens: [150, 77], budget: { budgetTokens: 40 } },
  // G = 12 (two head chunks per KV head in attention), pages of 8
  { B: 1, H: 12, Hkv: 1, D: 32, lens: [300], page: 8, budget: { budgetTokens: 64 } },
  // D = 128, ratio budget
  { B: 2, H: 6, Hkv: 2, D: 128, lens: [1000, 513], budget: { ratio: 8 } },
  // 1131 pages of 4 tokens: the select workgroup compacts in 5 chunks of 256
  { B: 1, H: 2, Hkv: 1, D: 32, lens: [4523], page: 4, budget: { ratio: 3 } },
  // D = 8 (stories260K's), a single selected page
  { B: 2, H: 4, Hkv: 2, D: 8, lens: [45, 61], page: 4, budget: { budgetTokens: 3 } },
];

for (const format of ["fp32", "fp16"]) {
  for (const c of CASES) {
    const page = c.page ?? 16;
    const name = `quest+${format} B=${c.B} H=${c.H} Hkv=${c.Hkv} D=${c.D} lens=${c.lens} ` +
      `page=${page} ${JSON.stringify(c.budget)}`;
    Deno.test(name, async () => {
      const T = Math.max(...c.lens);
      const seed = c.B * 1000 + c.D + c.H + T;
      const k = randn(seed, c.B * T * c.Hkv * c.D, 2);
      const v = randn(seed + 1, c.B * T * c.Hkv * c.D);
      const q = randn(seed + 2, c.B * c.H * c.D);
      const f = await filled(format, c, k, v, q, { budget: c.budget, params: { page } });
      const r = await step(f);
      const shape = { B: c.B, T, H: c.H, Hkv: c.Hkv, D: c.D };
      const s = storedRef(format, { ...shape, capacity: T }, k, v, T, c.lens);
      const KP = f.quest.pages;
      const ref = questRef(q, s.k, s.v, c.lens, shape, page, KP);
      const P = ref.meta.P;
      // metadata: bit for bit
      const got = unpackMeta(r.meta, c.B, c.Hkv, P, c.D);
      assertExact(got.max, ref.meta.max, "page max");
      assertExact(got.min, ref.meta.min, "page min");
      // bounds: close (f32 sums of D terms)
      const held = (x: ArrayLike<number>) =>
        Float64Array.from(ref.scores, (y, i) => (y === -Infinity ? 0 : x[i]));
      assertClose(held(r.scores), held(ref.scores), { atol: 1e-4, rtol: 1e-5, label: "bounds" });
      // selection: the reference selection on the GPU's bounds, bit for bit
      const gpuScores = Float32Array.from(
        ref.scores,
        (y, i) => (y === -Infinity ? 0 : r.scores[i]),
      );
      assertExact(
        r.sel,
        selectPagesRef(gpuScores, c.lens, { B: c.B, Hkv: c.Hkv, P }, page, KP),
        "sel",
      );
      // … and a top set of the reference bounds (the last page aside)
      for (let row = 0; row < c.B * c.Hkv; row++) {
        const held = Math.ceil(c.lens[Math.floor(row / c.Hkv)] / page);
        const picked = new Set([...r.sel.subarray(row * KP, (row + 1) * KP)]);
        let minKept = Infinity, maxDropped = -Infinity;
        for (let p = 0; p < held - 1; p++) {
          const u = ref.scores[row * P + p];
          if (picked.has(p)) minKept = Math.min(minKept, u);
          else maxDropped = Math.max(maxDropped, u);
        }
        assert.ok(
          minKept >= maxDropped - 1e-4 * Math.max(1, Math.abs(maxDropped)),
          `row ${row}: lowest selected bound ${minKept} ≥ highest dropped ${maxDropped}`,
        );
        assert.equal(picked.size, Math.min(KP, held) + (KP > held ? 1 : 0), `row ${row}: K pages`);
      }
      // attention over exactly the selected pages
      const want = questAttentionRef(q, s.k, s.v, c.lens, r.sel, shape, page, KP);
      assertClose(r.out, want, { atol: 2e-5, rtol: 1e-4, label: `${name} output` });
      assert.equal(f.quest.kvBytes(), f.cache.bytes() + c.B * c.Hkv * P * c.D * 4);
      f.destroy();
    });
  }
}

Deno.test("quest: a budget of the whole context reads every page: full attention", async () => {
  const gpu = await testGpu();
  const c = { B: 2, H: 8, Hkv: 2, D: 32, lens: [90, 90] };
  const T = 90;
  const k = randn(21, c.B * T * c.Hkv * c.D), v = randn(22, c.B * T * c.Hkv * c.D);
  const q = randn(23, c.B * c.H * c.D, 2);
  const full = decodeAttentionRef(q, k, v, c.lens, { B: c.B, T, H: c.H, Hkv: c.Hkv, D: c.D });
  for (const budget of [{ budgetTokens: T }, { ratio: 1 }, { budgetTokens: 81 }]) {
    const f = await filled("fp32", c, k, v, q, { budget });
    const r = await step(f);
    assert.equal(f.quest.pages, 6);
    assertExact(r.sel, Uint32Array.from({ length: c.B * c.Hkv * 6 }, (_, i) => i % 6), "all pages");
    assertClose(r.out, full, { atol: 2e-5, rtol: 1e-4, label: `${JSON.stringify(budget)} = full` });
    // and the dense kernel over the same cache agrees
    const dense = await DecodeAttention.create(gpu, f.cache, { H: c.H });
    const ob = gpu.createBuffer("test.dense", c.B * c.H * c.D * 4);
    gpu.submit((pass) => dense.encode(pass, f.qb, ob));
    const [d] = await gpu.read([{ buffer: ob }]);
    assertClose(r.out, new Float32Array(d), { atol: 1e-6, rtol: 1e-5, label: "= DecodeAttention" });
    gpu.destroy(ob);
    dense.destroy();
    const read = f.quest.bytesReadPerStep();
    assert.equal(read.kv, read.dense, "every token read");
    f.destroy();
  }
});

// --- decode steps ------------------------------------------------------------------------------

/** Prefill T0 tokens, then `steps` decode steps (append one token, quest) in one command buffer. */
async function decodeRun(format: string, T0: number, steps: number, oneByOne: boolean) {
  const gpu = await testGpu();
  const B = 2, H = 4, Hkv = 2, D = 32, T = T0 + steps, page = 16;
  const k = randn(31, B * T * Hkv * D, 2), v = randn(32, B * T * Hkv * D);
  const qs = randn(33, steps * B * H * D);
  const token = (x: Float32Array, t: number) => {
    const out = new Float32Array(B * Hkv * D);
    for (let b = 0; b < B; b++) {
      out.set(x.subarray((b * T + t) * Hkv * D, (b * T + t + 1) * Hkv * D), b * Hkv * D);
    }
    return out;
  };
  const prefix = new Float32Array(B * T0 * Hkv * D);
  for (let b = 0; b < B; b++) {
    prefix.set(k.subarray(b * T * Hkv * D, (b * T + T0) * Hkv * D), b * T0 * Hkv * D);
  }
  const vprefix = new Float32Array(B * T0 * Hkv * D);
  for (let b = 0; b < B; b++) {
    vprefix.set(v.subarray(b * T * Hkv * D, (b * T + T0) * Hkv * D), b * T0 * Hkv * D);
  }
  const cache = await createCache(gpu, format, { B, Hkv, D, capacity: T });
  const kp = gpu.upload("test.kp", prefix), vp = gpu.upload("test.vp", vprefix);
  gpu.submit((pass) => cache.append(pass, kp, vp, T0));
  const quest = await QuestLayer.create(gpu, cache, { H, budget: { budgetTokens: 40 }, T: T0 });
  const inputs = Array.from({ length: steps }, (_, s) => [
    gpu.upload("test.kn", token(k, T0 + s)),
    gpu.upload("test.vn", token(v, T0 + s)),
    gpu.upload("test.qn", qs.subarray(s * B * H * D, (s + 1) * B * H * D)),
  ]);
  const outs = Array.from({ length: steps }, () => gpu.createBuffer("test.o", B * H * D * 4));
  const record = (pass: GPUComputePassEncoder, s: number) => {
    cache.append(pass, inputs[s][0], inputs[s][1], 1);
    quest.encode(pass, inputs[s][2], outs[s]);
  };
  if (oneByOne) {
    for (let s = 0; s < steps; s++) gpu.submit((pass) => record(pass, s));
  } else {
    gpu.submit((pass) => {
      for (let s = 0; s < steps; s++) record(pass, s);
    });
  }
  const got = (await gpu.read(outs.map((buffer) => ({ buffer })))).map((x) => new Float32Array(x));
  const [meta] = await gpu.read([{ buffer: quest.pagesMeta.meta }]);
  for (const b of [kp, vp, ...inputs.flat(), ...outs]) gpu.destroy(b);
  const pages = quest.pages;
  quest.destroy();
  cache.destroy();
  return { got, meta: new Uint32Array(meta), k, v, qs, shape: { B, T, H, Hkv, D }, page, pages };
}

for (const [format, T0, steps] of [["fp16", 45, 40], ["kivi4", 110, 30]] as const) {
  Deno.test(`quest+${format}: ${steps} decode steps in one command buffer = the reference at every step, = one by one`, async () => {
    const a = await decodeRun(format, T0, steps, false);
    const { B, T, H, Hkv, D } = a.shape;
    for (let s = 0; s < steps; s++) {
      const n = T0 + s + 1;
      // the reference cache after prefill + s + 1 appends (KIVI: the flush at 128 included)
      const cut = (x: Float32Array) => {
        const out = new Float32Array(B * n * Hkv * D);
        for (let b = 0; b < B; b++) {
          out.set(x.subarray(b * T * Hkv * D, (b * T + n) * Hkv * D), b * n * Hkv * D);
        }
        return out;
      };
      let st: { k: Float32Array; v: Float32Array };
      if (format === "kivi4") {
        const ref = new KiviRef({ B, Hkv, D, capacity: T }, 4, 128);
        const kc = cut(a.k), vc = cut(a.v);
        // prefill T0 at once, then one token at a time, as the GPU appended them
        const rows = (x: Float32Array, t0: number, t1: number) => {
          const out = new Float32Array(B * (t1 - t0) * Hkv * D);
          for (let b = 0; b < B; b++) {
            out.set(
              x.subarray((b * n + t0) * Hkv * D, (b * n + t1) * Hkv * D),
              b * (t1 - t0) * Hkv * D,
            );
          }
          return out;
        };
        ref.append(rows(kc, 0, T0), rows(vc, 0, T0), T0);
        for (let t = T0; t < n; t++) ref.append(rows(kc, t, t + 1), rows(vc, t, t + 1), 1);
        st = ref.dequantized();
      } else {
        st = storedRef(format, { B, Hkv, D, capacity: n }, cut(a.k), cut(a.v), n, [n, n]);
      }
      const q = a.qs.subarray(s * B * H * D, (s + 1) * B * H * D);
      const ref = questRef(q, st.k, st.v, [n, n], { B, T: n, H, Hkv, D }, a.page, a.pages);
      assertClose(a.got[s], ref.out, { atol: 3e-5, rtol: 1e-4, label: `step ${s} (length ${n})` });
      if (s === steps - 1) {
        const P = Math.ceil(T / a.page);
        const got = unpackMeta(a.meta, B, Hkv, P, D);
        assertExact(got.max, ref.meta.max, "final page max (incrementally updated)");
        assertExact(got.min, ref.meta.min, "final page min");
      }
    }
    const b = await decodeRun(format, T0, steps, true);
    for (let s = 0; s < steps; s++) assertExact(b.got[s], a.got[s], `step ${s}: one by one`);
  });
}

// --- formats and bytes -------------------------------------------------------------------------

Deno.test("quest composes with every cache format: metadata of the stored keys, bytes from allocations", async () => {
  const c = { B: 1, H: 8, Hkv: 2, D: 32, lens: [300] };
  const T = 300, page = 16;
  const k = randn(41, T * c.Hkv * c.D, 2), v = randn(42, T * c.Hkv * c.D);
  const q = randn(43, c.H * c.D);
  const shape = { B: 1, T, H: c.H, Hkv: c.Hkv, D: c.D };
  for (const format of formatNames()) {
    assert.equal(parseComposition(`quest+${format}`).format, format);
    const f = await filled(format, c, k, v, q, { budget: { ratio: 4 } });
    const r = await step(f);
    const s = storedRef(format, { ...shape, capacity: T }, k, v, T, c.lens);
    const ref = pageMetaRef(s.k, c.lens, shape, page);
    const got = unpackMeta(r.meta, 1, c.Hkv, ref.P, c.D);
    assertExact(got.max, ref.max, `${format} page max`);
    assertExact(got.min, ref.min, `${format} page min`);
    const want = questAttentionRef(q, s.k, s.v, c.lens, r.sel, shape, page, f.quest.pages);
    assertClose(r.out, want, { atol: 3e-5, rtol: 1e-4, label: `quest+${format} output` });
    // stored: the cache and the metadata; read: the selected pages and every page's metadata
    const meta = c.Hkv * 19 * c.D * 4;
    assert.equal(f.quest.bytes(), meta);
    assert.equal(f.quest.kvBytes(), f.cache.bytes() + meta);
    const read = f.quest.bytesReadPerStep();
    // ratio 4 → 75 tokens → 5 pages: 4 full ones and the last page's 300 − 18·16 = 12 tokens
    assert.deepEqual(read.tokens, [4 * 16 + 12]);
    assert.equal(read.meta, meta);
    assert.equal(read.kv, Math.round((76 / 300) * f.cache.bytes()));
    assert.ok(read.total < read.dense, `${format}: reads ${read.total} < dense ${read.dense}`);
    f.destroy();
  }
  // fp16 exactly: 4·D bytes per token per KV head (K and V in f16), 4·D per page of metadata
  const f = await filled("fp16", c, k, v, q, { budget: { budgetTokens: 64 } });
  const read = f.quest.bytesReadPerStep();
  assert.deepEqual(read.tokens, [3 * 16 + 12]); // 64 tokens → 4 pages, the last one partial
  // per token per KV head: K and V in f16 (4·D bytes) + the 8 bytes of lens and counts, spread
  assert.equal(read.kv - 60 * c.Hkv * 4 * c.D, Math.round((60 / T) * 8));
  assert.equal(read.dense, f.cache.bytes());
  f.destroy();
});

Deno.test("quest: deterministic; the first step after more than one append rebuilds every page", async () => {
  const gpu = await testGpu();
  const c = { B: 1, H: 4, Hkv: 1, D: 32, lens: [200] };
  const k = randn(51, 200 * 32, 2), v = randn(52, 200 * 32), q = randn(53, 4 * 32);
  const f = await filled("fp16", c, k, v, q, { budget: { budgetTokens: 48 } }, 260);
  const a = await step(f);
  const b = await step(f);
  assertExact(b.out, a.out, "second run, same output");
  assertExact(b.sel, a.sel, "second run, same pages");
  // append 50 tokens at once: the next step's metadata must cover them
  const more = randn(54, 50 * 32, 2), mv = randn(55, 50 * 32);
  const kb = gpu.upload("test.km", more), vb = gpu.upload("test.vm", mv);
  gpu.submit((pass) => f.cache.append(pass, kb, vb, 50));
  const r = await step(f);
  const all = new Float32Array(250 * 32);
  all.set(k);
  all.set(more, 200 * 32);
  const allV = new Float32Array(250 * 32);
  allV.set(v);
  allV.set(mv, 200 * 32);
  const shape = { B: 1, T: 250, H: 4, Hkv: 1, D: 32 };
  const s = storedRef("fp16", { ...shape, capacity: 250 }, all, allV, 250, [250]);
  const ref = questRef(q, s.k, s.v, [250], shape, 16, f.quest.pages);
  assertExact(r.sel, ref.sel, "pages after a 50-token append");
  assertClose(r.out, ref.out, { atol: 2e-5, rtol: 1e-4, label: "output after a 50-token append" });
  gpu.destroy(kb);
  gpu.destroy(vb);
  f.destroy();
});

// --- errors ------------------------------------------------------------------------------------

Deno.test("quest: bad inputs get errors naming the value", async () => {
  const gpu = await testGpu();
  const info = getMethod("quest");
  assert.equal(info, QUEST);
  assert.equal(info.mode, "sparse");
  const cache = await createCache(gpu, "fp16", { B: 2, Hkv: 2, D: 32, capacity: 100 });
  const k = gpu.createBuffer("test.k", 2 * 60 * 2 * 32 * 4);
  gpu.submit((pass) => cache.append(pass, k, k, 60, [60, 50]));
  const make = (o: Partial<QuestOptions>) =>
    QuestLayer.create(gpu, cache, { H: 4, T: 60, budget: { budgetTokens: 32 }, ...o });
  await assert.rejects(
    () => make({ params: { page: 0 } }),
    /quest page: got 0, expected an integer in \[4, 1024\]/,
  );
  await assert.rejects(
    () => make({ params: { page: 6 } }),
    /quest page: got 6, expected a multiple of 4 in \[4, 1024\]/,
  );
  await assert.rejects(() => make({ params: { window: 8 } }), /quest: unknown parameter "window"/);
  await assert.rejects(() => make({ budget: { budgetTokens: 0 } }), /budgetTokens: got 0/);
  await assert.rejects(
    () => make({ budget: { budgetTokens: 61 } }),
    /budgetTokens: got 61, expected an integer in \[1, 60\] \(the prompt has T=60 tokens\)/,
  );
  await assert.rejects(() => make({ budget: { ratio: 0.5 } }), /ratio: got 0.5/);
  await assert.rejects(() => make({ H: 3 }), /H=3 query heads do not divide into Hkv=2/);
  await assert.rejects(
    () => make({ T: undefined }),
    /quest: the budget needs the prompt length T; the cache holds \[60, 50\] tokens per sequence/,
  );
  await assert.rejects(
    () => make({ T: 101 }),
    /T \(prompt tokens\): got 101, expected an integer in \[1, 100\]/,
  );
  assert.throws(
    () => Compressor.create(gpu, { method: "quest+kivi4", budget: { ratio: 4 } }),
    /quest selects pages per decode step; it does not compress the prompt/,
  );
  assert.throws(
    () => planEviction({ method: "quest", budget: { ratio: 4 } }),
    /quest selects pages per decode step and evicts nothing/,
  );
  const ok = await make({});
  const small = gpu.createBuffer("test.small", 16);
  assert.throws(
    () => gpu.submit((pass) => ok.encode(pass, small, small)),
    /quest: q and out must hold \[B=2, H=4, D=32\] f32 = 1024 bytes/,
  );
  assert.deepEqual(ok.describe(), {
    method: "quest",
    format: "fp16",
    params: { page: 16 },
    budgetTokens: 32,
    tokensPerStep: 32,
    pagesPerStep: 2,
    mode: "sparse",
  });
  ok.destroy();
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.destroy(small);
  gpu.destroy(k);
  cache.destroy();
});
