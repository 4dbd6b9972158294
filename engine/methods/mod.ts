// Public face of engine/methods: compress one attention layer's prompt with a registered method
// into a fresh cache of any format ("snapkv+kivi4"), the registry, and the budget arithmetic.

export { type CompressedLayer, type CompressOptions, Compressor } from "./compress.ts";
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
  Forced,
  HostLayer,
  LayerInput,
  LayerShape,
  MethodInfo,
  Params,
  ParamSpec,
} from "./method.ts";
export { pyramidBudgets } from "./pyramidkv.ts";
