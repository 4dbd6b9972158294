// The decode-time eviction kernels against their references (engine/reference/methods.ts) on
// seeded random inputs: attention column sums (the h2o / tova prefill statistic: GQA 1 to 12,
// every row or the last, fewer rows than keys, T and D off the tile sizes), decode attention's
// raw scores (fp32 and int8 stores, ragged lengths, several splits; the output is unchanged bit
// for bit), the per-step probabilities (stats: splits that held nothing, accumulate and
// replace), the victim selection (bit for bit: ties, sinks, recent windows, rows below capacity,
// capacities above the workgroup), init, and the per-slot writes of every format that has them
// (bit for bit: appends then overwrites, a different slot per head; KIVI refuses).

import assert from "node:assert/strict";
import type { CacheBase } from "../engine/cache/base.ts";
import { canWriteSlots } from "../engine/cache/format.ts";
import { FullCache } from "../engine/cache/full.ts";
import { GroupwiseCache } from "../engine/cache/groupwise.ts";
import { createCache, FORMATS, slotFormatNames } from "../engine/cache/registry.ts";
import { DecodeAttention } from "../engine/kernels/decode_attention.ts";
import { AttentionSums } from "../engine/methods/attention_sums.ts";
import { type EvictBuffers, EvictKernels } from "../engine/methods/evict_kernels.ts";
import type { DecodeRule } from "../engine/methods/method.ts";
import {
  attentionSumsRef,
  selectVictimRef,
  stepStatsRef,
  storedTokenRef,
} from "../engine/reference/methods.ts";
import { GroupwiseRef } from "../engine/reference/quant.ts";
import { randn, rng } from "../engine/reference/random.ts";
import { assertClose, assertExact, testGpu } from "./helpers.ts";

// --- attention column sums ----------------------------------------------------------------------

interface SumsCase {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  WQ: number;
  rows?: number;
  scale?: number;
}

const SUMS_CASES: SumsCase[] = [
  { B: 1, T: 40, H: 2, Hkv: 2, D: 32, WQ: 40 }, // MHA, every prompt query
  { B: 2, T: 150, H: 8, Hkv: 2, D: 20, WQ: 70, rows: 1 }, // tova: the last row; D = 20
  { B: 1, T: 130, H: 12, Hkv: 1, D: 64, WQ: 130 }, // G = 12, T off the 64-key tile
  { B: 2, T: 200, H: 4, Hkv: 2, D: 32, WQ: 33, scale: 0.3 }, // fewer rows than keys
  { B: 1, T: 9, H: 4, Hkv: 1, D: 8, WQ: 9, rows: 3 }, // the last 3 of 9 rows, tiny D
];

for (const c of SUMS_CASES) {
  const name = `attention sums B=${c.B} T=${c.T} H=${c.H} Hkv=${c.Hkv} D=${c.D} ` +
    `rows ${c.rows ?? c.WQ} of ${c.WQ}`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const k = randn(c.T + c.D, c.B * c.T * c.Hkv * c.D);
    const qw = randn(c.T + c.H, c.B * c.WQ * c.H * c.D, 1.5);
    const shape = { B: c.B, T: c.T, H: c.H, Hkv: c.Hkv, D: c.D, W: c.WQ, scale: c.scale };
    const sums = await AttentionSums.create(gpu, shape, { rows: c.rows });
    const kb = gpu.upload("test.k", k);
    const qb = gpu.upload("test.qw", qw);
    const out = gpu.createBuffer("test.scores", c.B * c.Hkv * c.T * 4);
    const temps: GPUBuffer[] = [];
    gpu.submit((pass) => temps.push(...sums.encode(pass, { shape, k: kb, v: kb, qw: qb }, out)));
    const [raw] = await gpu.read([{ buffer: out }]);
    const got = new Float32Array(raw);
    const R = c.rows ?? c.WQ;
    const want = attentionSumsRef(qw, k, { ...shape, WQ: c.WQ }, { rows: R, scale: c.scale });
    assertClose(got, want, { atol: 1e-6, rtol: 1e-4, label: name });
    // each row's probabilities sum to 1 and the group mean keeps that: a row sums to R
    for (let r = 0; r < c.B * c.Hkv; r++) {
      const total = got.subarray(r * c.T, (r + 1) * c.T).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - R) < 1e-3 * R, `row ${r}: column sums total ${total} ≈ ${R}`);
    }
    for (const b of [kb, qb, out, ...temps]) gpu.destroy(b);
  });
}

Deno.test("attention sums: rows beyond qw and a missing qw are named", async () => {
  const gpu = await testGpu();
  const heads = { H: 4, Hkv: 2, D: 32 };
  const sums = await AttentionSums.create(gpu, heads, { rows: 8 });
  const k = gpu.createBuffer("k", 4 * 20 * 2 * 32);
  const shape = { ...heads, B: 1, T: 20, W: 4 };
  assert.throws(
    () => gpu.submit((pass) => sums.encode(pass, { shape, k, v: k, qw: k }, k)),
    /attention sums: 8 query rows are summed, the layer input gives W=4 rows of qw/,
  );
  assert.throws(
    () => gpu.submit((pass) => sums.encode(pass, { shape, k, v: k }, k)),
    /attention sums need qw \[B, W, H, D\] with W ≥ 1: got none/,
  );
  await assert.rejects(() => AttentionSums.create(gpu, heads, { rows: 0 }), /rows .*: got 0/);
  gpu.destroy(k);
});

// --- decode attention's raw scores ----------------------------------------------------------------

for (const format of ["fp32", "int8"]) {
  Deno.test(`decode attention scores (${format}): scale·q·k per head; output unchanged`, async () => {
    const gpu = await testGpu();
    const B = 2, H = 8, Hkv = 2, D = 32, CAP = 80, lens = [70, 33];
    const cache = await createCache(gpu, format, { B, Hkv, D, capacity: CAP });
    const k = randn(1, B * CAP * Hkv * D);
    const v = randn(2, B * CAP * Hkv * D);
    const q = randn(3, B * H * D, 2);
    const kb = gpu.upload("test.k", k), vb = gpu.upload("test.v", v), qb = gpu.upload("test.q", q);
    gpu.submit((pass) => cache.append(pass, kb, vb, CAP, lens));
    const plain = await DecodeAttention.create(gpu, cache, { H, splits: 3 });
    const scored = await DecodeAttention.create(gpu, cache, { H, splits: 3, scores: true });
    assert.equal(scored.scores!.size, B * H * CAP * 4);
    assert.equal(scored.workspaceBytes(), plain.workspaceBytes() + B * H * CAP * 4);
    const o1 = gpu.createBuffer("test.o1", B * H * D * 4);
    const o2 = gpu.createBuffer("test.o2", B * H * D * 4);
    gpu.submit((pass) => {
      plain.encode(pass, qb, o1);
      scored.encode(pass, qb, o2);
    });
    const [a, b, s] = await gpu.read([{ buffer: o1 }, { buffer: o2 }, {
      buffer: scored.scores!,
    }]);
    assertExact(new Float32Array(b), new Float32Array(a), `${format}: output with scores`);
    const store = storedTokenRef(format);
    const scale = 1 / Math.sqrt(D);
    const got = new Float32Array(s);
    const want: number[] = [], have: number[] = [];
    for (let bb = 0; bb < B; bb++) {
      for (let h = 0; h < H; h++) {
        const hk = Math.floor(h / (H / Hkv));
        for (let t = 0; t < lens[bb]; t++) {
          const at = ((bb * CAP + t) * Hkv + hk) * D;
          const key = store(k.slice(at, at + D));
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(bb * H + h) * D + d] * scale * key[d];
          want.push(dot);
          have.push(got[(bb * H + h) * CAP + t]);
        }
      }
    }
    assertClose(have, want, { atol: 1e-5, rtol: 1e-5, label: `${format} raw scores` });
    for (const x of [kb, vb, qb, o1, o2]) gpu.destroy(x);
    plain.destroy();
    scored.destroy();
    cache.destroy();
  });
}

// --- select, advance, stats, init ---------------------------------------------------------------

async function evictBuffers(
  B: number,
  Hkv: number,
  init: { lens: number[]; next: number[]; pos: Uint32Array; stat: Float32Array },
): Promise<EvictBuffers> {
  const gpu = await testGpu();
  return {
    lens: gpu.upload("test.lens", new Uint32Array(init.lens)),
    next: gpu.upload("test.next", new Uint32Array(init.next)),
    pos: gpu.upload("test.pos", init.pos),
    stat: gpu.upload("test.stat", init.stat),
    slots: gpu.createBuffer("test.slots", B * Hkv * 4),
    evicted: gpu.createBuffer("test.evicted", B * Hkv * 4),
  };
}

async function destroyAll(b: EvictBuffers | GPUBuffer[]) {
  const gpu = await testGpu();
  for (const x of Array.isArray(b) ? b : Object.values(b)) gpu.destroy(x);
}

interface SelectCase {
  name: string;
  B: number;
  Hkv: number;
  CAP: number;
  rank: DecodeRule["rank"];
  sinks: number;
  recent: number;
  /** Statistic values: coarse ones make ties. */
  coarse?: boolean;
  /** Sequences below capacity (they append). */
  short?: number[];
}

const SELECT_CASES: SelectCase[] = [
  { name: "h2o", B: 2, Hkv: 3, CAP: 40, rank: "accumulated", sinks: 0, recent: 20 },
  { name: "ties", B: 2, Hkv: 2, CAP: 300, rank: "accumulated", sinks: 2, recent: 5, coarse: true },
  { name: "tova, 1000 slots", B: 1, Hkv: 2, CAP: 1000, rank: "current", sinks: 0, recent: 0 },
  { name: "streaming", B: 3, Hkv: 2, CAP: 64, rank: "oldest", sinks: 4, recent: 60 },
  {
    name: "below capacity",
    B: 3,
    Hkv: 2,
    CAP: 50,
    rank: "current",
    sinks: 1,
    recent: 3,
    short: [1],
  },
];

for (const c of SELECT_CASES) {
  Deno.test(`evict select ${c.name}: B=${c.B} Hkv=${c.Hkv} capacity ${c.CAP} ${c.rank} sinks ${c.sinks} recent ${c.recent}`, async () => {
    const gpu = await testGpu();
    const { B, Hkv, CAP } = c;
    const r = rng(CAP + c.recent);
    // each row holds CAP distinct positions below next (the sinks among them), shuffled
    const next = Array.from({ length: B }, (_, b) => CAP + 50 + 7 * b);
    const lens = Array.from({ length: B }, (_, b) => c.short?.includes(b) ? CAP - 9 : CAP);
    const pos = new Uint32Array(B * Hkv * CAP);
    for (let b = 0; b < B; b++) {
      for (let hk = 0; hk < Hkv; hk++) {
        const pool = Array.from({ length: next[b] }, (_, i) => i);
        const held = [...pool.slice(0, c.sinks), ...pool.slice(next[b] - c.recent)];
        const rest = pool.filter((x) => !held.includes(x)).sort(() => r() - 0.5);
        const row = [...held, ...rest].slice(0, CAP).sort(() => r() - 0.5);
        pos.set(row, (b * Hkv + hk) * CAP);
      }
    }
    const stat = Float32Array.from(
      { length: B * Hkv * CAP },
      () => c.coarse ? Math.floor(r() * 4) / 4 : r(),
    );
    const bufs = await evictBuffers(B, Hkv, { lens, next, pos, stat });
    const kernels = await EvictKernels.create(gpu, { B, Hkv, G: 2, capacity: CAP, rank: c.rank });
    const forced = { sinks: c.sinks, recent: c.recent };
    const params = kernels.params(forced, 1);
    gpu.submit((pass) => {
      kernels.encodeSelect(pass, kernels.bindSelect(params, bufs));
      kernels.encodeAdvance(pass, kernels.bindAdvance(params, bufs));
    });
    const [slots, evicted, pos2, stat2, next2] = await gpu.read(
      [bufs.slots, bufs.evicted, bufs.pos, bufs.stat, bufs.next].map((buffer) => ({ buffer })),
    );
    const want = selectVictimRef(pos, stat, lens, next, { B, Hkv, capacity: CAP }, {
      rank: c.rank,
      ...forced,
    });
    assertExact(new Uint32Array(slots), want.slots, "slots");
    assertExact(new Uint32Array(evicted), want.evicted, "evicted positions");
    // the chosen slot now holds the incoming position and a zero statistic
    const wantPos = pos.slice();
    const wantStat = stat.slice();
    for (let row = 0; row < B * Hkv; row++) {
      wantPos[row * CAP + want.slots[row]] = next[Math.floor(row / Hkv)];
      if (c.rank !== "oldest") wantStat[row * CAP + want.slots[row]] = 0;
    }
    assertExact(new Uint32Array(pos2), wantPos, "positions");
    assertExact(new Float32Array(stat2), wantStat, "statistics");
    assertExact(new Uint32Array(next2), next.map((n) => n + 1), "next positions");
    // nothing forced was evicted
    for (const [row, p] of new Uint32Array(evicted).entries()) {
      if (p === 0xffffffff) continue;
      const t = next[Math.floor(row / Hkv)];
      assert.ok(p >= c.sinks && t - p >= c.recent, `row ${row}: evicted ${p} is not forced`);
    }
    await destroyAll(bufs);
    gpu.destroy(params);
  });
}

Deno.test("evict init: kept positions and their scores into the slots; next = T", async () => {
  const gpu = await testGpu();
  const B = 2, Hkv = 3, CAP = 70, K = 70, T = 130;
  const r = rng(9);
  const kept = new Uint32Array(B * Hkv * K);
  for (let row = 0; row < B * Hkv; row++) {
    const all = Array.from({ length: T }, (_, i) => i).sort(() => r() - 0.5).slice(0, K);
    kept.set(all.sort((a, b) => a - b), row * K);
  }
  const scores = randn(4, B * Hkv * T);
  const bufs = await evictBuffers(B, Hkv, {
    lens: [K, K],
    next: [0, 0],
    pos: new Uint32Array(B * Hkv * CAP),
    stat: new Float32Array(B * Hkv * CAP),
  });
  const kernels = await EvictKernels.create(gpu, { B, Hkv, G: 1, capacity: CAP, rank: "current" });
  const params = kernels.params({ sinks: 0, recent: 0 }, 1, { K, T });
  const kb = gpu.upload("test.kept", kept), sb = gpu.upload("test.scores", scores);
  gpu.submit((pass) => kernels.encodeInit(pass, kernels.bindInit(params, bufs, kb, sb), K));
  const [pos, stat, next] = await gpu.read([bufs.pos, bufs.stat, bufs.next].map((buffer) => ({
    buffer,
  })));
  assertExact(new Uint32Array(pos), kept, "positions");
  assertExact(
    new Float32Array(stat),
    Float32Array.from(kept, (j, i) => scores[Math.floor(i / K) * T + j]),
    "statistics",
  );
  assertExact(new Uint32Array(next), [T, T], "next");
  await destroyAll(bufs);
  await destroyAll([params, kb, sb]);
});

for (const c of [{ B: 2, H: 8, Hkv: 2, CAP: 100, S: 3 }, { B: 1, H: 3, Hkv: 3, CAP: 7, S: 1 }]) {
  for (const rank of ["accumulated", "current"] as const) {
    Deno.test(`evict stats (${rank}) B=${c.B} H=${c.H} Hkv=${c.Hkv} capacity ${c.CAP} splits ${c.S}`, async () => {
      const gpu = await testGpu();
      const { B, H, Hkv, CAP, S } = c;
      const lens = Array.from({ length: B }, (_, b) => CAP - 3 * b);
      const att = randn(5, B * H * CAP, 2);
      const partMl = new Float32Array(B * H * S * 2);
      const r = rng(6);
      for (let i = 0; i < B * H * S; i++) {
        partMl[2 * i] = 1 + r() * 3;
        partMl[2 * i + 1] = i % 5 === 4 ? 0 : 1 + r() * 20; // some splits held nothing
      }
      if (S === 1) { for (let i = 0; i < B * H; i++) partMl[2 * i + 1] = 5; }
      const stat = Float32Array.from({ length: B * Hkv * CAP }, () => r());
      const bufs = await evictBuffers(B, Hkv, {
        lens,
        next: lens,
        pos: new Uint32Array(B * Hkv * CAP),
        stat,
      });
      const kernels = await EvictKernels.create(gpu, { B, Hkv, G: H / Hkv, capacity: CAP, rank });
      const params = kernels.params({ sinks: 0, recent: 0 }, S);
      const ab = gpu.upload("test.att", att), mb = gpu.upload("test.part_ml", partMl);
      gpu.submit((pass) => kernels.encodeStats(pass, kernels.bindStats(params, bufs, ab, mb)));
      const [got] = await gpu.read([{ buffer: bufs.stat }]);
      const want = stepStatsRef(
        att,
        partMl,
        lens,
        stat,
        { B, H, Hkv, capacity: CAP, S },
        rank === "accumulated",
      );
      assertClose(new Float32Array(got), want, { atol: 1e-6, rtol: 1e-5, label: `stats ${rank}` });
      await destroyAll(bufs);
      await destroyAll([params, ab, mb]);
    });
  }
}

// --- per-slot writes ------------------------------------------------------------------------------

/** Reads a full cache's store as f32 values [B, Hkv, CAP, D]. */
async function fullValues(cache: FullCache): Promise<[Float32Array, Float32Array]> {
  const gpu = await testGpu();
  const [k, v] = await gpu.read([{ buffer: cache.kStore }, { buffer: cache.vStore }]);
  const as = (b: ArrayBuffer) =>
    cache.half ? Float32Array.from(new Float16Array(b)) : new Float32Array(b);
  return [as(k), as(v)];
}

Deno.test("slot writes: which formats have them", () => {
  assert.deepEqual(slotFormatNames(), ["fp32", "fp16", "int8", "int4"]);
  assert.deepEqual(
    FORMATS.filter((f) => !f.slotWrites).map((f) => f.name),
    ["kivi2", "kivi4", "kivi8"],
  );
});

for (const format of slotFormatNames()) {
  Deno.test(`slot writes (${format}): appends then per-head overwrites, bit for bit`, async () => {
    const gpu = await testGpu();
    const B = 2, Hkv = 2, D = 64, CAP = 6, T0 = 4;
    const shape = { B, Hkv, D, capacity: CAP };
    const cache = await createCache(gpu, format, shape) as CacheBase;
    assert.ok(canWriteSlots(cache));
    await cache.prepareSlotWrites();
    const prompt = [randn(10, B * T0 * Hkv * D), randn(11, B * T0 * Hkv * D)];
    const bufs = prompt.map((x) => gpu.upload("test.prompt", x));
    gpu.submit((pass) => cache.append(pass, bufs[0], bufs[1], T0, [T0, 3]));
    // two appends (slot = length), then overwrites with a different slot per head
    const steps = [[4, 4, 3, 3], [5, 5, 4, 4], [0, 3, 5, 1], [2, 2, 0, 5]];
    const ref = format.startsWith("int") ? new GroupwiseRef(shape, Number(format.slice(3))) : null;
    ref?.append(prompt[0], prompt[1], T0, [T0, 3]);
    const store = storedTokenRef(format);
    const wantK = new Float32Array(B * Hkv * CAP * D), wantV = wantK.slice();
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < (b === 0 ? T0 : 3); t++) {
        for (let hk = 0; hk < Hkv; hk++) {
          const src = ((b * T0 + t) * Hkv + hk) * D, dst = ((b * Hkv + hk) * CAP + t) * D;
          wantK.set(store(prompt[0].slice(src, src + D)), dst);
          wantV.set(store(prompt[1].slice(src, src + D)), dst);
        }
      }
    }
    const lengths = [T0, 3];
    for (const [i, slots] of steps.entries()) {
      const k = randn(20 + i, B * Hkv * D), v = randn(30 + i, B * Hkv * D);
      const kb = gpu.upload("test.k", k), vb = gpu.upload("test.v", v);
      const sb = gpu.upload("test.slots", new Uint32Array(slots));
      gpu.submit((pass) => cache.writeSlots(pass, kb, vb, sb));
      ref?.writeSlots(k, v, slots);
      for (let row = 0; row < B * Hkv; row++) {
        const dst = (row * CAP + slots[row]) * D;
        wantK.set(store(k.slice(row * D, row * D + D)), dst);
        wantV.set(store(v.slice(row * D, row * D + D)), dst);
      }
      for (let b = 0; b < B; b++) lengths[b] = Math.min(lengths[b] + 1, CAP);
      for (const x of [kb, vb, sb]) gpu.destroy(x);
      assert.deepEqual(cache.lengths, lengths, `step ${i}: host lengths`);
    }
    const [lens] = await gpu.read([{ buffer: cache.lens }]);
    assertExact(new Uint32Array(lens), lengths, "GPU lengths (clamped at capacity)");
    if (cache instanceof GroupwiseCache) {
      const [k, v] = (await gpu.read([{ buffer: cache.kStore }, { buffer: cache.vStore }])).map(
        (x) => new Uint32Array(x),
      );
      const m = cache.layout.meta;
      assertExact(k.subarray(0, m), ref!.kCodes, `${format} key codes`);
      assertExact(k.subarray(m), ref!.kMeta, `${format} key metadata`);
      assertExact(v.subarray(0, m), ref!.vCodes, `${format} value codes`);
      assertExact(v.subarray(m), ref!.vMeta, `${format} value metadata`);
    } else {
      const [k, v] = await fullValues(cache as FullCache);
      assertExact(k, wantK, `${format} keys`);
      assertExact(v, wantV, `${format} values`);
    }
    const short = gpu.createBuffer("test.short", 4);
    assert.throws(
      () => gpu.submit((pass) => cache.writeSlots(pass, bufs[0], bufs[1], short)),
      /writeSlots: slots must hold \[B=2, Hkv=2\] u32 = 16 bytes, the buffer holds 4/,
    );
    assert.throws(
      () => gpu.submit((pass) => cache.writeSlots(pass, short, bufs[1], bufs[0])),
      /writeSlots: k and v must hold \[B=2, Hkv=2, D=64\] f32 = 1024 bytes/,
    );
    for (const x of [...bufs, short]) gpu.destroy(x);
    cache.destroy();
  });
}

Deno.test("slot writes: KIVI refuses with a message naming the formats that can", async () => {
  const gpu = await testGpu();
  const cache = await createCache(gpu, "kivi4", { B: 1, Hkv: 1, D: 32, capacity: 64 });
  assert.equal(canWriteSlots(cache), false);
  await assert.rejects(
    () => (cache as CacheBase).prepareSlotWrites(),
    /kivi4 cache: cannot overwrite single tokens in place \(writeSlots\); .* \(fp32, fp16, int8, int4\)/,
  );
  const fp = await createCache(gpu, "fp16", { B: 1, Hkv: 1, D: 32, capacity: 64 }) as CacheBase;
  const b = gpu.createBuffer("x", 256);
  assert.throws(
    () => gpu.submit((pass) => fp.writeSlots(pass, b, b, b)),
    /fp16 cache: writeSlots\(\) before prepareSlotWrites\(\)/,
  );
  gpu.destroy(b);
  fp.destroy();
  cache.destroy();
});
