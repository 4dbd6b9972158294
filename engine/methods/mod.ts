// Public face of engine/methods: compress one attention layer's prompt with a registered method
// into a fresh cache of any format ("snapkv+kivi4"), after the prefill (Compressor) or chunk by
// chunk during it (StreamCompressor); evict during decode (h2o, tova, streaming_llm:
// DecodeEvictor, one per layer); quest's page selection (QuestLayer); the registry, and the
// budget arithmetic.

export { type CompressedLayer, type CompressOptions, Compressor } from "./compress.ts";
export {
  DecodeEvictor,
  type EvictorOptions,
  type EvictorShape,
  NO_EVICTION,
  planEviction,
} from "./evict.ts";
export { type Budget, resolveBudget } from "./budget.ts";
export {
  type Composition,
  DEFAULT_FORMAT,
  getMethod,
  methodNames,
  METHODS,
  parseComposition,
} from "./registry.ts";
export type {
  DecodeRule,
  Forced,
  HostLayer,
  LayerInput,
  LayerShape,
  MethodInfo,
  Params,
  ParamSpec,
} from "./method.ts";
export { pyramidBudgets } from "./pyramidkv.ts";
export { QUEST_DENSE_LAYERS } from "./quest.ts";
export { QuestLayer, type QuestOptions } from "./quest_layer.ts";
export {
  DEFAULT_STREAM_CHUNK,
  type StreamChunk,
  StreamCompressor,
  type StreamedLayer,
  type StreamOptions,
} from "./stream.ts";
