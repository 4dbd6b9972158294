// Decode-attention read snippet for the group-wise quantized caches int8 / int4
// (engine/cache/groupwise.ts): spliced after engine/kernels/decode_attention.wgsl together with
// quant_read.wgsl (contract: engine/cache/format.ts). Reads a token's codes for 8 channels
// (BITS/4 words) and its 32-channel group's f16 scale and min straight into registers and
// dequantizes there; the lanes of a token in the value loop read one contiguous code row.

override HKV: u32 = 8u;    // KV heads
override CAP: u32 = 1024u; // token capacity per sequence
override BITS: u32 = 8u;   // bits per code
override META: u32 = 0u;   // word offset of the metadata in k_store / v_store
override RING: bool = false; // a rolling cache: the slots hold the newest min(len, CAP) tokens

const GW_QG: u32 = 32u;

// k_store, v_store: codes [B, Hkv, CAP, D·BITS/32] | meta [B, Hkv, CAP, D/32]
@group(0) @binding(4) var<storage, read> kv_lens: array<u32>; // [B]
@group(0) @binding(5) var<storage, read> k_store: array<u32>;
@group(0) @binding(6) var<storage, read> v_store: array<u32>;

fn kv_len(b: u32) -> u32 {
  return select(kv_lens[b], min(kv_lens[b], CAP), RING);
}

fn gw_word(is_k: bool, i: u32) -> u32 {
  if (is_k) {
    return k_store[i];
  }
  return v_store[i];
}

// Token t's code words for channels 8·d8 .. 8·d8+7 (.y only for 8-bit) and its group's affine
// pair (quant_read.wgsl), packed as (w0, w1, bits of scale·2^BITS, bits of min − scale·2^BITS).
fn gw_load(is_k: bool, b: u32, hk: u32, t: u32, d8: u32) -> vec4<u32> {
  let row = (b * HKV + hk) * CAP + t;
  let at = row * (D * BITS / 32u) + d8 * BITS / 4u;
  var w1 = 0u;
  if (BITS == 8u) {
    w1 = gw_word(is_k, at + 1u);
  }
  let a = q_affine(gw_word(is_k, META + row * (D / GW_QG) + d8 / 4u));
  return vec4<u32>(gw_word(is_k, at), w1, bitcast<vec2<u32>>(a));
}

fn gw_dequant(x: vec4<u32>) -> F8 {
  return q_dequant8(x.x, x.y, bitcast<vec2<f32>>(x.zw));
}

// Token k of the block in w[k].
struct KBlock {
  w: array<vec4<u32>, 4>,
}

fn k_block(b: u32, hk: u32, t0: u32, last: u32, d8: u32) -> KBlock {
  var blk: KBlock;
  for (var k = 0u; k < TPT; k++) {
    blk.w[k] = gw_load(true, b, hk, min(t0 + k, last), d8);
  }
  return blk;
}

fn k_get(blk: KBlock, k: u32) -> F8 {
  return gw_dequant(blk.w[k]);
}

fn load_v8(b: u32, hk: u32, t: u32, d8: u32) -> F8 {
  return gw_dequant(gw_load(false, b, hk, t, d8));
}
