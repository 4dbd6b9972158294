// Progress of a run: a bar with ETA on stderr (cli-progress) when stderr is a terminal, otherwise
// one line per finished cell with the count and ETA (CI logs). The ETA is cli-progress's moving
// estimate; the line mode uses the mean time per finished cell.

// @ts-types="@types/cli-progress"
import cliProgress from "cli-progress";

export interface Progress {
  /** One cell finished; `label` says which, `detail` its outcome. */
  tick(label: string, detail: string): void;
  /** A line that must not be lost under the bar. */
  log(line: string): void;
  stop(): void;
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export function progress(
  total: number,
  log: (line: string) => void,
  tty = Deno.stderr.isTerminal(),
): Progress {
  const t0 = performance.now();
  let done = 0;
  if (!tty || total === 0) {
    return {
      tick(label, detail) {
        done++;
        const eta = ((performance.now() - t0) / done) * (total - done);
        log(`[${done}/${total} ETA ${clock(eta)}] ${label}  ${detail}`);
      },
      log,
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({
    format: "{bar} {value}/{total} | ETA {eta_formatted} | {cell}",
    hideCursor: true,
    etaBuffer: 20,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { cell: "" });
  return {
    tick(label, detail) {
      done++;
      bar.increment(1, { cell: `${label}  ${detail}`.slice(0, 80) });
    },
    log(line) {
      bar.stop();
      log(line);
      bar.start(total, done, { cell: "" });
    },
    stop() {
      bar.stop();
    },
  };
}
