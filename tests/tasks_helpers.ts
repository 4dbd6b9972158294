// Shared pieces of the task tests: the stories260K tokenizer (a real tokenizer.json; tests that
// need it skip with a message when ../shared is absent), the shared sample data, and a word-level
// tokenizer stub (each word or punctuation mark one token, plus BOS).

import { ModelTokenizer } from "../engine/model/tokenizer.ts";
import type { TaskTokenizer } from "../engine/tasks/types.ts";

export const SHARED = new URL("../../shared/", import.meta.url).pathname;
export const STORIES = `${SHARED}fixtures/stories260K`;
export const ESSAYS = `${SHARED}data/PaulGrahamEssays`;
export const RULER_SAMPLE = `${SHARED}data/RULER_4096/niah_multikey_3.jsonl`;
export const KIVI_SAMPLE = `${SHARED}data/KIVI/passkey_examples.jsonl`;
export const LONGBENCH_DIR = `${SHARED}data/LongBench`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when the path exists; otherwise logs that `what` is skipped. */
export function have(path: string, what: string): boolean {
  const ok = exists(path);
  if (!ok) console.log(`${what}: skipped, ${path} is absent`);
  return ok;
}

let stories: Promise<ModelTokenizer> | undefined;

export function storiesTokenizer(): Promise<ModelTokenizer> {
  stories ??= ModelTokenizer.load(STORIES);
  return stories;
}

/** Words and single punctuation marks are tokens; id 1 is BOS; ids are assigned on first sight. */
export class WordTokenizer implements TaskTokenizer {
  private readonly ids = new Map<string, number>();
  private readonly words: string[] = ["<unk>", "<s>"];

  encode(text: string): number[] {
    const out = [1];
    for (const w of text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []) {
      let id = this.ids.get(w);
      if (id === undefined) {
        id = this.words.length;
        this.words.push(w);
        this.ids.set(w, id);
      }
      out.push(id);
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    return ids.filter((i) => i > 1).map((i) => this.words[i]).join(" ");
  }
}

/** Occurrences of `needle` in `text`. */
export function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}
