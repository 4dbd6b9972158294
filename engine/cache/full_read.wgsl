// Decode-attention read snippet for the full caches (fp32, fp16): spliced after
// engine/kernels/decode_attention.wgsl (contract: engine/cache/format.ts). Rows are read as
// 16-byte vec4<u32> words straight into registers: one load per 8 channels for fp16 (eight f16),
// two for fp32.

override HKV: u32 = 8u;      // KV heads
override CAP: u32 = 1024u;   // token capacity per sequence
override HALF: bool = false; // fp16 storage (two values per u32)
override RING: bool = false; // a rolling cache: the slots hold the newest min(len, CAP) tokens

@group(0) @binding(4) var<storage, read> kv_lens: array<u32>;       // [B]
@group(0) @binding(5) var<storage, read> k_store: array<vec4<u32>>; // [B, Hkv, CAP, W/4], W = D or D/2 u32
@group(0) @binding(6) var<storage, read> v_store: array<vec4<u32>>; // [B, Hkv, CAP, W/4]

fn kv_len(b: u32) -> u32 {
  return select(kv_lens[b], min(kv_lens[b], CAP), RING);
}

// vec4 index of channels 8·d8 .. 8·d8+7 of token t (two consecutive vec4s for fp32)
fn full_at(b: u32, hk: u32, t: u32, d8: u32) -> u32 {
  let row = (b * HKV + hk) * CAP + t;
  if (HALF) {
    return row * (D / 8u) + d8;
  }
  return row * (D / 4u) + 2u * d8;
}

fn full8(w0: vec4<u32>, w1: vec4<u32>) -> F8 {
  if (HALF) {
    return half8(w0);
  }
  return F8(bitcast<vec4<f32>>(w0), bitcast<vec4<f32>>(w1));
}

// Token k of the block: fp16 in w[k]; fp32 in w[2k], w[2k + 1].
struct KBlock {
  w: array<vec4<u32>, 8>,
}

fn k_block(b: u32, hk: u32, t0: u32, last: u32, d8: u32) -> KBlock {
  var blk: KBlock;
  for (var k = 0u; k < TPT; k++) {
    let i = full_at(b, hk, min(t0 + k, last), d8);
    if (HALF) {
      blk.w[k] = k_store[i];
    } else {
      blk.w[2u * k] = k_store[i];
      blk.w[2u * k + 1u] = k_store[i + 1u];
    }
  }
  return blk;
}

fn k_get(blk: KBlock, k: u32) -> F8 {
  if (HALF) {
    return half8(blk.w[k]);
  }
  return full8(blk.w[2u * k], blk.w[2u * k + 1u]);
}

fn load_v8(b: u32, hk: u32, t: u32, d8: u32) -> F8 {
  let i = full_at(b, hk, t, d8);
  if (HALF) {
    return half8(v_store[i]);
  }
  return full8(v_store[i], v_store[i + 1u]);
}
