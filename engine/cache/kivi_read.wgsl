// Decode-attention read snippet for the KIVI caches (engine/cache/kivi.ts): spliced after
// engine/kernels/decode_attention.wgsl. Dequantizes while staging a tile of TILE tokens:
//   keys   tokens < Tqk = floor(len/R)·R: per-channel codes of the tile's QG-token group;
//          tokens in [Tqk, len): f16 residual slot t % R; tokens ≥ len: 0
//   values tokens < Tqv = max(0, len - R): per-token codes; [Tqv, len): residual; ≥ len: 0
// Tqk is a multiple of R, hence of QG = 32, and TILE (16 or 32) divides QG, so a key tile is
// all quantized or all not. A value tile may straddle Tqv.
// Coalescing: consecutive threads read consecutive words — key code words run over
// (channel, word-in-channel), value code words over (token, word-in-token).

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

// Tokens [first, TILE) of the tile from the f16 residual (or 0 past len).
fn stage_residual(is_k: bool, b: u32, hk: u32, t0: u32, first: u32, lid: u32) {
  let len = kv_lens[b];
  let W = D / 2u;
  let base = (b * HKV + hk) * RES;
  for (var i = first * W + lid; i < TILE * W; i += WG) {
    let t = i / W;
    let w = i % W;
    let tok = t0 + t;
    var word = 0u;
    if (tok < len) {
      let at = (base + tok % RES) * W + w;
      if (is_k) {
        word = k_store[K_RES + at];
      } else {
        word = v_store[V_RES + at];
      }
    }
    let x = unpack2x16float(word);
    tile[t * KS + 2u * w] = x.x;
    tile[t * KS + 2u * w + 1u] = x.y;
  }
}

fn stage_k(b: u32, hk: u32, t0: u32, lid: u32) {
  let tq = (kv_lens[b] / RES) * RES;
  if (t0 >= tq) {
    stage_residual(true, b, hk, t0, 0u, lid);
    return;
  }
  let PER = 32u / BITS;               // codes per word
  let WT = TILE / PER;                // words per channel in this tile
  let w0 = (t0 % KIVI_QG) / PER;      // first word of the tile within its group
  let grp = (b * HKV + hk) * KGRP + t0 / KIVI_QG;
  let mask = (1u << BITS) - 1u;
  for (var i = lid; i < D * WT; i += WG) {
    let d = i / WT;
    let w = i % WT;
    let word = k_store[((grp * D + d) * BITS) + w0 + w];
    let sm = unpack2x16float(k_store[K_META + grp * D + d]);
    for (var e = 0u; e < PER; e++) {
      let c = (word >> (e * BITS)) & mask;
      tile[(w * PER + e) * KS + d] = f32(c) * sm.x + sm.y;
    }
  }
}

fn stage_v(b: u32, hk: u32, t0: u32, lid: u32) {
  let len = kv_lens[b];
  var tq = 0u;
  if (len > RES) {
    tq = len - RES;
  }
  var nq = 0u; // quantized tokens at the start of this tile
  if (tq > t0) {
    nq = min(TILE, tq - t0);
  }
  let PER = 32u / BITS;
  let WV = D / PER; // code words per token
  let NG = D / KIVI_QG;
  let row0 = (b * HKV + hk) * VCAP + t0;
  let mask = (1u << BITS) - 1u;
  for (var i = lid; i < nq * WV; i += WG) {
    let t = i / WV;
    let w = i % WV;
    let word = v_store[(row0 + t) * WV + w];
    let sm = unpack2x16float(v_store[V_META + (row0 + t) * NG + w / BITS]);
    for (var e = 0u; e < PER; e++) {
      let c = (word >> (e * BITS)) & mask;
      tile[t * KS + w * PER + e] = f32(c) * sm.x + sm.y;
    }
  }
  stage_residual(false, b, hk, t0, nq, lid);
}
