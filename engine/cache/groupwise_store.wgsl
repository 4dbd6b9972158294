// Quantizes one 32-channel group of a token's key and value (k_in, v_in from word `src`) and
// stores codes and f16 scale/min at token row `row`, group j: shared by groupwise_append.wgsl
// and groupwise_slot.wgsl, which declare k_in, v_in, k_store, v_store, D, BITS, META and QG.
// Appended after quant_write.wgsl by the host.

fn store_group(src: u32, row: u32, j: u32, NG: u32) {
  var xs: array<f32, 32>;
  for (var e = 0u; e < QG; e++) {
    xs[e] = f16_round(k_in[src + e]);
  }
  let qk = quantize(&xs);
  for (var e = 0u; e < QG; e++) {
    xs[e] = f16_round(v_in[src + e]);
  }
  let qv = quantize(&xs);
  k_store[META + row * NG + j] = qk.sm;
  v_store[META + row * NG + j] = qv.sm;
  for (var w = 0u; w < BITS; w++) {
    k_store[row * (D * BITS / 32u) + j * BITS + w] = qk.words[w];
    v_store[row * (D * BITS / 32u) + j * BITS + w] = qv.words[w];
  }
}
