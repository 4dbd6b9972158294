// Reading results folders for the site: every run folder under each results root (or a root that
// is itself a run folder), with spec.json, records.jsonl and summary.json as docs/results.md
// describes them. Records are checked field by field against their suite and kind; what is wrong
// is reported as `FILE:LINE: ...` and the run is kept, marked failed, so the other runs still
// render. Not here: anything derived from the records (analysis.ts) or drawn (plots.ts).
//
// Rules, matching the bench's own reader (engine/bench/results.ts):
// - a torn last line (no final newline, does not parse: a crash mid-write) is dropped with a
//   warning;
// - any other malformed line, or a record missing a field its kind needs, is an error: the run's
//   records are not used (the whole file is rejected, as the bench refuses it), its page shows
//   the error;
// - records of a suite or kind the site does not know are kept as `other` records: they appear
//   in their run's records table and downloads, and nowhere else yet.
// Known kinds: kernels/decode, kernels/needle, model/generate, tasks/sample, tasks/maxBatch.

import { basename, relative, resolve } from "node:path";

// --- record types ------------------------------------------------------------------------------

export interface Adapter {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  /** True for a software (CPU) adapter such as llvmpipe: timings are not meaningful. */
  readonly fallback: boolean;
}

/** What every record carries, whatever its kind. */
export interface Envelope {
  /** Slug of the run this record came from (Run.slug). */
  readonly run: string;
  readonly file: string;
  readonly line: number;
  readonly suite: string;
  readonly kind: string;
  readonly adapter: Adapter;
  /** False on a software adapter: timings are not representative. */
  readonly representative: boolean;
  readonly commit: string;
  readonly deno: string;
  readonly kvlab: string;
  readonly timestamp: string;
  /** The record as written. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Kernel suite, kind decode: one cache format × context length. */
export interface DecodeRec extends Envelope {
  readonly kind: "decode";
  readonly format: string;
  readonly bits: number;
  readonly contextLength: number;
  readonly batchSize: number;
  readonly relError: number;
  readonly kvBytes: number;
  readonly kvBytesFp16: number;
  readonly compression: number;
  readonly ms: number;
  readonly gbPerSec: number;
  readonly bandwidthFraction: number;
  readonly peakGpuBytes: number;
}

/** Kernel suite, kind needle: one format (and eviction method, budget) × length × depth. */
export interface NeedleRec extends Envelope {
  readonly kind: "needle";
  readonly format: string;
  readonly bits: number;
  /** "full" keeps every token. */
  readonly method: string;
  readonly ratio?: number;
  readonly budgetTokens?: number;
  readonly needleKept: boolean;
  readonly contextLength: number;
  readonly needleDepth: number;
  readonly needleCosine: number;
  readonly retrieved: boolean;
  readonly kvBytes: number;
  readonly kvBytesFp16: number;
}

/** Model suite, kind generate: one model × format × prompt length. */
export interface GenerateRec extends Envelope {
  readonly kind: "generate";
  readonly model: string;
  readonly format: string;
  readonly method: string;
  readonly contextLength: number;
  readonly batchSize: number;
  readonly newTokens: number;
  readonly kvBytes: number;
  readonly peakGpuBytes: number;
  readonly ttftMs: number;
  readonly prefillTokensPerSec: number;
  readonly decodeMsPerStep: number;
  readonly decodeTokensPerSec: number;
  readonly rooflineFraction: number;
}

/** What task-runner records say of their model (docs/results.md, task-suite records). */
export interface TaskModelFields {
  readonly model: string;
  /** builtin, shape, hub or folder. */
  readonly modelKind: string;
  /** "synthetic mechanism model, not an LLM", "random weights", or null for a real model. */
  readonly modelLabel: string | null;
  readonly method: string;
  /** The method's parameters, defaults filled in ({} for full). */
  readonly params: Readonly<Record<string, number>>;
  readonly format: string;
  readonly ratio?: number;
  readonly budgetTokens?: number;
  readonly contextLength: number;
  readonly promptTokens: number;
  /** True where a method's memory is computed rather than allocated (none today). */
  readonly simulated?: boolean;
}

/** Task suite, kind sample: one task sample under one method variant. */
export interface SampleRec extends Envelope, TaskModelFields {
  readonly kind: "sample";
  readonly task: string;
  /** ruler, retrieval, longbench or fidelity. */
  readonly taskFamily: string;
  readonly sampleId: string;
  /** Grid tasks: the requested needle depth (0..1); null otherwise. */
  readonly depth: number | null;
  readonly needleDepth: number | null;
  readonly batchSize: number;
  /** The task's primary metric in [0, 1]; null where accuracy is not applicable. */
  readonly score: number | null;
  readonly methodMode: string;
  readonly keptTokens: number;
  readonly kvBytes: number;
  readonly kvBytesFp16: number;
  readonly compression: number;
  readonly nominalRatio: number;
  readonly peakGpuBytes: number;
  readonly ttftMs: number;
  readonly decodeTokensPerSec: number;
}

/** Task suite, kind maxBatch: the largest batch within a memory budget, and its speed. */
export interface MaxBatchRec extends Envelope, TaskModelFields {
  readonly kind: "maxBatch";
  readonly memoryBudget: number;
  readonly maxBatch: number;
  readonly fixedBytes: number;
  readonly bytesPerSequence: number;
  readonly peakGpuBytes: number;
  readonly kvBytes: number;
  readonly decodeTokensPerSec: number;
  readonly ttftMs: number;
  readonly newTokens: number;
}

/** A record of a suite or kind the site does not chart yet. */
export interface OtherRec extends Envelope {
  readonly kind: string;
}

export type Rec = DecodeRec | NeedleRec | GenerateRec | SampleRec | MaxBatchRec | OtherRec;

export const isDecode = (r: Rec): r is DecodeRec => r.suite === "kernels" && r.kind === "decode";
export const isNeedle = (r: Rec): r is NeedleRec => r.suite === "kernels" && r.kind === "needle";
export const isGenerate = (r: Rec): r is GenerateRec =>
  r.suite === "model" && r.kind === "generate";
export const isSample = (r: Rec): r is SampleRec => r.suite === "tasks" && r.kind === "sample";
export const isMaxBatch = (r: Rec): r is MaxBatchRec =>
  r.suite === "tasks" && r.kind === "maxBatch";

// --- field checks ------------------------------------------------------------------------------

/** "number|null" and "string|null" allow null; "object" is a JSON object (not an array). */
type FieldType = "number" | "string" | "boolean" | "object" | "number|null" | "string|null";
/** name → type; a trailing "?" on the name marks an optional field. */
type Fields = Readonly<Record<string, FieldType>>;

const ENVELOPE: Fields = {
  "commit?": "string",
  "deno?": "string",
  "kvlab?": "string",
  "timestamp?": "string",
  representative: "boolean",
};

const KINDS: Readonly<Record<string, Fields>> = {
  "kernels/decode": {
    format: "string",
    bits: "number",
    contextLength: "number",
    batchSize: "number",
    relError: "number",
    kvBytes: "number",
    kvBytesFp16: "number",
    compression: "number",
    ms: "number",
    gbPerSec: "number",
    bandwidthFraction: "number",
    peakGpuBytes: "number",
  },
  "kernels/needle": {
    format: "string",
    bits: "number",
    method: "string",
    "ratio?": "number",
    "budgetTokens?": "number",
    needleKept: "boolean",
    contextLength: "number",
    needleDepth: "number",
    needleCosine: "number",
    retrieved: "boolean",
    kvBytes: "number",
    kvBytesFp16: "number",
  },
  "model/generate": {
    model: "string",
    format: "string",
    method: "string",
    contextLength: "number",
    batchSize: "number",
    newTokens: "number",
    kvBytes: "number",
    peakGpuBytes: "number",
    ttftMs: "number",
    prefillTokensPerSec: "number",
    decodeMsPerStep: "number",
    decodeTokensPerSec: "number",
    rooflineFraction: "number",
  },
};

/** Fields every task-runner record carries (model and method variant). */
const TASK_COMMON: Fields = {
  model: "string",
  modelKind: "string",
  modelLabel: "string|null",
  method: "string",
  params: "object",
  format: "string",
  "ratio?": "number",
  "budgetTokens?": "number",
  contextLength: "number",
  promptTokens: "number",
  "simulated?": "boolean",
};

const TASK_KINDS: Readonly<Record<string, Fields>> = {
  "tasks/sample": {
    ...TASK_COMMON,
    task: "string",
    taskFamily: "string",
    sampleId: "string",
    depth: "number|null",
    needleDepth: "number|null",
    batchSize: "number",
    score: "number|null",
    methodMode: "string",
    keptTokens: "number",
    kvBytes: "number",
    kvBytesFp16: "number",
    compression: "number",
    nominalRatio: "number",
    peakGpuBytes: "number",
    ttftMs: "number",
    decodeTokensPerSec: "number",
  },
  "tasks/maxBatch": {
    ...TASK_COMMON,
    memoryBudget: "number",
    maxBatch: "number",
    fixedBytes: "number",
    bytesPerSequence: "number",
    peakGpuBytes: "number",
    kvBytes: "number",
    decodeTokensPerSec: "number",
    ttftMs: "number",
    newTokens: "number",
  },
};

/** The fields a known suite/kind needs, or undefined for a kind the site does not chart. */
export function fieldsOf(suite: string, kind: string): Fields | undefined {
  return KINDS[`${suite}/${kind}`] ?? TASK_KINDS[`${suite}/${kind}`];
}

function typeOk(type: FieldType, value: unknown): boolean {
  switch (type) {
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "number|null":
      return value === null || (typeof value === "number" && Number.isFinite(value));
    case "string|null":
      return value === null || typeof value === "string";
  }
}

function typeText(type: FieldType): string {
  switch (type) {
    case "number":
      return "a finite number";
    case "number|null":
      return "a finite number or null";
    case "string|null":
      return "a string or null";
    case "object":
      return "an object";
    default:
      return `a ${type}`;
  }
}

function checkFields(raw: Record<string, unknown>, fields: Fields): string[] {
  const problems: string[] = [];
  for (const [key, type] of Object.entries(fields)) {
    const optional = key.endsWith("?");
    const name = optional ? key.slice(0, -1) : key;
    const value = raw[name];
    if (value === undefined && optional) continue;
    if (!typeOk(type, value)) {
      problems.push(
        `${name}: expected ${typeText(type)}, got ${
          value === undefined ? "nothing" : JSON.stringify(value)
        }`,
      );
    }
  }
  return problems;
}

function adapterOf(raw: unknown): Adapter | string {
  if (!raw || typeof raw !== "object") return "adapter: expected an object";
  const a = raw as Record<string, unknown>;
  if (typeof a.description !== "string") return "adapter.description: expected a string";
  if (typeof a.fallback !== "boolean") return "adapter.fallback: expected a boolean";
  return {
    vendor: String(a.vendor ?? ""),
    architecture: String(a.architecture ?? ""),
    description: a.description,
    fallback: a.fallback,
  };
}

const UNKNOWN_ADAPTER: Adapter = {
  vendor: "",
  architecture: "",
  description: "unknown adapter",
  fallback: false,
};

/**
 * Turns one parsed line into a typed record, or returns what is wrong with it. Records written
 * before `kind` existed are kernel `decode` records (docs/results.md).
 */
export function toRecord(
  raw: Record<string, unknown>,
  at: { run: string; file: string; line: number },
): Rec | string {
  const suite = raw.suite;
  if (typeof suite !== "string") return `suite: expected a string, got ${JSON.stringify(suite)}`;
  const kind = typeof raw.kind === "string" ? raw.kind : suite === "kernels" ? "decode" : "";
  const fields = fieldsOf(suite, kind);
  const known = fields !== undefined;
  const problems = known ? checkFields(raw, { ...ENVELOPE, ...fields }) : [];
  let adapter: Adapter = UNKNOWN_ADAPTER;
  if (known || raw.adapter !== undefined) {
    const a = adapterOf(raw.adapter);
    if (typeof a === "string") problems.push(a);
    else adapter = a;
  }
  if (problems.length > 0) {
    return `${suite}/${kind || "?"} record: ${problems.join("; ")}`;
  }
  return {
    ...(raw as Record<string, unknown>),
    run: at.run,
    file: at.file,
    line: at.line,
    suite,
    kind,
    adapter,
    representative: typeof raw.representative === "boolean"
      ? raw.representative
      : !adapter.fallback,
    commit: String(raw.commit ?? "unknown"),
    deno: String(raw.deno ?? ""),
    kvlab: String(raw.kvlab ?? ""),
    timestamp: String(raw.timestamp ?? ""),
    raw,
  } as Rec;
}

// --- runs --------------------------------------------------------------------------------------

export interface Problem {
  readonly severity: "error" | "warning";
  /** `FILE:LINE: what` (or `FILE: what`). */
  readonly message: string;
}

export interface Run {
  /** URL-safe name, unique in the site: the folder's name (suffixed -2, -3… on a clash). */
  readonly slug: string;
  /** The folder, as given (relative to the working directory where it lies below it). */
  readonly dir: string;
  readonly runId: string;
  readonly suite: string;
  readonly spec: Readonly<Record<string, unknown>> | null;
  readonly summary: Readonly<Record<string, unknown>> | null;
  /** Raw text of the files, for the downloads. */
  readonly files: Readonly<Record<string, string>>;
  /** Records of a run with errors are empty: the file was rejected. */
  readonly records: readonly Rec[];
  readonly problems: readonly Problem[];
  /** True when any problem is an error. */
  readonly failed: boolean;
}

export interface Loaded {
  readonly runs: readonly Run[];
  /** Every problem of every run, then problems with the roots themselves. */
  readonly problems: readonly Problem[];
}

const RUN_FILES = ["spec.json", "records.jsonl", "summary.json"] as const;

function display(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** The line of a JSON.parse error's position, when the message gives one. */
function jsonErrorLine(text: string, message: string): number | undefined {
  const line = /line (\d+)/.exec(message);
  if (line) return Number(line[1]);
  const pos = /position (\d+)/.exec(message);
  if (pos) return text.slice(0, Number(pos[1])).split("\n").length;
  return undefined;
}

function parseJsonFile(
  path: string,
  text: string,
  problems: Problem[],
): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new Error("not a JSON object");
    }
    return value;
  } catch (e) {
    const msg = (e as Error).message;
    const line = jsonErrorLine(text, msg);
    problems.push({
      severity: "error",
      message: `${display(path)}${line ? `:${line}` : ""}: malformed JSON (${msg})`,
    });
    return null;
  }
}

/** Parses records.jsonl text; pushes problems; returns the records (empty on any error). */
export function parseRecords(
  text: string,
  at: { run: string; file: string },
  problems: Problem[],
): Rec[] {
  const lines = text.split("\n");
  const records: Rec[] = [];
  let errors = 0;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${at.file}:${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
        throw new Error("not a JSON object");
      }
    } catch (e) {
      const last = lines.slice(i + 1).every((l) => l.trim() === "");
      if (last && !text.endsWith("\n")) {
        problems.push({
          severity: "warning",
          message: `${where}: torn last line dropped (a run killed mid-write?)`,
        });
        return;
      }
      errors++;
      problems.push({
        severity: "error",
        message: `${where}: malformed record (${(e as Error).message})`,
      });
      return;
    }
    const rec = toRecord(raw as Record<string, unknown>, { ...at, line: i + 1 });
    if (typeof rec === "string") {
      errors++;
      problems.push({ severity: "error", message: `${where}: ${rec}` });
    } else {
      records.push(rec);
    }
  });
  return errors > 0 ? [] : records;
}

function slugify(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|-+$/g, "");
  return s || "run";
}

function loadRun(dir: string, slug: string): Run {
  const problems: Problem[] = [];
  const files: Record<string, string> = {};
  for (const name of RUN_FILES) {
    const text = readText(`${dir}/${name}`);
    if (text !== null) files[name] = text;
  }
  const spec = files["spec.json"] !== undefined
    ? parseJsonFile(`${dir}/spec.json`, files["spec.json"], problems)
    : null;
  const summary = files["summary.json"] !== undefined
    ? parseJsonFile(`${dir}/summary.json`, files["summary.json"], problems)
    : null;
  const records = files["records.jsonl"] !== undefined
    ? parseRecords(
      files["records.jsonl"],
      { run: slug, file: display(`${dir}/records.jsonl`) },
      problems,
    )
    : [];
  const first = records[0]?.raw;
  const runId = String(spec?.runId ?? first?.runId ?? basename(dir));
  const suite = String(spec?.suite ?? first?.suite ?? "unknown");
  return {
    slug,
    dir: display(dir),
    runId,
    suite,
    spec,
    summary,
    files,
    records,
    problems,
    failed: problems.some((p) => p.severity === "error"),
  };
}

const isRunDir = (dir: string) =>
  readText(`${dir}/spec.json`) !== null || readText(`${dir}/records.jsonl`) !== null;

/**
 * Loads every run under each root: a root holding spec.json or records.jsonl is one run;
 * otherwise each of its subfolders that holds one is. Runs are sorted by slug; the same folder
 * given twice is loaded once.
 */
export function loadResults(roots: readonly string[]): Loaded {
  const problems: Problem[] = [];
  const dirs: string[] = [];
  for (const root of roots) {
    const abs = resolve(root);
    if (!isDir(abs)) {
      problems.push({ severity: "error", message: `${root}: not a results folder (not found)` });
      continue;
    }
    if (isRunDir(abs)) {
      dirs.push(abs);
      continue;
    }
    const subs = [...Deno.readDirSync(abs)]
      .filter((e) => e.isDirectory)
      .map((e) => `${abs}/${e.name}`)
      .filter(isRunDir)
      .sort();
    dirs.push(...subs);
  }
  const seen = new Set<string>();
  const slugs = new Set<string>();
  const runs: Run[] = [];
  for (const dir of dirs) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    const base = slugify(basename(dir));
    let slug = base;
    for (let n = 2; slugs.has(slug); n++) slug = `${base}-${n}`;
    slugs.add(slug);
    runs.push(loadRun(dir, slug));
  }
  runs.sort((a, b) => a.slug.localeCompare(b.slug));
  return { runs, problems: [...runs.flatMap((r) => r.problems), ...problems] };
}
