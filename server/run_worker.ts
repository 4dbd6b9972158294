// The GPU worker: a Web Worker that holds the one Gpu and runs one suite at a time for the
// executor (server/executor.ts), so the HTTP thread never blocks on the runner's CPU work
// (input generation, float64 references). Messages in: {type: "run", ...}, {type: "cancel"}.
// Out: {type: "log"} per log line (the suites log once after each record they append), then
// one of {type: "done"}, {type: "failed", message}, {type: "cancelled"}.
//
// Cancellation is cooperative without changing engine/bench: the suites call ctx.log after
// every record, so log() throws once a cancel has arrived and the suite unwinds between cells
// (its finally blocks free the GPU buffers). The executor terminates this worker if that takes
// longer than its grace period.

import { type DeviceChoice, Gpu } from "../engine/gpu/mod.ts";
import { resultsDir } from "../engine/bench/results.ts";
import { getSuite } from "./suites.ts";

export type WorkerIn =
  | {
    readonly type: "run";
    readonly id: string;
    readonly suite: string;
    readonly spec: unknown;
    readonly specHash: string;
    readonly dir: string;
    readonly device: DeviceChoice;
  }
  | { readonly type: "cancel"; readonly id: string }
  | { readonly type: "shutdown" };

export type WorkerOut =
  | { readonly type: "log"; readonly id: string; readonly line: string }
  | { readonly type: "done"; readonly id: string; readonly records: number }
  | { readonly type: "failed"; readonly id: string; readonly message: string }
  | { readonly type: "cancelled"; readonly id: string }
  | { readonly type: "closed"; readonly id: "" };

class Cancelled extends Error {
  override name = "Cancelled";
}

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerIn>) => void) | null;
  postMessage(m: WorkerOut): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
let gpu: Promise<Gpu> | undefined;
let cancelled: string | undefined;

async function run(m: Extract<WorkerIn, { type: "run" }>): Promise<void> {
  const post = (o: WorkerOut) => scope.postMessage(o);
  try {
    gpu ??= Gpu.open({ device: m.device });
    const g = await gpu.catch((e) => {
      gpu = undefined; // let the next run try again
      throw e;
    });
    const suite = getSuite(m.suite);
    const out = resultsDir(m.dir);
    const log = (line: string) => {
      post({ type: "log", id: m.id, line });
      if (cancelled === m.id) throw new Cancelled();
    };
    const records = await suite.run({
      gpu: g,
      spec: m.spec,
      runId: m.id,
      specHash: m.specHash,
      out,
      log,
    });
    suite.writeSummary(out, suite.summarize(m.spec, records));
    post({ type: "done", id: m.id, records: records.length });
  } catch (e) {
    if (e instanceof Cancelled) {
      post({ type: "cancelled", id: m.id });
    } else {
      const err = e as Error;
      post({ type: "failed", id: m.id, message: `${err?.name ?? "Error"}: ${err?.message ?? e}` });
    }
  }
}

/**
 * Frees every buffer and destroys the device before the worker ends: terminating a worker that
 * still holds a live wgpu device can corrupt the heap when the process exits.
 */
async function shutdown(): Promise<void> {
  try {
    const g = await gpu;
    if (g) {
      g.destroyAll();
      await g.device.queue.onSubmittedWorkDone();
      g.device.destroy();
    }
  } catch {
    // the device never opened: nothing to free
  }
  gpu = undefined;
  scope.postMessage({ type: "closed", id: "" });
  scope.close();
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "shutdown") {
    shutdown();
  } else if (m.type === "cancel") {
    cancelled = m.id;
  } else if (m.type === "run") {
    cancelled = undefined;
    run(m);
  }
};
