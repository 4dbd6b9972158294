// Model sources by name, one place for every caller (bench runner, generate CLI, server):
//   shape:<preset>      a real architecture's shapes with seeded random weights (speed and
//                       memory only; no tokenizer, accuracy not applicable)
//   builtin:<name>      a model built in TypeScript (engine/model/builtin/): written once as an
//                       ordinary Hugging Face folder and loaded like one
//   hf:org/name[@rev]   the Hugging Face cache, downloaded into it when missing (hub.ts)
//   anything else       a local Hugging Face folder
// Not here: the forward pass (session.ts), generation (generate.ts).

import type { Gpu } from "../gpu/mod.ts";
import type { WeightDtype } from "../kernels/matrix.ts";
import { builtinDir, type BuiltinModel, getBuiltin } from "./builtin/mod.ts";
import type { PositionOverride } from "./config.ts";
import { ModelError } from "./errors.ts";
import { resolveModel } from "./hub.ts";
import { Model } from "./model.ts";
import { presetConfig } from "./presets.ts";
import { ModelTokenizer } from "./tokenizer.ts";
import type { WeightsPolicy } from "./weights.ts";

export type SourceKind = "shape" | "builtin" | "hub" | "folder";

/** What a source is, known without opening it. */
export interface SourceInfo {
  readonly source: string;
  readonly kind: SourceKind;
  /** builtin: its record (supported tasks, label). */
  readonly builtin?: BuiltinModel;
}

/** Classifies a source and checks what can be checked without I/O (unknown presets, builtins). */
export function sourceInfo(source: string): SourceInfo {
  if (source.trim() === "") throw new RangeError(`model: got an empty name, expected a model`);
  if (source.startsWith("shape:")) {
    presetConfig(source.slice(6));
    return { source, kind: "shape" };
  }
  if (source.startsWith("builtin:")) {
    return { source, kind: "builtin", builtin: getBuiltin(source.slice(8)) };
  }
  if (source.startsWith("hf:")) return { source, kind: "hub" };
  return { source, kind: "folder" };
}

export interface OpenedModel {
  readonly info: SourceInfo;
  readonly model: Model;
  /** Undefined for shape: models (random weights have no text), or when not asked for. */
  readonly tokenizer?: ModelTokenizer;
  /** The folder the model was loaded from (not for shape:). */
  readonly dir?: string;
}

export interface OpenOptions {
  /** shape: weight seed (default 0). */
  readonly seed?: number;
  /** Weight dtype policy (default auto: f16 where the adapter has shader-f16). */
  readonly dtype?: WeightsPolicy;
  /** Load the tokenizer too (default true; speed-only callers need no tokenizer.json). */
  readonly tokenizer?: boolean;
  /** The user's opt-in to positions past max_position_embeddings (config.ts). */
  readonly positions?: PositionOverride;
}

/** The folder a non-shape source loads from (hf: resolved or downloaded, builtin: written). */
export async function sourceDir(info: SourceInfo): Promise<string> {
  const dir = info.kind === "builtin"
    ? await builtinDir(info.source.slice(8))
    : await resolveModel(info.source);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch (e) {
    throw new ModelError(`--model: cannot read ${dir} (${(e as Error).message})`);
  }
  if (!stat.isDirectory) throw new ModelError(`--model: ${dir} is not a folder`);
  return dir;
}

/** Opens a source's tokenizer without touching the GPU (undefined for shape:). */
export async function openTokenizer(info: SourceInfo): Promise<ModelTokenizer | undefined> {
  if (info.kind === "shape") return undefined;
  return await ModelTokenizer.load(await sourceDir(info));
}

/** Loads a model (and its tokenizer) onto the GPU. */
export async function openModel(
  gpu: Gpu,
  source: string,
  o: OpenOptions = {},
): Promise<OpenedModel> {
  const info = sourceInfo(source);
  if (info.kind === "shape") {
    const dtype: WeightDtype = o.dtype === "f32" ? "f32" : "f16";
    const model = await Model.fromPreset(gpu, source.slice(6), {
      seed: o.seed ?? 0,
      dtype,
      positions: o.positions,
    });
    return { info, model };
  }
  const dir = await sourceDir(info);
  const tokenizer = o.tokenizer === false ? undefined : await ModelTokenizer.load(dir);
  const model = await Model.load(gpu, dir, { dtype: o.dtype, positions: o.positions });
  return { info, model, tokenizer, dir };
}
