// Quantized cache formats (kivi2, kivi4, kivi8, int8, int4) against engine/reference/quant.ts:
// the stored codes, metadata and f16 residual read back from the GPU equal the reference bit for
// bit after a ragged prefill and decode steps that cross flush boundaries; the reference itself
// keeps the residual exact and the quantization error within half a step; decode attention over
// each cache matches the float64 reference on the reference-dequantized K/V (GQA 1, 3, 4, 8, 12;
// D up to 256; several tiles per split; steps recorded into one command buffer); bytes() is the
// real allocation and smaller than fp16's; bad options and capacities throw RangeErrors naming
// the value.

import assert from "node:assert/strict";
import type { CacheBase } from "../engine/cache/base.ts";
import type { CacheShape, KvCache } from "../engine/cache/format.ts";
import { GroupwiseCache } from "../engine/cache/groupwise.ts";
import { KiviCache } from "../engine/cache/kivi.ts";
import { createCache, getFormat } from "../engine/cache/registry.ts";
import { DecodeAttention } from "../engine/kernels/decode_attention.ts";
import { decodeAttentionRef } from "../engine/reference/attention.ts";
import {
  dequant,
  GroupwiseRef,
  invMaxQ,
  KiviRef,
  maxQ,
  QG,
  quantizeGroup,
  unpackHalf2,
} from "../engine/reference/quant.ts";
import { randn } from "../engine/reference/random.ts";
import { assertClose, assertExact, testGpu } from "./helpers.ts";
import type { Gpu } from "../engine/gpu/mod.ts";

type QCache = KiviCache | GroupwiseCache;
type QRef = KiviRef | GroupwiseRef;

interface QFormat {
  readonly name: string;
  readonly bits: number;
  create(gpu: Gpu, shape: CacheShape): Promise<QCache>;
  ref(shape: CacheShape): QRef;
}

/** Residual length used by the KIVI tests (the registry default, 128, is tested in bytes()). */
const R = 64;

const QFORMATS: QFormat[] = [
  ...[2, 4, 8].map((bits) => ({
    name: `kivi${bits}`,
    bits,
    create: (gpu: Gpu, shape: CacheShape) => KiviCache.create(gpu, shape, { bits, R }),
    ref: (shape: CacheShape) => new KiviRef(shape, bits, R),
  })),
  ...[8, 4].map((bits) => ({
    name: `int${bits}`,
    bits,
    create: (gpu: Gpu, shape: CacheShape) => GroupwiseCache.create(gpu, shape, bits),
    ref: (shape: CacheShape) => new GroupwiseRef(shape, bits),
  })),
];

/** Seeded K or V [B, Tn, Hkv, D] with an outlier channel and constant groups (scale 0). */
function inputs(seed: number, B: number, Tn: number, Hkv: number, D: number): Float32Array {
  const x = randn(seed, B * Tn * Hkv * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Tn; t++) {
      const row = (b * Tn + t) * Hkv * D;
      x[row + 7] = x[row + 7] * 20 + 5; // an outlier channel (hk 0, d 7), as real keys have
      x[row + 5] = 0.75; // a constant channel (hk 0): KIVI key groups of zero range
      if (t % 5 === 3) x.fill(-1.25, row + D, row + D + QG); // a constant token group (hk 1)
    }
  }
  return x;
}

/** The GPU stores split into the reference's named regions. */
async function readRegions(gpu: Gpu, cache: QCache): Promise<Record<string, Uint32Array>> {
  const [k, v] = (await gpu.read([{ buffer: cache.kStore }, { buffer: cache.vStore }])).map(
    (b) => new Uint32Array(b),
  );
  if (cache instanceof KiviCache) {
    const l = cache.layout;
    return {
      kCodes: k.subarray(0, l.k.meta),
      kMeta: k.subarray(l.k.meta, l.k.res),
      kRes: k.subarray(l.k.res, l.k.words),
      vCodes: v.subarray(0, l.v.meta),
      vMeta: v.subarray(l.v.meta, l.v.res),
      vRes: v.subarray(l.v.res, l.v.words),
    };
  }
  const m = cache.layout.meta;
  return {
    kCodes: k.subarray(0, m),
    kMeta: k.subarray(m),
    vCodes: v.subarray(0, m),
    vMeta: v.subarray(m),
  };
}

function refRegions(ref: QRef): Record<string, Uint32Array> {
  const common = { kCodes: ref.kCodes, kMeta: ref.kMeta, vCodes: ref.vCodes, vMeta: ref.vMeta };
  return ref instanceof KiviRef ? { ...common, kRes: ref.kRes, vRes: ref.vRes } : common;
}

// --- the reference quantizer -------------------------------------------------------------------

Deno.test("reference quantizer: exact grid, zero range, ties, error within half a step", () => {
  // [0, 1, 2, 3] at 2 bits: scale exactly 1, codes 0..3, metadata f16(1) | f16(0) << 16
  const g = quantizeGroup([0, 1, 2, 3, ...new Array(QG - 4).fill(3)], 2);
  assert.deepEqual(g.codes.slice(0, 4), [0, 1, 2, 3]);
  assert.equal(g.meta, 0x3c00);
  // constant group: scale 0, all codes 0, dequantizes to the value itself
  const z = quantizeGroup(new Array(QG).fill(-1.25), 4);
  assert.ok(z.codes.every((c) => c === 0));
  assert.equal(dequant(0, z.sh, z.mh), -1.25);
  // a tie (x exactly between two grid points) goes to the smaller code
  const t = quantizeGroup([0, 0.5, 3, ...new Array(QG - 3).fill(0)], 2);
  assert.equal(t.codes[1], 0);
  assert.equal(invMaxQ(8), Math.fround(1 / 255));
  for (const bits of [2, 4, 8]) {
    for (let s = 0; s < 50; s++) {
      const x = randn(100 * bits + s, QG, 1 + s).map((v) => Math.f16round(v));
      const q = quantizeGroup(x, bits);
      const step = (Math.max(...x) - Math.min(...x)) / maxQ(bits);
      const err = x.map((v, i) => dequant(q.codes[i], q.sh, q.mh) - v);
      const bound = new Float32Array(QG).fill(0);
      assertClose(err, bound, {
        atol: 0.5 * step * 1.001 + 1e-6,
        rtol: 0,
        label: `${bits}-bit group ${s}`,
      });
      assert.ok(
        q.codes.includes(0) && q.codes.includes(maxQ(bits)),
        `${bits}-bit group ${s} uses the full range`,
      );
    }
  }
});

// --- (a) stored state bit for bit --------------------------------------------------------------

/** Prefill 190 / 123 tokens, then decode steps with ragged counts crossing R = 64 boundaries. */
const STEPS: [number, number[]][] = [
  [190, [190, 123]],
  [1, [1, 1]],
  [1, [1, 0]],
  [1, [1, 1]],
  [1, [0, 1]],
  [1, [1, 1]],
  [1, [1, 1]],
  [40, [40, 17]], // a chunked append crossing key flush 192 → (b0) and value tokens for both
];

/**
 * Checks the reference's dequantized view against the f16-rounded input history: tokens that
 * stay in full precision are exact, quantized ones are within half a step of their group.
 */
function checkRefSemantics(ref: QRef, k: Float32Array[][], v: Float32Array[][], label: string) {
  const { B, Hkv, D } = ref.shape;
  const dq = ref.dequantized();
  const m = maxQ(ref.bits);
  for (const [isK, hist, got] of [[true, k, dq.k], [false, v, dq.v]] as const) {
    const err: number[] = [];
    const bound: number[] = [];
    for (let b = 0; b < B; b++) {
      const len = dq.lens[b];
      for (let t = 0; t < len; t++) {
        for (let hk = 0; hk < Hkv; hk++) {
          for (let d = 0; d < D; d++) {
            const x = hist[b][t][hk * D + d];
            const o = ((b * dq.T + t) * Hkv + hk) * D + d;
            // the quantization group of (b, t, hk, d), or null where it must be exact
            let group: number[] | null;
            if (ref instanceof KiviRef && isK) {
              const g0 = t - (t % QG);
              group = t >= ref.tqk(len)
                ? null
                : Array.from({ length: QG }, (_, j) => hist[b][g0 + j][hk * D + d]);
            } else {
              const j0 = hk * D + d - (d % QG);
              group = ref instanceof KiviRef && t >= ref.tqv(len)
                ? null
                : Array.from(hist[b][t].subarray(j0, j0 + QG));
            }
            err.push(got[o] - x);
            bound.push(
              group ? 0.5 * ((Math.max(...group) - Math.min(...group)) / m) * 1.001 + 1e-6 : 0,
            );
          }
        }
      }
    }
    // |err| ≤ bound elementwise ⇔ |err / bound| ≤ 1 (bound 0: exact)
    const ratio = err.map((
      e,
      i,
    ) => (bound[i] === 0 ? (e === 0 ? 0 : Infinity) : Math.abs(e) / bound[i]));
    assertClose(ratio, new Float32Array(ratio.length), {
      atol: 1,
      rtol: 0,
      label: `${label} ${isK ? "K" : "V"} quantization error / bound`,
    });
  }
}

for (const f of QFORMATS) {
  Deno.test(`${f.name}: codes, metadata and residual equal the reference bit for bit`, async () => {
    const gpu = await testGpu();
    const shape = { B: 2, Hkv: 2, D: 64, capacity: 260 };
    const { B, Hkv, D } = shape;
    const cache = await f.create(gpu, shape);
    const ref = f.ref(shape);
    const hist: [Float32Array[][], Float32Array[][]] = [[[], []], [[], []]];
    let seed = 17 * f.bits;
    for (const [Tn, counts] of STEPS) {
      const k = inputs(seed++, B, Tn, Hkv, D);
      const v = inputs(seed++, B, Tn, Hkv, D);
      const kb = gpu.upload("test.k", k);
      const vb = gpu.upload("test.v", v);
      gpu.submit((pass) => cache.append(pass, kb, vb, Tn, counts));
      ref.append(k, v, Tn, counts);
      gpu.destroy(kb);
      gpu.destroy(vb);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < counts[b]; i++) {
          const at = (b * Tn + i) * Hkv * D;
          hist[0][b].push(k.slice(at, at + Hkv * D).map((x) => Math.f16round(x)));
          hist[1][b].push(v.slice(at, at + Hkv * D).map((x) => Math.f16round(x)));
        }
      }
      const got = await readRegions(gpu, cache);
      const want = refRegions(ref);
      assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
      for (const name of Object.keys(want)) {
        assertExact(got[name], want[name], `${f.name} ${name} after lengths ${ref.lengths}`);
      }
    }
    assert.deepEqual(cache.lengths, [235, 145]);
    assert.deepEqual(
      new Uint32Array((await gpu.read([{ buffer: cache.lens }]))[0]),
      new Uint32Array([235, 145]),
    );
    // not vacuous: every code value occurs, and the metadata is filled where it should be
    const codes = new Set<number>();
    for (let i = 0; i < ref.vCodes.length * (32 / f.bits); i++) {
      codes.add((ref.vCodes[Math.floor((i * f.bits) / 32)] >>> ((i * f.bits) % 32)) & maxQ(f.bits));
    }
    assert.equal(codes.size, 2 ** f.bits, `${f.name}: value codes use all ${2 ** f.bits} levels`);
    if (ref instanceof KiviRef) {
      // b0: keys 0..191 quantized (6 groups), 192..234 residual; b1: 0..127, 128..144
      const [l0, l1] = ref.lengths;
      assert.deepEqual([ref.tqk(l0), ref.tqk(l1), ref.tqv(l0), ref.tqv(l1)], [192, 128, 171, 81]);
      const [sh] = unpackHalf2(ref.kMeta[5]); // b0 hk0 group 0 channel 5: constant channel
      assert.equal(sh, 0);
    }
    checkRefSemantics(ref, hist[0], hist[1], f.name);
    cache.destroy();
  });
}

// --- (b) decode attention over the quantized caches --------------------------------------------

interface AttnCase {
  readonly Hkv: number;
  readonly D: number;
  readonly g: number[];
  readonly prefill: number[];
  readonly capacity?: number;
  readonly splits?: number;
  /** Absolute tolerance (default 1e-5). */
  readonly atol?: number;
}

const ATTN: AttnCase[] = [
  { Hkv: 2, D: 64, g: [1, 4, 8], prefill: [150, 126] },
  { Hkv: 1, D: 128, g: [4], prefill: [70, 37] },
  { Hkv: 2, D: 256, g: [2], prefill: [131, 45] },
  { Hkv: 1, D: 32, g: [2], prefill: [45, 20], capacity: 48 }, // capacity < R: KIVI all in f16
  // one split: 2 tiles of 512 tokens (G = 3), 3 of 256 (G = 12: two workgroups per KV head).
  // f32 rounding on the outlier channel (|v| up to ~65) grows with length: a plain f32 loop,
  // every operation rounded, is off by up to 7e-5 here, hence the looser atol.
  { Hkv: 1, D: 64, g: [3, 12], prefill: [700, 530], capacity: 720, splits: 1, atol: 2e-4 },
];

for (const f of QFORMATS) {
  for (const c of ATTN) {
    const name =
      `${f.name}: decode attention Hkv=${c.Hkv} D=${c.D} GQA ${c.g} after prefill ${c.prefill}` +
      (c.splits ? `, ${c.splits} split` : "");
    Deno.test(name, async () => {
      const gpu = await testGpu();
      const B = 2;
      const { Hkv, D } = c;
      const shape = { B, Hkv, D, capacity: c.capacity ?? 200 };
      const cache = await f.create(gpu, shape);
      const ref = f.ref(shape);
      const Tn = Math.max(...c.prefill);
      const k = inputs(D + 1, B, Tn, Hkv, D);
      const v = inputs(D + 2, B, Tn, Hkv, D);
      const kb = gpu.upload("test.k", k);
      const vb = gpu.upload("test.v", v);
      gpu.submit((pass) => cache.append(pass, kb, vb, Tn, c.prefill));
      ref.append(k, v, Tn, c.prefill);
      const attend = async (g: number, steps: number) => {
        const H = Hkv * g;
        const attn = await DecodeAttention.create(gpu, cache, { H, splits: c.splits });
        const q = randn(D * g, B * H * D);
        const qb = gpu.upload("test.q", q);
        const outs = Array.from(
          { length: steps + 1 },
          () => gpu.createBuffer("test.out", B * H * D * 4),
        );
        const want: Float32Array[] = [];
        const expect = () => {
          const dq = ref.dequantized();
          want.push(decodeAttentionRef(q, dq.k, dq.v, dq.lens, { B, T: dq.T, H, Hkv, D }));
        };
        expect();
        // decode steps: append one token, attend — all recorded into one command buffer
        const steps1 = Array.from({ length: steps }, (_, s) => ({
          k: inputs(1000 + s, B, 1, Hkv, D),
          v: inputs(2000 + s, B, 1, Hkv, D),
        }));
        const bufs = steps1.map((s) => [gpu.upload("test.k1", s.k), gpu.upload("test.v1", s.v)]);
        gpu.submit((pass) => {
          attn.encode(pass, qb, outs[0]);
          bufs.forEach(([k1, v1], s) => {
            cache.append(pass, k1, v1, 1);
            attn.encode(pass, qb, outs[s + 1]);
          });
        });
        for (const s of steps1) {
          ref.append(s.k, s.v, 1);
          expect();
        }
        const got = await gpu.read(outs.map((buffer) => ({ buffer })));
        got.forEach((o, s) => {
          assertClose(new Float32Array(o), want[s], {
            atol: c.atol ?? 1e-5,
            rtol: 1e-4,
            label: `${name}: H=${H}, lengths ${s === 0 ? "before" : "after"} step ${s}`,
          });
        });
        for (const buffer of [qb, ...outs, ...bufs.flat()]) gpu.destroy(buffer);
        attn.destroy();
      };
      // the first GQA ratio also runs 3 decode steps (b1 crosses the key flush at 128 = 2R)
      for (const [i, g] of c.g.entries()) await attend(g, i === 0 ? 3 : 0);
      gpu.destroy(kb);
      gpu.destroy(vb);
      cache.destroy();
    });
  }
}

// Sliding window over a quantized full cache: the window's first token falls inside a KIVI
// key group (150 - 45 = 105) and inside the f16 residual (b1: 126 - 45 = 81, past the 64-token
// flush); decode steps move the window by one token each.
for (const f of QFORMATS) {
  const name = `${f.name}: decode attention with a sliding window of 45 over prefill 150, 126`;
  Deno.test(name, async () => {
    const gpu = await testGpu();
    const B = 2, Hkv = 2, D = 64, H = 8, window = 45, prefill = [150, 126], steps = 2;
    const shape = { B, Hkv, D, capacity: 160 };
    const cache = await f.create(gpu, shape);
    const ref = f.ref(shape);
    const Tn = Math.max(...prefill);
    const k = inputs(3, B, Tn, Hkv, D), v = inputs(4, B, Tn, Hkv, D);
    const kb = gpu.upload("test.k", k), vb = gpu.upload("test.v", v);
    ref.append(k, v, Tn, prefill);
    const attn = await DecodeAttention.create(gpu, cache, { H, window });
    const q = randn(5, B * H * D);
    const qb = gpu.upload("test.q", q);
    const news = Array.from({ length: steps }, (_, s) => ({
      k: inputs(100 + s, B, 1, Hkv, D),
      v: inputs(200 + s, B, 1, Hkv, D),
    }));
    const bufs = news.map((n) => [gpu.upload("test.k1", n.k), gpu.upload("test.v1", n.v)]);
    const outs = Array.from({ length: steps + 1 }, () => gpu.createBuffer("o", B * H * D * 4));
    // the prefill's counts are written at encode time: a submission of their own
    gpu.submit((pass) => cache.append(pass, kb, vb, Tn, prefill));
    gpu.submit((pass) => {
      attn.encode(pass, qb, outs[0]);
      bufs.forEach(([k1, v1], s) => {
        cache.append(pass, k1, v1, 1);
        attn.encode(pass, qb, outs[s + 1]);
      });
    });
    const want = (): Float32Array => {
      const dq = ref.dequantized();
      return decodeAttentionRef(q, dq.k, dq.v, dq.lens, { B, T: dq.T, H, Hkv, D, window });
    };
    const wants = [want()];
    for (const n of news) {
      ref.append(n.k, n.v, 1);
      wants.push(want());
    }
    const got = await gpu.read(outs.map((buffer) => ({ buffer })));
    got.forEach((o, s) => {
      assertClose(new Float32Array(o), wants[s], {
        atol: 1e-5,
        rtol: 1e-4,
        label: `${name}: step ${s}`,
      });
    });
    for (const buffer of [kb, vb, qb, ...outs, ...bufs.flat()]) gpu.destroy(buffer);
    attn.destroy();
    cache.destroy();
  });
}

// Rolling caches (CacheShape.ring, a sliding-window model's full cache): capacity = the window
// W = 40, the token at position p in slot p mod W. A ragged prefill of 70 and 25 tokens (the
// first wraps; only its last 40 are written), then 3 one-token steps: decode attention must equal
// attention over the last W tokens of the whole history, which a plain cache of room for all of
// it holds (its dequantized values: quantization is per token, whatever the slot).
for (const name of ["fp32", "fp16", "int8", "int4"]) {
  Deno.test(`${name}: a rolling cache of 40 slots attends over the last 40 of 73 tokens`, async () => {
    const gpu = await testGpu();
    const B = 2, Hkv = 2, D = 64, H = 8, W = 40, prefill = [70, 25], steps = 3;
    const Tn = Math.max(...prefill);
    const ring = await createCache(gpu, name, { B, Hkv, D, capacity: W, ring: true });
    const plain = await createCache(gpu, name, { B, Hkv, D, capacity: Tn + steps });
    const attnRing = await DecodeAttention.create(gpu, ring, { H });
    const attnPlain = await DecodeAttention.create(gpu, plain, { H, window: W });
    const k = inputs(11, B, Tn, Hkv, D), v = inputs(12, B, Tn, Hkv, D);
    const kb = gpu.upload("test.k", k), vb = gpu.upload("test.v", v);
    const q = randn(13, B * H * D);
    const qb = gpu.upload("test.q", q);
    const news = Array.from({ length: steps }, (_, s) => [
      gpu.upload("test.k1", inputs(20 + s, B, 1, Hkv, D)),
      gpu.upload("test.v1", inputs(30 + s, B, 1, Hkv, D)),
    ]);
    const outs = Array.from(
      { length: 2 * (steps + 1) },
      () => gpu.createBuffer("o", B * H * D * 4),
    );
    gpu.submit((pass) => {
      ring.append(pass, kb, vb, Tn, prefill);
      plain.append(pass, kb, vb, Tn, prefill);
    });
    gpu.submit((pass) => {
      attnRing.encode(pass, qb, outs[0]);
      attnPlain.encode(pass, qb, outs[1]);
      news.forEach(([k1, v1], s) => {
        ring.append(pass, k1, v1, 1);
        plain.append(pass, k1, v1, 1);
        attnRing.encode(pass, qb, outs[2 * s + 2]);
        attnPlain.encode(pass, qb, outs[2 * s + 3]);
      });
    });
    const got = await gpu.read(outs.map((buffer) => ({ buffer })));
    for (let s = 0; s <= steps; s++) {
      // the masked plain cache is checked against the float64 reference by the window tests
      assertClose(new Float32Array(got[2 * s]), new Float32Array(got[2 * s + 1]), {
        atol: 1e-5,
        rtol: 1e-4,
        label: `${name}: step ${s}`,
      });
    }
    assert.deepEqual(ring.lengths, [Tn + steps, prefill[1] + steps], "lengths count positions");
    assert.ok(ring.bytes() < plain.bytes(), `${ring.bytes()} < ${plain.bytes()}`);
    for (const b of [kb, vb, qb, ...outs, ...news.flat()]) gpu.destroy(b);
    for (const x of [attnRing, attnPlain, ring, plain]) x.destroy();
  });
}

Deno.test("rolling caches: KIVI refuses a ring, naming the formats that roll", async () => {
  const gpu = await testGpu();
  await assert.rejects(
    () => createCache(gpu, "kivi4", { B: 1, Hkv: 1, D: 32, capacity: 64, ring: true }),
    /KIVI 4-bit cache: a rolling cache \(ring\) is not supported: .* fp32, fp16, int8 and int4 roll/,
  );
});

// --- (c) bytes --------------------------------------------------------------------------------

Deno.test("quantized formats: bytes() is the real allocation and smaller than fp16's", async () => {
  const gpu = await testGpu();
  const shape = { B: 2, Hkv: 2, D: 64, capacity: 4 * 128 + 40 };
  const bytes: Record<string, number> = {};
  for (const name of ["fp16", "kivi2", "kivi4", "kivi8", "int4", "int8"]) {
    const before = gpu.liveBytes;
    const cache: KvCache = await createCache(gpu, name, shape);
    const own = (cache as unknown as CacheBase).allocations();
    bytes[name] = cache.bytes();
    assert.equal(
      bytes[name],
      own.reduce((s, a) => s + a.bytes, 0),
      `${name}: bytes() = Σ allocations`,
    );
    // everything the cache allocated, plus its 16-byte append-parameter uniform
    assert.equal(gpu.liveBytes - before, bytes[name] + 16, `${name}: bytes() vs live bytes`);
    const info = getFormat(name);
    if (info.family !== "full") {
      // the reference's independently computed layout gives the same size
      const ref = info.family === "kivi"
        ? new KiviRef(shape, info.bits, 128)
        : new GroupwiseRef(shape, info.bits);
      const words = Object.values(refRegions(ref)).reduce((s, a) => s + a.length, 0);
      assert.equal(
        bytes[name],
        words * 4 + 2 * shape.B * 4,
        `${name}: bytes() vs reference layout`,
      );
      assert.ok(info.paper?.startsWith("https://arxiv.org/"), `${name}: paper URL`);
    }
    cache.destroy();
  }
  assert.ok(bytes.kivi2 < bytes.kivi4, `kivi2 ${bytes.kivi2} < kivi4 ${bytes.kivi4}`);
  assert.ok(bytes.kivi4 < bytes.kivi8, `kivi4 ${bytes.kivi4} < kivi8 ${bytes.kivi8}`);
  assert.ok(bytes.kivi8 < bytes.fp16, `kivi8 ${bytes.kivi8} < fp16 ${bytes.fp16}`);
  assert.ok(bytes.int4 < bytes.int8, `int4 ${bytes.int4} < int8 ${bytes.int8}`);
  assert.ok(bytes.int8 < bytes.fp16, `int8 ${bytes.int8} < fp16 ${bytes.fp16}`);
  assert.ok(bytes.int4 < bytes.kivi4, `int4 ${bytes.int4} < kivi4 ${bytes.kivi4} (no residual)`);
});

// --- (d) bad input -----------------------------------------------------------------------------

Deno.test("quantized formats: bad options and capacities throw RangeErrors naming the value", async () => {
  const gpu = await testGpu();
  const shape = { B: 1, Hkv: 1, D: 32, capacity: 100 };
  const live = gpu.liveBytes;
  const bad: [() => Promise<unknown>, RegExp][] = [
    [() => KiviCache.create(gpu, shape, { bits: 2, G: 16 }), /G .*got 16, expected 32/],
    [() => KiviCache.create(gpu, shape, { bits: 2, G: 64 }), /G .*got 64/],
    [
      () => KiviCache.create(gpu, shape, { bits: 2, R: 48 }),
      /R .*got 48, expected a multiple of G=32/,
    ],
    [
      () => KiviCache.create(gpu, shape, { bits: 2, R: 16 }),
      /R .*got 16, expected an integer ≥ 32/,
    ],
    [() => KiviCache.create(gpu, shape, { bits: 2, R: 64.5 }), /R .*got 64.5/],
    [() => KiviCache.create(gpu, shape, { bits: 3 }), /bits: got 3, expected one of 2, 4, 8/],
    [() => GroupwiseCache.create(gpu, shape, 2), /bits: got 2, expected one of 4, 8/],
    [() => createCache(gpu, "kivi2", { ...shape, capacity: 0 }), /capacity.*got 0/],
    [() => createCache(gpu, "int4", { ...shape, capacity: 2.5 }), /capacity.*got 2.5/],
    [() => createCache(gpu, "int8", { ...shape, D: 48 }), /D \(head dim\): got 48/],
    [() => createCache(gpu, "kivi4", { ...shape, capacity: 2 ** 31 }), /capacity=2147483648/],
    [() => createCache(gpu, "int4", { ...shape, capacity: 2 ** 31 }), /capacity=2147483648/],
  ];
  for (const [make, message] of bad) {
    await assert.rejects(make, (e: Error) => e instanceof RangeError && message.test(e.message));
  }
  assert.equal(gpu.liveBytes, live, "rejected shapes allocate nothing");
  // appending past the capacity
  for (const name of ["kivi2", "int8"]) {
    const cache = await createCache(gpu, name, shape);
    const kb = gpu.createBuffer("test.k", 101 * 32 * 4);
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    assert.throws(
      () => cache.append(pass, kb, kb, 101),
      (e: Error) =>
        e instanceof RangeError &&
        /would hold 101 tokens, more than its capacity 100/.test(e.message),
    );
    pass.end();
    encoder.finish(); // nothing was recorded; never submitted
    assert.deepEqual(cache.lengths, [0]);
    gpu.destroy(kb);
    cache.destroy();
  }
});
