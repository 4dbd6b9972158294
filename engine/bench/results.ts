// The results folder: DIR/spec.json, DIR/records.jsonl (append-only, one JSON record a line,
// flushed per record so a killed run keeps everything it wrote) and DIR/summary.json.
// The format is documented in docs/results.md. Reading tolerates a torn last line (a crash
// mid-write) and names the file and line of anything else malformed.

export const SCHEMA_VERSION = 1;

export interface ResultsDir {
  readonly dir: string;
  readonly specPath: string;
  readonly recordsPath: string;
  readonly summaryPath: string;
}

export function resultsDir(dir: string): ResultsDir {
  return {
    dir,
    specPath: `${dir}/spec.json`,
    recordsPath: `${dir}/records.jsonl`,
    summaryPath: `${dir}/summary.json`,
  };
}

/** Stable JSON: object keys sorted, so equal specs hash equally. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]),
      );
    }
    return v;
  });
}

/** SHA-256 of the stable JSON, hex. */
export async function specHash(spec: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(stableJson(spec));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class ResultsError extends Error {
  override name = "ResultsError";
}

/** Reads records.jsonl. A torn final line is dropped (reported in `torn`); other bad lines throw. */
export function readRecords(path: string): { records: Record<string, unknown>[]; torn: boolean } {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { records: [], torn: false };
    throw e;
  }
  const lines = text.split("\n");
  const records: Record<string, unknown>[] = [];
  let torn = false;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      const r = JSON.parse(line);
      if (!r || typeof r !== "object" || Array.isArray(r)) throw new Error("not a JSON object");
      records.push(r);
    } catch (e) {
      const last = i === lines.length - 1 || lines.slice(i + 1).every((l) => l.trim() === "");
      if (last && !text.endsWith("\n")) {
        torn = true;
        return;
      }
      throw new ResultsError(`${path}:${i + 1}: malformed record (${(e as Error).message})`);
    }
  });
  return { records, torn };
}

/** Appends records, one line each, and rewrites a torn tail first so the file stays valid. */
export class RecordWriter {
  constructor(readonly path: string) {}

  /** Drops a torn last line (from a crash mid-write) so appends start on a line boundary. */
  repair(): void {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (text === "" || text.endsWith("\n")) return;
    Deno.writeTextFileSync(this.path, text.slice(0, text.lastIndexOf("\n") + 1));
  }

  append(record: Record<string, unknown>): void {
    const file = Deno.openSync(this.path, { append: true, create: true });
    try {
      const bytes = new TextEncoder().encode(JSON.stringify(record) + "\n");
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      file.syncSync();
    } finally {
      file.close();
    }
  }
}

export function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}

/**
 * Opens a run's records for resuming: repairs a torn tail, reads what is there, and refuses a
 * folder written on another adapter (records from two machines never mix in one run).
 */
export function openRecords<R>(
  out: ResultsDir,
  adapter: string,
): { writer: RecordWriter; prior: R[] } {
  const writer = new RecordWriter(out.recordsPath);
  writer.repair();
  const prior = readRecords(out.recordsPath).records;
  for (const r of prior) {
    const seen = (r as { adapter?: { description?: string } }).adapter?.description;
    if (seen !== adapter) {
      throw new RangeError(
        `${out.recordsPath} holds records from adapter "${seen}", this run has "${adapter}"; ` +
          "pass a different --out to keep them apart",
      );
    }
  }
  return { writer, prior: prior as unknown as R[] };
}
