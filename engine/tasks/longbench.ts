// LongBench (Bai et al., 2023) as a kvlab task: rows from a LongBench jsonl file (fields input,
// context, answers, length, dataset, language, all_classes, _id), each dataset's prompt template
// and generation length (longbench_config.ts), LongBench's middle truncation, and its official
// metric (longbench_metrics.ts). Follows THUDM/LongBench pred.py:
//
//   prompt = dataset2prompt[dataset].format(**row)
//   ids = tokenizer(prompt)                       (special tokens included)
//   if len(ids) > max_length:                     (the model's context, model2maxlen)
//       half = int(max_length / 2)
//       prompt = decode(ids[:half]) + decode(ids[-half:])   (special tokens skipped)
//   chat template unless dataset in trec, triviaqa, samsum, lsht, lcc, repobench-p
//
// Here `length` is max_length. Records say whether the runner should wrap the prompt in the chat
// template (`meta.chat`) and, for samsum, that LongBench also stops at a newline
// (`meta.stopAtNewline`). LongBench files are not generated: the data is the user's, read from
// the path given (default ../shared/data/LongBench beside the checkout).

import {
  LONGBENCH_MAXLEN,
  LONGBENCH_METRIC,
  LONGBENCH_NO_CHAT,
  LONGBENCH_PROMPTS,
} from "./longbench_config.ts";
import { longbenchScore } from "./longbench_metrics.ts";
import { resolveParams } from "./params.ts";
import { Rng } from "./rng.ts";
import { formatTemplate } from "./ruler_constants.ts";
import { type ParamSpec, type Sample, TaskDataError, type TaskTokenizer } from "./types.ts";

export const DEFAULT_LONGBENCH = decodeURIComponent(
  new URL("../../../shared/data/LongBench", import.meta.url).pathname,
);

export const LONGBENCH_PARAMS: readonly ParamSpec[] = [
  {
    name: "path",
    type: "path",
    description:
      "a LongBench jsonl file, or a folder of <dataset>.jsonl files (default ../shared/data/LongBench)",
  },
  {
    name: "dataset",
    type: "enum",
    values: Object.keys(LONGBENCH_PROMPTS),
    description: "which dataset (needed with a folder; default: the rows' dataset field)",
  },
  {
    name: "samples",
    type: "int",
    default: 0,
    min: 0,
    max: 10000000,
    description: "rows to take (0 = all); a seeded choice, kept in file order",
  },
];

export interface LongBenchRow {
  readonly input: string;
  readonly context: string;
  readonly answers: readonly string[];
  readonly length: number;
  readonly dataset: string;
  readonly language?: string;
  readonly all_classes?: readonly string[] | null;
  readonly _id: string;
}

export function readLongBench(path: string): LongBenchRow[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TaskDataError(`longbench: ${path} does not exist; expected a LongBench jsonl file`);
    }
    throw e;
  }
  const rows: LongBenchRow[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      throw new TaskDataError(`${path}:${i + 1}: not JSON; expected one LongBench record per line`);
    }
    if (
      typeof r.context !== "string" || typeof r.input !== "string" || !Array.isArray(r.answers) ||
      r.answers.some((a) => typeof a !== "string")
    ) {
      throw new TaskDataError(
        `${path}:${
          i + 1
        }: expected a LongBench record {input, context, answers: string[], dataset, _id}`,
      );
    }
    rows.push(r as unknown as LongBenchRow);
  });
  if (rows.length === 0) throw new TaskDataError(`${path}: no records`);
  return rows;
}

/** pred.py's middle truncation to max_length tokens. */
export function truncateMiddle(
  prompt: string,
  tokenizer: TaskTokenizer,
  maxLength: number,
): { prompt: string; truncated: boolean; tokensBefore: number } {
  const ids = tokenizer.encode(prompt);
  if (ids.length <= maxLength) return { prompt, truncated: false, tokensBefore: ids.length };
  const half = Math.trunc(maxLength / 2);
  return {
    prompt: tokenizer.decode(ids.slice(0, half)) + tokenizer.decode(ids.slice(-half)),
    truncated: true,
    tokensBefore: ids.length,
  };
}

/** The dataset a file holds: the parameter, else its rows' dataset field (LongBench-E "_e" dropped). */
function datasetOf(rows: readonly LongBenchRow[], given: string | undefined, path: string): string {
  if (given) return given;
  const d = String(rows[0].dataset ?? "").replace(/_e$/, "");
  if (!(d in LONGBENCH_PROMPTS)) {
    throw new TaskDataError(
      `${path}: dataset "${d}" is not a LongBench dataset; pass parameter "dataset" (one of ${
        Object.keys(LONGBENCH_PROMPTS).join(", ")
      })`,
    );
  }
  return d;
}

function resolvePath(path: string | undefined, dataset: string | undefined): string {
  const p = path ?? DEFAULT_LONGBENCH;
  let isDir = false;
  try {
    isDir = Deno.statSync(p).isDirectory;
  } catch {
    throw new TaskDataError(
      `longbench: ${p} does not exist; pass parameter "path": a LongBench jsonl file or a folder of them`,
    );
  }
  if (!isDir) return p;
  if (!dataset) {
    throw new TypeError(
      `longbench: ${p} is a folder: parameter "dataset" is required to pick <dataset>.jsonl in it`,
    );
  }
  return `${p.replace(/\/+$/, "")}/${dataset}.jsonl`;
}

export function generateLongBench(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const task = "longbench";
  const p = resolveParams(task, LONGBENCH_PARAMS, given);
  const path = resolvePath(p.path as string | undefined, p.dataset as string | undefined);
  let rows = readLongBench(path);
  const dataset = datasetOf(rows, p.dataset as string | undefined, path);
  const take = p.samples as number;
  if (take > 0 && take < rows.length) {
    const keep = new Set(Rng.of(seed, task, dataset).sampleIndices(rows.length, take));
    rows = rows.filter((_, i) => keep.has(i));
  }
  const template = LONGBENCH_PROMPTS[dataset];
  return rows.map((r, i) => {
    const full = formatTemplate(template, r as unknown as Record<string, string>);
    const t = truncateMiddle(full, tokenizer, length);
    return {
      id: `${dataset}:${r._id ?? i}`,
      task,
      prompt: t.prompt,
      answerPrefix: "",
      answers: r.answers,
      maxNewTokens: LONGBENCH_MAXLEN[dataset],
      meta: {
        length,
        tokens: t.truncated ? tokenizer.encode(t.prompt).length : t.tokensBefore,
        tokensBeforeTruncation: t.tokensBefore,
        truncated: t.truncated,
        dataset,
        language: r.language,
        allClasses: r.all_classes ?? [],
        metric: LONGBENCH_METRIC[dataset],
        chat: !LONGBENCH_NO_CHAT.has(dataset),
        stopAtNewline: dataset === "samsum",
        lengthWords: r.length,
      },
    };
  });
}

export function scoreLongBench(prediction: string, sample: Sample): number {
  const dataset = sample.meta.dataset as string;
  return longbenchScore(
    dataset,
    prediction,
    sample.answers,
    (sample.meta.allClasses ?? []) as string[],
  );
}
