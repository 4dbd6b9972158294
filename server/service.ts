// Runs as a resource: submit, read, list, cancel, resume, records, summary, and the index's
// sync with the results folders. Routes (routes/runs.ts) call this and only translate HTTP;
// the GPU side is the executor's.
//
// A run's id is "<suite>-<first 12 hex of the spec hash>", the CLI's, so the same spec from the
// CLI and from HTTP names the same folder and either resumes the other. Submitting is
// idempotent: a spec already queued, running or done returns that run (200); one that failed,
// was cancelled or interrupted goes back on the queue (202, resuming); a new one is queued (202).

import { createHash } from "node:crypto";
import { readRecords, ResultsError, stableJson, writeJson } from "../engine/bench/results.ts";
import type { Env } from "../engine/model/hub.ts";
import { ApiError, fieldErrors, notFound } from "./errors.ts";
import type { Executor } from "./executor.ts";
import { countRecords, runFolder } from "./records.ts";
import { RUN_ID, RunSpec, type RunStatus } from "./schemas.ts";
import type { RunRow, RunStore } from "./store.ts";
import { engineSpec, getSuite, SUITES } from "./suites.ts";

export interface ServiceOptions {
  readonly dataDir: string;
  /** Environment for the Hugging Face cache. */
  readonly env: Env;
  /** Whether the server's adapter is a software one (for preset defaults). */
  readonly software: () => Promise<boolean | undefined>;
  /** Where `local:<name>` models live (task runner); none: refused. */
  readonly modelsDir?: string;
  /** What task data paths are relative to (task runner); none: refused. */
  readonly taskDataDir?: string;
}

export const TERMINAL: readonly RunStatus[] = ["done", "failed", "cancelled", "interrupted"];
const RESUMABLE: readonly RunStatus[] = ["failed", "cancelled", "interrupted"];

/** engine/bench/results.ts's specHash, synchronously (node:crypto): hex SHA-256 of stable JSON. */
export function specHashSync(spec: unknown): string {
  return createHash("sha256").update(stableJson(spec)).digest("hex");
}

export function runIdOf(suite: string, hash: string): string {
  return `${suite}-${hash.slice(0, 12)}`;
}

/** Throws 400 unless `id` is a well-formed run id (nothing else ever reaches a path). */
export function checkRunId(id: string): string {
  if (!RUN_ID.test(id)) {
    throw new ApiError(
      400,
      "invalid_run_id",
      `run id "${id.slice(0, 64)}" is not valid; expected <suite>-<12 hex digits>`,
    );
  }
  return id;
}

const mtime = (path: string): string | null => {
  try {
    return Deno.statSync(path).mtime?.toISOString() ?? null;
  } catch {
    return null;
  }
};

const exists = (path: string) => mtime(path) !== null;

export class RunService {
  constructor(
    readonly store: RunStore,
    readonly executor: Executor,
    readonly o: ServiceOptions,
  ) {}

  // --- submit ------------------------------------------------------------------------------------

  async submit(body: unknown): Promise<{ row: RunRow; created: boolean }> {
    const parsed = RunSpec.safeParse(body);
    if (!parsed.success) {
      throw new ApiError(
        400,
        "invalid_spec",
        "the run spec is not valid",
        fieldErrors(parsed.error),
      );
    }
    const suite = getSuite(parsed.data.suite);
    let spec: unknown;
    try {
      spec = await suite.normalize(parsed.data as Record<string, unknown>, {
        software: await this.o.software(),
        env: this.o.env,
        modelsDir: this.o.modelsDir,
        taskDataDir: this.o.taskDataDir,
      });
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) {
        throw new ApiError(400, "invalid_spec", "the run spec is not valid", [{
          path: [],
          message: e.message,
        }]);
      }
      throw e;
    }
    const hash = specHashSync(spec);
    const id = runIdOf(suite.name, hash);
    // From here to the end: no await, so concurrent submissions of one spec cannot both insert.
    const existing = this.find(id);
    if (existing) {
      if (existing.specHash !== hash) {
        throw new ApiError(
          409,
          "conflict",
          `run ${id} exists with a different spec (hash ${existing.specHash.slice(0, 16)}…)`,
        );
      }
      if (!RESUMABLE.includes(existing.status)) return { row: existing, created: false };
      const row = this.store.enqueue(id);
      this.executor.kick();
      return { row, created: true };
    }
    const out = runFolder(this.o.dataDir, id);
    Deno.mkdirSync(out.dir, { recursive: true });
    // Reached only when the folder holds no spec.json hashing to this id (find() indexes one
    // that does), so this writes or replaces it.
    for (const [name, value] of Object.entries(suite.files?.(spec) ?? {})) {
      writeJson(`${out.dir}/${name}`, value);
    }
    writeJson(out.specPath, {
      ...(spec as object),
      runId: id,
      specHash: hash,
      command: suite.command(spec, out.dir),
    });
    const done = countRecords(out.recordsPath);
    const row = this.store.insert({
      id,
      suite: suite.name,
      status: "queued",
      spec: spec as Record<string, unknown>,
      specHash: hash,
      cellsDone: done,
      cellsTotal: suite.totalCells(spec),
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      error: null,
    }, true);
    this.executor.kick();
    return { row: this.store.get(id) ?? row, created: true };
  }

  // --- read --------------------------------------------------------------------------------------

  /** The indexed run, indexing its folder first if only the folder exists (a CLI run). */
  find(id: string): RunRow | undefined {
    return this.store.get(id) ?? (this.indexFolder(id) ? this.store.get(id) : undefined);
  }

  get(id: string): RunRow {
    const row = this.find(checkRunId(id));
    if (!row) throw notFound(`run ${id}`);
    return row;
  }

  view(row: RunRow) {
    const self = `/v1/runs/${row.id}`;
    return {
      id: row.id,
      suite: row.suite,
      status: row.status,
      progress: { done: row.cellsDone, total: row.cellsTotal },
      spec: row.spec,
      specHash: row.specHash,
      createdAt: row.createdAt,
      startedAt: row.startedAt,
      finishedAt: row.finishedAt,
      error: row.error,
      queuePosition: this.store.queuePosition(row),
      links: {
        self,
        events: `${self}/events`,
        records: `${self}/records`,
        summary: `${self}/summary`,
      },
    };
  }

  list(q: { statuses?: RunStatus[]; limit: number; cursor?: string }) {
    const page = this.store.list({
      statuses: q.statuses,
      limit: q.limit,
      cursor: q.cursor === undefined ? undefined : Number(q.cursor),
    });
    return { runs: page.rows.map((r) => this.view(r)), nextCursor: page.nextCursor };
  }

  records(id: string): Record<string, unknown>[] {
    const row = this.get(id);
    try {
      return readRecords(runFolder(this.o.dataDir, row.id).recordsPath).records;
    } catch (e) {
      if (e instanceof ResultsError) {
        throw new ApiError(
          500,
          "corrupt_results",
          `records.jsonl of run ${row.id} has a malformed line`,
        );
      }
      throw e;
    }
  }

  /** summary.json; for a run without one yet, the summary of its records so far (partial). */
  summary(id: string): unknown {
    const row = this.get(id);
    const out = runFolder(this.o.dataDir, row.id);
    if (exists(out.summaryPath) && row.status === "done") {
      return JSON.parse(Deno.readTextFileSync(out.summaryPath));
    }
    const records = this.records(id);
    if (records.length === 0) {
      throw new ApiError(404, "no_summary", `run ${id} has no records yet (status ${row.status})`);
    }
    const summary = getSuite(row.suite).summarize(row.spec, records) as Record<string, unknown>;
    return { ...summary, partial: true };
  }

  // --- change ------------------------------------------------------------------------------------

  async cancel(id: string): Promise<RunRow> {
    const row = this.get(id);
    if (row.status === "queued") {
      return this.store.update(row.id, {
        status: "cancelled",
        finishedAt: new Date().toISOString(),
      });
    }
    if (row.status === "running") {
      const final = (await this.executor.stop(row.id, "cancelled")) ?? this.get(id);
      if (final.status === "cancelled") return final;
      throw new ApiError(
        409,
        "conflict",
        `run ${id} finished (${final.status}) before it could be cancelled`,
      );
    }
    throw new ApiError(
      409,
      "conflict",
      `run ${id} is ${row.status}; only queued or running runs can be cancelled`,
    );
  }

  resume(id: string): RunRow {
    const row = this.get(id);
    if (!RESUMABLE.includes(row.status)) {
      throw new ApiError(
        409,
        "conflict",
        `run ${id} is ${row.status}; only ${RESUMABLE.join(", ")} runs can be resumed`,
      );
    }
    this.store.enqueue(row.id);
    this.executor.kick();
    return this.store.get(row.id)!;
  }

  // --- index <- folders --------------------------------------------------------------------------

  /**
   * Adds DATA/results/<id> to the index if it is a run folder (spec.json of a known suite whose
   * hash gives this id). Its status comes from the folder: `done` with a summary.json and every
   * cell recorded; otherwise `interrupted` (resumable), or `failed` if its spec no longer
   * validates or its records cannot be read.
   */
  indexFolder(id: string): boolean {
    if (!RUN_ID.test(id) || this.store.get(id)) return false;
    const out = runFolder(this.o.dataDir, id);
    let specJson: Record<string, unknown>;
    try {
      specJson = JSON.parse(Deno.readTextFileSync(out.specPath));
    } catch {
      return false;
    }
    const spec = engineSpec(specJson);
    const suite = SUITES[String(spec.suite)];
    if (!suite) return false;
    const hash = specHashSync(spec);
    if (runIdOf(suite.name, hash) !== id) {
      console.error(`kvlab serve: ${out.dir}: spec.json does not hash to ${id}; not indexed`);
      return false;
    }
    let total: number | null | undefined;
    let specError: string | null = null;
    try {
      suite.validate(spec);
      total = suite.totalCells(spec);
    } catch (e) {
      // A spec from an older runner: its records and summary are still served.
      specError = `spec.json does not validate with this version: ${(e as Error).message}`;
    }
    let records: Record<string, unknown>[] = [];
    let readError: string | null = null;
    try {
      records = readRecords(out.recordsPath).records;
    } catch (e) {
      readError = (e as Error).message;
    }
    if (total === undefined) total = records.length;
    const done = total === null ? records.length : Math.min(records.length, total);
    const finished = exists(out.summaryPath) && (total === null || done >= total);
    // A finished run whose total could not be computed ahead: its records are all its cells.
    if (finished && total === null) total = done;
    const status: RunStatus = readError
      ? "failed"
      : finished
      ? "done"
      : specError
      ? "failed"
      : "interrupted";
    const error = status === "interrupted"
      ? "indexed from its folder: not finished"
      : readError ?? specError;
    const first = records[0]?.timestamp;
    this.store.insert({
      id,
      suite: suite.name,
      status,
      spec,
      specHash: hash,
      cellsDone: done,
      cellsTotal: total,
      createdAt: mtime(out.specPath),
      startedAt: typeof first === "string" ? first : null,
      finishedAt: status === "done" ? mtime(out.summaryPath) : mtime(out.recordsPath),
      error,
    }, false);
    return true;
  }

  /** Indexes every run folder not yet indexed; `rebuild` empties the index first. */
  sync(rebuild: boolean): number {
    if (rebuild) this.store.clear();
    let n = 0;
    let names: string[] = [];
    try {
      // Oldest spec.json first, so the index's creation order follows the folders'.
      names = [...Deno.readDirSync(`${this.o.dataDir}/results`)].filter((e) => e.isDirectory)
        .map((e) => ({
          name: e.name,
          t: mtime(`${this.o.dataDir}/results/${e.name}/spec.json`) ?? "",
        }))
        .sort((a, b) => (a.t === b.t ? (a.name < b.name ? -1 : 1) : a.t < b.t ? -1 : 1))
        .map((e) => e.name);
    } catch {
      return 0;
    }
    for (const name of names) if (this.indexFolder(name)) n++;
    return n;
  }
}
