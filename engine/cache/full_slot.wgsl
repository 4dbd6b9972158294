// Per-slot write of the full caches (fp32, fp16), for decode-time eviction (format.ts
// SlotWritable): token b of the input goes to slot slots[b, hk] of KV head hk, rounded to f16 for
// fp16 exactly as full_append.wgsl rounds it. Lengths are advanced afterwards by
// lengths_grow.wgsl. One thread per stored u32 word.

override B: u32 = 1u;
override D: u32 = 128u;
override HKV: u32 = 8u;
override CAP: u32 = 1024u;
override HALF: bool = false;

@group(0) @binding(0) var<storage, read> slots: array<u32>;         // [B, Hkv] slot per head
@group(0) @binding(1) var<storage, read> k_in: array<f32>;          // [B, Hkv, D] one token
@group(0) @binding(2) var<storage, read> v_in: array<f32>;          // [B, Hkv, D]
@group(0) @binding(3) var<storage, read_write> k_store: array<u32>; // [B, Hkv, CAP, W]
@group(0) @binding(4) var<storage, read_write> v_store: array<u32>; // [B, Hkv, CAP, W]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let W = select(D, D / 2u, HALF);
  let i = gid.x + gid.y * nwg.x * 64u; // over [B, Hkv, W]
  if (i >= B * HKV * W) {
    return;
  }
  let row = i / W; // b · Hkv + hk
  let w = i % W;
  let dst = (row * CAP + slots[row]) * W + w;
  let src = row * D;
  if (HALF) {
    k_store[dst] = pack2x16float(vec2f(k_in[src + 2u * w], k_in[src + 2u * w + 1u]));
    v_store[dst] = pack2x16float(vec2f(v_in[src + 2u * w], v_in[src + 2u * w + 1u]));
  } else {
    k_store[dst] = bitcast<u32>(k_in[src + w]);
    v_store[dst] = bitcast<u32>(v_in[src + w]);
  }
}
