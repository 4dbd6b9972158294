// A run's Server-Sent Events stream. The results folder is the source: each wake-up (a
// notification from the executor, or the keep-alive timer) reads records.jsonl's new complete
// lines, so every record is sent once, in file order, with `id:` its 1-based index (a client
// reconnecting with Last-Event-ID: N, or ?from=N, gets records N+1 on). Events:
//   status  {id, status, progress, error}  on connect and whenever any of them changes
//   record  one record as written           (id: its index)
//   log     {line}                          the runner's log lines while the run is on the GPU
//   end     {id, status, progress, error}  once the run is done, failed, cancelled or
//                                           interrupted and every record has been sent; then
//                                           the stream closes
// Comments (": keep-alive") go out when nothing happened for keepAliveMs. When the server
// stops, open streams close without `end` (EventSource clients reconnect).

import type { Executor } from "./executor.ts";
import { RecordTail } from "./records.ts";
import { TERMINAL } from "./service.ts";
import type { RunRow, RunStore } from "./store.ts";

export interface EventStreamOptions {
  readonly id: string;
  readonly recordsPath: string;
  /** Records to skip (already received). */
  readonly from: number;
  readonly keepAliveMs: number;
}

const frame = (event: string, data: unknown, id?: number) =>
  `event: ${event}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;

const state = (r: RunRow) => ({
  id: r.id,
  status: r.status,
  progress: { done: r.cellsDone, total: r.cellsTotal },
  error: r.error,
});

export function runEventStream(
  store: RunStore,
  executor: Executor,
  o: EventStreamOptions,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const abort = new AbortController();
  const tail = new RecordTail(o.recordsPath);
  let sent = 0;
  let lastState = "";
  let logSeq = 0;
  let ended = false;

  /** Everything new since the last call. */
  const collect = (): string => {
    const row = store.get(o.id);
    if (!row) {
      ended = true;
      return frame("end", { id: o.id, status: "unknown", progress: null, error: "run removed" });
    }
    let out = "";
    if (lastState === "") {
      // The state on connect comes first. Log lines are live: a stream that joins a running run
      // catches up on the lines kept for it; one that joins any other run gets none.
      lastState = JSON.stringify(state(row));
      out += frame("status", state(row));
      if (row.status !== "running") logSeq = executor.logs(o.id).at(-1)?.seq ?? 0;
    }
    for (const l of executor.logs(o.id, logSeq)) {
      logSeq = l.seq;
      out += frame("log", { line: l.line });
    }
    for (const r of tail.read()) {
      sent++;
      if (sent > o.from) out += frame("record", r, sent);
    }
    const s = JSON.stringify(state(row));
    if (s !== lastState) {
      lastState = s;
      out += frame("status", state(row));
    }
    // The status was read before the records: a terminal status means every record is on disk,
    // and the read above has delivered them.
    if (TERMINAL.includes(row.status)) {
      ended = true;
      out += frame("end", state(row));
    }
    return out;
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (!abort.signal.aborted) {
        // Stopping server: close without `end`, so the client reconnects later.
        if (ended || executor.events.closed) {
          controller.close();
          return;
        }
        const text = collect();
        if (text) {
          controller.enqueue(encoder.encode(text));
          return;
        }
        const woke = await executor.events.wait(o.id, o.keepAliveMs, abort.signal);
        if (!woke && !abort.signal.aborted) {
          controller.enqueue(encoder.encode(": keep-alive\n\n"));
          return;
        }
      }
    },
    cancel() {
      abort.abort();
    },
  });
}
