// Built-in models: made in TypeScript, needing no download and no training, written once as an
// ordinary Hugging Face folder (config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json) and loaded through the same path as any model (Model.load,
// ModelTokenizer.load). Today: builtin:induction (induction.ts), the hand-built induction circuit.
// Not here: how a model is chosen by name (source.ts), the benchmark runner.

import { ModelError } from "../errors.ts";
import { safetensorsBytes } from "../safetensors_write.ts";
import { buildInduction, INDUCTION } from "./induction.ts";
import { tokenizerConfig, tokenizerJson } from "./vocab.ts";

export const BUILTIN_LABEL = "synthetic mechanism model, not an LLM";

export interface BuiltinModel {
  readonly name: string;
  readonly description: string;
  readonly label: typeof BUILTIN_LABEL;
  /** Tasks (engine/tasks registry names) it solves with a full cache. */
  readonly supportedTasks: readonly string[];
  /** Task params the model needs per task, merged by the runner (the spec's own come after). */
  readonly taskParams: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Longest task length (prompt tokens) it claims, leaving room for the answer. */
  readonly maxLength: number;
}

export const BUILTIN_MODELS: Readonly<Record<string, BuiltinModel>> = Object.freeze({
  induction: Object.freeze({
    name: "induction",
    description: "a 2-layer Llama built by hand: previous-token heads feeding an induction " +
      "head that copies what followed the context's earlier occurrence; exact retrieval up to " +
      "64K tokens",
    label: BUILTIN_LABEL,
    supportedTasks: Object.freeze(["passkey", "kv_retrieval"]),
    taskParams: Object.freeze({
      // the noise haystack is made of the model's words; essays would be unknown words
      passkey: Object.freeze({ haystack: "noise" }),
      // the 7-token match window covers the key, "value :" and the value digits emitted so far
      kv_retrieval: Object.freeze({ keyDigits: 4, valueDigits: 2 }),
    }),
    // max_position_embeddings less passkey's 256 new tokens
    maxLength: INDUCTION.maxPositions - 256,
  }),
});

export function builtinNames(): string[] {
  return Object.keys(BUILTIN_MODELS);
}

/** The built-in model of a name; a RangeError naming the known ones otherwise. */
export function getBuiltin(name: string): BuiltinModel {
  const m = Object.hasOwn(BUILTIN_MODELS, name) ? BUILTIN_MODELS[name] : undefined;
  if (!m) {
    throw new RangeError(
      `unknown built-in model "${name}"; expected one of ${
        builtinNames().map((n) => `builtin:${n}`).join(", ")
      }`,
    );
  }
  return m;
}

/** Throws a RangeError naming the supported tasks unless the model solves `task`. */
export function checkBuiltinTask(name: string, task: string): void {
  const m = getBuiltin(name);
  if (!m.supportedTasks.includes(task)) {
    throw new RangeError(
      `builtin:${name} cannot solve task "${task}"; it supports: ${m.supportedTasks.join(", ")}`,
    );
  }
}

// --- the folder --------------------------------------------------------------------------------

/** The files of a built-in model's folder, by name (induction is the only one). */
export function builtinFiles(name: string): Record<string, Uint8Array> {
  getBuiltin(name);
  const m = buildInduction();
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");
  return {
    "config.json": json(m.config),
    "model.safetensors": safetensorsBytes(m.tensors),
    "tokenizer.json": json(tokenizerJson(m.vocab)),
    "tokenizer_config.json": json(tokenizerConfig(getBuiltin(name).maxLength)),
  };
}

/** $KVLAB_CACHE, else $XDG_CACHE_HOME/kvlab, else $HOME/.cache/kvlab. */
export function kvlabCache(): string {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const own = env("KVLAB_CACHE");
  if (own) return own.replace(/\/+$/, "");
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg.replace(/\/+$/, "")}/kvlab`;
  const home = env("HOME");
  if (!home) {
    throw new ModelError("builtin models: cannot locate a cache folder: set KVLAB_CACHE or HOME");
  }
  return `${home}/.cache/kvlab`;
}

/** Hex SHA-256 of the files (names and bytes, in name order). */
async function contentHash(files: Record<string, Uint8Array>): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const name of Object.keys(files).sort()) {
    const head = enc.encode(`${name}\0${files[name].byteLength}\0`);
    parts.push(head, files[name]);
  }
  const all = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const written = new Map<string, Promise<string>>();

/**
 * Writes (once, content-addressed: <cache>/builtin/<name>-<hash>/, the cache being kvlabCache())
 * the model's folder and returns its path. Idempotent; processes racing each write a temporary
 * folder and rename it into place, and a loser removes its own.
 */
export function builtinDir(name: string): Promise<string> {
  getBuiltin(name);
  let p = written.get(name);
  if (!p) {
    p = writeBuiltin(name, kvlabCache());
    written.set(name, p);
    p.catch(() => written.delete(name));
  }
  return p;
}

/** builtinDir under a given cache folder (no memo): <cache>/builtin/<name>-<hash>/. */
export async function writeBuiltin(name: string, cache: string): Promise<string> {
  const files = builtinFiles(name);
  const hash = (await contentHash(files)).slice(0, 16);
  const root = `${cache.replace(/\/+$/, "")}/builtin`;
  const dir = `${root}/${name}-${hash}`;
  if (await complete(dir, files)) return dir;
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: `.${name}-${hash}.tmp-` });
  try {
    for (const [file, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${tmp}/${file}`, bytes);
    }
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // another process got there first: its folder holds the same bytes
      if (!(await complete(dir, files))) {
        throw new ModelError(
          `builtin:${name}: cannot write ${dir} (${(e as Error).message}); if it exists ` +
            "without every file, remove it",
        );
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** Whether `dir` holds every file with the right size (a folder is renamed into place whole). */
async function complete(dir: string, files: Record<string, Uint8Array>): Promise<boolean> {
  for (const [file, bytes] of Object.entries(files)) {
    try {
      if ((await Deno.stat(`${dir}/${file}`)).size !== bytes.byteLength) return false;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }
  return true;
}
