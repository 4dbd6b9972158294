// Decode-attention read snippet for the full caches (fp32, fp16): spliced after
// engine/kernels/decode_attention.wgsl. Stores are u32 words: f32 bits, or two f16 per word.

override HKV: u32 = 8u;       // KV heads
override CAP: u32 = 1024u;    // token capacity per sequence
override HALF: bool = false;  // fp16 storage (two values per word)

@group(0) @binding(4) var<storage, read> kv_lens: array<u32>; // [B]
@group(0) @binding(5) var<storage, read> k_store: array<u32>; // [B, Hkv, CAP, W], W = D or D/2
@group(0) @binding(6) var<storage, read> v_store: array<u32>; // [B, Hkv, CAP, W]

fn kv_len(b: u32) -> u32 {
  return kv_lens[b];
}

fn full_word(is_k: bool, i: u32) -> u32 {
  if (is_k) {
    return k_store[i];
  }
  return v_store[i];
}

fn stage_full(is_k: bool, b: u32, hk: u32, t0: u32, lid: u32) {
  let len = kv_lens[b];
  let W = select(D, D / 2u, HALF);
  let base = (b * HKV + hk) * CAP;
  for (var i = lid; i < TILE * W; i += WG) {
    let t = i / W;
    let w = i % W;
    let tok = t0 + t;
    var word = 0u;
    if (tok < len) {
      word = full_word(is_k, (base + tok) * W + w);
    }
    if (HALF) {
      let x = unpack2x16float(word);
      tile[t * KS + 2u * w] = x.x;
      tile[t * KS + 2u * w + 1u] = x.y;
    } else {
      tile[t * KS + w] = bitcast<f32>(word);
    }
  }
}

fn stage_k(b: u32, hk: u32, t0: u32, lid: u32) {
  stage_full(true, b, hk, t0, lid);
}

fn stage_v(b: u32, hk: u32, t0: u32, lid: u32) {
  stage_full(false, b, hk, t0, lid);
}
