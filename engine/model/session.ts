// One generation run of a Model over B sequences: a KV cache per layer (any registry format),
// decode attention over each, the activation buffers, the RoPE table and positions, and the
// recording of the forward pass.
//
//   prefill(prompts)  one command buffer: all B prompts at once (right-padded to the longest,
//                     T tokens; causal attention keeps the padding out of every real token),
//                     each layer's k/v appended to its cache with counts = the prompt lengths,
//                     prefill attention over the f32 k/v scratch (shared by all layers), then
//                     each sequence's last token → final norm → logits → argmax on the GPU.
//   decode(n)         one command buffer for n steps, one compute pass each: the previous
//                     step's ids → embedding → layers (append one token, decode attention over
//                     the stored, possibly quantized, form) → logits → argmax. Positions live
//                     on the GPU (`pos` [B]), so steps need no host round trip; each step's ids
//                     are copied into `outIds` [N, B] and read back in one batch (readIds).
//
// Shapes (engine/shapes.ts letters; C hidden size, I intermediate size, V vocabulary):
//   x, xn [B·T, C]; q, attn [B·T, H·D]; k, v [B·T, Hkv·D]; gate, up [B·T, I]; logits [B, V].
// Not here: tokenization, stopping at EOS and timing (generate.ts).

import { dispatch } from "../gpu/mod.ts";
import type { KvCache } from "../cache/format.ts";
import { createCache, getFormat } from "../cache/registry.ts";
import { DecodeAttention } from "../kernels/decode_attention.ts";
import { ropeTable } from "../kernels/rope.ts";
import type { Matrix } from "../kernels/matrix.ts";
import { checkInt } from "../shapes.ts";
import type { Model } from "./model.ts";

export interface SessionOptions {
  /** Sequences decoded together. */
  readonly B: number;
  /** Longest prompt (tokens, BOS included). */
  readonly maxPrompt: number;
  /** Tokens to generate per sequence (the first comes from prefill). */
  readonly maxNewTokens: number;
  /** KV-cache format by registry name (engine/cache/registry.ts). */
  readonly format: string;
}

interface Buffers {
  ids: GPUBuffer; // [B·T] u32 prompt ids (right-padded with 0)
  last: GPUBuffer; // [B] u32 row of each sequence's last prompt token in x
  x: GPUBuffer;
  xn: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  attn: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  xl: GPUBuffer; // [B, C] last hidden states
  logits: GPUBuffer; // [B, V]
  next: GPUBuffer; // [B] u32 the newest ids
  pos: GPUBuffer; // [B] u32 position of the next token
  promptLens: GPUBuffer; // [B] u32
  ones: GPUBuffer; // [B] u32
  outIds: GPUBuffer; // [maxNewTokens, B] u32
  rope: GPUBuffer; // [capacity, D/2] (cos, sin)
}

export class Session {
  /** Tokens generated so far per sequence (all sequences advance together). */
  generated = 0;
  #lens: number[] = [];
  readonly #advance: { prefill: GPUBindGroup; step: GPUBindGroup };

  private constructor(
    readonly model: Model,
    readonly o: SessionOptions,
    readonly caches: readonly KvCache[],
    readonly attention: readonly DecodeAttention[],
    readonly buf: Buffers,
    readonly own: readonly GPUBuffer[],
  ) {
    const gpu = model.gpu;
    const adv = model.kernels.advance;
    this.#advance = {
      prefill: gpu.bindGroup(adv, [buf.pos, buf.promptLens]),
      step: gpu.bindGroup(adv, [buf.pos, buf.ones]),
    };
  }

  /** Tokens each sequence's cache must hold: prompt + new tokens. */
  get capacity(): number {
    return this.o.maxPrompt + this.o.maxNewTokens;
  }

  static async create(model: Model, o: SessionOptions): Promise<Session> {
    const gpu = model.gpu;
    const c = model.config;
    checkInt("B (sequences)", o.B, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
    checkInt("maxPrompt (tokens)", o.maxPrompt);
    checkInt("maxNewTokens", o.maxNewTokens);
    getFormat(o.format); // an unknown name fails here, before any allocation
    const capacity = o.maxPrompt + o.maxNewTokens;
    if (capacity > c.maxPositions) {
      throw new RangeError(
        `prompt (${o.maxPrompt} tokens) + max new tokens (${o.maxNewTokens}) = ${capacity} ` +
          `exceeds the model's max_position_embeddings ${c.maxPositions}`,
      );
    }
    if (c.slidingWindow !== null && capacity > c.slidingWindow) {
      throw new RangeError(
        `prompt + new tokens = ${capacity} exceeds the model's sliding_window ${c.slidingWindow}, ` +
          "which this runtime does not apply",
      );
    }
    const { B } = o;
    const rows = B * o.maxPrompt;
    const own: GPUBuffer[] = [];
    const alloc = (label: string, bytes: number) => {
      gpu.checkBinding(
        `model scratch ${label} (B=${B}, T=${o.maxPrompt}: use a shorter prompt or a smaller batch)`,
        bytes,
      );
      const b = gpu.createBuffer(`model.${label}`, bytes);
      own.push(b);
      return b;
    };
    const caches: KvCache[] = [];
    const attention: DecodeAttention[] = [];
    try {
      const HD = c.H * c.D, KD = c.Hkv * c.D;
      const buf: Buffers = {
        ids: alloc("ids", rows * 4),
        last: alloc("last", B * 4),
        x: alloc("x", rows * c.hidden * 4),
        xn: alloc("xn", rows * c.hidden * 4),
        q: alloc("q", rows * HD * 4),
        k: alloc("k", rows * KD * 4),
        v: alloc("v", rows * KD * 4),
        attn: alloc("attn", rows * HD * 4),
        gate: alloc("gate", rows * c.intermediate * 4),
        up: alloc("up", rows * c.intermediate * 4),
        xl: alloc("xl", B * c.hidden * 4),
        logits: alloc("logits", B * c.vocab * 4),
        next: alloc("next", B * 4),
        pos: alloc("pos", B * 4),
        promptLens: alloc("prompt_lens", B * 4),
        ones: alloc("ones", B * 4),
        outIds: alloc("out_ids", o.maxNewTokens * B * 4),
        rope: alloc("rope", capacity * c.D * 4),
      };
      gpu.write(buf.ones, new Uint32Array(B).fill(1));
      gpu.write(buf.rope, ropeTable(model.invFreq, capacity));
      for (let l = 0; l < c.layers; l++) {
        const cache = await createCache(gpu, o.format, { B, Hkv: c.Hkv, D: c.D, capacity })
          .catch((e) => {
            if (!(e instanceof RangeError)) throw e;
            throw new RangeError(`cache format "${o.format}" for this model: ${e.message}`);
          });
        caches.push(cache);
        attention.push(await DecodeAttention.create(gpu, cache, { H: c.H }));
      }
      return new Session(model, o, caches, attention, buf, own);
    } catch (e) {
      for (const a of attention) a.destroy();
      for (const k of caches) k.destroy();
      for (const b of own) gpu.destroy(b);
      throw e;
    }
  }

  /** Logits [B, V] of the newest step (prefill: each sequence's last prompt token). */
  get logits(): GPUBuffer {
    return this.buf.logits;
  }

  /** Bytes of all layers' KV caches. */
  kvBytes(): number {
    return this.caches.reduce((s, c) => s + c.bytes(), 0);
  }

  // --- prefill ---------------------------------------------------------------------------------

  /** Records and submits the prefill of B prompts (token ids, each 1 ..= maxPrompt long). */
  prefill(prompts: readonly (readonly number[])[]): void {
    const { B, maxPrompt } = this.o;
    const c = this.model.config;
    if (this.generated > 0) throw new Error("prefill: this session is already prefilled");
    if (prompts.length !== B) {
      throw new RangeError(`prefill: got ${prompts.length} prompts, expected B=${B}`);
    }
    prompts.forEach((p, b) => {
      checkInt(`prompt ${b} length`, p.length, 1, maxPrompt);
      p.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= c.vocab) {
          throw new RangeError(
            `prompt ${b}, token ${i}: got ${id}, expected an id in [0, ${c.vocab})`,
          );
        }
      });
    });
    const T = Math.max(...prompts.map((p) => p.length));
    const gpu = this.model.gpu;
    const ids = new Uint32Array(B * T);
    prompts.forEach((p, b) => ids.set(p, b * T));
    gpu.write(this.buf.ids, ids);
    this.#lens = prompts.map((p) => p.length);
    gpu.write(this.buf.promptLens, new Uint32Array(this.#lens));
    gpu.write(this.buf.last, new Uint32Array(this.#lens.map((n, b) => b * T + n - 1)));

    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    const k = this.model.kernels;
    k.embed.encode(pass, {
      ids: this.buf.ids,
      table: this.model.weights.embed,
      out: this.buf.x,
      N: B * T,
    });
    for (let l = 0; l < c.layers; l++) this.#layer(pass, l, T);
    const x: Matrix = {
      label: "hidden states",
      rows: B * T,
      cols: c.hidden,
      dtype: "f32",
      chunks: [{ buffer: this.buf.x, row0: 0, rows: B * T }],
    };
    k.gather.encode(pass, { ids: this.buf.last, table: x, out: this.buf.xl, N: B });
    this.#head(pass, this.buf.xl, this.#advance.prefill);
    pass.end();
    encoder.copyBufferToBuffer(this.buf.next, 0, this.buf.outIds, 0, B * 4);
    gpu.device.queue.submit([encoder.finish()]);
    this.generated = 1;
  }

  // --- decode ----------------------------------------------------------------------------------

  /** Records and submits `steps` decode steps in one command buffer. */
  decode(steps: number): void {
    const { B, maxNewTokens } = this.o;
    if (this.generated === 0) throw new Error("decode: prefill first");
    checkInt("decode steps", steps, 1, maxNewTokens - this.generated);
    const gpu = this.model.gpu;
    const k = this.model.kernels;
    const encoder = gpu.device.createCommandEncoder();
    for (let s = 0; s < steps; s++) {
      const pass = encoder.beginComputePass();
      k.embed.encode(pass, {
        ids: this.buf.next,
        table: this.model.weights.embed,
        out: this.buf.x,
        N: B,
      });
      for (let l = 0; l < this.model.config.layers; l++) this.#layer(pass, l, 1);
      this.#head(pass, this.buf.x, this.#advance.step);
      pass.end();
      encoder.copyBufferToBuffer(this.buf.next, 0, this.buf.outIds, this.generated * B * 4, B * 4);
      this.generated++;
    }
    gpu.device.queue.submit([encoder.finish()]);
  }

  /** Generated ids [from, to) of every sequence: one readback. */
  async readIds(from = 0, to = this.generated): Promise<number[][]> {
    const { B } = this.o;
    checkInt("from", from, 0, to);
    if (to > this.generated) {
      throw new RangeError(`readIds: only ${this.generated} ids generated, asked for ${to}`);
    }
    if (to === from) return Array.from({ length: B }, () => []);
    const [raw] = await this.model.gpu.read([
      { buffer: this.buf.outIds, offset: from * B * 4, size: (to - from) * B * 4 },
    ]);
    const flat = new Uint32Array(raw);
    return Array.from({ length: B }, (_, b) => {
      const out: number[] = [];
      for (let s = 0; s < to - from; s++) out.push(flat[s * B + b]);
      return out;
    });
  }

  // --- the layers ------------------------------------------------------------------------------

  /** One transformer layer over T tokens per sequence (T = 1: a decode step). */
  #layer(pass: GPUComputePassEncoder, l: number, T: number): void {
    const m = this.model;
    const c = m.config;
    const w = m.weights.layers[l];
    const k = m.kernels;
    const b = this.buf;
    const { B } = this.o;
    const M = B * T;
    k.norm.encode(pass, { x: b.x, w: w.inputNorm, out: b.xn, rows: M });
    m.matmul(w.q, c.qkvBias, false).encode(pass, { x: b.xn, w: w.q, bias: w.qBias, y: b.q, M });
    m.matmul(w.k, c.qkvBias, false).encode(pass, { x: b.xn, w: w.k, bias: w.kBias, y: b.k, M });
    m.matmul(w.v, c.qkvBias, false).encode(pass, { x: b.xn, w: w.v, bias: w.vBias, y: b.v, M });
    if (k.headNorm) {
      k.headNorm.encode(pass, { x: b.q, w: w.qNorm!, rows: M * c.H });
      k.headNorm.encode(pass, { x: b.k, w: w.kNorm!, rows: M * c.Hkv });
    }
    k.rope.encode(pass, { x: b.q, pos: b.pos, table: b.rope, B, T, heads: c.H });
    k.rope.encode(pass, { x: b.k, pos: b.pos, table: b.rope, B, T, heads: c.Hkv });
    const cache = this.caches[l];
    if (T === 1 && this.generated > 0) {
      cache.append(pass, b.k, b.v, 1);
      this.attention[l].encode(pass, b.q, b.attn);
    } else {
      cache.append(pass, b.k, b.v, T, this.#lens);
      k.prefill.encode(pass, { q: b.q, k: b.k, v: b.v, out: b.attn, B, Tq: T, Tk: T });
    }
    m.matmul(w.o, c.oBias, true).encode(pass, { x: b.attn, w: w.o, bias: w.oBias, y: b.x, M });
    k.norm.encode(pass, { x: b.x, w: w.postNorm, out: b.xn, rows: M });
    m.matmul(w.gate, c.mlpBias, false).encode(pass, {
      x: b.xn,
      w: w.gate,
      bias: w.gateBias,
      y: b.gate,
      M,
    });
    m.matmul(w.up, c.mlpBias, false).encode(pass, { x: b.xn, w: w.up, bias: w.upBias, y: b.up, M });
    k.swiglu.encode(pass, { gate: b.gate, up: b.up, n: M * c.intermediate });
    m.matmul(w.down, c.mlpBias, true).encode(pass, {
      x: b.gate,
      w: w.down,
      bias: w.downBias,
      y: b.x,
      M,
    });
  }

  /** Final norm of h [B, C] → logits → argmax into next; then positions advance. */
  #head(pass: GPUComputePassEncoder, h: GPUBuffer, advance: GPUBindGroup): void {
    const m = this.model;
    const { B } = this.o;
    const c = m.config;
    m.kernels.norm.encode(pass, { x: h, w: m.weights.norm, out: this.buf.xn, rows: B });
    m.matmul(m.weights.lmHead, false, false).encode(pass, {
      x: this.buf.xn,
      w: m.weights.lmHead,
      y: this.buf.logits,
      M: B,
    });
    m.kernels.argmax.encode(pass, { logits: this.buf.logits, ids: this.buf.next, B, V: c.vocab });
    dispatch(pass, m.kernels.advance, advance, Math.ceil(B / 64));
  }

  destroy(): void {
    for (const a of this.attention) a.destroy();
    for (const k of this.caches) k.destroy();
    for (const b of this.own) this.model.gpu.destroy(b);
  }
}
