// Helpers for the HTTP API tests: a throwaway data dir and app, requests through app.request(),
// a Server-Sent Events reader, and a tiny kernel spec that runs in a second or two on a
// software adapter.

import { type AppOptions, createApp, type KvlabApp } from "../server/app.ts";

/** One attention layer H=4, Hkv=2, D=32 at T=64: the smallest kernel run. */
export const TINY = {
  suite: "kernels",
  preset: "smoke",
  formats: ["fp16"],
  lengths: [64],
  heads: 4,
  kvHeads: 2,
  headDim: 32,
  reps: 1,
  warmup: 0,
  copyMiB: 1,
  needleDepths: [],
  methods: [],
} as const;

/**
 * Four cells: one quick (T=64), then three whose inputs and float64 reference take a few hundred
 * milliseconds of CPU each (B=32 sequences of 2K tokens), on any GPU. A run of it is still going
 * when a test reacts to its first record, so stopping it mid-run does not depend on how fast the
 * adapter is.
 */
export const LONGER = {
  ...TINY,
  lengths: [64, 2048, 2080, 2112],
  batchSize: 32,
};
export const LONGER_CELLS = 4;

const madeDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of madeDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  }
});

/** A temporary folder, removed when the test process ends. */
export function tempDir(prefix = "kvlab-server-"): string {
  const dir = Deno.makeTempDirSync({ prefix });
  madeDirs.push(dir);
  return dir;
}

/**
 * An app on a fresh data dir (removed on close) or the given one, an empty HF cache, and no GPU
 * runs unless autostart is set.
 */
export function testApp(o: Partial<AppOptions> = {}): KvlabApp & { dataDir: string } {
  const dataDir = o.dataDir ?? tempDir();
  const kv = createApp({
    autostart: false,
    env: { HF_HUB_CACHE: `${dataDir}/hf-empty` },
    cancelGraceMs: 20_000,
    ...o,
    dataDir,
  });
  const close = async () => {
    await kv.close();
    if (o.dataDir === undefined) {
      try {
        Deno.removeSync(dataDir, { recursive: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  };
  return { ...kv, close, dataDir };
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  // deno-lint-ignore no-explicit-any
  readonly body: any;
  readonly text: string;
}

/** app.request() with a JSON body (objects are serialised; strings sent as they are). */
export async function call(
  kv: KvlabApp,
  method: string,
  path: string,
  o: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const body = o.body === undefined
    ? undefined
    : typeof o.body === "string"
    ? o.body
    : JSON.stringify(o.body);
  const res = await kv.app.request(path, {
    method,
    body,
    headers: {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...o.headers,
    },
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export interface SseEvent {
  readonly event: string;
  readonly id?: string;
  // deno-lint-ignore no-explicit-any
  readonly data: any;
}

/**
 * Reads SSE events until `stop(event)` is true or the stream ends; fails after `ms`. The body
 * is cancelled before returning, so no stream is left open.
 */
export async function readEvents(
  res: Response,
  stop: (e: SseEvent, all: SseEvent[]) => boolean,
  ms = 60_000,
): Promise<SseEvent[]> {
  if (!res.body) throw new Error("no body");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`no matching event within ${ms} ms; got ${events.map((e) => e.event)}`)),
      ms,
    );
  });
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) return events;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (block.startsWith(":")) continue;
        let event = "message";
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("id: ")) id = line.slice(4);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        const e = { event, id, data: JSON.parse(data.join("\n")) };
        events.push(e);
        if (stop(e, events)) return events;
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}

/** Follows a run's events to `end`. */
export async function followToEnd(kv: KvlabApp, id: string, ms = 60_000): Promise<SseEvent[]> {
  const res = await kv.app.request(`/v1/runs/${id}/events`);
  if (res.status !== 200) throw new Error(`events: ${res.status} ${await res.text()}`);
  return await readEvents(res, (e) => e.event === "end", ms);
}

/** Lines of a records.jsonl. */
export function fileRecords(dataDir: string, id: string): Record<string, unknown>[] {
  try {
    return Deno.readTextFileSync(`${dataDir}/results/${id}/records.jsonl`).split("\n")
      .filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** The cell a kernel record is: its kind, format, length, depth and method budget. */
export function cellOf(r: Record<string, unknown>): string {
  return JSON.stringify([
    r.kind,
    r.format,
    r.contextLength,
    r.needleDepth,
    r.method,
    r.ratio,
    r.budgetTokens,
  ]);
}
