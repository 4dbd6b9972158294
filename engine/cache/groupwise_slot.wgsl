// Per-slot write of the group-wise quantized caches int8 / int4, for decode-time eviction
// (format.ts SlotWritable): token b of the input is quantized exactly as groupwise_append.wgsl
// quantizes it (per token over groups of QG = 32 channels) and stored at slot slots[b, hk] of KV
// head hk. Lengths are advanced afterwards by lengths_grow.wgsl. The quantizer is
// quant_write.wgsl, appended by the host.

override B: u32 = 1u;                // sequences
override D: u32 = 128u;              // head dim
override HKV: u32 = 8u;              // KV heads
override CAP: u32 = 1024u;           // token capacity per sequence
override BITS: u32 = 8u;             // bits per code: 4 or 8
override INV_MAXQ: f32 = 0.003921569; // f32(1 / (2^BITS - 1)), from the host
override META: u32 = 0u;             // word offset of the metadata in k_store / v_store

const QG: u32 = 32u; // quantization group: channels

// k_store, v_store: codes [B, Hkv, CAP, D·BITS/32] | meta [B, Hkv, CAP, D/32]
@group(0) @binding(0) var<storage, read> slots: array<u32>;         // [B, Hkv] slot per head
@group(0) @binding(1) var<storage, read> k_in: array<f32>;          // [B, Hkv, D] one token
@group(0) @binding(2) var<storage, read> v_in: array<f32>;          // [B, Hkv, D]
@group(0) @binding(3) var<storage, read_write> k_store: array<u32>; // see above
@group(0) @binding(4) var<storage, read_write> v_store: array<u32>; // see above

// One thread per (b, hk, channel group j).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let NG = D / QG;
  let i = gid.x + gid.y * nwg.x * 64u; // over [B, Hkv, D/QG]
  if (i >= B * HKV * NG) {
    return;
  }
  let bh = i / NG; // b · Hkv + hk
  let j = i % NG;
  let src = bh * D + j * QG;
  let row = bh * CAP + slots[bh];
  store_group(src, row, j, NG);
}
