// Writes a safetensors file from f32 arrays, converting to F32, F16 or BF16 (round to nearest
// even). For tests (random models, corrupt files) and small fixtures; not a streaming writer.

export type WriteDtype = "F32" | "F16" | "BF16";

export interface WriteTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly dtype?: WriteDtype;
}

/** The bytes of `data` in `dtype`. */
export function encodeTensor(data: Float32Array, dtype: WriteDtype): Uint8Array {
  if (dtype === "F32") return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (dtype === "F16") return new Uint8Array(new Float16Array(data).buffer);
  const bits = new Uint32Array(Float32Array.from(data).buffer);
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16; // round to nearest even
  }
  return new Uint8Array(out.buffer);
}

/** The whole file as bytes: header (padded to 8 bytes with spaces) then the data. */
export function safetensorsBytes(tensors: readonly WriteTensor[]): Uint8Array {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new RangeError(
        `${t.name}: shape [${t.shape}] is ${n} values, data has ${t.data.length}`,
      );
    }
    const dtype = t.dtype ?? "F32";
    const bytes = encodeTensor(t.data, dtype);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [at, at + bytes.byteLength] };
    parts.push(bytes);
    at += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20); // space padding
  head.set(json);
  const out = new Uint8Array(8 + head.byteLength + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let o = 8 + head.byteLength;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

export async function writeSafetensors(
  path: string,
  tensors: readonly WriteTensor[],
): Promise<void> {
  await Deno.writeFile(path, safetensorsBytes(tensors));
}
