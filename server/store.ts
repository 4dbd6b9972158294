// The run index: one SQLite table (node:sqlite, a file under the data dir) with each run's
// status, progress, spec and timestamps, and the FIFO queue order. It is an index, not the
// truth: the results folders are, and reindex() in service.ts rebuilds this table from them.
// Synchronous on purpose: every read-modify-write below runs without an await in between, so
// concurrent requests in this single-threaded server cannot interleave inside one.

import { DatabaseSync } from "node:sqlite";
import type { RunStatus } from "./schemas.ts";

export interface RunRow {
  readonly seq: number;
  readonly id: string;
  readonly suite: string;
  readonly status: RunStatus;
  readonly spec: Record<string, unknown>;
  readonly specHash: string;
  readonly cellsDone: number;
  /** null: not known yet (stored as -1: the column predates unknown totals). */
  readonly cellsTotal: number | null;
  readonly queueSeq: number | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly updatedAt: string;
  readonly error: string | null;
}

export type NewRun = Omit<RunRow, "seq" | "queueSeq" | "updatedAt">;

export type RunPatch = Partial<
  Pick<RunRow, "status" | "cellsDone" | "cellsTotal" | "startedAt" | "finishedAt" | "error">
>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  suite TEXT NOT NULL,
  status TEXT NOT NULL,
  spec TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  cells_done INTEGER NOT NULL DEFAULT 0,
  cells_total INTEGER NOT NULL,
  queue_seq INTEGER,
  created_at TEXT,
  started_at TEXT,
  finished_at TEXT,
  updated_at TEXT NOT NULL,
  error TEXT
);
CREATE INDEX IF NOT EXISTS runs_status_queue ON runs(status, queue_seq);
`;

const COLUMNS: Record<keyof RunPatch, string> = {
  status: "status",
  cellsDone: "cells_done",
  cellsTotal: "cells_total",
  startedAt: "started_at",
  finishedAt: "finished_at",
  error: "error",
};

function toRow(r: Record<string, unknown>): RunRow {
  return {
    seq: Number(r.seq),
    id: String(r.id),
    suite: String(r.suite),
    status: String(r.status) as RunStatus,
    spec: JSON.parse(String(r.spec)),
    specHash: String(r.spec_hash),
    cellsDone: Number(r.cells_done),
    cellsTotal: Number(r.cells_total) < 0 ? null : Number(r.cells_total),
    queueSeq: r.queue_seq === null ? null : Number(r.queue_seq),
    createdAt: r.created_at as string | null,
    startedAt: r.started_at as string | null,
    finishedAt: r.finished_at as string | null,
    updatedAt: String(r.updated_at),
    error: r.error as string | null,
  };
}

export class RunStore {
  readonly db: DatabaseSync;

  constructor(readonly path: string) {
    this.db = new DatabaseSync(path);
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  get(id: string): RunRow | undefined {
    const r = this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id);
    return r ? toRow(r) : undefined;
  }

  insert(run: NewRun, queued: boolean): RunRow {
    this.db.prepare(
      `INSERT INTO runs (id, suite, status, spec, spec_hash, cells_done, cells_total, queue_seq,
         created_at, started_at, finished_at, updated_at, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ${
        queued ? "(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM runs)" : "NULL"
      }, ?, ?, ?, ?, ?)`,
    ).run(
      run.id,
      run.suite,
      run.status,
      JSON.stringify(run.spec),
      run.specHash,
      run.cellsDone,
      run.cellsTotal ?? -1,
      run.createdAt,
      run.startedAt,
      run.finishedAt,
      new Date().toISOString(),
      run.error,
    );
    return this.get(run.id)!;
  }

  update(id: string, patch: RunPatch): RunRow {
    const keys = Object.keys(patch) as (keyof RunPatch)[];
    const sets = keys.map((k) => `${COLUMNS[k]} = ?`);
    this.db.prepare(`UPDATE runs SET ${[...sets, "updated_at = ?"].join(", ")} WHERE id = ?`)
      .run(
        ...keys.map((k) => (k === "cellsTotal" ? patch[k] ?? -1 : patch[k] ?? null)),
        new Date().toISOString(),
        id,
      );
    return this.get(id)!;
  }

  /** Puts a run at the back of the queue. */
  enqueue(id: string): RunRow {
    this.db.prepare(
      `UPDATE runs SET status = 'queued', error = NULL, finished_at = NULL, updated_at = ?,
         queue_seq = (SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM runs) WHERE id = ?`,
    ).run(new Date().toISOString(), id);
    return this.get(id)!;
  }

  /** The queued run that has waited longest. */
  nextQueued(): RunRow | undefined {
    const r = this.db.prepare(
      "SELECT * FROM runs WHERE status = 'queued' ORDER BY queue_seq LIMIT 1",
    ).get();
    return r ? toRow(r) : undefined;
  }

  /** 1 for the next run to start; null unless queued. */
  queuePosition(row: RunRow): number | null {
    if (row.status !== "queued" || row.queueSeq === null) return null;
    const r = this.db.prepare(
      "SELECT COUNT(*) AS n FROM runs WHERE status = 'queued' AND queue_seq <= ?",
    ).get(row.queueSeq);
    return Number(r!.n);
  }

  /** Runs found `running` at startup were cut off: they become `interrupted`. */
  interruptRunning(): string[] {
    const ids = this.db.prepare("SELECT id FROM runs WHERE status = 'running'").all()
      .map((r) => String(r.id));
    const now = new Date().toISOString();
    this.db.prepare(
      `UPDATE runs SET status = 'interrupted', finished_at = ?, updated_at = ?,
         error = 'the server stopped while this run was running' WHERE status = 'running'`,
    ).run(now, now);
    return ids;
  }

  /** Newest first; `cursor` is the seq of the last row of the previous page. */
  list(o: { statuses?: readonly RunStatus[]; limit: number; cursor?: number }) {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (o.statuses?.length) {
      where.push(`status IN (${o.statuses.map(() => "?").join(", ")})`);
      args.push(...o.statuses);
    }
    if (o.cursor !== undefined) {
      where.push("seq < ?");
      args.push(o.cursor);
    }
    const rows = this.db.prepare(
      `SELECT * FROM runs ${where.length ? "WHERE " + where.join(" AND ") : ""}
       ORDER BY seq DESC LIMIT ?`,
    ).all(...args, o.limit + 1).map(toRow);
    const more = rows.length > o.limit;
    const page = rows.slice(0, o.limit);
    return { rows: page, nextCursor: more ? String(page[page.length - 1].seq) : null };
  }

  counts(): Record<RunStatus, number> {
    const out: Record<string, number> = {
      queued: 0,
      running: 0,
      done: 0,
      failed: 0,
      cancelled: 0,
      interrupted: 0,
    };
    for (
      const r of this.db.prepare("SELECT status, COUNT(*) AS n FROM runs GROUP BY status").all()
    ) {
      out[String(r.status)] = Number(r.n);
    }
    return out as Record<RunStatus, number>;
  }

  ids(): string[] {
    return this.db.prepare("SELECT id FROM runs ORDER BY seq").all().map((r) => String(r.id));
  }

  clear(): void {
    this.db.exec("DELETE FROM runs");
  }
}
