// Append path of the full caches (fp32, fp16): copies sequence b's first counts[b] new tokens
// to positions lens[b] .. in the store, rounding to f16 for fp16 (pack2x16float). RING (a rolling
// cache, format.ts CacheShape.ring): position p goes to slot p mod CAP, and only the last CAP of
// the new tokens are written (the earlier ones would be overwritten by them in this dispatch).

override D: u32 = 128u;
override HKV: u32 = 8u;
override CAP: u32 = 1024u;
override HALF: bool = false;
override RING: bool = false;

struct Params {
  Tn: u32, // tokens in the input per sequence
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lens: array<u32>;          // [B] old lengths
@group(0) @binding(2) var<storage, read> counts: array<u32>;        // [B] tokens to take
@group(0) @binding(3) var<storage, read> k_in: array<f32>;          // [B, Tn, Hkv, D]
@group(0) @binding(4) var<storage, read> v_in: array<f32>;          // [B, Tn, Hkv, D]
@group(0) @binding(5) var<storage, read_write> k_store: array<u32>; // [B, Hkv, CAP, W]
@group(0) @binding(6) var<storage, read_write> v_store: array<u32>; // [B, Hkv, CAP, W]

// The store slot of position `pos`.
fn slot(pos: u32) -> u32 {
  return select(pos, pos % CAP, RING);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.z;
  let W = select(D, D / 2u, HALF);
  let i = gid.x + gid.y * nwg.x * 64u; // over [Tn, Hkv, W]
  if (i >= p.Tn * HKV * W) {
    return;
  }
  let t = i / (HKV * W);
  if (t >= counts[b] || (RING && t + CAP < counts[b])) {
    return;
  }
  let h = (i / W) % HKV;
  let w = i % W;
  let dst = ((b * HKV + h) * CAP + slot(lens[b] + t)) * W + w;
  let src = ((b * p.Tn + t) * HKV + h) * D;
  if (HALF) {
    k_store[dst] = pack2x16float(vec2f(k_in[src + 2u * w], k_in[src + 2u * w + 1u]));
    v_store[dst] = pack2x16float(vec2f(v_in[src + 2u * w], v_in[src + 2u * w + 1u]));
  } else {
    k_store[dst] = bitcast<u32>(k_in[src + w]);
    v_store[dst] = bitcast<u32>(v_in[src + w]);
  }
}
