// Reference of streaming prefill for one attention layer (engine/methods/stream.ts
// StreamCompressor, stream.wgsl): plain TypeScript, float64 where it computes, the method's own
// scoreRef. Chunk by chunk: the store is the held set (per (b, hk) its slots, positions
// ascending) then the chunk; the chunk's queries attend over it causally; when it matters (the
// store is over the budget, h2o accumulates, or the last chunk seeds a decode-time evictor) the
// method scores the store as a layer of held + n tokens whose last n queries are the chunk's —
// random by absolute position — h2o adding the held tokens' sums so far; over the budget, the
// top-k with the method's forced tokens (selectKeptRef) keeps `budget` slots and the held set's
// k, v, positions and statistics follow; else the store becomes the held set.
// It is the specification the GPU is tested against (tests/methods_stream_test.ts).

import type { MethodInfo, Params } from "../methods/method.ts";
import { RANDOM } from "../methods/random.ts";
import { prefillAttentionRef } from "./attention.ts";
import { gatherRef, lowbias32, selectKeptRef } from "./methods.ts";

export interface StreamRefShape {
  readonly B: number;
  readonly H: number;
  readonly Hkv: number;
  readonly D: number;
  /** Prompt tokens (all chunks). */
  readonly T: number;
}

/** One chunk: q [B, n, H, D], k, v [B, n, Hkv, D]. */
export interface StreamRefChunk {
  readonly n: number;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

export interface StreamRefOptions {
  readonly method: MethodInfo;
  readonly params: Params;
  /** The layer's budget: tokens held after the last chunk. */
  readonly budget: number;
  readonly layer?: number;
  readonly numLayers?: number;
  /** A decode-time evictor follows (its statistics come from the last chunk). */
  readonly evict: boolean;
}

export interface StreamRefStep {
  /** Attention output of the chunk's queries [B, n, H, D]. */
  readonly out: Float32Array;
  /** After the chunk: positions held per (b, hk) row [B · Hkv][held]. */
  readonly held: number[][];
  /** After the chunk: the held set's statistics, same layout (0 where never scored). */
  readonly stat: number[][];
}

/** Runs the chunks in order (their n sum to shape.T); one step per chunk. */
export function streamRef(
  shape: StreamRefShape,
  chunks: readonly StreamRefChunk[],
  o: StreamRefOptions,
): StreamRefStep[] {
  const { B, H, Hkv, D, T } = shape;
  const { method, params, budget: K } = o;
  const rank = method.decode?.rank;
  const accumulates = rank === "accumulated";
  const seeds = o.evict && rank !== undefined && rank !== "oldest";
  let held = 0;
  let hk_: Float32Array = new Float32Array(0), hv: Float32Array = new Float32Array(0); // [B, held, Hkv, D]
  let pos: number[][] = Array.from({ length: B * Hkv }, () => []);
  let stat: number[][] = Array.from({ length: B * Hkv }, () => []);
  const steps: StreamRefStep[] = [];
  let t0 = 0;
  for (const c of chunks) {
    const { n } = c;
    const Tc = held + n;
    const sk = new Float32Array(B * Tc * Hkv * D), sv = new Float32Array(B * Tc * Hkv * D);
    for (let b = 0; b < B; b++) {
      const row = Hkv * D;
      sk.set(hk_.subarray(b * held * row, (b + 1) * held * row), b * Tc * row);
      sv.set(hv.subarray(b * held * row, (b + 1) * held * row), b * Tc * row);
      sk.set(c.k.subarray(b * n * row, (b + 1) * n * row), (b * Tc + held) * row);
      sv.set(c.v.subarray(b * n * row, (b + 1) * n * row), (b * Tc + held) * row);
    }
    const spos = pos.map((p) => [...p, ...Array.from({ length: n }, (_, i) => t0 + i)]);
    const out = prefillAttentionRef(c.q, sk, sv, { B, Tq: n, Tk: Tc, H, Hkv, D });
    const compact = Tc > K;
    const last = t0 + n === T;
    const score = compact || accumulates || (last && seeds);
    let scores = new Float32Array(B * Hkv * Tc);
    if (score) {
      if (method === RANDOM) {
        const key = lowbias32((params.seed + lowbias32(o.layer ?? 0)) >>> 0);
        for (let r = 0; r < B * Hkv; r++) {
          for (let s = 0; s < Tc; s++) {
            scores[r * Tc + s] = (lowbias32((r * T + spos[r][s] + key) >>> 0) >>> 8) / 16777216;
          }
        }
      } else if (method.scoreRef) {
        scores = Float32Array.from(method.scoreRef(params, {
          shape: { B, T: Tc, H, Hkv, D, W: n },
          k: sk,
          v: sv,
          qw: c.q,
          layer: o.layer,
          numLayers: o.numLayers,
        }));
      }
      if (accumulates) {
        for (let r = 0; r < B * Hkv; r++) {
          for (let s = 0; s < held; s++) scores[r * Tc + s] = scores[r * Tc + s] + stat[r][s];
        }
      }
    }
    const sstat = Array.from({ length: B * Hkv }, (_, r) => {
      if (score) return [...scores.subarray(r * Tc, (r + 1) * Tc)];
      return [...stat[r], ...new Array(n).fill(0)];
    });
    if (compact) {
      const kept = selectKeptRef(scores, { B, Hkv, T: Tc }, K, method.forced(params, Tc, K));
      hk_ = gatherRef(sk, kept, { B, T: Tc, Hkv, D, K });
      hv = gatherRef(sv, kept, { B, T: Tc, Hkv, D, K });
      const rows = (x: number[][]) =>
        x.map((r, i) => [...kept.subarray(i * K, (i + 1) * K)].map((s) => r[s]));
      pos = rows(spos);
      stat = rows(sstat);
      held = K;
    } else {
      hk_ = sk;
      hv = sv;
      pos = spos;
      stat = sstat;
      held = Tc;
    }
    steps.push({ out, held: pos.map((p) => [...p]), stat: stat.map((s) => [...s]) });
    t0 += n;
  }
  return steps;
}
