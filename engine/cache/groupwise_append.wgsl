// Append path of the group-wise quantized caches int8 / int4 (engine/cache/groupwise.ts):
// quantizes sequence b's first counts[b] new tokens of keys AND values per token over groups of
// QG = 32 channels, and writes them at positions lens[b] .. (the old length). No residual.
// RING (a rolling cache, format.ts CacheShape.ring): position p goes to slot p mod CAP, and only
// the last CAP of the new tokens are written.
// The quantizer is quant_write.wgsl (shared with kivi_append.wgsl), appended by the host.

override D: u32 = 128u;              // head dim
override HKV: u32 = 8u;              // KV heads
override CAP: u32 = 1024u;           // token capacity per sequence
override BITS: u32 = 8u;             // bits per code: 4 or 8
override INV_MAXQ: f32 = 0.003921569; // f32(1 / (2^BITS - 1)), from the host
override META: u32 = 0u;             // word offset of the metadata in k_store / v_store
override RING: bool = false;         // a rolling cache

const QG: u32 = 32u; // quantization group: channels

struct Params {
  Tn: u32, // tokens in the input per sequence
}

// k_store, v_store: codes [B, Hkv, CAP, D·BITS/32] | meta [B, Hkv, CAP, D/32]
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lens: array<u32>;          // [B] old lengths
@group(0) @binding(2) var<storage, read> counts: array<u32>;        // [B] tokens to take
@group(0) @binding(3) var<storage, read> k_in: array<f32>;          // [B, Tn, Hkv, D]
@group(0) @binding(4) var<storage, read> v_in: array<f32>;          // [B, Tn, Hkv, D]
@group(0) @binding(5) var<storage, read_write> k_store: array<u32>; // see above
@group(0) @binding(6) var<storage, read_write> v_store: array<u32>; // see above

// The quantizer (quantize, qcode, f16_round) is in quant_write.wgsl, appended by the host.

// --- entry point -------------------------------------------------------------------------------

// One thread per (new token t, hk, channel group j): over [Tn, Hkv, D/QG] × B.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.z;
  let NG = D / QG;
  let i = gid.x + gid.y * nwg.x * 64u;
  let t = i / (HKV * NG);
  if (t >= p.Tn || t >= counts[b] || (RING && t + CAP < counts[b])) {
    return;
  }
  let hk = (i / NG) % HKV;
  let j = i % NG;
  let src = ((b * p.Tn + t) * HKV + hk) * D + j * QG;
  let pos = lens[b] + t;
  let row = (b * HKV + hk) * CAP + select(pos, pos % CAP, RING);
  store_group(src, row, j, NG);
}
