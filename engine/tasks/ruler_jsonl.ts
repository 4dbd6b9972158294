// Importing data made by NVIDIA/RULER's own scripts (scripts/data/prepare.py writes one jsonl per
// task: {index, input, outputs, length} and, in current versions, answer_prefix,
// length_w_model_temp, token_position_answer), so kvlab can evaluate exactly the official prompts.
// The model reads `input + answer_prefix` (older files carry the answer prefix inside `input` and
// have no answer_prefix field; both work). Scoring and generation length follow the task the file
// belongs to (its name, e.g. niah_multikey_3.jsonl, or the `task` parameter):
// scripts/eval/synthetic/constants.py's metric and constants.py's tokens_to_generate.

import { resolveParams } from "./params.ts";
import {
  RULER_METRIC,
  RULER_TEMPLATES,
  type RulerFamily,
  rulerFamilyOf,
} from "./ruler_constants.ts";
import { Rng } from "./rng.ts";
import { type ParamSpec, type Sample, TaskDataError, type TaskTokenizer } from "./types.ts";

export const RULER_JSONL_PARAMS: readonly ParamSpec[] = [
  {
    name: "path",
    type: "path",
    description: "a RULER jsonl file (e.g. ../shared/data/RULER_4096/niah_multikey_3.jsonl)",
  },
  {
    name: "task",
    type: "string",
    description:
      "the RULER task the file holds (niah_*, vt, cwe, fwe, qa_*); default: the file name",
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

export interface RulerRow {
  readonly index?: number;
  readonly input: string;
  readonly outputs: readonly string[];
  readonly length?: number;
  readonly answer_prefix?: string;
  readonly length_w_model_temp?: number;
  readonly token_position_answer?: number;
}

/** Rows of a RULER jsonl file, each checked for index, input and outputs. */
export function readRulerJsonl(path: string): RulerRow[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TaskDataError(`ruler_jsonl: ${path} does not exist; expected a RULER jsonl file`);
    }
    throw e;
  }
  const rows: RulerRow[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      throw new TaskDataError(`${path}:${i + 1}: not JSON; expected one RULER record per line`);
    }
    if (
      typeof r.input !== "string" || !Array.isArray(r.outputs) ||
      r.outputs.some((o) => typeof o !== "string")
    ) {
      throw new TaskDataError(
        `${path}:${i + 1}: expected {index, input: string, outputs: string[]} (a RULER record)`,
      );
    }
    rows.push(r as unknown as RulerRow);
  });
  if (rows.length === 0) throw new TaskDataError(`${path}: no records`);
  return rows;
}

/** The RULER task name of a file: its base name without .jsonl ("validation.jsonl" uses its folder). */
export function taskOfPath(path: string): string {
  const parts = path.replace(/\\/g, "/").split("/").filter((x) => x !== "");
  const base = parts.at(-1)!.replace(/\.jsonl$/, "");
  return base === "validation" || base === "test" ? (parts.at(-2) ?? base) : base;
}

export function importRulerJsonl(
  seed: number,
  length: number,
  tokenizer: TaskTokenizer,
  given: Readonly<Record<string, unknown>> = {},
): Sample[] {
  const name = "ruler_jsonl";
  const p = resolveParams(name, RULER_JSONL_PARAMS, given);
  if (p.path === undefined) {
    throw new TypeError(`${name}: parameter "path" is required: the RULER jsonl file to import`);
  }
  const path = p.path as string;
  let rows = readRulerJsonl(path);
  const task = (p.task as string | undefined) ?? taskOfPath(path);
  const family: RulerFamily | undefined = rulerFamilyOf(task);
  if (!family) {
    throw new RangeError(
      `${name}: task "${task}" is not a RULER task; expected niah_*, vt, cwe, fwe or qa_* (pass parameter "task")`,
    );
  }
  const take = p.samples as number;
  if (take > 0 && take < rows.length) {
    const keep = new Set(Rng.of(seed, name, path).sampleIndices(rows.length, take));
    rows = rows.filter((_, i) => keep.has(i));
  }
  return rows.map((r, i) => {
    const answerPrefix = r.answer_prefix ?? "";
    const tokens = tokenizer.encode(r.input + answerPrefix).length;
    return {
      id: `${task}:${r.index ?? i}`,
      task,
      prompt: r.input,
      answerPrefix,
      answers: r.outputs,
      maxNewTokens: RULER_TEMPLATES[family].tokensToGenerate,
      meta: {
        length,
        tokens,
        rulerTask: task,
        metric: RULER_METRIC[family],
        rulerLength: r.length,
        ...(r.length_w_model_temp !== undefined
          ? { lengthWithModelTemplate: r.length_w_model_temp }
          : {}),
        ...(r.token_position_answer !== undefined
          ? { tokenPositionAnswer: r.token_position_answer }
          : {}),
        overBudget: tokens > length,
      },
    };
  });
}
