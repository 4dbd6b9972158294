// The safetensors reader and weight loader on good and bad files: F32/F16/BF16 round trips,
// sharded checkpoints, tensors streamed in pieces and cut into row chunks, and errors that name
// the file, the tensor and what was expected (truncated or corrupt headers, offsets out of
// range, missing tensors, dtype and shape mismatches, values beyond f16).

import assert from "node:assert/strict";
import { Checkpoint, SafetensorsFile } from "../engine/model/safetensors.ts";
import { safetensorsBytes, writeSafetensors } from "../engine/model/safetensors_write.ts";
import { toF32, toStorage } from "../engine/model/dtype.ts";
import { ModelError } from "../engine/model/errors.ts";
import { parseConfig } from "../engine/model/config.ts";
import { loadWeights } from "../engine/model/weights.ts";
import { Model } from "../engine/model/model.ts";
import { randn } from "../engine/reference/random.ts";
import { tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { testGpu } from "./helpers.ts";

async function tempFile(bytes: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kvlab-st-" });
  const path = `${dir}/model.safetensors`;
  await Deno.writeFile(path, bytes);
  return path;
}

/** A file with this header JSON (as text) and `data` bytes after it. */
function rawFile(header: string, data = new Uint8Array(0), lengthOverride?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthOverride ?? h.byteLength), true);
  out.set(h, 8);
  out.set(data, 8 + h.byteLength);
  return out;
}

async function rejectsNaming(bytes: Uint8Array, pattern: RegExp) {
  const path = await tempFile(bytes);
  await assert.rejects(
    () => SafetensorsFile.open(path),
    (e: Error) => {
      assert.ok(e instanceof ModelError, `a ModelError, got ${e}`);
      assert.ok(e.message.startsWith(path), `names the file: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
  await Deno.remove(path.replace(/\/[^/]+$/, ""), { recursive: true });
}

Deno.test("safetensors: F32, F16 and BF16 round trip; reads by byte range", async () => {
  const data = randn(5, 24, 3);
  const path = await tempFile(safetensorsBytes([
    { name: "a", shape: [4, 6], data, dtype: "F32" },
    { name: "b", shape: [24], data, dtype: "F16" },
    { name: "c", shape: [2, 12], data, dtype: "BF16" },
  ]));
  const f = await SafetensorsFile.open(path);
  const a = f.tensors.get("a")!, b = f.tensors.get("b")!, c = f.tensors.get("c")!;
  assert.deepEqual([a.dtype, a.shape, b.dtype, c.shape], ["F32", [4, 6], "F16", [2, 12]]);
  assert.deepEqual(toF32(await f.read(a), "F32"), data);
  assert.deepEqual(toF32(await f.read(b), "F16"), data.map((x) => Math.f16round(x)));
  const bf = toF32(await f.read(c), "BF16");
  bf.forEach((x, i) => assert.ok(Math.abs(x - data[i]) <= Math.abs(data[i]) / 128, `bf16 ${i}`));
  // rows 1..2 of a: bytes [24, 72)
  assert.deepEqual(toF32(await f.read(a, 24, 72), "F32"), data.subarray(6, 18));
  f.close();
  await Deno.remove(path.replace(/\/[^/]+$/, ""), { recursive: true });
});

Deno.test("safetensors: truncated and corrupt headers name the file and the fault", async () => {
  await rejectsNaming(
    new Uint8Array(5),
    /truncated: 5 bytes, shorter than the 8-byte header length/,
  );
  await rejectsNaming(
    rawFile("{}", new Uint8Array(0), 1000),
    /header length 1000 runs past the end of the file \(10 bytes\)/,
  );
  await rejectsNaming(rawFile('{"a": {"dtype": "F32",'), /the header is not valid JSON/);
  await rejectsNaming(rawFile("[1, 2]"), /the header is not a JSON object/);
  const entry = (e: unknown) => rawFile(JSON.stringify({ w: e }), new Uint8Array(16));
  await rejectsNaming(
    entry({ dtype: "F32", shape: [2, 2], data_offsets: [0, 32] }),
    /tensor "w": data_offsets \[0, 32\] run past the end of the data \(16 bytes\)/,
  );
  await rejectsNaming(
    entry({ dtype: "F32", shape: [3], data_offsets: [0, 16] }),
    /tensor "w": data_offsets span 16 bytes, but F32 \[3\] is 12 bytes/,
  );
  await rejectsNaming(
    entry({ dtype: "F12", shape: [4], data_offsets: [0, 16] }),
    /tensor "w": unknown dtype "F12"/,
  );
  await rejectsNaming(
    entry({ dtype: "F32", shape: [-4], data_offsets: [0, 16] }),
    /shape \[-4\] is not a list/,
  );
  await rejectsNaming(
    entry({ dtype: "F32", shape: [4], data_offsets: [16, 0] }),
    /data_offsets \[16,0\] is not \[begin, end\]/,
  );
  // a real file cut short: its offsets now run past the end
  const good = safetensorsBytes([{ name: "x", shape: [8], data: randn(1, 8) }]);
  await rejectsNaming(
    good.subarray(0, good.byteLength - 4),
    /tensor "x": data_offsets \[0, 32\] run past the end of the data \(28 bytes\)/,
  );
});

Deno.test("weights: a missing tensor, a dtype mismatch or a shape mismatch names file, tensor and expectation", async () => {
  const gpu = await testGpu();
  const config = parseConfig(tinyConfig());
  // missing
  const m1 = await writeRandomModel(tinyConfig(), { drop: ["model.layers.1.mlp.up_proj.weight"] });
  const c1 = await Checkpoint.open(m1.dir);
  await assert.rejects(
    () => loadWeights(gpu, c1, config),
    new RegExp(
      `${m1.dir}/model.safetensors: tensor "model.layers.1.mlp.up_proj.weight" is missing \\(expected \\[72, 64\\]\\)`,
    ),
  );
  c1.close();
  // lm_head missing when embeddings are not tied
  const m2 = await writeRandomModel(tinyConfig({ tie_word_embeddings: true }));
  const c2 = await Checkpoint.open(m2.dir);
  await assert.rejects(
    () => loadWeights(gpu, c2, config),
    /tensor "lm_head.weight" is missing \(expected \[97, 64\]\)/,
  );
  c2.close();
  // dtype: an I32 tensor where a float one is expected; shape: a transposed matrix
  const dir = m2.dir;
  const tensors = m2.names.map((name) => ({
    name,
    data: m2.tensor(name),
    shape: inferShape(name),
  }));
  await Deno.writeFile(
    `${dir}/model.safetensors`,
    editHeader(safetensorsBytes(tensors), (h) => h["model.norm.weight"].dtype = "I32"),
  );
  const c3 = await Checkpoint.open(dir);
  await assert.rejects(
    () => loadWeights(gpu, c3, parseConfig(tinyConfig({ tie_word_embeddings: true }))),
    new RegExp(
      `${dir}/model.safetensors: tensor "model.norm.weight": dtype I32, expected one of F32, F16, BF16`,
    ),
  );
  c3.close();
  const transposed = tensors.map((t) =>
    t.name === "model.layers.0.mlp.down_proj.weight" ? { ...t, shape: [72, 64] } : t
  );
  await writeSafetensors(`${dir}/model.safetensors`, transposed);
  const c4 = await Checkpoint.open(dir);
  await assert.rejects(
    () => loadWeights(gpu, c4, parseConfig(tinyConfig({ tie_word_embeddings: true }))),
    /tensor "model.layers.0.mlp.down_proj.weight": shape \[72, 64\], expected \[64, 72\] from config.json/,
  );
  c4.close();
  for (const d of [m1.dir, m2.dir]) await Deno.remove(d, { recursive: true });
});

/** The file with its header JSON edited (same data bytes). */
function editHeader(
  bytes: Uint8Array,
  edit: (h: Record<string, { dtype: string }>) => void,
): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  edit(header);
  return rawFile(JSON.stringify(header), bytes.slice(8 + n));
}

function inferShape(name: string): number[] {
  if (name.endsWith("layernorm.weight") || name === "model.norm.weight") return [64];
  if (name.endsWith("q_proj.weight")) return [64, 64];
  if (name.endsWith("k_proj.weight") || name.endsWith("v_proj.weight")) return [32, 64];
  if (name.endsWith("o_proj.weight")) return [64, 64];
  if (name.endsWith("gate_proj.weight") || name.endsWith("up_proj.weight")) return [72, 64];
  if (name.endsWith("down_proj.weight")) return [64, 72];
  return [97, 64]; // embed_tokens
}

Deno.test("checkpoints: no weights file, a bad index, an index pointing at the wrong shard", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvlab-ckpt-" });
  await assert.rejects(
    () => Checkpoint.open(dir),
    /no model.safetensors or model.safetensors.index.json/,
  );
  await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, "{not json");
  await assert.rejects(() => Checkpoint.open(dir), /model.safetensors.index.json: invalid JSON/);
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ weight_map: { a: "s1.safetensors" } }),
  );
  await assert.rejects(() => Checkpoint.open(dir), /s1.safetensors: cannot open it/);
  await writeSafetensors(`${dir}/s1.safetensors`, [{
    name: "b",
    shape: [2],
    data: new Float32Array(2),
  }]);
  await assert.rejects(
    () => Checkpoint.open(dir),
    /"a" is listed in s1.safetensors, which does not hold it/,
  );
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ weight_map: { b: "../s1.safetensors" } }),
  );
  await assert.rejects(
    () => Checkpoint.open(dir),
    /"b" maps to "..\/s1.safetensors", expected a file name/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("weights: streamed in small pieces and row chunks, bf16 beyond f16's range refused", async () => {
  const gpu = await testGpu();
  const m = await writeRandomModel(tinyConfig(), { dtype: "BF16", shards: 2 });
  const ckpt = await Checkpoint.open(m.dir);
  assert.equal(ckpt.files.length, 2);
  const w = await loadWeights(gpu, ckpt, parseConfig(tinyConfig()), {
    pieceBytes: 300, // 2 rows of a 64-column bf16 matrix per read
    maxBindingBytes: 1000, // 7 rows of f16 per chunk
  });
  assert.equal(w.embed.dtype, "f16");
  assert.equal(w.embed.chunks.length, Math.ceil(97 / 7));
  // the chunked, piecewise-uploaded table reads back as the bf16 values rounded to f16
  const got = await gpu.read(w.embed.chunks.map((c) => ({ buffer: c.buffer })));
  const flat = new Float32Array(97 * 64);
  let at = 0;
  for (const raw of got) {
    const v = Float32Array.from(new Float16Array(raw));
    flat.set(v, at);
    at += v.length;
  }
  assert.deepEqual(flat, m.tensor("model.embed_tokens.weight").map((x) => Math.f16round(x)));
  w.destroy();
  ckpt.close();
  assert.throws(
    () =>
      toStorage(
        new Uint8Array(new Uint16Array([0x4780, 0x3f80]).buffer),
        "BF16",
        "f16",
        'f: tensor "big"',
      ),
    /f: tensor "big": values up to 65536 do not fit f16 \(max 65504\); load the weights as f32/,
  );
  await Deno.remove(m.dir, { recursive: true });
});

Deno.test("Model.load: a folder without config.json or with a bad one", async () => {
  const gpu = await testGpu();
  const dir = await Deno.makeTempDir({ prefix: "kvlab-cfg-" });
  await assert.rejects(
    () => Model.load(gpu, dir),
    new RegExp(`${dir}/config.json: cannot read it`),
  );
  await Deno.writeTextFile(`${dir}/config.json`, "{");
  await assert.rejects(() => Model.load(gpu, dir), /config.json: invalid JSON/);
  await Deno.remove(dir, { recursive: true });
});
