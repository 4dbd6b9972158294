// Generation: prefill B prompts, then decode in batches of `readEvery` steps recorded
// into one command buffer each, reading back only the new token ids once per batch and stopping
// when every sequence has produced an end-of-sequence id (or max new tokens). Token ids only:
// the text layer is generateText().
// With `method` (engine/methods, "snapkv" or "snapkv+kivi4") each layer's cache is compressed
// right after its dense prefill — or, with `prefill: "streaming"`, chunk by chunk as the prompt
// goes in — and evicted from during decode where the method does; quest keeps full caches and
// reads selected pages at each decode step (session.ts). The result says what was kept, what
// the full cache would have taken and what a decode step reads. A method needs prompts of one
// length (ragged batches are refused). `prefillChunk` prefills in chunks (full caches and quest:
// the unchunked result; streaming: the compression's chunk). Decoding is greedy (argmax) unless
// a temperature > 0 is given: then each token is drawn on the GPU (top-k, top-p; seeded, so a
// run is reproducible; sampling.ts, engine/kernels/sample.ts).

import type { SamplingParams } from "../kernels/sample.ts";
import { checkInt } from "../shapes.ts";
import { rng } from "../reference/random.ts";
import { cacheFormat, checkEqualLengths } from "./compression.ts";
import { type ModelConfig, positionLimit } from "./config.ts";
import type { Model } from "./model.ts";
import { resolveSampling, type SamplingOptions } from "./sampling.ts";
import { type CacheOptions, Session, type SessionCompression } from "./session.ts";
import type { ModelTokenizer } from "./tokenizer.ts";

/** Sampling (temperature, topP, topK, seed): absent or temperature 0 is greedy decoding. */
/** The cache (format, method and its settings: SessionOptions), sampling, and the run. */
export interface GenerateOptions extends SamplingOptions, CacheOptions {
  /** Tokens to generate per sequence, ≥ 1 (EOS included when it comes). */
  readonly maxNewTokens: number;
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
  /** Bytes of all layers' KV caches (after compression, with a method), from allocations. */
  readonly kvBytes: number;
  /** Bytes the full cache in this format takes (from a probe allocation; = kvBytes without). */
  readonly kvBytesFull: number;
  /** The cache format. */
  readonly format: string;
  /**
   * KV bytes the last decode step read, all layers (Session.bytesReadPerStep): plain decode
   * attention reads every held token's stored K and V (for a full cache, its stored bytes);
   * quest reads its selected pages plus the page metadata. Prefill's reads are not counted.
   */
  readonly bytesReadPerStep: number;
  /**
   * With a method: its name, mode, resolved parameters, kept tokens per layer, and how the
   * prompt went in (prefill "dense" | "streaming", and the chunk); else undefined.
   */
  readonly compression?: SessionCompression;
  /** Decode steps run (all sequences step together). */
  readonly steps: number;
  /** The sampling parameters drawn with (defaults filled in); undefined: greedy. */
  readonly sampling?: SamplingParams;
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
  const sampling = resolveSampling(o);
  const eos = new Set(o.stopAtEos === false ? [] : model.config.eos);
  const maxPrompt = Math.max(...prompts.map((p) => p.length));
  const format = cacheFormat(o.method, o.format, DEFAULT_FORMAT);
  if (o.method !== undefined) checkEqualLengths(o.method, prompts.map((p) => p.length));
  const t0 = performance.now();
  const session = await Session.create(model, {
    B: prompts.length,
    maxPrompt,
    maxNewTokens: o.maxNewTokens,
    format,
    method: o.method,
    params: o.params,
    budget: o.budget,
    decodeEviction: o.decodeEviction,
    prefill: o.prefill,
    prefillChunk: o.prefillChunk,
    sampling,
  });
  try {
    const queue = model.gpu.device.queue;
    const tp = performance.now();
    await session.prefill(prompts);
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
      kvBytesFull: session.kvBytesFull,
      bytesReadPerStep: session.bytesReadPerStep(),
      format,
      compression: session.compression,
      steps,
      sampling,
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
      `prompt: ${ids.length} tokens, longer than the model's ${positionLimit(model.config)}`,
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
