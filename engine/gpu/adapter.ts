// Adapter choice: the only place kvlab picks a WebGPU adapter.
// It asks for "high-performance", reports adapter.info, detects a software fallback
// (llvmpipe / lavapipe / SwiftShader / WARP) and refuses one unless the caller allows it.

export type DeviceChoice = "auto" | "gpu" | "software";
export const DEVICE_CHOICES: readonly DeviceChoice[] = ["auto", "gpu", "software"];

/** What kvlab records about the adapter in every result. */
export interface AdapterReport {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True when the adapter is a CPU implementation: its timings are not representative. */
  readonly fallback: boolean;
  readonly features: readonly string[];
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic render/i;

/** True if the adapter info describes a CPU implementation of the API. */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const flagged = (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return flagged || SOFTWARE_NAMES.test(text);
}

export function reportAdapter(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  return {
    vendor: String(info.vendor ?? ""),
    architecture: String(info.architecture ?? ""),
    device: String(info.device ?? ""),
    description: String(info.description ?? ""),
    fallback: isSoftwareAdapter(info),
    features: [...adapter.features].map(String).sort(),
  };
}

export class AdapterError extends Error {
  override name = "AdapterError";
}

/**
 * Picks an adapter.
 * - `gpu`: a hardware adapter or an error (never a silent software fallback).
 * - `software`: a software adapter is expected (CI); a hardware one is refused too, so that a
 *   run labelled "software" really is one.
 * - `auto`: whatever the system gives; the report says whether it is a fallback.
 */
export async function chooseAdapter(choice: DeviceChoice): Promise<GPUAdapter> {
  if (!DEVICE_CHOICES.includes(choice)) {
    throw new RangeError(`device: got "${choice}", expected one of ${DEVICE_CHOICES.join(", ")}`);
  }
  if (typeof navigator === "undefined" || !("gpu" in navigator)) {
    throw new AdapterError(
      "WebGPU is not available in this runtime: run Deno with --unstable-webgpu",
    );
  }
  ensureRuntimeDir();
  const adapter = await navigator.gpu.requestAdapter({
    powerPreference: "high-performance",
    forceFallbackAdapter: choice === "software",
  });
  if (!adapter) {
    throw new AdapterError(
      "no WebGPU adapter found; install a Vulkan driver (for a software adapter on Debian: " +
        "apt-get install mesa-vulkan-drivers) and set XDG_RUNTIME_DIR",
    );
  }
  const report = reportAdapter(adapter);
  if (choice === "gpu" && report.fallback) {
    throw new AdapterError(
      `--device gpu: only a software adapter was found (${report.description}); ` +
        "pass --device auto or --device software to run on it anyway (timings are then not representative)",
    );
  }
  if (choice === "software" && !report.fallback) {
    throw new AdapterError(
      `--device software: the adapter found is hardware (${report.description}); pass --device gpu or auto`,
    );
  }
  return adapter;
}

/**
 * Mesa's Vulkan drivers complain on every adapter request when XDG_RUNTIME_DIR is unset (as on
 * CI machines and under sudo); give them a private one rather than print noise.
 */
function ensureRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync({ prefix: "kvlab-xdg-" }));
  } catch {
    // without --allow-env or a writable temp dir the drivers only warn; carry on
  }
}
