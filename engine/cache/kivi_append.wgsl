// Append path of the KIVI caches (engine/cache/kivi.ts): three entry points recorded in this
// order into one pass (dispatches in a pass run in order), all reading the OLD length lens[b]:
//   quant_k   quantizes the key groups covering [Tqk(L), Tqk(L+n)), per channel over QG tokens
//   quant_v   quantizes the value tokens [Tqv(L), Tqv(L+n)), per token over QG channels
//   residual  writes the new tokens that stay in full precision into their f16 residual slots
// with L = lens[b], n = counts[b], Tqk(len) = floor(len/R)·R, Tqv(len) = max(0, len - R).
// Token t comes from the input when t ≥ L, else from residual slot t % R (still intact: the
// residual dispatch runs after the quantizers). The quantizer is quant_write.wgsl, appended by
// the host (shared with groupwise_append.wgsl).

override D: u32 = 128u;          // head dim
override HKV: u32 = 8u;          // KV heads
override BITS: u32 = 2u;         // bits per code: 2, 4 or 8
override INV_MAXQ: f32 = 0.33333334; // f32(1 / (2^BITS - 1)), from the host
override RES: u32 = 128u;        // R: residual tokens (a multiple of QG)
override KGRP: u32 = 1u;         // key groups of QG tokens per (b, hk)
override VCAP: u32 = 1u;         // quantized value tokens per (b, hk)
override K_META: u32 = 0u;       // word offset of the key metadata in k_store
override K_RES: u32 = 0u;        // word offset of the key residual in k_store
override V_META: u32 = 0u;       // word offset of the value metadata in v_store
override V_RES: u32 = 0u;        // word offset of the value residual in v_store

const QG: u32 = 32u; // quantization group (tokens for keys, channels for values)

struct Params {
  Tn: u32, // tokens in the input per sequence
}

// k_store: codes [B, Hkv, KGRP, D, BITS] | meta [B, Hkv, KGRP, D] | residual [B, Hkv, RES, D/2]
// v_store: codes [B, Hkv, VCAP, D·BITS/32] | meta [B, Hkv, VCAP, D/32] | residual [B, Hkv, RES, D/2]
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lens: array<u32>;          // [B] old lengths
@group(0) @binding(2) var<storage, read> counts: array<u32>;        // [B] tokens to take
@group(0) @binding(3) var<storage, read> k_in: array<f32>;          // [B, Tn, Hkv, D]
@group(0) @binding(4) var<storage, read> v_in: array<f32>;          // [B, Tn, Hkv, D]
@group(0) @binding(5) var<storage, read_write> k_store: array<u32>; // see above
@group(0) @binding(6) var<storage, read_write> v_store: array<u32>; // see above

// The quantizer (quantize, qcode, f16_round) is in quant_write.wgsl, appended by the host.

// --- sources -----------------------------------------------------------------------------------

fn residual_half(word: u32, d: u32) -> f32 {
  let x = unpack2x16float(word);
  if ((d & 1u) == 0u) {
    return x.x;
  }
  return x.y;
}

// key of (b, t, hk, d), f16-rounded: input when t ≥ L, else its residual slot
fn key_at(b: u32, hk: u32, t: u32, d: u32, L: u32) -> f32 {
  if (t >= L) {
    return f16_round(k_in[((b * p.Tn + t - L) * HKV + hk) * D + d]);
  }
  return residual_half(k_store[K_RES + ((b * HKV + hk) * RES + t % RES) * (D / 2u) + d / 2u], d);
}

fn value_at(b: u32, hk: u32, t: u32, d: u32, L: u32) -> f32 {
  if (t >= L) {
    return f16_round(v_in[((b * p.Tn + t - L) * HKV + hk) * D + d]);
  }
  return residual_half(v_store[V_RES + ((b * HKV + hk) * RES + t % RES) * (D / 2u) + d / 2u], d);
}

fn tqv(len: u32) -> u32 {
  if (len > RES) {
    return len - RES;
  }
  return 0u;
}

// --- entry points ------------------------------------------------------------------------------

// One thread per (key group gi of this append, hk, d); dispatch over [groups, Hkv, D] × B.
@compute @workgroup_size(64)
fn quant_k(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.z;
  let i = gid.x + gid.y * nwg.x * 64u;
  let L = lens[b];
  let end = ((L + counts[b]) / RES) * RES;
  let g = (L / RES) * RES / QG + i / (HKV * D);
  if (g * QG >= end) {
    return;
  }
  let hk = (i / D) % HKV;
  let d = i % D;
  var xs: array<f32, 32>;
  for (var j = 0u; j < QG; j++) {
    xs[j] = key_at(b, hk, g * QG + j, d, L);
  }
  let q = quantize(&xs);
  let at = ((b * HKV + hk) * KGRP + g) * D + d;
  k_store[K_META + at] = q.sm;
  for (var w = 0u; w < BITS; w++) {
    k_store[at * BITS + w] = q.words[w];
  }
}

// One thread per (value token ti of this append, hk, channel group j); over [tokens, Hkv, D/QG].
@compute @workgroup_size(64)
fn quant_v(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.z;
  let i = gid.x + gid.y * nwg.x * 64u;
  let L = lens[b];
  let NG = D / QG;
  let t = tqv(L) + i / (HKV * NG);
  if (t >= tqv(L + counts[b])) {
    return;
  }
  let hk = (i / NG) % HKV;
  let j = i % NG;
  var xs: array<f32, 32>;
  for (var e = 0u; e < QG; e++) {
    xs[e] = value_at(b, hk, t, j * QG + e, L);
  }
  let q = quantize(&xs);
  let row = (b * HKV + hk) * VCAP + t;
  v_store[V_META + row * NG + j] = q.sm;
  for (var w = 0u; w < BITS; w++) {
    v_store[row * (D * BITS / 32u) + j * BITS + w] = q.words[w];
  }
}

// One thread per (new token, hk, f16 pair w) over the last min(n, R) new tokens of each
// sequence (older ones never stay in full precision); over [min(Tn, R), Hkv, D/2].
@compute @workgroup_size(64)
fn residual(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.z;
  let i = gid.x + gid.y * nwg.x * 64u;
  let W = D / 2u;
  let n = counts[b];
  let m = min(n, RES);
  let ti = i / (HKV * W);
  if (ti >= m) {
    return;
  }
  let L = lens[b];
  let src_t = n - m + ti; // index in the input
  let t = L + src_t;      // position in the sequence
  let hk = (i / W) % HKV;
  let w = i % W;
  let src = ((b * p.Tn + src_t) * HKV + hk) * D + 2u * w;
  let slot = ((b * HKV + hk) * RES + t % RES) * W + w;
  if (t >= ((L + n) / RES) * RES) {
    k_store[K_RES + slot] = pack2x16float(vec2f(k_in[src], k_in[src + 1u]));
  }
  if (t >= tqv(L + n)) {
    v_store[V_RES + slot] = pack2x16float(vec2f(v_in[src], v_in[src + 1u]));
  }
}
