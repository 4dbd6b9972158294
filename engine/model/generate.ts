// Greedy generation: prefill B prompts, then decode in batches of `readEvery` steps recorded
// into one command buffer each, reading back only the new token ids once per batch and stopping
// when every sequence has produced an end-of-sequence id (or max new tokens). Token ids only:
// the text layer is generateText().
// Not here: sampling with temperature (greedy only), eviction methods (they plug into the
// cache once engine/methods lands), chunked prefill.

import { checkInt } from "../shapes.ts";
import { rng } from "../reference/random.ts";
import type { ModelConfig } from "./config.ts";
import type { Model } from "./model.ts";
import { Session } from "./session.ts";
import type { ModelTokenizer } from "./tokenizer.ts";

export interface GenerateOptions {
  /** Tokens to generate per sequence, ≥ 1 (EOS included when it comes). */
  readonly maxNewTokens: number;
  /** KV-cache format by registry name (default "fp16"). */
  readonly format?: string;
  /** Decode steps per command buffer and readback (default 16). */
  readonly readEvery?: number;
  /** Stop a sequence at the model's EOS ids (default true). */
  readonly stopAtEos?: boolean;
}

export interface GenerateTimes {
  /** Prefill, from submit to GPU idle (time to first token, without its readback). */
  readonly prefill: number;
  /** All decode steps, including their readbacks. */
  readonly decode: number;
  /** Decode per generated token (per step; B tokens each). */
  readonly perToken: number;
  readonly total: number;
}

export interface GenerateResult {
  /** Per sequence: prompt ids then generated ids (BOS first when the tokenizer adds one). */
  readonly ids: number[][];
  /** Per sequence: the generated ids only, up to and including the first EOS. */
  readonly newIds: number[][];
  /** Bytes of all layers' KV caches. */
  readonly kvBytes: number;
  /** Decode steps run (all sequences step together). */
  readonly steps: number;
  readonly ms: GenerateTimes;
}

export const DEFAULT_FORMAT = "fp16";

export async function generate(
  model: Model,
  prompts: readonly (readonly number[])[],
  o: GenerateOptions,
): Promise<GenerateResult> {
  checkInt("max new tokens", o.maxNewTokens);
  const readEvery = o.readEvery ?? 16;
  checkInt("readEvery (decode steps per readback)", readEvery);
  checkInt("B (prompts)", prompts.length);
  const eos = new Set(o.stopAtEos === false ? [] : model.config.eos);
  const maxPrompt = Math.max(...prompts.map((p) => p.length));
  const t0 = performance.now();
  const session = await Session.create(model, {
    B: prompts.length,
    maxPrompt,
    maxNewTokens: o.maxNewTokens,
    format: o.format ?? DEFAULT_FORMAT,
  });
  try {
    const queue = model.gpu.device.queue;
    const tp = performance.now();
    session.prefill(prompts);
    await queue.onSubmittedWorkDone();
    const td = performance.now();
    const out: number[][] = prompts.map(() => []);
    const done = () => out.every((ids) => ids.some((id) => eos.has(id)));
    let read = 0;
    while (true) {
      const steps = Math.min(readEvery, o.maxNewTokens - session.generated);
      if (steps > 0) session.decode(steps);
      const ids = await session.readIds(read, session.generated);
      read = session.generated;
      ids.forEach((x, b) => out[b].push(...x));
      if (session.generated >= o.maxNewTokens || done()) break;
    }
    const te = performance.now();
    const newIds = out.map((ids) => {
      const at = ids.findIndex((id) => eos.has(id));
      return at < 0 ? ids : ids.slice(0, at + 1);
    });
    const steps = session.generated - 1;
    return {
      ids: prompts.map((p, b) => [...p, ...newIds[b]]),
      newIds,
      kvBytes: session.kvBytes(),
      steps,
      ms: {
        prefill: td - tp,
        decode: te - td,
        perToken: steps > 0 ? (te - td) / steps : 0,
        total: te - t0,
      },
    };
  } finally {
    session.destroy();
  }
}

export interface TextOptions extends GenerateOptions {
  readonly prompt: string;
  /** Wrap the prompt as one user message in the model's chat template. */
  readonly chat?: boolean;
}

export interface TextResult extends GenerateResult {
  /** The generated text (prompt not included), special tokens dropped. */
  readonly text: string;
}

/** One prompt in, its text continuation out. */
export async function generateText(
  model: Model,
  tokenizer: ModelTokenizer,
  o: TextOptions,
): Promise<TextResult> {
  const ids = tokenizer.promptIds(o.prompt, o.chat ?? false);
  const max = model.config.maxPositions;
  if (ids.length > max) {
    throw new RangeError(
      `prompt: ${ids.length} tokens, longer than the model's max_position_embeddings ${max}`,
    );
  }
  const r = await generate(model, [ids], o);
  return { ...r, text: tokenizer.decode(r.newIds[0]) };
}

/** A seeded prompt of n ids (BOS first where the model has one), for models without text. */
export function randomPrompt(config: ModelConfig, n: number, seed = 1): number[] {
  checkInt("prompt tokens", n, 1, config.maxPositions);
  const r = rng(seed);
  const eos = new Set(config.eos);
  const ids: number[] = config.bos === null ? [] : [config.bos];
  while (ids.length < n) {
    const id = Math.floor(r() * config.vocab);
    if (!eos.has(id)) ids.push(id);
  }
  return ids;
}
