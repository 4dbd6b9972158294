// config.json of a Hugging Face Llama-family checkpoint, read and validated into the shape the
// runtime uses. Supported: llama (including Llama-3 "llama3" rope scaling, and SmolLM, which is
// a llama), mistral, qwen2 (q/k/v bias), qwen3 (per-head q/k RMSNorm); tied or separate lm_head.
// Anything else is refused with a ModelError that lists what is supported.
// Not here: weights (weights.ts), tokenizer (tokenizer.ts).

import { ModelError } from "./errors.ts";

export type Architecture = "llama" | "mistral" | "qwen2" | "qwen3";

/** sliding_window when config.json does not give one (transformers' default for the window archs). */
export const DEFAULT_SLIDING_WINDOW = 4096;

/** architectures[0] → model_type, the checkpoints this runtime runs. */
export const SUPPORTED: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
};

export const ROPE_TYPES = ["default", "linear", "llama3"] as const;
export type RopeScaling =
  | { readonly rope_type: "linear"; readonly factor: number }
  | {
    readonly rope_type: "llama3";
    readonly factor: number;
    readonly low_freq_factor: number;
    readonly high_freq_factor: number;
    readonly original_max_position_embeddings: number;
  };

export interface ModelConfig {
  readonly arch: Architecture;
  /** hidden_size */
  readonly hidden: number;
  /** intermediate_size (the MLP's I) */
  readonly intermediate: number;
  readonly layers: number;
  /** Query heads H */
  readonly H: number;
  /** KV heads Hkv */
  readonly Hkv: number;
  /** Head dim D (head_dim, default hidden / H) */
  readonly D: number;
  /** vocab_size V */
  readonly vocab: number;
  readonly maxPositions: number;
  readonly eps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  /** lm_head is the embedding table */
  readonly tied: boolean;
  /** q/k/v projections carry a bias (qwen2; llama with attention_bias) */
  readonly qkvBias: boolean;
  /** o_proj carries a bias (llama with attention_bias) */
  readonly oBias: boolean;
  /** gate/up/down carry a bias (llama with mlp_bias) */
  readonly mlpBias: boolean;
  /** per-head RMSNorm of q and k before RoPE (qwen3) */
  readonly qkNorm: boolean;
  /**
   * sliding_window: how far back the sliding-window layers attend (a query at position p sees
   * keys p - window + 1 ..= p), or null where no layer uses one. It may exceed maxPositions (it
   * then binds only past a user's extendPositions).
   */
  readonly slidingWindow: number | null;
  /**
   * Per layer, whether it attends through the window: every layer of mistral; qwen2/qwen3 with
   * use_sliding_window, the layers from max_window_layers on (or as layer_types lists them).
   * All false when slidingWindow is null.
   */
  readonly slidingLayers: readonly boolean[];
  readonly bos: number | null;
  readonly eos: readonly number[];
  /** maxPositions / ropeScaling come from the user's extendPositions, not config.json. */
  readonly extended?: boolean;
}

// --- reading -----------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function supportedList(): string {
  return Object.entries(SUPPORTED).map(([a, t]) => `${a} (model_type "${t}")`).join(", ");
}

/** Validates a parsed config.json (and, optionally, generation_config.json for eos ids). */
export function parseConfig(raw: unknown, file = "config.json", generation?: unknown): ModelConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ModelError(`${file}: expected a JSON object`);
  }
  const c = raw as Json;
  const bad = (field: string, what: string): never => {
    throw new ModelError(`${file}: ${field}: got ${JSON.stringify(c[field])}, expected ${what}`);
  };
  const int = (field: string, fallback?: number, min = 1): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      return bad(field, `an integer ≥ ${min}`);
    }
    return v;
  };
  const num = (field: string, fallback: number): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) return bad(field, "a number > 0");
    return v;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const v = c[field] ?? fallback;
    if (typeof v !== "boolean") return bad(field, "true or false");
    return v;
  };

  const archs = c.architectures;
  const archName = Array.isArray(archs) && archs.length === 1 && typeof archs[0] === "string"
    ? archs[0]
    : undefined;
  const arch = archName === undefined ? undefined : SUPPORTED[archName];
  if (!arch) {
    throw new ModelError(
      `${file}: architectures ${
        JSON.stringify(archs)
      } is not supported; supported: ${supportedList()}`,
    );
  }
  if (c.model_type !== arch) {
    bad("model_type", `"${arch}" for ${archName}`);
  }
  const act = c.hidden_act ?? c.hidden_activation ?? "silu";
  if (act !== "silu") bad("hidden_act", `"silu" (the SwiGLU MLP of ${arch})`);

  const hidden = int("hidden_size");
  const H = int("num_attention_heads");
  const Hkv = int("num_key_value_heads", H);
  if (H % Hkv !== 0) {
    bad("num_key_value_heads", `a divisor of num_attention_heads=${H}`);
  }
  if (c.head_dim == null && hidden % H !== 0) {
    bad("hidden_size", `a multiple of num_attention_heads=${H} (no head_dim given)`);
  }
  const D = int("head_dim", hidden / H);
  if (D % 2 !== 0 || D > 256) bad("head_dim", "an even number ≤ 256");

  const attentionBias = bool("attention_bias", false);
  const maxPositions = int("max_position_embeddings");
  const layers = int("num_hidden_layers");
  // transformers' defaults: MistralConfig, Qwen2Config and Qwen3Config take sliding_window 4096
  // when the key is absent; an explicit null means none. A window at or past the context never
  // binds, but it is kept: a user's longer context (extendPositions) must still apply it.
  const useSliding = arch === "mistral" ? true : bool("use_sliding_window", false);
  let slidingWindow: number | null = null;
  if (useSliding && c.sliding_window !== null) {
    slidingWindow = c.sliding_window === undefined ? DEFAULT_SLIDING_WINDOW : int("sliding_window");
  }
  const slidingLayers = windowLayers(arch, layers, slidingWindow !== null, c, bad, int);
  if (!slidingLayers.includes(true)) slidingWindow = null;
  const eos = eosIds(generation, c, file);
  const bos = c.bos_token_id == null ? null : int("bos_token_id", undefined, 0);
  return {
    arch,
    hidden,
    intermediate: int("intermediate_size"),
    layers,
    H,
    Hkv,
    D,
    vocab: int("vocab_size"),
    maxPositions,
    eps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    ropeScaling: ropeScaling(c.rope_scaling, file),
    tied: bool("tie_word_embeddings", false),
    qkvBias: arch === "qwen2" || attentionBias,
    oBias: arch !== "qwen2" && attentionBias,
    mlpBias: bool("mlp_bias", false),
    qkNorm: arch === "qwen3",
    slidingWindow,
    slidingLayers,
    bos,
    eos,
  };
}

/**
 * Which layers use the sliding window (transformers' rule): mistral all of them; qwen2/qwen3 the
 * ones layer_types marks "sliding_attention", or without layer_types those from
 * max_window_layers (default 28) on. None without a window.
 */
function windowLayers(
  arch: Architecture,
  layers: number,
  windowed: boolean,
  c: Json,
  bad: (field: string, what: string) => never,
  int: (field: string, fallback?: number, min?: number) => number,
): boolean[] {
  if (!windowed || arch === "llama") return new Array(layers).fill(false);
  if (arch === "mistral") return new Array(layers).fill(true);
  const types = c.layer_types;
  if (types != null) {
    const kinds = ["full_attention", "sliding_attention"];
    if (
      !Array.isArray(types) || types.length !== layers ||
      types.some((t) => !kinds.includes(t as string))
    ) {
      bad("layer_types", `${layers} entries (num_hidden_layers), each one of ${kinds.join(", ")}`);
    }
    return (types as string[]).map((t) => t === "sliding_attention");
  }
  const from = int("max_window_layers", 28, 0);
  return Array.from({ length: layers }, (_, l) => l >= from);
}

/** The limit's name in messages: max_position_embeddings, or the user's extension of it. */
export function positionLimit(c: ModelConfig): string {
  return c.extended
    ? `position limit ${c.maxPositions} (extended by the user)`
    : `max_position_embeddings ${c.maxPositions}`;
}

/** Layer l's sliding window, or undefined where it attends to every earlier token. */
export function layerWindow(c: ModelConfig, l: number): number | undefined {
  return c.slidingWindow !== null && c.slidingLayers[l] ? c.slidingWindow : undefined;
}

function eosIds(generation: unknown, c: Json, file: string): number[] {
  const g = (typeof generation === "object" && generation !== null ? generation : {}) as Json;
  const v = g.eos_token_id ?? c.eos_token_id;
  const list = v == null ? [] : Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ModelError(`${file}: eos_token_id: got ${JSON.stringify(v)}, expected token ids`);
    }
  }
  return list as number[];
}

function ropeScaling(v: unknown, file: string): RopeScaling | null {
  if (v == null) return null;
  const r = v as Json;
  const type = r.rope_type ?? r.type;
  const factor = r.factor;
  const pos = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x > 0;
  if (type === "default") return null;
  if (type === "linear" && pos(factor)) {
    return { rope_type: "linear", factor: factor as number };
  }
  if (
    type === "llama3" && pos(factor) && pos(r.low_freq_factor) && pos(r.high_freq_factor) &&
    (r.high_freq_factor as number) > (r.low_freq_factor as number) &&
    pos(r.original_max_position_embeddings)
  ) {
    return {
      rope_type: "llama3",
      factor: factor as number,
      low_freq_factor: r.low_freq_factor as number,
      high_freq_factor: r.high_freq_factor as number,
      original_max_position_embeddings: r.original_max_position_embeddings as number,
    };
  }
  throw new ModelError(
    `${file}: rope_scaling ${JSON.stringify(v)} is not supported; supported: null, ` +
      `{"rope_type": "linear", factor}, {"rope_type": "llama3", factor, low_freq_factor, ` +
      `high_freq_factor (> low), original_max_position_embeddings}`,
  );
}

// --- positions past the trained context (the user's opt-in) ------------------------------------

/**
 * What a user allows beyond max_position_embeddings (generate --max-positions / --rope-factor):
 * without it a longer context is refused.
 */
export interface PositionOverride {
  /**
   * The new max_position_embeddings. Alone, RoPE extrapolates past the trained length (what a
   * model does there is its own affair); default with ropeFactor: the old one × the factor.
   */
  readonly maxPositions?: number;
  /**
   * Linear position interpolation (rope_scaling {"rope_type": "linear", factor}): positions
   * divided by this factor (> 1). Only for a model with plain RoPE (rope_scaling null).
   */
  readonly ropeFactor?: number;
}

/** `c` with the user's position override applied; a RangeError names a bad value. */
export function extendPositions(c: ModelConfig, o: PositionOverride): ModelConfig {
  const { maxPositions, ropeFactor } = o;
  if (
    maxPositions !== undefined &&
    (!Number.isInteger(maxPositions) || maxPositions < c.maxPositions || maxPositions > 2 ** 32 - 1)
  ) {
    throw new RangeError(
      `max positions: got ${maxPositions}, expected an integer in [${c.maxPositions} ` +
        `(max_position_embeddings), 2^32 - 1]: it raises the limit`,
    );
  }
  if (ropeFactor === undefined) {
    return maxPositions === undefined ? c : { ...c, maxPositions, extended: true };
  }
  if (!Number.isFinite(ropeFactor) || ropeFactor <= 1) {
    throw new RangeError(`rope factor: got ${ropeFactor}, expected a number > 1`);
  }
  if (c.ropeScaling !== null) {
    throw new RangeError(
      `rope factor ${ropeFactor}: this model already scales RoPE (rope_scaling ` +
        `${JSON.stringify(c.ropeScaling)}); a linear factor applies to plain RoPE only. ` +
        "Give max positions alone to let it extrapolate",
    );
  }
  return {
    ...c,
    maxPositions: maxPositions ?? Math.floor(c.maxPositions * ropeFactor),
    ropeScaling: { rope_type: "linear", factor: ropeFactor },
    extended: true,
  };
}

/** Reads and validates DIR/config.json (and DIR/generation_config.json when present). */
export async function readConfig(dir: string): Promise<ModelConfig> {
  const file = `${dir.replace(/\/$/, "")}/config.json`;
  const raw = await readJson(file);
  const genFile = `${dir.replace(/\/$/, "")}/generation_config.json`;
  const generation = await readJson(genFile, true);
  return parseConfig(raw, file, generation);
}

/** A JSON file, or a ModelError naming it; `optional` files that do not exist read as undefined. */
export async function readJson(file: string, optional = false): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (optional && e instanceof Deno.errors.NotFound) return undefined;
    throw new ModelError(`${file}: cannot read it (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

// --- rope frequencies --------------------------------------------------------------------------

/**
 * inv_freq [D/2] as Hugging Face computes it in f32: 1 / theta^(2i/D), then rope scaling
 * (linear: / factor; llama3: long wavelengths / factor, a smooth blend in between). Returned
 * rounded to f32, the values the model was trained with.
 */
export function ropeInvFreq(o: {
  readonly D: number;
  readonly theta: number;
  readonly scaling?: RopeScaling | null;
}): number[] {
  const f = Math.fround;
  const half = o.D / 2;
  const inv: number[] = [];
  for (let i = 0; i < half; i++) inv.push(f(1 / f(o.theta ** f((2 * i) / o.D))));
  const s = o.scaling;
  if (!s) return inv;
  if (s.rope_type === "linear") return inv.map((x) => f(x / s.factor));
  const lowWavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const highWavelen = s.original_max_position_embeddings / s.high_freq_factor;
  return inv.map((x) => {
    const wavelen = (2 * Math.PI) / x;
    if (wavelen < highWavelen) return x;
    if (wavelen > lowWavelen) return f(x / s.factor);
    const smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
      (s.high_freq_factor - s.low_freq_factor);
    return f((1 - smooth) * (x / s.factor) + smooth * x);
  });
}
