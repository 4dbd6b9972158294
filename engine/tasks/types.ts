// The shapes every task shares: a Sample (what the runner feeds the model and scores against),
// the tokenizer a generator fits its prompts with, parameter specs, and the task record the
// registry lists. Not here: any one task's text or rules (one file per task beside this one).

/**
 * What a generator needs from a tokenizer: the ids the model will see for a text (special tokens
 * such as BOS included, as `ModelTokenizer.encode` gives them), and the text of ids (special
 * tokens dropped). `ModelTokenizer` (engine/model/tokenizer.ts) satisfies it as is.
 */
export interface TaskTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/**
 * One prompt and what counts as a right answer.
 *
 * The model reads `prompt + answerPrefix`: with a chat template, the runner wraps `prompt` as the
 * user turn and appends `answerPrefix` after the assistant header (RULER's convention: its
 * jsonl keeps `input` and `answer_prefix` apart for the same reason). Generators fit
 * `tokens(prompt + answerPrefix)` to the length budget; `meta.tokens` is that count.
 */
export interface Sample {
  /** Stable across runs for the same task, seed, length and params. */
  readonly id: string;
  readonly task: string;
  readonly prompt: string;
  readonly answerPrefix: string;
  /** The reference answers; each scorer says how it uses them. */
  readonly answers: readonly string[];
  /** Generation length the task's source uses (RULER tokens_to_generate, LongBench maxlen). */
  readonly maxNewTokens: number;
  /**
   * Task-specific facts for records and heatmaps: always `length` (the budget asked for) and
   * `tokens`; grid tasks add `depth` (requested, 0..1), `needleDepth` (measured in tokens) and
   * `needleTokenIndex`; LongBench adds `dataset`, `allClasses`, `truncated`, `chat`.
   */
  readonly meta: Readonly<Record<string, unknown>>;
}

export type ParamType = "int" | "number" | "string" | "boolean" | "enum" | "numbers" | "path";
export type ParamValue = number | string | boolean | readonly number[];

/** One task parameter. No `default` means required. Ranges are inclusive. */
export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  readonly default?: ParamValue;
  /** int/number, and each element of numbers. */
  readonly min?: number;
  readonly max?: number;
  /** enum: the allowed strings. */
  readonly values?: readonly string[];
  readonly description: string;
}

export type Params = Readonly<Record<string, ParamValue>>;

/**
 * What a model must be for a task's score to mean something:
 * - "llm": a real language model (RULER, LongBench);
 * - "retrieval": in-context copying is enough, so the built-in induction model solves it with a
 *   full cache (its answer prefix repeats the context that precedes the needle's answer);
 * - "any": any model, `shape:` random weights included (fidelity to the full cache).
 */
export type ModelNeed = "llm" | "retrieval" | "any";

export type TaskFamily = "ruler" | "retrieval" | "longbench" | "fidelity";

export interface TaskDef {
  readonly name: string;
  readonly family: TaskFamily;
  readonly description: string;
  /** The paper or repository the definition follows, with the file where it applies. */
  readonly source: string;
  /** Generated here (true) or loaded from data files the user points at (false). */
  readonly synthetic: boolean;
  readonly model: ModelNeed;
  /** "text": scored from the generated text; "logits": from logits (fidelity.ts). */
  readonly scoring: "text" | "logits";
  /** Metric names; the first is what `score` returns. All scores lie in [0, 1]. */
  readonly metrics: readonly string[];
  readonly params: readonly ParamSpec[];
  /**
   * Samples for one (seed, length) cell. `length` is the token budget: tokens(prompt +
   * answerPrefix) <= length (also + maxNewTokens with `budgetIncludesGeneration`), as close to
   * it as the haystack's granularity allows. LongBench uses it as its max_length instead.
   */
  generate(
    seed: number,
    length: number,
    tokenizer: TaskTokenizer,
    params?: Readonly<Record<string, unknown>>,
  ): Promise<Sample[]>;
  /** The primary metric for one prediction (the generated text after the answer prefix). */
  score(prediction: string, sample: Sample): number;
  /** Every metric in `metrics`, by name. */
  scoreAll(prediction: string, sample: Sample): Record<string, number>;
}

/** A data file or folder a task needs is missing or malformed; the message names it. */
export class TaskDataError extends Error {
  override name = "TaskDataError";
}
