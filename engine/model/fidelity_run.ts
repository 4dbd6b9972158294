// Fidelity to the full cache, measured on the GPU (the logits behind engine/tasks/fidelity.ts's
// scores; any model, `shape:` presets included):
//
//   fidelityRun     two sessions of one prompt in lockstep: the full cache (fullFormat, default
//                   fp16) decodes greedily, and the compared cache (a method and/or a format) is
//                   teacher-forced on the full run's tokens — fed them, not its own argmax — so
//                   step s of both predicts the same next token from the same prefix. Per step,
//                   as the logits arrive: top-1 agreement and KL(P_full || P_method) (fidelity.ts,
//                   float64 on the host); nothing of the vocabulary is kept across steps.
//                   `steps` decode steps are compared; the prefill's prediction is reported on
//                   its own (prefillKl, prefillAgrees), not in the means: a dense prefill
//                   attends over the whole prompt whatever the cache (compression follows it),
//                   so it agrees; a streaming one (prefill: "streaming") need not.
//   perplexityRun   one session: prefill ids[0, prefix) (compressing with the method, if any),
//                   then teacher-force ids[prefix, n − 1); the sum of log p(ids[i]) for i ≥ prefix
//                   (the prefill's prediction included) in float64 → exp(−mean).
//
// Logits come back `readEvery` steps at a time (decode(n, { logits }) copies each step's [V] row
// into one buffer of readEvery · V floats), so memory stays at a few steps of the vocabulary.
// Both runs hold their caches at once (lockstep); each frees its prompt-sized activations after
// its prefill (Session.shrink), so the peak is one prefill's activations plus both caches (the
// full run may prefill in chunks to lower it). One prompt per call (B = 1).
// Not here: the prompts (engine/tasks/fidelity.ts), the runner's records (engine/bench/).

import { checkInt } from "../shapes.ts";
import { argmax, klDivergence, perplexity, tokenLogProbs } from "../tasks/fidelity.ts";
import { cacheFormat } from "./compression.ts";
import { DEFAULT_FORMAT } from "./generate.ts";
import type { Model } from "./model.ts";
import { type CacheOptions, Session, type SessionCompression } from "./session.ts";

/** The compared cache (a method with its format, or a format alone: SessionOptions). */
export interface CompareOptions extends CacheOptions {
  /**
   * Decode steps per command buffer and logits readback (default: 16, fewer where 16 steps of
   * the vocabulary would pass 32 MiB).
   */
  readonly readEvery?: number;
}

export interface FidelityOptions extends CompareOptions {
  /** Decode steps compared, ≥ 1 (each predicts the token after the full run's last one). */
  readonly steps: number;
  /** The reference: the full cache in this format (default "fp16"). */
  readonly fullFormat?: string;
  /** Prefill the full run this many tokens at a time (activation memory; same logits). */
  readonly fullPrefillChunk?: number;
}

/** What a method run was (GenerateResult's compression). */
export type CompressionInfo = SessionCompression;

export interface FidelityResult {
  /** Fraction of the compared steps whose argmax equals the full run's. */
  readonly top1Agreement: number;
  /** Mean over the compared steps of KL(P_full || P_method), nats. */
  readonly meanKl: number;
  /** Per compared step: KL and whether the argmax agreed. */
  readonly kl: readonly number[];
  readonly agrees: readonly boolean[];
  /** The prefill's prediction (not in the means; see the header). */
  readonly prefillKl: number;
  readonly prefillAgrees: boolean;
  /** Decode steps compared. */
  readonly steps: number;
  /** The full run's greedy tokens: the prefill's, then one per step (steps + 1). */
  readonly tokens: readonly number[];
  /** Bytes of the full run's caches (fullFormat), from their allocations. */
  readonly kvBytesFull: number;
  /** Bytes of the compared run's caches (after compression), from their allocations. */
  readonly kvBytes: number;
  readonly fullFormat: string;
  readonly format: string;
  readonly compression?: CompressionInfo;
  /** Wall times: prefills from submit to GPU idle; decodes including their readbacks. */
  readonly ms: {
    readonly fullPrefill: number;
    readonly prefill: number;
    readonly fullDecode: number;
    readonly decode: number;
    /** Host time spent on KL and argmax. */
    readonly score: number;
    readonly total: number;
  };
}

export interface PerplexityResult {
  /** exp(−mean log p) over the scored tokens. */
  readonly perplexity: number;
  /** Mean negative log-likelihood, nats per token. */
  readonly nll: number;
  /** Tokens scored: ids.length − prefix. */
  readonly tokens: number;
  /** Natural-log probability of each scored token ids[prefix + i]. */
  readonly logProbs: readonly number[];
  readonly kvBytes: number;
  readonly format: string;
  readonly compression?: CompressionInfo;
  readonly ms: { readonly prefill: number; readonly decode: number; readonly total: number };
}

/** Logits readback budget per call: readEvery · V · 4 bytes stays under this. */
const READ_BYTES = 32 * 2 ** 20;

function stepsPerRead(o: CompareOptions, V: number): number {
  if (o.readEvery !== undefined) {
    checkInt("readEvery (decode steps per readback)", o.readEvery);
    return o.readEvery;
  }
  return Math.max(1, Math.min(16, Math.floor(READ_BYTES / (V * 4))));
}

function checkIds(what: string, ids: readonly number[], V: number): void {
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new RangeError(`${what}: token ${i} is ${id}, expected an id in [0, ${V})`);
    }
  });
}

function compressionInfo(s: Session): CompressionInfo | undefined {
  return s.compression;
}

/** The session for the compared run (method, format) of a prompt of T tokens. */
function compared(
  model: Model,
  o: CompareOptions,
  T: number,
  newTokens: number,
): Promise<Session> {
  return Session.create(model, {
    B: 1,
    maxPrompt: T,
    maxNewTokens: newTokens,
    format: cacheFormat(o.method, o.format, DEFAULT_FORMAT),
    method: o.method,
    params: o.params,
    budget: o.budget,
    decodeEviction: o.decodeEviction,
    prefill: o.prefill,
    prefillChunk: o.prefillChunk,
  });
}

/** Logits [V] of the newest step of a session (after prefill: the last prompt token's). */
async function readLogits(s: Session): Promise<Float32Array> {
  const [raw] = await s.model.gpu.read([{ buffer: s.logits }]);
  return new Float32Array(raw);
}

// --- fidelity ----------------------------------------------------------------------------------

/**
 * Greedy-decodes `steps` tokens after the prompt with the full cache, teacher-forces the compared
 * cache on the same tokens, and scores each step's next-token distribution as it arrives.
 */
export async function fidelityRun(
  model: Model,
  promptIds: readonly number[],
  o: FidelityOptions,
): Promise<FidelityResult> {
  const gpu = model.gpu;
  const V = model.config.vocab;
  checkInt("steps (decode steps compared)", o.steps);
  checkInt("prompt tokens", promptIds.length);
  checkIds("prompt", promptIds, V);
  const every = stepsPerRead(o, V);
  const fullFormat = cacheFormat(undefined, o.fullFormat, DEFAULT_FORMAT); // unknown: refused now
  if (o.fullPrefillChunk !== undefined) {
    checkInt("fullPrefillChunk (tokens per prefill chunk)", o.fullPrefillChunk);
  }
  const T = promptIds.length;
  const t0 = performance.now();
  // the compared run first (its options are the ones that can be refused); each session's
  // prompt-sized activations are freed after its prefill, so only one set is alive at a time
  const queue = gpu.device.queue;
  const run = await compared(model, o, T, o.steps + 1);
  let full: Session | undefined;
  let rows: GPUBuffer | undefined;
  try {
    let t = performance.now();
    await run.prefill([promptIds]);
    await queue.onSubmittedWorkDone();
    const prefill = performance.now() - t;
    await run.shrink();
    full = await Session.create(model, {
      B: 1,
      maxPrompt: T,
      maxNewTokens: o.steps + 1,
      format: fullFormat,
      prefillChunk: o.fullPrefillChunk,
    });
    t = performance.now();
    await full.prefill([promptIds]);
    await queue.onSubmittedWorkDone();
    const fullPrefill = performance.now() - t;
    await full.shrink();
    let score = 0;
    const fullFirst = await readLogits(full);
    const runFirst = await readLogits(run);
    t = performance.now();
    const prefillKl = klDivergence(fullFirst, runFirst);
    const prefillAgrees = argmax(fullFirst) === argmax(runFirst);
    score += performance.now() - t;
    const tokens = (await full.readIds(0, 1))[0];

    rows = gpu.createBuffer("fidelity.logits", every * V * 4);
    const feed = gpu.createBuffer("fidelity.feed", every * 4);
    const kl: number[] = [];
    const agrees: boolean[] = [];
    let fullDecode = 0, decode = 0;
    try {
      for (let done = 0; done < o.steps;) {
        const n = Math.min(every, o.steps - done);
        // the full run: greedy, its own tokens; each step's logits kept
        t = performance.now();
        const from = full.generated;
        full.decode(n, { logits: rows });
        const [fullRaw, idsRaw] = await gpu.read([
          { buffer: rows, size: n * V * 4 },
          { buffer: full.buf.outIds, offset: from * 4, size: n * 4 },
        ]);
        fullDecode += performance.now() - t;
        // the compared run, fed the tokens the full run's steps were fed: step i of this batch
        // was fed tokens[from − 1 + i] (the previous step's output)
        tokens.push(...new Uint32Array(idsRaw));
        const inputs = tokens.slice(from - 1, from - 1 + n);
        t = performance.now();
        gpu.write(feed, new Uint32Array(inputs));
        run.decode(n, { feed, logits: rows });
        const [runRaw] = await gpu.read([{ buffer: rows, size: n * V * 4 }]);
        decode += performance.now() - t;
        t = performance.now();
        const a = new Float32Array(fullRaw), b = new Float32Array(runRaw);
        for (let s = 0; s < n; s++) {
          const p = a.subarray(s * V, (s + 1) * V), q = b.subarray(s * V, (s + 1) * V);
          kl.push(klDivergence(p, q));
          agrees.push(argmax(p) === argmax(q));
        }
        score += performance.now() - t;
        done += n;
      }
    } finally {
      gpu.destroy(feed);
    }
    return {
      top1Agreement: agrees.filter((x) => x).length / agrees.length,
      meanKl: kl.reduce((x, y) => x + y, 0) / kl.length,
      kl,
      agrees,
      prefillKl,
      prefillAgrees,
      steps: o.steps,
      tokens,
      kvBytesFull: full.kvBytes(),
      kvBytes: run.kvBytes(),
      fullFormat,
      format: run.o.format,
      compression: compressionInfo(run),
      ms: {
        fullPrefill,
        prefill,
        fullDecode,
        decode,
        score,
        total: performance.now() - t0,
      },
    };
  } finally {
    await gpu.device.queue.onSubmittedWorkDone();
    if (rows) gpu.destroy(rows);
    full?.destroy();
    run.destroy();
  }
}

// --- perplexity --------------------------------------------------------------------------------

/**
 * Perplexity of ids[prefix, n) given what precedes each token: prefill ids[0, prefix) (with the
 * method's compression, if any), then teacher-force the rest; log-probabilities in float64.
 */
export async function perplexityRun(
  model: Model,
  ids: readonly number[],
  prefix: number,
  o: CompareOptions = {},
): Promise<PerplexityResult> {
  const gpu = model.gpu;
  const V = model.config.vocab;
  checkInt("ids (tokens of the text)", ids.length, 2);
  checkInt("prefix (tokens prefilled before scoring)", prefix, 1, ids.length - 1);
  checkIds("ids", ids, V);
  const every = stepsPerRead(o, V);
  const scored = ids.length - prefix;
  const t0 = performance.now();
  const s = await compared(model, o, prefix, scored);
  let rows: GPUBuffer | undefined, feed: GPUBuffer | undefined;
  try {
    let t = performance.now();
    await s.prefill([ids.slice(0, prefix)]);
    await gpu.device.queue.onSubmittedWorkDone();
    const prefill = performance.now() - t;
    t = performance.now();
    const logProbs = tokenLogProbs([await readLogits(s)], [ids[prefix]]);
    rows = gpu.createBuffer("perplexity.logits", every * V * 4);
    feed = gpu.createBuffer("perplexity.feed", every * 4);
    // step j (1-based) is fed ids[prefix + j − 1] and predicts ids[prefix + j]
    for (let j = 1; j < scored;) {
      const n = Math.min(every, scored - j);
      gpu.write(feed, new Uint32Array(ids.slice(prefix + j - 1, prefix + j - 1 + n)));
      s.decode(n, { feed, logits: rows });
      const [raw] = await gpu.read([{ buffer: rows, size: n * V * 4 }]);
      const all = new Float32Array(raw);
      for (let i = 0; i < n; i++) {
        logProbs.push(...tokenLogProbs([all.subarray(i * V, (i + 1) * V)], [ids[prefix + j + i]]));
      }
      j += n;
    }
    const decode = performance.now() - t;
    return {
      perplexity: perplexity(logProbs),
      nll: -logProbs.reduce((a, b) => a + b, 0) / logProbs.length,
      tokens: scored,
      logProbs,
      kvBytes: s.kvBytes(),
      format: s.o.format,
      compression: compressionInfo(s),
      ms: { prefill, decode, total: performance.now() - t0 },
    };
  } finally {
    await gpu.device.queue.onSubmittedWorkDone();
    if (rows) gpu.destroy(rows);
    if (feed) gpu.destroy(feed);
    s.destroy();
  }
}
