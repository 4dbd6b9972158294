// The executor: one GPU worker (server/run_worker.ts) runs queued runs first in, first out, one
// at a time. The queue lives in the index (store.ts), so it survives a restart. While a run
// runs, each log line from the worker (the suites log after every record) prompts a read of
// records.jsonl's new lines: progress goes to the index and a notification to every SSE stream
// watching that run. Stopping a run asks the worker to stop between cells, and terminates the
// worker if it has not within the grace period; records already written stay either way.

import type { DeviceChoice } from "../engine/gpu/mod.ts";
import { acquireLock, type Lock, LockError } from "../engine/bench/lock.ts";
import { RecordTail, runFolder } from "./records.ts";
import type { WorkerIn, WorkerOut } from "./run_worker.ts";
import type { RunStatus } from "./schemas.ts";
import type { RunRow, RunStore } from "./store.ts";
import { getSuite } from "./suites.ts";

// --- notifications -------------------------------------------------------------------------------

/** Wakes whoever waits on a run (SSE streams) when anything about it changes. */
export class RunEvents {
  readonly #waiters = new Map<string, Set<() => void>>();
  #closed = false;

  /** True once the server is stopping: streams should end so the listener can close. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Wakes every waiter for good. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#waiters.keys()]) this.notify(id);
  }

  notify(id: string): void {
    const set = this.#waiters.get(id);
    if (!set) return;
    this.#waiters.delete(id);
    for (const wake of set) wake();
  }

  /** Resolves true when notified, false after `ms` or when `signal` aborts. */
  wait(id: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, set = new Set());
      const done = (value: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        set!.delete(wake);
        resolve(value);
      };
      const wake = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener("abort", onAbort);
      if (signal?.aborted || this.#closed) return done(false);
      set.add(wake);
    });
  }
}

export interface LogLine {
  readonly seq: number;
  readonly line: string;
}

// --- executor ------------------------------------------------------------------------------------

export interface ExecutorOptions {
  readonly dataDir: string;
  readonly device: DeviceChoice;
  /** How long a stop waits for the worker to reach a cell boundary before terminating it. */
  readonly cancelGraceMs: number;
  /** The worker module (tests may substitute one). */
  readonly workerUrl?: URL;
}

type StopReason = "cancelled" | "interrupted";
type Outcome = Exclude<WorkerOut, { type: "log" }> | { type: "terminated"; id: string };

interface Current {
  readonly id: string;
  /** Cells in the run (null: unknown until the runner says, see #refineTotal). */
  total: number | null;
  /** Records already in the folder when this execution started. */
  readonly startCount: number;
  readonly tail: RecordTail;
  stop?: StopReason;
  grace?: ReturnType<typeof setTimeout>;
  settle(o: Outcome): void;
  readonly finished: Promise<RunRow>;
}

const LOG_KEEP = 200;

/** The lock file a run's folder holds while the server runs it (engine/bench/lock.ts). */
export const RUN_LOCK = "run.lock";

export class Executor {
  readonly events = new RunEvents();
  #worker?: Worker;
  #current?: Current;
  #busy = false;
  #closed = false;
  #paused = true;
  readonly #logs = new Map<string, LogLine[]>();
  #logSeq = 0;

  constructor(readonly store: RunStore, readonly o: ExecutorOptions) {}

  /** Starts taking runs off the queue. */
  start(): void {
    this.#paused = false;
    this.kick();
  }

  /** The id of the run on the GPU now. */
  get current(): string | undefined {
    return this.#current?.id;
  }

  /** Starts the next queued run if the worker is free. */
  kick(): void {
    if (this.#busy || this.#closed || this.#paused) return;
    const next = this.store.nextQueued();
    if (!next) return;
    this.#busy = true;
    this.#execute(next)
      .catch((e) => console.error(`kvlab serve: run ${next.id}: executor error:`, e))
      .finally(() => {
        this.#busy = false;
        this.kick();
      });
  }

  /** Recent log lines of a run with seq > after (kept in memory for the run on the GPU). */
  logs(id: string, after = 0): LogLine[] {
    return (this.#logs.get(id) ?? []).filter((l) => l.seq > after);
  }

  /**
   * Stops the run on the GPU: status `reason` once the worker has stopped. Resolves with its
   * final row, or undefined if `id` is not running (it may have finished: read the store).
   */
  async stop(id: string, reason: StopReason): Promise<RunRow | undefined> {
    const cur = this.#current;
    if (!cur || cur.id !== id) return undefined;
    cur.stop ??= reason;
    this.#post({ type: "cancel", id });
    cur.grace ??= setTimeout(() => {
      this.#dropWorker();
      cur.settle({ type: "terminated", id });
    }, this.o.cancelGraceMs);
    return await cur.finished;
  }

  /** Stops taking runs; a running one becomes `interrupted` (resumable). */
  async close(): Promise<void> {
    this.#closed = true;
    const cur = this.#current;
    if (cur) await this.stop(cur.id, "interrupted");
    await this.#shutdownWorker();
    this.events.close();
  }

  // --- internals ---------------------------------------------------------------------------------

  #post(m: WorkerIn): void {
    this.#worker?.postMessage(m);
  }

  /** Asks the worker to destroy its GPU device and end; terminates it if it does not in 5 s. */
  async #shutdownWorker(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        worker.terminate();
        resolve();
      }, 5000);
      worker.onmessage = (e: MessageEvent<WorkerOut>) => {
        if (e.data.type === "closed") {
          clearTimeout(timer);
          resolve();
        }
      };
      worker.postMessage({ type: "shutdown" } satisfies WorkerIn);
    });
  }

  #dropWorker(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #ensureWorker(): Worker {
    this.#worker ??= new Worker(this.o.workerUrl ?? new URL("./run_worker.ts", import.meta.url), {
      type: "module",
    });
    return this.#worker;
  }

  #log(id: string, line: string): void {
    const list = this.#logs.get(id) ?? [];
    list.push({ seq: ++this.#logSeq, line });
    if (list.length > LOG_KEEP) list.splice(0, list.length - LOG_KEEP);
    this.#logs.set(id, list);
  }

  #progress(cur: Current): void {
    if (cur.tail.read().length > 0) {
      const done = cur.total === null ? cur.tail.count : Math.min(cur.tail.count, cur.total);
      this.store.update(cur.id, { cellsDone: done });
    }
  }

  /**
   * The task runner logs "[k/N ETA …] …" after each cell, N being the cells it has left to run
   * at its start: with the records there before, that is the run's exact total, which replaces
   * the server's estimate (null where it could not know it ahead, e.g. data files).
   */
  #refineTotal(cur: Current, line: string): void {
    const m = /^\[(\d+)\/(\d+) ETA /.exec(line);
    if (!m) return;
    const total = cur.startCount + Number(m[2]);
    if (total === cur.total) return;
    cur.total = total;
    this.store.update(cur.id, { cellsTotal: total });
  }

  async #execute(row: RunRow): Promise<void> {
    const out = runFolder(this.o.dataDir, row.id);
    const tail = new RecordTail(out.recordsPath);
    try {
      tail.read();
    } catch (e) {
      // Never leave a run queued that cannot start: the queue would retry it forever.
      this.store.update(row.id, {
        status: "failed",
        finishedAt: new Date().toISOString(),
        error: `the server could not read its records: ${(e as Error).message}`,
      });
      this.events.notify(row.id);
      return;
    }
    // The folder is ours while the run writes it (a CLI or another process honouring the same
    // lock file sees it busy, and the other way round).
    let lock: Lock;
    try {
      lock = acquireLock(`${out.dir}/${RUN_LOCK}`, `kvlab serve: run ${row.id}`);
    } catch (e) {
      if (!(e instanceof LockError)) throw e;
      this.store.update(row.id, {
        status: "failed",
        finishedAt: new Date().toISOString(),
        error: `its results folder is in use: ${e.message}`,
      });
      this.events.notify(row.id);
      return;
    }
    this.#logs.clear(); // only the run on the GPU keeps its log lines
    this.store.update(row.id, {
      status: "running",
      startedAt: new Date().toISOString(),
      finishedAt: null,
      error: null,
      cellsDone: row.cellsTotal === null ? tail.count : Math.min(tail.count, row.cellsTotal),
    });
    this.events.notify(row.id);

    let settle!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
    let finish!: (r: RunRow) => void;
    const cur: Current = {
      id: row.id,
      total: row.cellsTotal,
      startCount: tail.count,
      tail,
      settle,
      finished: new Promise<RunRow>((resolve) => (finish = resolve)),
    };
    this.#current = cur;
    let final: RunRow;
    try {
      const suite = getSuite(row.suite);
      const worker = this.#ensureWorker();
      worker.onmessage = (e: MessageEvent<WorkerOut>) => {
        const m = e.data;
        if (m.id !== row.id) return;
        if (m.type === "log") {
          this.#log(row.id, m.line);
          this.#refineTotal(cur, m.line);
          this.#progress(cur);
          this.events.notify(row.id);
        } else {
          settle(m);
        }
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#dropWorker();
        settle({ type: "failed", id: row.id, message: `the GPU worker crashed: ${e.message}` });
      };
      worker.postMessage(
        {
          type: "run",
          id: row.id,
          suite: suite.name,
          spec: row.spec,
          specHash: row.specHash,
          dir: out.dir,
          device: this.o.device,
        } satisfies WorkerIn,
      );
      const o = await outcome;
      clearTimeout(cur.grace);
      this.#progress(cur);
      const status: RunStatus = o.type === "done"
        ? "done"
        : o.type === "failed"
        ? "failed"
        : (cur.stop ?? "cancelled");
      final = this.store.update(row.id, {
        status,
        finishedAt: new Date().toISOString(),
        error: o.type === "failed"
          ? o.message
          : status === "interrupted"
          ? "the server stopped while this run was running"
          : null,
      });
    } catch (e) {
      clearTimeout(cur.grace);
      final = this.store.update(row.id, {
        status: "failed",
        finishedAt: new Date().toISOString(),
        error: `the server could not run it: ${(e as Error).message}`,
      });
    } finally {
      this.#current = undefined;
      lock.release();
    }
    finish(final);
    this.events.notify(row.id);
  }
}
