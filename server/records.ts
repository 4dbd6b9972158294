// Reading a results folder while a run appends to it: RecordTail returns the complete lines
// written since the last read (a torn last line, still being written or left by a crash, is
// not consumed), so the executor counts progress and each SSE stream delivers each record once.
// The folder's format is engine/bench/results.ts's (docs/results.md).

import { type ResultsDir, resultsDir } from "../engine/bench/results.ts";

/** DATA/results/<id>: ids are checked against RUN_ID before they reach here. */
export function runFolder(dataDir: string, id: string): ResultsDir {
  return resultsDir(`${dataDir}/results/${id}`);
}

export class RecordTail {
  #offset = 0;
  /** Complete records read so far. */
  count = 0;
  readonly #decoder = new TextDecoder();

  constructor(readonly path: string) {}

  /** New complete records since the last call, in file order. */
  read(): Record<string, unknown>[] {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    try {
      const size = file.statSync().size;
      if (size < this.#offset) {
        // Rewritten shorter than what was read (a torn tail repaired under us): start over.
        this.#offset = 0;
        this.count = 0;
      }
      if (size === this.#offset) return [];
      const bytes = new Uint8Array(size - this.#offset);
      file.seekSync(this.#offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < bytes.length) {
        const n = file.readSync(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      const end = bytes.subarray(0, got).lastIndexOf(10);
      if (end < 0) return [];
      const text = this.#decoder.decode(bytes.subarray(0, end + 1));
      this.#offset += end + 1;
      const out: Record<string, unknown>[] = [];
      for (const line of text.split("\n")) {
        if (line.trim() === "") continue;
        try {
          out.push(JSON.parse(line));
        } catch {
          out.push({ malformed: line.slice(0, 200) });
        }
      }
      this.count += out.length;
      return out;
    } finally {
      file.close();
    }
  }
}

/** Complete records in a records.jsonl (0 when absent). */
export function countRecords(path: string): number {
  const t = new RecordTail(path);
  t.read();
  return t.count;
}
