// Decode-attention read snippet for the KIVI caches (engine/cache/kivi.ts): spliced after
// engine/kernels/decode_attention.wgsl together with quant_read.wgsl (contract:
// engine/cache/format.ts). Reads straight into registers and dequantizes there:
//   keys   tokens < Tqk = floor(len/R)·R: the per-channel codes of their 32-token group, with
//          that group's per-channel f16 scale and min; tokens in [Tqk, len): f16 residual slot
//          t % R
//   values tokens < Tqv = max(0, len − R): per-token codes with the token's per-32-channel f16
//          scale and min; tokens in [Tqv, len): f16 residual slot t % R
// A key block is TPT ≤ 4 consecutive tokens of one 32-token group starting at a multiple of TPT.
// Tqk is a multiple of R, hence of 32, so a block is all quantized or all residual; and a
// channel's code word holds 32/BITS ≥ 4 consecutive tokens, so ONE word per channel serves the
// whole block: 8 code words + 8 metadata words per block and 8-channel slice. In the key loop
// the 32/TPT threads of a group read neighbouring words of one channel (one 32-byte sector per
// group), and in the value loop the lanes of a token read one contiguous code row.

override HKV: u32 = 8u;    // KV heads
override BITS: u32 = 2u;   // bits per code
override RES: u32 = 128u;  // R: residual tokens
override KGRP: u32 = 1u;   // key groups of QG tokens per (b, hk)
override VCAP: u32 = 1u;   // quantized value tokens per (b, hk)
override K_META: u32 = 0u; // word offsets in k_store / v_store
override K_RES: u32 = 0u;
override V_META: u32 = 0u;
override V_RES: u32 = 0u;

const KIVI_QG: u32 = 32u;

// k_store: codes [B, Hkv, KGRP, D, BITS] | meta [B, Hkv, KGRP, D] | residual [B, Hkv, RES, D/2]
// v_store: codes [B, Hkv, VCAP, D·BITS/32] | meta [B, Hkv, VCAP, D/32] | residual [B, Hkv, RES, D/2]
@group(0) @binding(4) var<storage, read> kv_lens: array<u32>; // [B]
@group(0) @binding(5) var<storage, read> k_store: array<u32>;
@group(0) @binding(6) var<storage, read> v_store: array<u32>;

fn kv_len(b: u32) -> u32 {
  return kv_lens[b];
}

// The f16 pairs of channels 8·d8 .. 8·d8+7 in token t's residual slot (keys or values).
fn kivi_res8(is_k: bool, b: u32, hk: u32, t: u32, d8: u32) -> vec4<u32> {
  let at = ((b * HKV + hk) * RES + t % RES) * (D / 2u) + 4u * d8;
  if (is_k) {
    let i = K_RES + at;
    return vec4<u32>(k_store[i], k_store[i + 1u], k_store[i + 2u], k_store[i + 3u]);
  }
  let i = V_RES + at;
  return vec4<u32>(v_store[i], v_store[i + 1u], v_store[i + 2u], v_store[i + 3u]);
}

struct KBlock {
  quant: bool,
  // quantized: w[0], w[1] = code words of channels 8·d8 + 0..3, 4..7, shifted so the block's
  // first token's code sits at bit 0; residual: token k's f16 pairs in w[k]
  w: array<vec4<u32>, 4>,
  sc: F8, // quantized: per-channel scale·2^BITS
  mn: F8, // quantized: per-channel min − scale·2^BITS
}

fn k_block(b: u32, hk: u32, t0: u32, last: u32, d8: u32) -> KBlock {
  var blk: KBlock;
  blk.quant = t0 < (kv_lens[b] / RES) * RES;
  if (blk.quant) {
    let per = 32u / BITS; // codes per word
    let ch = ((b * HKV + hk) * KGRP + t0 / KIVI_QG) * D + 8u * d8; // (group, channel) index
    let word = (t0 % KIVI_QG) / per;
    let sh = (t0 % per) * BITS;
    var c: array<u32, 8>;
    var a: array<vec2<f32>, 8>;
    for (var j = 0u; j < 8u; j++) {
      c[j] = k_store[(ch + j) * BITS + word] >> sh;
      a[j] = q_affine(k_store[K_META + ch + j]);
    }
    blk.w[0] = vec4<u32>(c[0], c[1], c[2], c[3]);
    blk.w[1] = vec4<u32>(c[4], c[5], c[6], c[7]);
    blk.sc = F8(vec4<f32>(a[0].x, a[1].x, a[2].x, a[3].x), vec4<f32>(a[4].x, a[5].x, a[6].x, a[7].x));
    blk.mn = F8(vec4<f32>(a[0].y, a[1].y, a[2].y, a[3].y), vec4<f32>(a[4].y, a[5].y, a[6].y, a[7].y));
  } else {
    for (var k = 0u; k < TPT; k++) {
      blk.w[k] = kivi_res8(true, b, hk, min(t0 + k, last), d8);
    }
  }
  return blk;
}

fn k_get(blk: KBlock, k: u32) -> F8 {
  if (blk.quant) {
    let pos = k * BITS;
    return F8(
      fma(q_code4(blk.w[0], pos), blk.sc.lo, blk.mn.lo),
      fma(q_code4(blk.w[1], pos), blk.sc.hi, blk.mn.hi),
    );
  }
  return half8(blk.w[k]);
}

fn load_v8(b: u32, hk: u32, t: u32, d8: u32) -> F8 {
  let len = kv_lens[b];
  if (len > RES && t < len - RES) {
    let row = (b * HKV + hk) * VCAP + t;
    let bit = 8u * d8 * BITS; // first code bit of the 8 channels within the row
    let at = row * (D * BITS / 32u) + bit / 32u;
    var w1 = 0u;
    if (BITS == 8u) {
      w1 = v_store[at + 1u];
    }
    let a = q_affine(v_store[V_META + row * (D / KIVI_QG) + d8 / 4u]);
    return q_dequant8(v_store[at] >> (bit % 32u), w1, a);
  }
  return half8(kivi_res8(false, b, hk, t, d8));
}
