// Quest's read snippet: decode attention over only the selected pages of a stored cache (host:
// quest_attention.ts). It wraps the cache format's own snippet (engine/cache/format.ts), whose
// kv_len / k_block / load_v8 the host renames quest_inner_*, and is spliced after the unchanged
// engine/kernels/decode_attention.wgsl, so the split-K kernel walks a *virtual* sequence: the
// selected pages back to back, in ascending order. Virtual token j of (b, hk) is stored token
//   sel[b, hk, j / QPS] · QPS + j % QPS.
// Every selected page is full but the last (the sequence's last page, always selected), so the
// virtual length is (K − 1)·QPS + the last page's tokens, K = min(QKP, ceil(len / QPS)) — the
// same for every KV head. A key block (TPT ≤ 4 tokens starting at a multiple of TPT) never
// leaves its page because QPS is a multiple of 4: it maps to TPT consecutive stored tokens in
// one 32-token group, as the format's k_block requires. Nothing is gathered or copied: K and V
// are read where they are stored, page by page.

override QPS: u32 = 16u; // tokens per page, a multiple of 4
override QKP: u32 = 1u;  // pages read per step at most (the budget's)
override QHKV: u32 = 8u; // KV heads

@group(0) @binding(15) var<storage, read> quest_sel: array<u32>; // [B, Hkv, QKP] pages, ascending

// Tokens read for a sequence of len stored tokens.
fn quest_span(len: u32) -> u32 {
  if (len == 0u) {
    return 0u;
  }
  let pages = (len + QPS - 1u) / QPS;
  let k = min(QKP, pages);
  return (k - 1u) * QPS + (len - (pages - 1u) * QPS);
}

// The stored position of virtual token j of (b, hk).
fn quest_pos(b: u32, hk: u32, j: u32) -> u32 {
  return quest_sel[(b * QHKV + hk) * QKP + j / QPS] * QPS + j % QPS;
}

fn kv_len(b: u32) -> u32 {
  return quest_span(quest_inner_kv_len(b));
}

fn k_block(b: u32, hk: u32, t0: u32, last: u32, d8: u32) -> KBlock {
  let t = quest_pos(b, hk, t0);
  return quest_inner_k_block(b, hk, t, t + (last - t0), d8);
}

fn load_v8(b: u32, hk: u32, t: u32, d8: u32) -> F8 {
  return quest_inner_load_v8(b, hk, quest_pos(b, hk, t), d8);
}
