// builtin:induction (engine/model/builtin/): the hand-built induction model.
//   - construction: byte-identical files on every build, in this process and in two fresh ones
//     racing to write the same cache folder (one folder, no temporaries left);
//   - the tokenizer: a real tokenizer.json through @huggingface/tokenizers; task text round-trips,
//     numbers are digit tokens that decode back glued, unknown words are <unk>;
//   - the margin arithmetic of induction.ts's header, computed over every position up to
//     max_position_embeddings;
//   - retrieval at 32K and 64K tokens on the CPU: layer 2 exactly (float64, the stored weights),
//     layer 1 at its target positions (the margins bound what that leaves out by 1e-9);
//   - retrieval on the GPU (the software adapter in CI): 100% on passkey and kv_retrieval at 256,
//     512 and 1024 tokens over several depths with a full fp16 cache; and a failure that must
//     appear: streaming_llm with a window that excludes the needle retrieves nothing;
//   - errors: unknown models and tasks the model cannot solve name what is supported.

import assert from "node:assert/strict";
import {
  BUILTIN_LABEL,
  BUILTIN_MODELS,
  builtinFiles,
  builtinNames,
  checkBuiltinTask,
  getBuiltin,
  writeBuiltin,
} from "../engine/model/builtin/mod.ts";
import {
  buildInduction,
  INDUCTION,
  inductionMargins,
  type InductionModel,
} from "../engine/model/builtin/induction.ts";
import { vocabulary } from "../engine/model/builtin/vocab.ts";
import { ropeInvFreq } from "../engine/model/config.ts";
import { generate } from "../engine/model/generate.ts";
import { Model } from "../engine/model/model.ts";
import { ModelTokenizer } from "../engine/model/tokenizer.ts";
import { getTask, retrievalTasks } from "../engine/tasks/registry.ts";
import type { Sample } from "../engine/tasks/types.ts";
import { testGpu } from "./helpers.ts";

const NAME = "induction";
/** Tokens of the passkey needle with a 7-digit key. */
const NEEDLE_TOKENS = 27;
const SPEC = getBuiltin(NAME);

/** The model folder, written once for this file into a temporary cache removed at exit. */
let folder: Promise<{ cache: string; dir: string }> | undefined;
function modelDir(): Promise<{ cache: string; dir: string }> {
  folder ??= (async () => {
    const cache = await Deno.makeTempDir({ prefix: "kvlab-builtin-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(cache, { recursive: true }));
    return { cache, dir: await writeBuiltin(NAME, cache) };
  })();
  return folder;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Samples of a task with the params the model needs. */
function samples(
  task: string,
  tok: ModelTokenizer,
  length: number,
  depths: number[],
  seed = 7,
): Promise<Sample[]> {
  return getTask(task).generate(seed, length, tok, { ...SPEC.taskParams[task], depths });
}

// --- construction -------------------------------------------------------------------------------

Deno.test("builtin:induction: two builds give byte-identical files", () => {
  const a = builtinFiles(NAME), b = builtinFiles(NAME);
  assert.deepEqual(Object.keys(a).sort(), [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
  ]);
  for (const name of Object.keys(a)) {
    const same = a[name].byteLength === b[name].byteLength &&
      a[name].every((x, i) => x === b[name][i]);
    assert.ok(same, `${name} differs between two builds`);
  }
  const m = buildInduction();
  const config = JSON.parse(new TextDecoder().decode(a["config.json"]));
  assert.equal(config.vocab_size, vocabulary().length);
  assert.equal(config.max_position_embeddings, INDUCTION.maxPositions);
  assert.equal(config.kvlab_builtin.label, BUILTIN_LABEL);
  assert.equal(m.tensors.length, 1 + 9 * INDUCTION.layers + 2);
  assert.ok(m.tensors.every((t) => t.data.every(Number.isFinite)), "every weight is finite");
});

Deno.test({
  name: "builtin:induction: two processes racing write one folder, identical to this build",
  fn: async () => {
    const cache = await Deno.makeTempDir({ prefix: "kvlab-builtin-race-" });
    try {
      const mod = new URL("../engine/model/builtin/mod.ts", import.meta.url).href;
      const code = `import { builtinDir } from ${JSON.stringify(mod)};\n` +
        `console.log(await builtinDir("${NAME}"));`;
      const run = () =>
        new Deno.Command("deno", {
          args: ["eval", "--no-check", code],
          env: { KVLAB_CACHE: cache },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const outs = await Promise.all([run(), run()]);
      const dirs = outs.map((o) => {
        assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
        return new TextDecoder().decode(o.stdout).trim();
      });
      assert.equal(dirs[0], dirs[1]);
      assert.match(dirs[0], new RegExp(`^${cache}/builtin/${NAME}-[0-9a-f]{16}$`));
      const entries = [...Deno.readDirSync(`${cache}/builtin`)].map((e) => e.name);
      assert.deepEqual(entries, [dirs[0].split("/").pop()], "no temporary folder is left behind");
      const files = builtinFiles(NAME);
      for (const [name, bytes] of Object.entries(files)) {
        assert.equal(
          await sha256(await Deno.readFile(`${dirs[0]}/${name}`)),
          await sha256(bytes),
          `${name} written by another process differs from this build`,
        );
      }
      assert.equal(await writeBuiltin(NAME, cache), dirs[0], "writing again finds the folder");
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

// --- tokenizer ------------------------------------------------------------------------------------

Deno.test("builtin:induction: the tokenizer round-trips task text; numbers are digit tokens", async () => {
  const { dir } = await modelDir();
  const tok = await ModelTokenizer.load(dir);
  const text = "The pass key is 0412907. Remember it. 0412907 is the pass key.\n" +
    "What is the pass key? The pass key is";
  const ids = tok.encode(text);
  const pieces = ids.map((i) => tok.tokenizer.id_to_token(i));
  assert.deepEqual(pieces.slice(0, 13), [
    "<s>",
    "The",
    "pass",
    "key",
    "is",
    "0",
    "##4",
    "##1",
    "##2",
    "##9",
    "##0",
    "##7",
    ".",
  ]);
  assert.ok(!ids.includes(tok.tokenizer.token_to_id("<unk>")!), "every word is in the vocabulary");
  assert.equal(tok.decode(ids), text.replace("\n", " "), "decodes to the text, newline as a space");
  // every task's text is made of the vocabulary
  for (const task of SPEC.supportedTasks) {
    const [s] = await samples(task, tok, 300, [0.5]);
    const all = tok.encode(s.prompt + s.answerPrefix);
    assert.ok(!all.includes(tok.tokenizer.token_to_id("<unk>")!), `${task}: no unknown words`);
    assert.equal(tok.decode(all), (s.prompt + s.answerPrefix).replace(/\s+/g, " ").trim());
  }
  assert.deepEqual(
    tok.encode("Paul Graham key 12").map((i) => tok.tokenizer.id_to_token(i)),
    ["<s>", "<unk>", "<unk>", "key", "1", "##2"],
  );
  assert.equal(tok.decode(tok.encode("12345 is")), "12345 is");
});

// --- the arithmetic -------------------------------------------------------------------------------

Deno.test("builtin:induction: the margins of the header hold at max_position_embeddings", () => {
  const m = inductionMargins();
  assert.equal(m.positions, INDUCTION.maxPositions);
  const need = m.lnN + 10; // one key outweighs all others by e^10 or more
  assert.ok(m.layer1Gap > need, `layer 1 gap ${m.layer1Gap} ≤ ${need}`);
  assert.ok(m.layer1FarGap > m.layer1Gap, "the nearest wrong offsets are the closest call");
  assert.ok(m.layer1Leak < 1e-8, `layer 1 leaks ${m.layer1Leak} of its weight`);
  assert.ok(m.gapInduction > need, `induction gap ${m.gapInduction} ≤ ${need}`);
  assert.ok(m.drift < 0.005, `content pairs turn ${m.drift} rad`);
  assert.ok(m.gapSink > 10, `the sink is ${m.gapSink} below a full match`);
  assert.ok(m.sinkOverPartial > 10, `the sink is ${m.sinkOverPartial} above a partial match`);
  // f16 keys move scores by ≤ 2^-11 of the signal: far inside both gaps
  assert.ok(m.layer1Signal * 2 ** -11 < 0.01 * m.layer1Gap);
  assert.ok(m.inductionSignal * 2 ** -11 < 0.01 * m.gapInduction);
  // the header's numbers
  assert.equal(m.layer1Gap.toFixed(1), "21.5");
  assert.equal(m.gapInduction.toFixed(1), "22.8");
});

// --- a CPU reference at long context -------------------------------------------------------------

/**
 * Greedy decoding with layer 2 computed exactly in float64 from the stored weights (RMSNorm, q, k,
 * v, RoPE at the true positions, softmax over every position, o_proj, final norm, lm_head) and
 * layer 1 taken at its targets: head o-1 of position j reads position j − o (position 0 when
 * j < o), as its margin (weight off target ≤ 1e-9, inductionMargins) makes it.
 */
function referenceDecode(m: InductionModel, prompt: readonly number[], steps: number): number[] {
  const n = INDUCTION;
  const { D, H, Hkv } = n;
  const half = D / 2;
  const C = m.layout.C;
  const V = m.vocab.length;
  const w = new Map(m.tensors.map((t) => [t.name, t.data]));
  const get = (name: string) => w.get(name)!;
  /** y = W[row0 .. row0 + rows) · x, over columns where x is non-zero. */
  const matvec = (W: Float32Array, cols: number, row0: number, rows: number, x: Float64Array) => {
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      const at = (row0 + r) * cols;
      for (let c = 0; c < x.length; c++) if (x[c] !== 0) s += W[at + c] * x[c];
      y[r] = s;
    }
    return y;
  };
  const invRms = (x: Float64Array) => {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[c] * x[c];
    return 1 / Math.sqrt(s / C + n.eps);
  };
  const embed = get("model.embed_tokens.weight");
  const e = (t: number) => Float64Array.from(embed.subarray(t * C, (t + 1) * C));
  const l0 = (p: string) => get(`model.layers.0.${p}.weight`);
  const l1 = (p: string) => get(`model.layers.1.${p}.weight`);
  // layer 1's output where head o-1 reads token t: o_proj (head o-1) · v_proj · norm1(e(t))
  const slot = Array.from({ length: n.window + 1 }, (_, o) =>
    Array.from({ length: V }, (_, t) => {
      if (o === 0) return e(t);
      const h = o - 1, hk = Math.floor(h / (H / Hkv));
      const x = e(t).map((v, c) => v * l0("input_layernorm")[c]);
      const v = matvec(l0("self_attn.v_proj"), C, hk * D, D, x.map((a) => a * invRms(e(t))));
      const out = new Float64Array(C);
      for (let r = 0; r < C; r++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += l0("self_attn.o_proj")[r * H * D + h * D + d] * v[d];
        out[r] = s;
      }
      return out;
    }));
  // layer 2 is linear in the residual up to the norm's scalar: project each slot once
  const w2 = l1("input_layernorm");
  const project = (W: Float32Array, row0: number) =>
    slot.map((ts) => ts.map((x) => matvec(W, C, row0, D, x.map((v, c) => v * w2[c]))));
  const kOf = project(l1("self_attn.k_proj"), 0); // KV head 0: the induction head's
  const vOf = project(l1("self_attn.v_proj"), 0);
  const qOf = project(l1("self_attn.q_proj"), 0); // head 0
  const inv = ropeInvFreq({ D, theta: n.ropeTheta });
  const rope = (x: Float64Array, pos: number) => {
    for (let p = 0; p < half; p++) {
      const a = Math.fround(pos * inv[p]);
      const c = Math.fround(Math.cos(a)), s = Math.fround(Math.sin(a));
      const x1 = x[p], x2 = x[p + half];
      x[p] = x1 * c - x2 * s;
      x[p + half] = x2 * c + x1 * s;
    }
    return x;
  };
  const tokens = [...prompt];
  /** Token read by slot o at position j (layer 1's target; position 0 before the start). */
  const read = (j: number, o: number) => tokens[Math.max(0, j - o)];
  /** y = scale · Σ_o of[o][read(j, o)] */
  const sum = (of: Float64Array[][], j: number, scale: number, y: Float64Array) => {
    y.fill(0);
    for (let o = 0; o <= n.window; o++) {
      const add = of[o][read(j, o)];
      for (let d = 0; d < y.length; d++) y[d] += add[d];
    }
    for (let d = 0; d < y.length; d++) y[d] *= scale;
    return y;
  };
  const keys: Float64Array[] = [], values: Float64Array[] = [];
  const out: number[] = [];
  const x = new Float64Array(C);
  for (let i = 0; i < prompt.length + steps; i++) {
    const r = invRms(sum(slot, i, 1, x));
    keys.push(rope(sum(kOf, i, r, new Float64Array(D)), i));
    values.push(sum(vOf, i, r, new Float64Array(D)));
    if (i < prompt.length - 1) continue;
    const q = rope(sum(qOf, i, r, new Float64Array(D)), i);
    const scores = keys.map((k) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[d] * k[d];
      return s / Math.sqrt(D);
    });
    const max = scores.reduce((a, b) => Math.max(a, b), -Infinity);
    const att = new Float64Array(D);
    let z = 0;
    scores.forEach((s, j) => {
      const p = Math.exp(s - max);
      z += p;
      for (let d = 0; d < D; d++) att[d] += p * values[j][d];
    });
    const o2 = l1("self_attn.o_proj");
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += o2[c * H * D + d] * att[d];
      x[c] += s / z;
    }
    const xn = x.map((v, c) => v * invRms(x) * get("model.norm.weight")[c]);
    const logits = matvec(get("lm_head.weight"), C, 0, V, xn);
    let best = 0;
    for (let t = 1; t < V; t++) if (logits[t] > logits[best]) best = t;
    out.push(best);
    if (out.length === steps) break;
    tokens.push(best);
  }
  return out;
}

Deno.test({
  name: "builtin:induction: retrieves at 32K and 64K tokens (CPU reference of layer 2)",
  fn: async () => {
    const { dir } = await modelDir();
    const tok = await ModelTokenizer.load(dir);
    const m = buildInduction();
    for (
      const [task, length, depth] of [
        ["passkey", 32768, 0.37],
        ["kv_retrieval", 32768, 0.81],
        ["passkey", SPEC.maxLength, 0.03],
        ["kv_retrieval", SPEC.maxLength, 0.5],
      ] as const
    ) {
      const [s] = await samples(task, tok, length, [depth], 11);
      const ids = tok.encode(s.prompt + s.answerPrefix);
      assert.ok(ids.length > length - 32 && ids.length <= length, `${task}: ${ids.length} tokens`);
      const pred = tok.decode(referenceDecode(m, ids, task === "passkey" ? 7 : 2));
      assert.equal(
        getTask(task).score(pred, s),
        1,
        `${task} at ${length}: "${pred}" for ${s.answers}`,
      );
    }
  },
});

Deno.test({
  name: "builtin:induction: it copies what the context says (CPU reference)",
  fn: async () => {
    const { dir } = await modelDir();
    const tok = await ModelTokenizer.load(dir);
    const m = buildInduction();
    const run = (prompt: string, answerPrefix: string, steps: number) =>
      tok.decode(referenceDecode(m, tok.encode(prompt + answerPrefix), steps));
    // kv_retrieval: another value written on the asked line is the one read back
    const [kv] = await samples("kv_retrieval", tok, 4096, [0.4], 5);
    const line = `key ${kv.meta.key}: value ${kv.answers[0]}\n`;
    const other = kv.answers[0] === "99" ? "98" : "99";
    assert.ok(kv.prompt.includes(line));
    const edited = kv.prompt.replace(line, `key ${kv.meta.key}: value ${other}\n`);
    assert.equal(run(edited, kv.answerPrefix, 2), other);
    // passkey: with the needle gone there is nothing to match; the sink ends the answer (EOS)
    const [pk] = await samples("passkey", tok, 4096, [0.6], 5);
    const key = pk.answers[0];
    const needle = `The pass key is ${key}. Remember it. ${key} is the pass key.\n`;
    assert.ok(pk.prompt.includes(needle));
    const none = run(pk.prompt.replace(needle, ""), pk.answerPrefix, 7);
    assert.equal(none, "", `no needle, yet the model said "${none}"`);
  },
});

// --- the GPU ------------------------------------------------------------------------------------

/** Greedy predictions for samples, one generate() call (a ragged batch) per call. */
/** The built-in model loaded (weights `dtype`, default auto) with its tokenizer, for `fn`. */
async function withInduction(
  fn: (model: Model, tok: ModelTokenizer) => Promise<void>,
  dtype?: "f16",
): Promise<void> {
  const { dir } = await modelDir();
  const tok = await ModelTokenizer.load(dir);
  const model = await Model.load(await testGpu(), dir, { dtype });
  try {
    await fn(model, tok);
  } finally {
    model.destroy();
  }
}

async function predict(
  model: Model,
  tok: ModelTokenizer,
  ss: readonly Sample[],
  o: Partial<Parameters<typeof generate>[2]> = {},
): Promise<string[]> {
  const prompts = ss.map((s) => tok.encode(s.prompt + s.answerPrefix));
  const steps = ss[0].task === "passkey" ? 7 : 2;
  const r = await generate(model, prompts, { maxNewTokens: steps, format: "fp16", ...o });
  return r.newIds.map((ids) => tok.decode(ids));
}

Deno.test({
  name: "builtin:induction: 100% on passkey and kv_retrieval at 256-1024 tokens, full fp16 cache",
  fn: () =>
    withInduction(async (model, tok) => {
      const grid: [number, number[]][] = [[256, [0, 0.5, 1]], [512, [0.2, 0.8]], [1024, [0.6]]];
      for (const task of SPEC.supportedTasks) {
        for (const [length, depths] of grid) {
          const ss = await samples(task, tok, length, depths);
          const preds = await predict(model, tok, ss);
          ss.forEach((s, i) => {
            assert.equal(
              getTask(task).score(preds[i], s),
              1,
              `${task} at ${length} tokens, depth ${s.meta.depth}: predicted "${preds[i]}", ` +
                `answer ${s.answers[0]}`,
            );
          });
        }
      }
    }),
});

Deno.test({
  name: "builtin:induction: f16 weights retrieve too",
  fn: () =>
    withInduction(async (model, tok) => {
      for (const task of SPEC.supportedTasks) {
        const ss = await samples(task, tok, 256, [0.3, 0.7], 3);
        const preds = await predict(model, tok, ss);
        ss.forEach((s, i) => assert.equal(getTask(task).score(preds[i], s), 1, preds[i]));
      }
    }, "f16"),
});

Deno.test({
  name: "builtin:induction: streaming_llm with a window that excludes the needle retrieves nothing",
  fn: () =>
    withInduction(async (model, tok) => {
      const ss = await samples("passkey", tok, 256, [0.1, 0.3, 0.5]);
      const budget = 64, sinks = 4;
      const full = await predict(model, tok, ss);
      ss.forEach((s, i) => assert.equal(getTask("passkey").score(full[i], s), 1, full[i]));
      for (const s of ss) {
        // the window (the last budget − sinks tokens) starts after the needle's last token
        const T = tok.encode(s.prompt + s.answerPrefix).length;
        const needleEnd = (s.meta.needleTokenIndex as number) + NEEDLE_TOKENS;
        assert.ok(T - (budget - sinks) > needleEnd, "the needle lies outside the window");
        const [pred] = await predict(model, tok, [s], {
          method: "streaming_llm",
          params: { sinks },
          budget: { budgetTokens: budget },
        });
        // the first token comes from the dense prefill; then nothing matches
        assert.equal(getTask("passkey").score(pred, s), 0, `streaming_llm retrieved: ${pred}`);
        assert.equal(pred, s.answers[0][0], "the answer stops after the prefill's digit");
      }
    }),
});

// --- the public face and its errors ----------------------------------------------------------------

Deno.test("builtin:induction: its record, and errors that name what is supported", () => {
  assert.deepEqual(builtinNames(), ["induction"]);
  assert.equal(BUILTIN_MODELS.induction, SPEC);
  assert.equal(SPEC.label, "synthetic mechanism model, not an LLM");
  for (const task of SPEC.supportedTasks) assert.ok(retrievalTasks().includes(task), task);
  assert.ok(SPEC.maxLength >= 32768 && SPEC.maxLength < INDUCTION.maxPositions);
  checkBuiltinTask(NAME, "passkey");
  checkBuiltinTask(NAME, "kv_retrieval");
  assert.throws(
    () => checkBuiltinTask(NAME, "niah_single_1"),
    (e: Error) =>
      e instanceof RangeError &&
      e.message ===
        'builtin:induction cannot solve task "niah_single_1"; it supports: passkey, kv_retrieval',
  );
  assert.throws(
    () => getBuiltin("gpt5"),
    /unknown built-in model "gpt5"; expected one of builtin:induction/,
  );
  assert.throws(() => getBuiltin("toString"), RangeError);
});
