// GPU timing: timestamp queries around compute passes where the device has "timestamp-query",
// otherwise wall clock around queue.onSubmittedWorkDone (labelled "wallclock").
// One readback per measurement batch, never one per kernel.

import type { Gpu } from "./context.ts";

export type TimingSource = "timestamp" | "wallclock";

export interface TimedRuns {
  readonly source: TimingSource;
  /** Milliseconds per run, in run order. With "wallclock" every entry is total/n. */
  readonly ms: readonly number[];
}

/**
 * Runs `encode` n times and times each run. With timestamp queries every run is one compute
 * pass whose begin/end timestamps are written to a query set; a single resolve and readback
 * follow. Without them the n runs are submitted together and timed by the host.
 * `encode` must record its work into the given pass.
 */
export async function timeRuns(
  gpu: Gpu,
  n: number,
  encode: (pass: GPUComputePassEncoder, run: number) => void,
): Promise<TimedRuns> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`timeRuns: n must be ≥ 1, got ${n}`);
  const device = gpu.device;
  if (gpu.timestamps) {
    const querySet = device.createQuerySet({ type: "timestamp", count: 2 * n });
    const resolve = gpu.createBuffer(
      "timing.resolve",
      16 * n,
      GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    );
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < n; i++) {
      const pass = encoder.beginComputePass({
        timestampWrites: {
          querySet,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
      encode(pass, i);
      pass.end();
    }
    encoder.resolveQuerySet(querySet, 0, 2 * n, resolve, 0);
    device.queue.submit([encoder.finish()]);
    const [raw] = await gpu.read([{ buffer: resolve }]);
    gpu.destroy(resolve);
    querySet.destroy();
    const ticks = new BigUint64Array(raw);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push(Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6);
    return { source: "timestamp", ms };
  }
  await device.queue.onSubmittedWorkDone();
  const encoder = device.createCommandEncoder();
  for (let i = 0; i < n; i++) {
    const pass = encoder.beginComputePass();
    encode(pass, i);
    pass.end();
  }
  const t0 = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const each = (performance.now() - t0) / n;
  return { source: "wallclock", ms: new Array(n).fill(each) };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
