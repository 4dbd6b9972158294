// A weight matrix on the GPU as the matmul and embedding kernels read it: W [N, K] row-major as
// Hugging Face stores it (N output features, K input features), in f32 or in f16 packed two per
// u32 word (unpack2x16float in the shader: no shader-f16 feature needed), cut by rows into
// chunks that each fit one storage binding. Kernels dispatch once per chunk.
// Not here: reading files (engine/model/safetensors.ts), the kernels themselves.

import type { Gpu } from "../gpu/mod.ts";
import { checkInt } from "../shapes.ts";

export type WeightDtype = "f32" | "f16";
export const WEIGHT_DTYPES: readonly WeightDtype[] = ["f32", "f16"];

export interface MatrixChunk {
  readonly buffer: GPUBuffer;
  /** First row of W held by this chunk. */
  readonly row0: number;
  /** Rows of W held by this chunk. */
  readonly rows: number;
}

export interface Matrix {
  readonly label: string;
  /** N: rows (output features). */
  readonly rows: number;
  /** K: columns (input features). */
  readonly cols: number;
  readonly dtype: WeightDtype;
  readonly chunks: readonly MatrixChunk[];
}

/** Bytes of one row of W in `dtype` (f16 rows need an even K: whole u32 words). */
export function rowBytes(label: string, cols: number, dtype: WeightDtype): number {
  checkInt(`${label}: columns`, cols);
  if (dtype === "f16" && cols % 2 !== 0) {
    throw new RangeError(
      `${label}: f16 storage packs two values per u32 word and needs an even column count, got ${cols}`,
    );
  }
  return dtype === "f16" ? cols * 2 : cols * 4;
}

/**
 * Row ranges of a [rows, cols] matrix cut into chunks of at most `maxBytes` each; a
 * RangeError naming the tensor and the limit when one row alone is larger.
 */
export function planChunks(
  label: string,
  rows: number,
  cols: number,
  dtype: WeightDtype,
  maxBytes: number,
): { row0: number; rows: number }[] {
  checkInt(`${label}: rows`, rows);
  const rb = rowBytes(label, cols, dtype);
  const per = Math.floor(maxBytes / rb);
  if (per < 1) {
    throw new RangeError(
      `${label}: one row is ${rb} bytes, more than one storage binding can hold (${maxBytes} bytes)`,
    );
  }
  const out: { row0: number; rows: number }[] = [];
  for (let r = 0; r < rows; r += per) out.push({ row0: r, rows: Math.min(per, rows - r) });
  return out;
}

/**
 * Allocates a [rows, cols] matrix in chunks of at most `maxBytes` (default: the device's
 * maxStorageBufferBindingSize). Contents are written with writeRows().
 */
export function allocMatrix(
  gpu: Gpu,
  label: string,
  rows: number,
  cols: number,
  dtype: WeightDtype,
  maxBytes: number = gpu.limits.maxStorageBufferBindingSize,
): Matrix {
  const plan = planChunks(label, rows, cols, dtype, maxBytes);
  const rb = rowBytes(label, cols, dtype);
  const chunks = plan.map((c, i) => ({
    ...c,
    buffer: gpu.createBuffer(plan.length > 1 ? `${label}[${i}]` : label, c.rows * rb),
  }));
  return { label, rows, cols, dtype, chunks };
}

/**
 * Writes whole rows row0 .. row0 + n - 1, already encoded in the matrix's dtype (f32 values or
 * f16 bit patterns), across chunk boundaries.
 */
export function writeRows(gpu: Gpu, m: Matrix, row0: number, data: Float32Array | Uint16Array) {
  const rb = rowBytes(m.label, m.cols, m.dtype);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % rb !== 0) {
    throw new RangeError(`${m.label}: ${bytes.byteLength} bytes is not a whole number of rows`);
  }
  const n = bytes.byteLength / rb;
  if (row0 < 0 || row0 + n > m.rows) {
    throw new RangeError(`${m.label}: rows ${row0} .. ${row0 + n - 1} outside [0, ${m.rows})`);
  }
  for (const c of m.chunks) {
    const a = Math.max(row0, c.row0);
    const b = Math.min(row0 + n, c.row0 + c.rows);
    if (a >= b) continue;
    gpu.write(c.buffer, bytes.subarray((a - row0) * rb, (b - row0) * rb), (a - c.row0) * rb);
  }
}

/** f32 values in the storage encoding of `dtype`: themselves, or f16 bit patterns (rounded). */
export function encodeWeights(data: Float32Array, dtype: WeightDtype): Float32Array | Uint16Array {
  if (dtype === "f32") return data;
  return new Uint16Array(new Float16Array(data).buffer);
}

/** A matrix holding `data` [rows, cols] (tests and random models). */
export function uploadMatrix(
  gpu: Gpu,
  label: string,
  data: Float32Array,
  rows: number,
  cols: number,
  dtype: WeightDtype = "f32",
  maxBytes?: number,
): Matrix {
  if (data.length !== rows * cols) {
    throw new RangeError(
      `${label}: expected [${rows}, ${cols}] = ${rows * cols} values, got ${data.length}`,
    );
  }
  const m = allocMatrix(gpu, label, rows, cols, dtype, maxBytes);
  writeRows(gpu, m, 0, encodeWeights(data, dtype));
  return m;
}

export function destroyMatrix(gpu: Gpu, m: Matrix): void {
  for (const c of m.chunks) gpu.destroy(c.buffer);
}

/** Bytes the matrix occupies on the GPU. */
export function matrixBytes(m: Matrix): number {
  return m.chunks.reduce((s, c) => s + c.buffer.size, 0);
}
