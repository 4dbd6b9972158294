// Reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin,
// end]}, "__metadata__": {...}}, then the data; offsets are relative to the end of the header.
// Only the header is held in memory: tensors are read by byte range (seek + read), piece by
// piece, so a checkpoint is never in memory twice. A checkpoint is one model.safetensors or
// shards listed in model.safetensors.index.json. Every error names the file and the tensor.
// Not here: dtype conversion and upload (weights.ts), writing files (safetensors_write.ts).

import { ModelError } from "./errors.ts";
import { readJson } from "./config.ts";

/** Bytes per element of every safetensors dtype (so any valid header validates). */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The header may not exceed this (the format's own limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly file: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
}

// --- one file ----------------------------------------------------------------------------------

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly size: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
    readonly file: Deno.FsFile,
  ) {}

  /** Opens `path` and validates its header against the file's size. */
  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      throw new ModelError(`${path}: cannot open it (${(e as Error).message})`);
    }
    try {
      const size = (await file.stat()).size;
      if (size < 8) {
        throw new ModelError(
          `${path}: truncated: ${size} bytes, shorter than the 8-byte header length`,
        );
      }
      const prefix = await readAt(file, path, 0, 8);
      const n = Number(new DataView(prefix.buffer).getBigUint64(0, true));
      if (n > size - 8) {
        throw new ModelError(
          `${path}: header length ${n} runs past the end of the file (${size} bytes): truncated or not a safetensors file`,
        );
      }
      if (n > MAX_HEADER_BYTES) {
        throw new ModelError(
          `${path}: header length ${n} exceeds the format's limit ${MAX_HEADER_BYTES}`,
        );
      }
      const text = new TextDecoder().decode(await readAt(file, path, 8, n));
      let header: unknown;
      try {
        header = JSON.parse(text);
      } catch (e) {
        throw new ModelError(`${path}: the header is not valid JSON (${(e as Error).message})`);
      }
      const { tensors, metadata } = parseHeader(header, path, 8 + n, size);
      return new SafetensorsFile(path, size, tensors, metadata, file);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Bytes [from, to) of a tensor's data (relative to the tensor's first byte). */
  read(t: TensorInfo, from = 0, to = t.end - t.begin): Promise<Uint8Array> {
    if (from < 0 || to > t.end - t.begin || from > to) {
      throw new RangeError(
        `${this.path}: ${t.name}: byte range [${from}, ${to}) outside the tensor`,
      );
    }
    return readAt(this.file, this.path, t.begin + from, to - from);
  }

  close(): void {
    try {
      this.file.close();
    } catch {
      // already closed
    }
  }
}

function parseHeader(header: unknown, path: string, dataStart: number, size: number) {
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new ModelError(`${path}: the header is not a JSON object`);
  }
  const dataBytes = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (what: string): never => {
      throw new ModelError(`${path}: tensor "${name}": ${what}`);
    };
    if (typeof e !== "object" || e === null) bad("header entry is not an object");
    const item = DTYPE_BYTES[e.dtype as string];
    if (item === undefined) {
      bad(
        `unknown dtype ${JSON.stringify(e.dtype)}; expected one of ${
          Object.keys(DTYPE_BYTES).join(", ")
        }`,
      );
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const off = e.data_offsets;
    if (
      !Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) ||
      off[0] > off[1]
    ) {
      bad(`data_offsets ${JSON.stringify(off)} is not [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [b, end] = off as number[];
    if (end > dataBytes) {
      bad(
        `data_offsets [${b}, ${end}] run past the end of the data (${dataBytes} bytes): the file is truncated or corrupt`,
      );
    }
    const dims = shape as number[];
    const want = dims.reduce((a, d) => a * d, 1) * item;
    if (end - b !== want) {
      bad(
        `data_offsets span ${end - b} bytes, but ${e.dtype} [${dims.join(", ")}] is ${want} bytes`,
      );
    }
    tensors.set(name, {
      name,
      file: path,
      dtype: e.dtype as string,
      shape: dims,
      begin: dataStart + b,
      end: dataStart + end,
    });
  }
  return { tensors, metadata };
}

async function readAt(file: Deno.FsFile, path: string, at: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  await file.seek(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < n) {
    const r = await file.read(out.subarray(got));
    if (r === null) {
      throw new ModelError(`${path}: unexpected end of file reading bytes ${at} .. ${at + n}`);
    }
    got += r;
  }
  return out;
}

// --- a checkpoint: one file or shards ----------------------------------------------------------

export class Checkpoint {
  private constructor(
    /** What errors call the checkpoint: the single file, or the index. */
    readonly source: string,
    readonly files: readonly SafetensorsFile[],
    readonly index: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  /** DIR/model.safetensors, or the shards DIR/model.safetensors.index.json lists. */
  static async open(dir: string): Promise<Checkpoint> {
    const d = dir.replace(/\/$/, "");
    const single = `${d}/model.safetensors`;
    const indexPath = `${d}/model.safetensors.index.json`;
    if (await exists(single)) {
      const f = await SafetensorsFile.open(single);
      return new Checkpoint(single, [f], new Map([...f.tensors.keys()].map((k) => [k, f])));
    }
    if (!(await exists(indexPath))) {
      throw new ModelError(
        `${d}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)`,
      );
    }
    const raw = await readJson(indexPath) as { weight_map?: Record<string, unknown> };
    const map = raw?.weight_map;
    if (typeof map !== "object" || map === null) {
      throw new ModelError(`${indexPath}: expected an object with a "weight_map" of tensor → file`);
    }
    const byName = new Map<string, SafetensorsFile>();
    const opened = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shard] of Object.entries(map)) {
        if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) {
          throw new ModelError(
            `${indexPath}: "${name}" maps to ${JSON.stringify(shard)}, expected a file name`,
          );
        }
        let f = opened.get(shard);
        if (!f) {
          f = await SafetensorsFile.open(`${d}/${shard}`);
          opened.set(shard, f);
        }
        if (!f.tensors.has(name)) {
          throw new ModelError(
            `${indexPath}: "${name}" is listed in ${shard}, which does not hold it`,
          );
        }
        byName.set(name, f);
      }
    } catch (e) {
      for (const f of opened.values()) f.close();
      throw e;
    }
    return new Checkpoint(indexPath, [...opened.values()], byName);
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  /** The tensor's header entry, or a ModelError naming the checkpoint, tensor and expectation. */
  info(name: string, expected?: string): TensorInfo {
    const f = this.index.get(name);
    if (!f) {
      throw new ModelError(
        `${this.source}: tensor "${name}" is missing${expected ? ` (expected ${expected})` : ""}`,
      );
    }
    return f.tensors.get(name)!;
  }

  read(t: TensorInfo, from?: number, to?: number): Promise<Uint8Array> {
    return this.index.get(t.name)!.read(t, from, to);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new ModelError(`${path}: cannot stat it (${(e as Error).message})`);
  }
}
