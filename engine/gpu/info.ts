// `deno task gpu-info [--device auto|gpu|software]`: prints what Deno's WebGPU exposes on this
// machine (adapter info, software-fallback flag, features, the limits kvlab requests) as JSON.
// Run it first on every new GPU host: a silent llvmpipe fallback makes every timing meaningless.

import { parseArgs } from "node:util";
import { AdapterError, type DeviceChoice, Gpu } from "./mod.ts";

const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

if (import.meta.main) {
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: { device: { type: "string", default: "auto" } },
    });
    const gpu = await Gpu.open({ device: values.device as DeviceChoice });
    const limits = Object.fromEntries(LIMITS.map((k) => [k, gpu.device.limits[k]]));
    console.log(JSON.stringify(
      {
        adapter: gpu.report,
        subgroupSizes: {
          min: (gpu.adapter.info as unknown as { subgroupMinSize?: number }).subgroupMinSize ??
            null,
          max: (gpu.adapter.info as unknown as { subgroupMaxSize?: number }).subgroupMaxSize ??
            null,
        },
        deviceFeatures: {
          shaderF16: gpu.f16,
          timestampQuery: gpu.timestamps,
          subgroups: gpu.adapter.features.has("subgroups"),
        },
        limits,
        deno: Deno.version,
      },
      null,
      2,
    ));
  } catch (e) {
    if (e instanceof AdapterError || e instanceof RangeError || e instanceof TypeError) {
      console.error(`kvlab gpu-info: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
