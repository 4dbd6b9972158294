// Quest page metadata (host: quest_pages.ts; specification: pageMetaRef in
// engine/reference/quest.ts, equal bit for bit). Per (b, hk, page): the per-channel max and min
// of the page's stored keys, read through the cache format's decode snippet (k_block / k_get,
// contract: engine/cache/format.ts), which the host splices in after this body — so the bounds
// are those of the keys decode attention actually reads (dequantized, for quantized formats).
// Stored as f16 rounded outward (max up, min down: f16_up / f16_down), so Σ max(q·M, q·m) stays
// an upper bound of q·k for every key of the page.
//
// One thread per (page, d8) × hk × b: it walks the page's tokens in blocks of TPT = 4 (a page is
// a multiple of 4 tokens and starts on a multiple of 4, so a block never leaves its page or its
// 32-token group) and keeps 8 channels' max and min in registers. Adjacent threads read adjacent
// 8-channel slices of the same token.
//   build   every page of the stored tokens (after a prefill, or after appending several tokens)
//   update  the pages a one-token append can change: the last page; and when len is a multiple
//           of KFLUSH (KIVI: R, its residual keys were just quantized) every page of the last
//           KFLUSH tokens. UPN pages per (b, hk) are dispatched; threads past the range return.

override D: u32 = 128u;    // head dim, a multiple of 8
override QHKV: u32 = 8u;   // KV heads
override PS: u32 = 16u;    // tokens per page, a multiple of 4
override PCAP: u32 = 1u;   // pages the cache can hold: ceil(capacity / PS)
override UPN: u32 = 2u;    // pages `update` covers: ceil(KFLUSH / PS) + 1
override KFLUSH: u32 = 1u; // tokens whose stored keys one append may rewrite (KIVI: R)

const TPT: u32 = 4u; // tokens per k_block call
const BIG: f32 = 3.0e38;
const F16_MAX: f32 = 65504.0;

// Eight consecutive channels 8·d8 .. 8·d8+7 of one token: 0..3 in lo, 4..7 in hi (the read
// snippets' type, as in decode_attention.wgsl).
struct F8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

// Eight f16 values (four pack2x16float words) as f32: a helper for the read snippets.
fn half8(w: vec4<u32>) -> F8 {
  return F8(
    vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
    vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)),
  );
}

@group(0) @binding(0) var<storage, read_write> page_meta: array<u32>; // [B, Hkv, PCAP, 2, D/2]

// f16 bits of x, rounded whichever way pack2x16float rounds.
fn f16_bits(x: f32) -> u32 {
  return pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
}

fn f16_value(h: u32) -> f32 {
  return unpack2x16float(h).x;
}

// The smallest f16 ≥ x (x clamped to ±65504): one step up when the conversion rounded down.
fn f16_up(v: f32) -> u32 {
  let x = clamp(v, -F16_MAX, F16_MAX);
  let h = f16_bits(x);
  if (f16_value(h) >= x) {
    return h;
  }
  if ((h & 0x8000u) == 0u) {
    return h + 1u; // positive: the next larger magnitude
  }
  if (h == 0x8000u) {
    return 1u; // −0 → the smallest positive subnormal
  }
  return h - 1u; // negative: the next smaller magnitude
}

// The largest f16 ≤ x (x clamped to ±65504).
fn f16_down(v: f32) -> u32 {
  let x = clamp(v, -F16_MAX, F16_MAX);
  let h = f16_bits(x);
  if (f16_value(h) <= x) {
    return h;
  }
  if ((h & 0x8000u) != 0u) {
    return h + 1u; // negative: the next larger magnitude
  }
  if (h == 0u) {
    return 0x8001u; // +0 → the smallest negative subnormal
  }
  return h - 1u;
}

// Writes page `page`'s max and min of channels 8·d8 .. 8·d8+7 over its tokens below len.
fn page_minmax(b: u32, hk: u32, page: u32, d8: u32, len: u32) {
  let t_start = page * PS;
  let t_end = min(t_start + PS, len);
  var mx_lo = vec4<f32>(-BIG);
  var mx_hi = vec4<f32>(-BIG);
  var mn_lo = vec4<f32>(BIG);
  var mn_hi = vec4<f32>(BIG);
  for (var t0 = t_start; t0 < t_end; t0 += TPT) {
    let last = min(t0 + TPT - 1u, t_end - 1u);
    let blk = k_block(b, hk, t0, last, d8);
    for (var k = 0u; k < TPT; k++) {
      if (t0 + k <= last) {
        let x = k_get(blk, k);
        mx_lo = max(mx_lo, x.lo);
        mx_hi = max(mx_hi, x.hi);
        mn_lo = min(mn_lo, x.lo);
        mn_hi = min(mn_hi, x.hi);
      }
    }
  }
  let at = ((b * QHKV + hk) * PCAP + page) * D + 4u * d8; // the page's max row, this slice
  page_meta[at] = f16_up(mx_lo.x) | (f16_up(mx_lo.y) << 16u);
  page_meta[at + 1u] = f16_up(mx_lo.z) | (f16_up(mx_lo.w) << 16u);
  page_meta[at + 2u] = f16_up(mx_hi.x) | (f16_up(mx_hi.y) << 16u);
  page_meta[at + 3u] = f16_up(mx_hi.z) | (f16_up(mx_hi.w) << 16u);
  let am = at + D / 2u; // the min row
  page_meta[am] = f16_down(mn_lo.x) | (f16_down(mn_lo.y) << 16u);
  page_meta[am + 1u] = f16_down(mn_lo.z) | (f16_down(mn_lo.w) << 16u);
  page_meta[am + 2u] = f16_down(mn_hi.x) | (f16_down(mn_hi.y) << 16u);
  page_meta[am + 3u] = f16_down(mn_hi.z) | (f16_down(mn_hi.w) << 16u);
}

// A branch no length takes, so that every buffer of the format's snippet (values included) is
// statically used and in the auto layout, whatever the format: the host binds them all.
fn touch_values(b: u32, hk: u32, d8: u32, len: u32) {
  if (len == 0xffffffffu) {
    page_meta[0] = bitcast<u32>(load_v8(b, hk, 0u, d8).lo.x);
  }
}

@compute @workgroup_size(64)
fn build(@builtin(global_invocation_id) gid: vec3u) {
  let D8 = D / 8u;
  let page = gid.x / D8;
  let d8 = gid.x % D8;
  let hk = gid.y;
  let b = gid.z;
  let len = kv_len(b);
  touch_values(b, hk, d8, len);
  if (page >= PCAP || page * PS >= len) {
    return;
  }
  page_minmax(b, hk, page, d8, len);
}

@compute @workgroup_size(64)
fn update(@builtin(global_invocation_id) gid: vec3u) {
  let D8 = D / 8u;
  let j = gid.x / D8;
  let d8 = gid.x % D8;
  let hk = gid.y;
  let b = gid.z;
  let len = kv_len(b);
  touch_values(b, hk, d8, len);
  if (len == 0u || j >= UPN) {
    return;
  }
  let first_tok = select(len - 1u, len - KFLUSH, len >= KFLUSH && len % KFLUSH == 0u);
  let page = first_tok / PS + j;
  if (page * PS >= len) {
    return;
  }
  page_minmax(b, hk, page, d8, len);
}
