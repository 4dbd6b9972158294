// Shape letters, defined once and used in every signature and WGSL binding comment:
//   B   batch (sequences)
//   H   query heads            H = g · Hkv  (g: the GQA group size)
//   Hkv key/value heads
//   T   tokens (Tq queries, Tk keys; per-sequence lengths are ragged)
//   D   head dimension
// Tensors are dense, row-major, f32 unless stated, and laid out as written: q [B, H, D] means
// q[(b * H + h) * D + d].

/** Throws RangeError unless `value` is an integer in [min, max]. */
export function checkInt(name: string, value: number, min = 1, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER
      ? `an integer ≥ ${min}`
      : `an integer in [${min}, ${max}]`;
    throw new RangeError(`${name}: got ${value}, expected ${range}`);
  }
}

/** Query heads H and KV heads Hkv: H must be a positive multiple of Hkv. Returns g = H / Hkv. */
export function groupSize(H: number, Hkv: number): number {
  checkInt("H (query heads)", H);
  checkInt("Hkv (KV heads)", Hkv);
  if (H % Hkv !== 0) {
    throw new RangeError(
      `H=${H} query heads do not divide into Hkv=${Hkv} KV heads (H must be a multiple of Hkv)`,
    );
  }
  return H / Hkv;
}

/** Checks a typed array has exactly `dims` elements, naming the tensor and its shape. */
export function checkLength(name: string, data: { length: number }, dims: readonly number[]) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) {
    throw new RangeError(
      `${name}: expected [${dims.join(", ")}] = ${n} elements, got ${data.length}`,
    );
  }
}
