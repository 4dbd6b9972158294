// Public face of engine/gpu: the only module that touches navigator.gpu.
export * from "./adapter.ts";
export * from "./context.ts";
export * from "./timing.ts";
