// Public face of engine/methods: compress one attention layer's prompt with a registered method
// into a fresh cache of any format ("snapkv+kivi4"); evict during decode (h2o, tova,
// streaming_llm: DecodeEvictor, one per layer); the registry, and the budget arithmetic.

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
