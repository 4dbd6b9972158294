// builtin:induction — a two-layer Llama whose weights are written down, not trained: the induction
// circuit (previous-token heads feeding a head that matches on them) that copies what followed an
// earlier occurrence of the current context. With a full cache it solves retrieval tasks whose
// answer prefix repeats the context in front of the needle (passkey, kv_retrieval) at every
// length up to max_position_embeddings, and it fails exactly where a cache method drops or blurs
// the keys it matches on. A synthetic mechanism model, not an LLM.
// Not here: the vocabulary and tokenizer (vocab.ts), writing the model folder (mod.ts).
//
// --- the architecture ---------------------------------------------------------------------------
//
// An ordinary LlamaForCausalLM: RMSNorm, RoPE (rope_theta 1e31), GQA attention with H = 8 query
// heads over Hkv = 2 KV heads of D = 128, SwiGLU MLPs whose weights are zero (they add nothing),
// an untied lm_head, V = 76 word tokens (vocab.ts), hidden size C = 256, 65536 positions. Every
// norm weight equals the root mean square its input has by construction, so each norm is the
// identity on the vectors below and the weights read them as written.
//
// Token codes. id(t), 19 dims: a digit is the one-hot of its value (0-9; "7" and "##7" alike), a
// word is a "pair code" (e_a ± e_b)/√2 over 9 more dims — 72 such codes, two of them share at
// most one index, so distinct words have |id·id| ≤ 1/2. dig(t), 11 dims: the digit's one-hot, or
// one dimension shared by every non-digit token (the token's type). Distinct digits, and a digit
// and a word, are orthogonal in both codes.
//
// The residual stream, in slots:
//   E0       one-hot of the current token t_i (the embedding, plus BIAS = 1)
//   E1, E2   id and dig codes of t_{i-1}, t_{i-2}          (layer 1, heads 0, 1)
//   B3..B7   dig codes of t_{i-3} .. t_{i-7}               (layer 1, heads 2..6)
//   COPY     scores of the copied token; lm_head reads it (layer 2)
//
// Layer 1 — positional heads. Head o-1 (o = 1..7) attends to the token o positions back through
// RoPE's 11 highest-frequency pairs p = 0..10 (theta_p = 1e31^(-p/64): 1 down to 1.4e-5 rad per
// position): the key is a constant (1, 0) in each pair, the query (A_p cos(theta_p o),
// -A_p sin(theta_p o)) with A_p = 42 · 0.9^p, so a key Δ positions back scores
//   f(Δ) = Σ_p A_p cos(theta_p (Δ - o)).
// The peak Δ = o beats every other Δ in [0, 65536) by ≥ 21.5 (at Δ = o ± 1; by ≥ 55 farther):
// inductionMargins() computes it over every Δ, and the weight left off the target, ≤ 1e-9.
// Values carry the id and dig codes of the token attended; o_proj writes them to E1, E2, B3..B7.
// Head 7 is an attention sink (it attends to BOS and writes nothing), as idle heads of real
// models do.
//
// Layer 2 — the induction head (head 0, KV head 0), on RoPE's near-static pairs p = 15..63
// (theta_p ≤ 5.4e-8: over 65536 positions a pair turns by ≤ 0.0036 rad, so a match keeps
// cos ≥ 0.99999 of its score and a pair adds at most sin ≤ 0.0036 of one across its two dims).
//   query at i:  id(t_i), id(t_{i-1}), dig(t_{i-2}), ..., dig(t_{i-6})          (7 blocks, 93 dims)
//   key at j:    id(t_{j-1}), id(t_{j-2}), dig(t_{j-3}), ..., dig(t_{j-7})
//   score = β Σ_blocks (query block · key block), β = 48: a full match scores 7β = 336.
//   value at j: one-hot of t_j, written to COPY; logit(t) = 10 · COPY[t] at the nominal norm.
// So position j is scored on whether the 7 tokens before it read like the 7 tokens ending at i —
// the last two by identity, the five before by digit value or "a word" — and the head copies the
// token that followed the best match. When nothing matches fully it falls back to an attention
// sink: BOS's key has no content and scores 6.75β, between a full match (7β) and anything less
// (≤ 6.5β), and its value is EOS: with the needle gone, the model stops instead of inventing.
// Heads 1-3 (salience) attend, while the current token is "key" or "value", to the digit tokens
// (score 16 each, BOS 8 otherwise) and write nothing: they shape attention statistics only, so
// that SnapKV's observation window (the question) sees the needle's digits, as a real model's
// retrieval heads do. Heads 4-7 are sinks; KV head 1 holds only the sink key.
// Keys and values are stored in a dense orthogonal basis (fixed, seeded: orthogonal()): scores
// and outputs are unchanged, but each stored channel mixes every code, as a trained model's do,
// so a quantized cache costs the match what it would cost a real one.
//
// --- why it retrieves ---------------------------------------------------------------------------
//
// Mismatch costs: a block whose tokens differ scores ≤ β/2 (two words) or 0 (anything else), so
// a position that is not a full match scores ≤ 6.5β = 312, and a full match beats it by
// ≥ β/2 − 7β·sin(0.0036) = 22.8 (computed: gapInduction), and the sink by 0.25β = 12.
// passkey ("The pass key is 1 ##2 .. ##7. Remember it. 1 ##2 .. ##7 is the pass key." …
// "What is the pass key? The pass key is"):
//   step 0 (query "is" after "key", five words before): the only earlier "key is" after five
//     words stands in front of the key: one full match, the key's first digit.
//   step m = 1..6 (query: the m digits emitted so far): the window is those digits, then words. A
//     position whose 7 tokens before it have that shape and those digits is the (m+1)-th digit of
//     a key occurrence (a digit never stands where the query has a word), and both occurrences
//     continue alike. Repeated digits inside the key cannot confuse it: the window reaches back
//     to the word before the key.
// kv_retrieval, run with {keyDigits: 4, valueDigits: 2} (taskParams in mod.ts), query
//   "key K: value":
//   step 0: (value, :, K4, K3, K2, K1, key) occurs only in front of the asked value (keys are
//     distinct); step 1: (V1, value, :, K4..K1) again only there.
//   The window bounds the task: keyDigits + valueDigits + 1 ≤ 7 (the last value digit still sees
//   the whole key) and keyDigits + 3 ≥ 7 (at step 0 the window stays inside the line; reaching
//   into the line before would let a wrong line's coincidences outscore the right one). Keys of
//   4 digits give 10^4 distinct keys, more than the 65536 / 9 lines 64K tokens hold.
//
// Margins (softmax over up to N = 65536 keys, ln N = 11.1; inductionMargins() computes them):
//   layer 1: gap ≥ 21.5 → the weight off the target is ≤ 1e-9, so the slots are exact codes.
//   layer 2: gap ≥ 22.8 → ≤ N e^-22.8 ≈ 8e-6 of the weight leaves the right token; the sink
//     takes e^-12 ≈ 6e-6 more.
//   f16 caches: a stored key component rounds by ≤ 2^-11 of itself, moving a score by at most
//     2^-11 Σ|q_d k_d|: ≤ 0.2 in layer 1 (√2 Σ A_p = 407) and ≤ 0.17 in layer 2 (7β), far inside
//     both gaps. f16 weights move them by as little.
// What breaks it, by design: a cache without the needle's layer-2 keys (streaming_llm once the
// needle leaves the window, any eviction that drops it) leaves nothing to match — the sink wins
// and the answer stops; quantization noise on the keys eats into the 22.8 of layer 2 and the 21.5
// of layer 1 (formats that quantize the newest tokens, such as per-token int4, blur the
// positional heads themselves).

import { ropeInvFreq } from "../config.ts";
import type { WriteTensor } from "../safetensors_write.ts";
import { digitOf, type TokenIds, tokenIds, vocabulary } from "./vocab.ts";

// --- the numbers ------------------------------------------------------------------------------

export const INDUCTION = {
  /** Head dim: 64 RoPE pairs. */
  D: 128,
  H: 8,
  Hkv: 2,
  layers: 2,
  /** Residual width (250 used). */
  hidden: 256,
  /** The MLPs' width (their weights are zero). */
  intermediate: 32,
  ropeTheta: 1e31,
  maxPositions: 65536,
  eps: 1e-6,
  /** Layer 1 offsets 1..window; layer 2's window is t_i and window − 1 tokens back. */
  window: 7,
  /** Layer 1: RoPE pairs 0..posPairs−1 with amplitude posAmp · posDecay^p. */
  posPairs: 11,
  posAmp: 42,
  posDecay: 0.9,
  /** Layer 2: the first RoPE pair of the induction head's content. */
  contentPair: 15,
  /** The pair holding the BOS sink dimension. */
  sinkPair: 14,
  /** Score per matching block. */
  beta: 48,
  /** Salience heads: score of a digit token while the current token is a trigger word. */
  salience: 16,
  /** Salience heads: score of BOS (where they look when not triggered). */
  salienceSink: 8,
  /** Induction head: score of BOS in blocks (between a full match, 7, and any other, ≤ 6.5). */
  sinkBlocks: 6.75,
  /** Sink heads: score of BOS. */
  sink: 24,
  /** lm_head: logit per unit of COPY at the nominal norm. */
  logitScale: 10,
  /** Words that switch the salience head on. */
  triggers: ["key", "value"],
} as const;

const { D } = INDUCTION;
const HALF = D / 2;
/** The 1/sqrt(D) attention scale, folded into every query. */
const QSCALE = Math.sqrt(D);
/** id code: 10 digit values, then the word pair code. */
const WORD_DIMS = 9;
const ID = 10 + WORD_DIMS;
/** dig code: 10 digit values, then "not a digit". */
const DIG = 11;
/** Layer 1's value: digit one-hot (10), word code (9), word flag, digit pad (norm 2 for all). */
const FLAG = ID;
const PAD = ID + 1;
const VALUE = ID + 2;

// --- codes and layout -----------------------------------------------------------------------------

/** The k-th pair code over n dims: (e_a + e_b)/√2 then (e_a − e_b)/√2 for pairs a < b in order. */
export function pairCode(k: number, n = WORD_DIMS): [number, number, number] {
  let i = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      if (i === k) return [a, b, 1];
      if (i + 1 === k) return [a, b, -1];
      i += 2;
    }
  }
  throw new RangeError(`pair code ${k}: only ${i} codes over ${n} dims`);
}

/**
 * Every token's id code (19 dims) as sparse [index, value] lists, and whether it is a digit (its
 * dig code is then the same one-hot; a word's is the "not a digit" dimension).
 */
export interface TokenCodes {
  readonly id: readonly (readonly [number, number])[][];
  readonly isDigit: readonly boolean[];
}

export function tokenCodes(ids: TokenIds, V: number): TokenCodes {
  const id: [number, number][][] = [];
  const isDigit: boolean[] = [];
  let word = 0;
  for (let t = 0; t < V; t++) {
    const d = digitOf(ids, t);
    isDigit.push(d >= 0);
    if (d >= 0) {
      id.push([[d, 1]]);
    } else {
      const [a, b, s] = pairCode(word++);
      id.push([[10 + a, Math.SQRT1_2], [10 + b, s * Math.SQRT1_2]]);
    }
  }
  return { id, isDigit };
}

export interface Layout {
  readonly V: number;
  /** E0: one-hot, V wide. */
  readonly e0: number;
  /** E1, E2: layer 1's value (VALUE = 21 wide), at index 1 and 2. */
  readonly e: readonly number[];
  /** B_o for o = 3..window, at index o: dig codes, 11 wide. */
  readonly b: readonly number[];
  readonly copy: number;
  readonly bias: number;
  readonly C: number;
}

export function layout(V: number): Layout {
  const e = [0, V, V + VALUE];
  const b: number[] = [];
  let at = V + 2 * VALUE;
  for (let o = 3; o <= INDUCTION.window; o++) {
    b[o] = at;
    at += DIG;
  }
  const copy = at;
  const bias = copy + V;
  if (bias + 1 > INDUCTION.hidden) {
    throw new Error(`induction: ${bias + 1} residual dims needed, hidden is ${INDUCTION.hidden}`);
  }
  return { V, e0: 0, e, b, copy, bias, C: INDUCTION.hidden };
}

/** D index of content dim c laid on RoPE pairs from `pair` on: (pair + c/2, component c % 2). */
function pairDim(pair: number, c: number): number {
  return pair + Math.floor(c / 2) + HALF * (c % 2);
}

/** The induction head's content: blocks 0, 1 are id codes (19), blocks 2..6 dig codes (11). */
function blockStart(k: number): number {
  return k < 2 ? k * ID : 2 * ID + (k - 2) * DIG;
}
const DIM_SINK = INDUCTION.sinkPair;
/** Layer 2's heads: the induction head, then the salience heads (group 0); group 1 sinks. */
const INDUCT = 0;
const SALIENT = [1, 2, 3];

// --- construction -------------------------------------------------------------------------------

export interface InductionModel {
  /** config.json */
  readonly config: Record<string, unknown>;
  /** model.safetensors: F32, in a fixed order. */
  readonly tensors: readonly WriteTensor[];
  readonly vocab: readonly string[];
  readonly layout: Layout;
}

/** A [rows, cols] matrix being filled. */
class Mat {
  readonly data: Float32Array;
  constructor(readonly rows: number, readonly cols: number) {
    this.data = new Float32Array(rows * cols);
  }
  add(r: number, c: number, v: number): void {
    this.data[r * this.cols + c] += v;
  }
}

/** Rows of a linear map from the residual stream into a small coordinate space, in float64. */
class Rows {
  readonly data: Float64Array;
  constructor(readonly rows: number, readonly cols: number) {
    this.data = new Float64Array(rows * cols);
  }
  add(r: number, c: number, v: number): void {
    this.data[r * this.cols + c] += v;
  }
  /** Writes R · this into m's rows at[0..n): row at[i] gets Σ_j R[i][j] · this[j]. */
  placeMixed(m: Mat, at: readonly number[], R: Float64Array, n: number): void {
    for (let i = 0; i < at.length; i++) {
      for (let j = 0; j < this.rows; j++) {
        const r = R[i * n + j];
        if (r === 0) continue;
        for (let c = 0; c < this.cols; c++) {
          const x = this.data[j * this.cols + c];
          if (x !== 0) m.add(at[i], c, r * x);
        }
      }
    }
  }
}

/**
 * An n x n orthogonal matrix (rows orthonormal), the same on every machine: entries drawn
 * uniformly from [-1, 1) by a 32-bit xorshift, then modified Gram-Schmidt (only +, -, x, / and
 * sqrt, which IEEE 754 rounds exactly). Dense: every coordinate mixes into every row.
 */
export function orthogonal(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 31 - 1;
  };
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = next();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += q[i * n + k] * q[j * n + k];
      for (let k = 0; k < n; k++) q[i * n + k] -= dot * q[j * n + k];
    }
    let norm = 0;
    for (let k = 0; k < n; k++) norm += q[i * n + k] ** 2;
    norm = Math.sqrt(norm);
    for (let k = 0; k < n; k++) q[i * n + k] /= norm;
  }
  return q;
}

/** The config.json of builtin:induction. */
export function inductionConfig(V: number, ids: TokenIds): Record<string, unknown> {
  const n = INDUCTION;
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: n.hidden,
    intermediate_size: n.intermediate,
    num_hidden_layers: n.layers,
    num_attention_heads: n.H,
    num_key_value_heads: n.Hkv,
    head_dim: n.D,
    vocab_size: V,
    max_position_embeddings: n.maxPositions,
    rms_norm_eps: n.eps,
    rope_theta: n.ropeTheta,
    rope_scaling: null,
    hidden_act: "silu",
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: false,
    bos_token_id: ids.bos,
    eos_token_id: ids.eos,
    torch_dtype: "float32",
    kvlab_builtin: {
      name: "induction",
      label: "synthetic mechanism model, not an LLM",
      source: "engine/model/builtin/induction.ts",
    },
  };
}

/** Content coordinates of the induction head's keys and queries, laid on pairs 15..63. */
const NCONTENT = 2 * (HALF - INDUCTION.contentPair);
const IS_DIGIT = blockStart(INDUCTION.window);
const CONTENT_DIMS = Array.from({ length: NCONTENT }, (_, c) => pairDim(INDUCTION.contentPair, c));

/** The whole model, deterministically: the same bytes on every run and machine. */
export function buildInduction(): InductionModel {
  const vocab = vocabulary();
  const ids = tokenIds(vocab);
  const V = vocab.length;
  const L = layout(V);
  const codes = tokenCodes(ids, V);
  const n = INDUCTION;
  const { C } = L;
  const HD = n.H * D, KD = n.Hkv * D;
  const inv = ropeInvFreq({ D, theta: n.ropeTheta });
  const trigger = n.triggers.map((w) => vocab.indexOf(w));
  if (trigger.some((t) => t < 0)) throw new Error("induction: a trigger word is not in the vocab");
  // dense orthogonal changes of basis: stored keys and values are dense vectors, as a trained
  // model's are, so quantizing them costs what it would; scores and outputs are unchanged
  const mixKey = orthogonal(NCONTENT, 0x5eed1);
  const mixValue1 = orthogonal(D, 0x5eed2);
  const mixValue2 = orthogonal(D, 0x5eed3);
  const rowsOf = (start: number) => Array.from({ length: D }, (_, d) => start + d);

  // norms: the identity on what the construction makes (BIAS = 1, unit E0, slots of norm² 2, 1)
  const rms = (sumSquares: number) => Math.sqrt(sumSquares / C + n.eps);
  const norm1 = rms(1 + 1);
  const norm2 = rms(1 + 2 + 2 + (n.window - 2) + 1);
  const norm3 = rms(1 + 2 + 2 + (n.window - 2) + 1 + 1); // + COPY, one unit
  const vec = (v: number) => new Float32Array(C).fill(v);

  const embed = new Mat(V, C);
  for (let t = 0; t < V; t++) {
    embed.add(t, L.e0 + t, 1);
    embed.add(t, L.bias, 1);
  }

  // --- layer 1: positional heads ----------------------------------------------------------------
  const q1 = new Mat(HD, C), k1 = new Mat(KD, C), v1 = new Mat(KD, C), o1 = new Mat(C, HD);
  const value1 = new Rows(VALUE, C); // id code, word flag, digit pad of t_j
  for (let t = 0; t < V; t++) {
    for (const [c, x] of codes.id[t]) value1.add(c, L.e0 + t, x);
    value1.add(codes.isDigit[t] ? PAD : FLAG, L.e0 + t, 1);
  }
  for (let hk = 0; hk < n.Hkv; hk++) {
    const r = hk * D;
    for (let p = 0; p < n.posPairs; p++) k1.add(r + p, L.bias, 1); // constant key (1, 0)
    k1.add(r + DIM_SINK, L.e0 + ids.bos, 1);
    value1.placeMixed(v1, rowsOf(r), mixValue1, D);
  }
  /** o_proj from head h's output: value coordinate c of the mixed value, into residual row. */
  const unmix = (o: Mat, row: number, h: number, R: Float64Array, c: number, w: number) => {
    for (let d = 0; d < D; d++) o.add(row, h * D + d, w * R[d * D + c]);
  };
  for (let o = 1; o <= n.window; o++) {
    const h = o - 1;
    for (let p = 0; p < n.posPairs; p++) {
      const a = QSCALE * n.posAmp * n.posDecay ** p;
      q1.add(h * D + p, L.bias, a * Math.cos(inv[p] * o));
      q1.add(h * D + p + HALF, L.bias, -a * Math.sin(inv[p] * o));
    }
    if (o <= 2) {
      for (let c = 0; c < VALUE; c++) unmix(o1, L.e[o] + c, h, mixValue1, c, 1);
    } else {
      for (let c = 0; c < 10; c++) unmix(o1, L.b[o] + c, h, mixValue1, c, 1);
      unmix(o1, L.b[o] + 10, h, mixValue1, FLAG, 1);
    }
  }
  for (let h = n.window; h < n.H; h++) q1.add(h * D + DIM_SINK, L.bias, QSCALE * n.sink);

  // --- layer 2: the induction head, salience heads, sinks ---------------------------------------
  const q2 = new Mat(HD, C), k2 = new Mat(KD, C), v2 = new Mat(KD, C), o2 = new Mat(C, HD);
  const key = new Rows(NCONTENT, C);
  const induct = new Rows(NCONTENT, C);
  const salient = new Rows(NCONTENT, C);
  const value2 = new Rows(V, C);
  for (let t = 0; t < V; t++) {
    const col = L.e0 + t;
    for (const [c, x] of codes.id[t]) induct.add(blockStart(0) + c, col, x); // id(t_i)
    if (codes.isDigit[t]) key.add(IS_DIGIT, col, 1);
    value2.add(t === ids.bos ? ids.eos : t, col, 1); // the sink's value: end of sequence
  }
  for (let c = 0; c < ID; c++) {
    induct.add(blockStart(1) + c, L.e[1] + c, 1); // id(t_{i-1})
    key.add(blockStart(0) + c, L.e[1] + c, 1); // id(t_{j-1})
    key.add(blockStart(1) + c, L.e[2] + c, 1); // id(t_{j-2})
  }
  for (let c = 0; c < DIG; c++) {
    induct.add(blockStart(2) + c, L.e[2] + (c < 10 ? c : FLAG), 1); // dig(t_{i-2})
    for (let k = 3; k < n.window; k++) induct.add(blockStart(k) + c, L.b[k] + c, 1);
    for (let k = 2; k < n.window; k++) key.add(blockStart(k) + c, L.b[k + 1] + c, 1);
  }
  // BOS, the sink, has no content: at position 0 every slot holds BOS's own codes; cancel them
  for (const k of [0, 1]) {
    for (const [c, x] of codes.id[ids.bos]) key.add(blockStart(k) + c, L.e0 + ids.bos, -x);
  }
  for (let k = 2; k < n.window; k++) key.add(blockStart(k) + 10, L.e0 + ids.bos, -1);
  for (const t of trigger) salient.add(IS_DIGIT, L.e0 + t, n.salience);

  key.placeMixed(k2, CONTENT_DIMS, mixKey, NCONTENT);
  const qb = QSCALE * n.beta;
  for (let i = 0; i < induct.data.length; i++) induct.data[i] *= qb;
  induct.placeMixed(q2, CONTENT_DIMS.map((d) => INDUCT * D + d), mixKey, NCONTENT);
  for (let i = 0; i < salient.data.length; i++) salient.data[i] *= QSCALE;
  for (const h of SALIENT) {
    salient.placeMixed(q2, CONTENT_DIMS.map((d) => h * D + d), mixKey, NCONTENT);
    q2.add(h * D + DIM_SINK, L.bias, QSCALE * n.salienceSink);
  }
  // the induction head falls back to the sink (BOS, value EOS) when no position matches fully
  q2.add(INDUCT * D + DIM_SINK, L.bias, qb * n.sinkBlocks);
  for (let hk = 0; hk < n.Hkv; hk++) k2.add(hk * D + DIM_SINK, L.e0 + ids.bos, 1);
  for (let h = n.H / n.Hkv; h < n.H; h++) q2.add(h * D + DIM_SINK, L.bias, QSCALE * n.sink);
  value2.placeMixed(v2, rowsOf(0), mixValue2, D);
  for (let t = 0; t < V; t++) unmix(o2, L.copy + t, INDUCT, mixValue2, t, 1);

  const lmHead = new Mat(V, C);
  for (let t = 0; t < V; t++) lmHead.add(t, L.copy + t, n.logitScale);

  const zero = (r: number, c: number) => new Float32Array(r * c);
  const I = n.intermediate;
  const tensors: WriteTensor[] = [
    { name: "model.embed_tokens.weight", shape: [V, C], data: embed.data },
  ];
  const layers = [
    { q: q1, k: k1, v: v1, o: o1, norm: norm1 },
    { q: q2, k: k2, v: v2, o: o2, norm: norm2 },
  ];
  layers.forEach((w, l) => {
    const p = `model.layers.${l}.`;
    tensors.push(
      { name: `${p}input_layernorm.weight`, shape: [C], data: vec(w.norm) },
      { name: `${p}self_attn.q_proj.weight`, shape: [HD, C], data: w.q.data },
      { name: `${p}self_attn.k_proj.weight`, shape: [KD, C], data: w.k.data },
      { name: `${p}self_attn.v_proj.weight`, shape: [KD, C], data: w.v.data },
      { name: `${p}self_attn.o_proj.weight`, shape: [C, HD], data: w.o.data },
      { name: `${p}post_attention_layernorm.weight`, shape: [C], data: vec(1) },
      { name: `${p}mlp.gate_proj.weight`, shape: [I, C], data: zero(I, C) },
      { name: `${p}mlp.up_proj.weight`, shape: [I, C], data: zero(I, C) },
      { name: `${p}mlp.down_proj.weight`, shape: [C, I], data: zero(C, I) },
    );
  });
  tensors.push(
    { name: "model.norm.weight", shape: [C], data: vec(norm3) },
    { name: "lm_head.weight", shape: [V, C], data: lmHead.data },
  );
  return { config: inductionConfig(V, ids), tensors, vocab, layout: L };
}

// --- the arithmetic, computed ------------------------------------------------------------------

export interface InductionMargins {
  /** Positions the margins hold over (max_position_embeddings). */
  readonly positions: number;
  /** Layer 1: min over offsets o and Δ ≠ o in [0, positions) of f(o) − f(Δ). */
  readonly layer1Gap: number;
  /** The same over |Δ − o| ≥ 2. */
  readonly layer1FarGap: number;
  /** Layer 1: the largest softmax weight off the target, max_o Σ_Δ≠o exp(f(Δ) − f(o)). */
  readonly layer1Leak: number;
  /** Σ_p A_p: layer 1's peak score (f16 keys move a score by ≤ 2^-11 of it). */
  readonly layer1Signal: number;
  /** The largest angle a content pair of layer 2 turns over `positions`. */
  readonly drift: number;
  /** Layer 2: a full match minus the best other score (half a word block, drift, cross terms). */
  readonly gapInduction: number;
  /** Layer 2: a full match minus the sink (BOS); the sink's weight is ≤ e^-gapSink. */
  readonly gapSink: number;
  /** Layer 2: the sink minus the best score short of a full match (> 0: no match → the sink). */
  readonly sinkOverPartial: number;
  /** Layer 2's peak score, 7β. */
  readonly inductionSignal: number;
  /** ln(positions): what a gap must exceed for one key to outweigh all others together. */
  readonly lnN: number;
}

/** The margins of the header, from the constants and the runtime's own RoPE frequencies. */
export function inductionMargins(positions: number = INDUCTION.maxPositions): InductionMargins {
  const n = INDUCTION;
  const inv = ropeInvFreq({ D, theta: n.ropeTheta });
  const amp = Array.from({ length: n.posPairs }, (_, p) => n.posAmp * n.posDecay ** p);
  // f(o) − f(o + x) depends on x = Δ − o only, x in [−window, positions)
  const lo = -n.window;
  const g = new Float64Array(positions - lo);
  for (let x = lo; x < positions; x++) {
    let s = 0;
    for (let p = 0; p < n.posPairs; p++) s += amp[p] * (1 - Math.cos(inv[p] * x));
    g[x - lo] = s;
  }
  let gap = Infinity, far = Infinity, leak = 0;
  for (let o = 1; o <= n.window; o++) {
    let sum = 0;
    for (let delta = 0; delta < positions; delta++) {
      const x = delta - o;
      if (x === 0) continue;
      const v = g[x - lo];
      gap = Math.min(gap, v);
      if (Math.abs(x) >= 2) far = Math.min(far, v);
      sum += Math.exp(-v);
    }
    leak = Math.max(leak, sum);
  }
  const drift = inv[n.contentPair] * positions;
  // a full match keeps cos(drift) of each block; any other position scores at most 6.5 blocks,
  // plus a cross term of ≤ sin(drift) per block
  const full = n.window * n.beta * Math.cos(drift);
  const other = (n.window - 0.5) * n.beta + n.window * n.beta * Math.sin(drift);
  const sink = n.sinkBlocks * n.beta; // BOS at position 0; its pair turns by ≤ inv[sinkPair]·N
  const sinkLow = sink * Math.cos(inv[n.sinkPair] * positions);
  return {
    positions,
    layer1Gap: gap,
    layer1FarGap: far,
    layer1Leak: leak,
    layer1Signal: amp.reduce((a, b) => a + b, 0),
    drift,
    gapInduction: full - other,
    gapSink: full - sink,
    sinkOverPartial: sinkLow - other,
    inductionSignal: n.window * n.beta,
    lnN: Math.log(positions),
  };
}
