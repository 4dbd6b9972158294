// Checkpoint dtypes (F32, F16, BF16) to what the GPU stores: f32 values, or f16 bit patterns
// (the matmul and embedding kernels unpack them). Inputs are little-endian bytes as read from a
// safetensors file, starting at offset 0 of their buffer.

import type { WeightDtype } from "../kernels/matrix.ts";
import { ModelError } from "./errors.ts";

export const LOADABLE_DTYPES = ["F32", "F16", "BF16"] as const;
const F16_MAX = 65504;

/** The values as f32. */
export function toF32(bytes: Uint8Array, dtype: string): Float32Array {
  switch (dtype) {
    case "F32":
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case "F16":
      return Float32Array.from(
        new Float16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2),
      );
    case "BF16": {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
      const bits = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return new Float32Array(bits.buffer);
    }
  }
  throw new TypeError(`dtype ${dtype}: expected one of ${LOADABLE_DTYPES.join(", ")}`);
}

/**
 * The values in GPU storage form: f32 values or f16 bits. Converting to f16 refuses values
 * beyond its range (naming `what`) rather than store infinities.
 */
export function toStorage(
  bytes: Uint8Array,
  dtype: string,
  target: WeightDtype,
  what: string,
): Float32Array | Uint16Array {
  if (target === "f16" && dtype === "F16") {
    return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  }
  const f32 = toF32(bytes, dtype);
  if (target === "f32") return f32;
  let max = 0;
  for (let i = 0; i < f32.length; i++) {
    const a = Math.abs(f32[i]);
    if (a > max) max = a;
  }
  if (max > F16_MAX) {
    throw new ModelError(
      `${what}: values up to ${max} do not fit f16 (max ${F16_MAX}); load the weights as f32`,
    );
  }
  return new Uint16Array(new Float16Array(f32).buffer);
}
