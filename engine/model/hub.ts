// Model sources for `--model`: a local folder, or `hf:org/name[@revision]` resolved in the
// standard Hugging Face cache layout — $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub; models--org--name/refs/<revision> holds the commit and
// models--org--name/snapshots/<commit>/ the files — so models a user already has are found.
// Otherwise the files the runtime reads are downloaded from $HF_ENDPOINT (default
// https://huggingface.co) into that layout, honouring HF_TOKEN, resuming `.incomplete` partial
// files with HTTP Range requests, with a progress line on stderr. HF_HUB_OFFLINE=1 forbids the
// download. Files are stored directly in the snapshot folder (no blobs/ symlinks), which the
// Hugging Face libraries read too.
// Not here: `shape:` presets (presets.ts), pytorch_model.bin checkpoints.

import { ModelError } from "./errors.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export interface HubOptions {
  /** Environment to read (default Deno.env). */
  readonly env?: Env;
  /** Progress output (default: a line on stderr, rewritten in place). */
  readonly progress?: (line: string) => void;
}

export interface HubId {
  readonly org: string;
  readonly name: string;
  readonly revision: string;
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** Parses `hf:org/name[@revision]` (revision default "main"). */
export function parseHubId(spec: string): HubId {
  const m = /^hf:([^/@]+)\/([^/@]+)(?:@([^/@]+))?$/.exec(spec);
  if (!m || !PART.test(m[1]) || !PART.test(m[2]) || (m[3] !== undefined && !PART.test(m[3]))) {
    throw new RangeError(
      `--model: got "${spec}", expected hf:org/name or hf:org/name@revision (letters, digits, . _ -)`,
    );
  }
  return { org: m[1], name: m[2], revision: m[3] ?? "main" };
}

function envOf(o: HubOptions): Env {
  return o.env ?? Deno.env.toObject();
}

/** The hub cache folder the environment names. */
export function hubCache(env: Env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return `${env.HF_HOME}/hub`;
  if (!env.HOME) {
    throw new ModelError(
      "hf: cannot locate the Hugging Face cache: set HF_HUB_CACHE, HF_HOME or HOME",
    );
  }
  return `${env.HOME}/.cache/huggingface/hub`;
}

function repoDir(cache: string, id: HubId): string {
  return `${cache}/models--${id.org}--${id.name}`;
}

/** The cached snapshot folder for `id`, or undefined when it is not (fully) in the cache. */
export async function cachedSnapshot(id: HubId, env: Env): Promise<string | undefined> {
  const repo = repoDir(hubCache(env), id);
  let commit = id.revision;
  if (!COMMIT.test(commit)) {
    try {
      commit = (await Deno.readTextFile(`${repo}/refs/${id.revision}`)).trim();
    } catch {
      return undefined;
    }
  }
  const dir = `${repo}/snapshots/${commit}`;
  try {
    await Deno.stat(`${dir}/config.json`);
    return dir;
  } catch {
    return undefined;
  }
}

/** A local folder as is; `hf:` ids from the cache, downloaded into it when missing. */
export async function resolveModel(spec: string, o: HubOptions = {}): Promise<string> {
  if (!spec.startsWith("hf:")) return spec;
  const id = parseHubId(spec);
  const env = envOf(o);
  const hit = await cachedSnapshot(id, env);
  if (hit) return hit;
  if (env.HF_HUB_OFFLINE === "1" || env.HF_HUB_OFFLINE === "true") {
    throw new ModelError(
      `${spec} is not in the Hugging Face cache (${
        repoDir(hubCache(env), id)
      }) and HF_HUB_OFFLINE is set`,
    );
  }
  return await download(id, env, o.progress ?? stderrProgress());
}

// --- download ----------------------------------------------------------------------------------

/** Files the runtime reads besides the weights: required, then read when present. */
const REQUIRED = ["config.json", "tokenizer.json"];
const OPTIONAL = ["tokenizer_config.json", "generation_config.json", "chat_template.jinja"];

async function download(id: HubId, env: Env, progress: (line: string) => void): Promise<string> {
  const endpoint = (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/$/, "");
  const repo = `${id.org}/${id.name}`;
  const headers: Record<string, string> = {};
  if (env.HF_TOKEN) headers.authorization = `Bearer ${env.HF_TOKEN}`;
  const infoUrl = `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(id.revision)}`;
  const info = await fetchJson(infoUrl, headers, `hf:${repo}@${id.revision}`) as {
    sha?: unknown;
    siblings?: { rfilename?: unknown }[];
  };
  if (typeof info.sha !== "string" || !COMMIT.test(info.sha) || !Array.isArray(info.siblings)) {
    throw new ModelError(`${infoUrl}: expected {sha, siblings} from the hub API`);
  }
  const sha = info.sha;
  const files = new Set(info.siblings.map((s) => String(s.rfilename)));
  for (const f of REQUIRED) {
    if (!files.has(f)) {
      throw new ModelError(`hf:${repo}@${id.revision}: the repository has no ${f}`);
    }
  }
  const repoPath = repoDir(hubCache(env), id);
  const snapshot = `${repoPath}/snapshots/${sha}`;
  await Deno.mkdir(snapshot, { recursive: true });
  const get = (file: string) =>
    fetchFile(
      `${endpoint}/${repo}/resolve/${sha}/${file}`,
      `${snapshot}/${file}`,
      headers,
      progress,
    );
  for (const f of [...REQUIRED, ...OPTIONAL]) if (files.has(f)) await get(f);
  if (files.has("model.safetensors")) {
    await get("model.safetensors");
  } else if (files.has("model.safetensors.index.json")) {
    await get("model.safetensors.index.json");
    const index = JSON.parse(await Deno.readTextFile(`${snapshot}/model.safetensors.index.json`));
    const shards = new Set(Object.values(index.weight_map ?? {}).map(String));
    for (const s of shards) {
      if (!PART.test(s)) throw new ModelError(`hf:${repo}: index names a bad shard file "${s}"`);
      await get(s);
    }
  } else {
    throw new ModelError(
      `hf:${repo}@${id.revision}: no model.safetensors or model.safetensors.index.json in the repository`,
    );
  }
  progress(""); // ends the progress line
  await Deno.mkdir(`${repoPath}/refs`, { recursive: true });
  if (!COMMIT.test(id.revision)) await Deno.writeTextFile(`${repoPath}/refs/${id.revision}`, sha);
  return snapshot;
}

async function fetchJson(
  url: string,
  headers: Record<string, string>,
  what: string,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (e) {
    throw new ModelError(`${what}: cannot reach ${url} (${(e as Error).message})`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    const hint = res.status === 401 || res.status === 403
      ? " (set HF_TOKEN for gated or private models)"
      : "";
    throw new ModelError(`${what}: ${url} answered ${res.status}${hint}`);
  }
  return await res.json();
}

/**
 * Fetches url into `path`, through `path.incomplete`: an existing partial file is resumed with
 * a Range request (a server that ignores Range restarts it). Skips files already complete.
 */
async function fetchFile(
  url: string,
  path: string,
  headers: Record<string, string>,
  progress: (line: string) => void,
): Promise<void> {
  try {
    await Deno.stat(path);
    return;
  } catch {
    // not there yet
  }
  const part = `${path}.incomplete`;
  let have = 0;
  try {
    have = (await Deno.stat(part)).size;
  } catch {
    // fresh download
  }
  const h = { ...headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) };
  let res: Response;
  try {
    res = await fetch(url, { headers: h });
  } catch (e) {
    throw new ModelError(`cannot reach ${url} (${(e as Error).message})`);
  }
  if (res.status === 416 && have > 0) {
    await res.body?.cancel();
    await Deno.rename(part, path); // the partial file was already whole
    return;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new ModelError(`${url} answered ${res.status}`);
  }
  const resumed = res.status === 206;
  if (!resumed) have = 0;
  const total = have + Number(res.headers.get("content-length") ?? NaN);
  const file = await Deno.open(part, {
    write: true,
    create: true,
    append: resumed,
    truncate: !resumed,
  });
  const name = path.slice(path.lastIndexOf("/") + 1);
  let done = have;
  let last = 0;
  try {
    for await (const chunk of res.body) {
      let off = 0;
      while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
      done += chunk.byteLength;
      const now = performance.now();
      if (now - last > 200) {
        progress(progressLine(name, done, total));
        last = now;
      }
    }
  } finally {
    file.close();
  }
  progress(progressLine(name, done, total));
  if (Number.isFinite(total) && done !== total) {
    throw new ModelError(`${url}: got ${done} of ${total} bytes; run again to resume`);
  }
  await Deno.rename(part, path);
}

function progressLine(name: string, done: number, total: number): string {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  if (!Number.isFinite(total) || total <= 0) return `${name}: ${mib(done)} MiB`;
  const width = 30;
  const fill = Math.round((done / total) * width);
  return `${name} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${mib(done)}/${mib(total)} MiB`;
}

function stderrProgress(): (line: string) => void {
  const enc = new TextEncoder();
  let prev = "";
  return (line) => {
    if (line === "") {
      if (prev) Deno.stderr.writeSync(enc.encode("\n"));
      prev = "";
      return;
    }
    const name = line.split(/[ :]/)[0];
    const sameFile = prev.split(/[ :]/)[0] === name;
    Deno.stderr.writeSync(enc.encode(`${sameFile ? "\r" : prev ? "\n" : ""}${line}`));
    prev = line;
  };
}
