// Reference versions of the model's per-token ops: plain loops, float64 accumulation. They are
// the specification the kernels in engine/kernels/ are tested against (embedding, rmsnorm,
// rope, matmul, swiglu, argmax) and the building blocks of the reference forward (model.ts).
// Shapes use the letters of engine/shapes.ts; every array is dense and row-major.

import { checkInt, checkLength } from "../shapes.ts";

/** out [N, C] = table [V, C] rows at ids [N]. */
export function embeddingRef(table: ArrayLike<number>, C: number, ids: readonly number[]) {
  checkInt("C (columns)", C);
  const V = table.length / C;
  const out = new Float32Array(ids.length * C);
  ids.forEach((id, n) => {
    checkInt(`ids[${n}]`, id, 0, V - 1);
    for (let c = 0; c < C; c++) out[n * C + c] = table[id * C + c];
  });
  return out;
}

/** out [rows, C] = x / sqrt(mean(x²) + eps) · w, per row of C. */
export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, C: number, eps: number) {
  checkLength("w [C]", w, [C]);
  const rows = x.length / C;
  checkInt("rows", rows);
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[r * C + c] * x[r * C + c];
    const inv = 1 / Math.sqrt(s / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = x[r * C + c] * inv * w[c];
  }
  return out;
}

/**
 * RoPE, rotate_half convention: x [B, T, heads, D] with token t of sequence b at position
 * pos[b] + t; (cos, sin) from `table` [P, D/2, 2] (engine/kernels/rope.ts ropeTable).
 */
export function ropeRef(
  x: ArrayLike<number>,
  table: ArrayLike<number>,
  pos: readonly number[],
  shape: { B: number; T: number; heads: number; D: number },
): Float32Array {
  const { B, T, heads, D } = shape;
  checkLength("x [B, T, heads, D]", x, [B, T, heads, D]);
  checkLength("pos [B]", pos, [B]);
  const half = D / 2;
  const out = Float32Array.from(x);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = pos[b] + t;
      for (let h = 0; h < heads; h++) {
        const at = ((b * T + t) * heads + h) * D;
        for (let i = 0; i < half; i++) {
          const c = table[(p * half + i) * 2], s = table[(p * half + i) * 2 + 1];
          const x1 = x[at + i], x2 = x[at + i + half];
          out[at + i] = x1 * c - x2 * s;
          out[at + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
  return out;
}

/** y [M, N] = x [M, K] · Wᵀ (W [N, K]) + bias [N] (optional) + add [M, N] (optional). */
export function matmulRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  bias?: ArrayLike<number>,
  add?: ArrayLike<number>,
): Float32Array {
  checkLength("x [M, K]", x, [M, K]);
  checkLength("W [N, K]", w, [N, K]);
  if (bias) checkLength("bias [N]", bias, [N]);
  if (add) checkLength("add [M, N]", add, [M, N]);
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      if (bias) s += bias[n];
      if (add) s += add[m * N + n];
      y[m * N + n] = s;
    }
  }
  return y;
}

/** silu(g) · u elementwise, silu(v) = v / (1 + e^−v). */
export function swigluRef(g: ArrayLike<number>, u: ArrayLike<number>): Float32Array {
  checkLength("up", u, [g.length]);
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
  return out;
}

/** Per row of logits [B, V]: the index of the largest value, the lowest on ties. */
export function argmaxRef(logits: ArrayLike<number>, V: number): number[] {
  const B = logits.length / V;
  checkInt("B (rows)", B);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[b * V + v] > logits[b * V + best]) best = v;
    out.push(best);
  }
  return out;
}

/** The pcg hash of random_fill.wgsl, on u32. */
function pcg(x: number): number {
  const s = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/**
 * Values first .. first + n - 1 of random_fill.wgsl's sequence for `seed`: offset + scale ·
 * (2u − 1) · sqrt(3), u = (pcg(seed ^ pcg(i)) >> 8) · 2^−24, in f32 arithmetic.
 */
export function randomFillRef(
  seed: number,
  n: number,
  scale: number,
  offset = 0,
  first = 0,
): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const u = f((pcg((seed ^ pcg(first + k)) >>> 0) >>> 8) / 16777216);
    const v = f(f(f(2 * u) - 1) * f(1.7320508));
    out[k] = f(f(offset) + f(f(scale) * v));
  }
  return out;
}
