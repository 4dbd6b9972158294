// The kernel suite's needle cell for sparse methods (quest): the planted context is stored in
// full in the composition's format (nothing is evicted), QuestLayer (engine/methods/quest_layer.ts)
// builds the page metadata and selects the pages the final query reads, and attention runs over
// those pages only. The record says what was read beside what is stored:
//   keptTokens        tokens read per KV head this step (selected pages; the last one partial)
//   needleKept        the needle's page was selected in every (b, hk)
//   kvBytes           stored: the full cache's allocations + the page metadata
//   bytesReadPerStep  read: the selected pages' K and V (the cache's stored bytes per token per
//                     KV head × tokens read) + every held page's metadata (4·D bytes per page
//                     per KV head, scanned by the bounds); bytesReadDense: dense decode's read
// Not here: the other methods' cells (kernel_suite.ts needleCell: compression, then dense
// decode over the smaller cache).

import { getFormat } from "../cache/registry.ts";
import { createCache } from "../cache/registry.ts";
import { QuestLayer } from "../methods/quest_layer.ts";
import { envelope, type NeedleRecord } from "./kernel_records.ts";
import type { NeedleVariant, SuiteContext } from "./kernel_suite.ts";
import { needleCosine, RETRIEVED_COSINE } from "./needle.ts";

export async function questNeedleCell(
  ctx: SuiteContext,
  variant: NeedleVariant,
  T: number,
  depth: number,
  position: number,
  planted: { k: Float32Array; v: Float32Array; q: Float32Array; needles: Float32Array },
  kvBytesFp16: number,
): Promise<NeedleRecord> {
  const { gpu, spec } = ctx;
  const shape = { B: spec.batchSize, H: spec.heads, Hkv: spec.kvHeads, D: spec.headDim };
  const format = variant.key.format;
  const cache = await createCache(gpu, format, {
    B: shape.B,
    Hkv: shape.Hkv,
    D: shape.D,
    capacity: T,
  });
  let quest: QuestLayer | undefined;
  const k = gpu.upload("needle.k", planted.k);
  const v = gpu.upload("needle.v", planted.v);
  const qb = gpu.upload("needle.q", planted.q);
  const ob = gpu.createBuffer("needle.out", shape.B * shape.H * shape.D * 4);
  try {
    gpu.submit((pass) => cache.append(pass, k, v, T));
    quest = await QuestLayer.create(gpu, cache, { H: shape.H, budget: variant.budget!, T });
    const q = quest;
    gpu.submit((pass) => q.encode(pass, qb, ob));
    const [out, sel] = await gpu.read([{ buffer: ob }, { buffer: q.sel }]);
    const pages = new Uint32Array(sel);
    const needlePage = Math.floor(position / q.page);
    let needleKept = true;
    for (let row = 0; row < shape.B * shape.Hkv; row++) {
      if (!pages.subarray(row * q.pages, (row + 1) * q.pages).includes(needlePage)) {
        needleKept = false;
      }
    }
    const cos = needleCosine(shape, new Float32Array(out), planted.needles);
    const read = q.bytesReadPerStep();
    return {
      ...envelope(gpu, ctx.runId, ctx.specHash),
      kind: "needle",
      format,
      bits: getFormat(format).bits,
      method: variant.key.method,
      params: { ...q.params },
      ...variant.budget!,
      prefillMode: "dense",
      keptTokens: q.tokensRead(T),
      needleKept,
      contextLength: T,
      batchSize: spec.batchSize,
      heads: spec.heads,
      kvHeads: spec.kvHeads,
      headDim: spec.headDim,
      needleDepth: depth,
      needlePosition: position,
      needleCosine: cos,
      retrieved: cos > RETRIEVED_COSINE,
      kvBytes: q.kvBytes(),
      kvBytesFp16,
      bytesReadPerStep: read.total,
      bytesReadDense: read.dense,
    };
  } finally {
    for (const b of [k, v, qb, ob]) gpu.destroy(b);
    quest?.destroy();
    cache.destroy();
  }
}
