// Decode-attention read snippet for the group-wise quantized caches int8 / int4
// (engine/cache/groupwise.ts): spliced after engine/kernels/decode_attention.wgsl. Stages a tile
// of TILE tokens, dequantizing per-token codes with each 32-channel group's f16 scale and min;
// tokens ≥ len are 0. Consecutive threads read consecutive code words (over token, word).

override HKV: u32 = 8u;   // KV heads
override CAP: u32 = 1024u; // token capacity per sequence
override BITS: u32 = 8u;  // bits per code
override META: u32 = 0u;  // word offset of the metadata in k_store / v_store

const GW_QG: u32 = 32u;

// k_store, v_store: codes [B, Hkv, CAP, D·BITS/32] | meta [B, Hkv, CAP, D/32]
@group(0) @binding(4) var<storage, read> kv_lens: array<u32>; // [B]
@group(0) @binding(5) var<storage, read> k_store: array<u32>;
@group(0) @binding(6) var<storage, read> v_store: array<u32>;

fn kv_len(b: u32) -> u32 {
  return kv_lens[b];
}

fn gw_word(is_k: bool, i: u32) -> u32 {
  if (is_k) {
    return k_store[i];
  }
  return v_store[i];
}

fn stage_groupwise(is_k: bool, b: u32, hk: u32, t0: u32, lid: u32) {
  let len = kv_lens[b];
  var n = 0u; // stored tokens in this tile
  if (len > t0) {
    n = min(TILE, len - t0);
  }
  let PER = 32u / BITS;
  let WV = D / PER; // code words per token
  let NG = D / GW_QG;
  let row0 = (b * HKV + hk) * CAP + t0;
  let mask = (1u << BITS) - 1u;
  for (var i = lid; i < n * WV; i += WG) {
    let t = i / WV;
    let w = i % WV;
    let word = gw_word(is_k, (row0 + t) * WV + w);
    let sm = unpack2x16float(gw_word(is_k, META + (row0 + t) * NG + w / BITS));
    for (var e = 0u; e < PER; e++) {
      let c = (word >> (e * BITS)) & mask;
      tile[t * KS + w * PER + e] = f32(c) * sm.x + sm.y;
    }
  }
  for (var i = n * D + lid; i < TILE * D; i += WG) {
    tile[(i / D) * KS + i % D] = 0.0;
  }
}

fn stage_k(b: u32, hk: u32, t0: u32, lid: u32) {
  stage_groupwise(true, b, hk, t0, lid);
}

fn stage_v(b: u32, hk: u32, t0: u32, lid: u32) {
  stage_groupwise(false, b, hk, t0, lid);
}
