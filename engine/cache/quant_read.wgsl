// Decode-attention helpers shared by the quantized read snippets (kivi_read.wgsl,
// groupwise_read.wgsl), spliced in with them after engine/kernels/decode_attention.wgsl. They
// turn b-bit codes into f32 without an integer-to-float conversion (a fraction of the FMA rate
// on NVIDIA GPUs): a code c placed just under the exponent of 1.0 reads as
//   F = 1 + c / 2^b                                   (exact: b ≤ 8 < 23 mantissa bits)
// so the dequantized value c·scale + min is ONE fma per value,
//   x̂ = F·(scale·2^b) + (min − scale·2^b),
// given the group's pair (scale·2^b, min − scale·2^b) from q_affine. scale·2^b is exact, and so
// is min − scale·2^b whenever the two f16-derived terms are within a factor 2^12 of each other:
// then x̂ is bit-identical to the reference's f32(c)·scale + min (engine/reference/quant.ts);
// otherwise that term's rounding is ≤ 2^-24·(|min| + scale·2^b).
// The formats declare `override BITS`; F8 and D come from the kernel body.

const Q_ONE: u32 = 0x3f800000u; // 1.0f

// F = 1 + c / 2^BITS for the code c at bits [pos, pos + BITS) of w. pos is a constant once the
// caller's loop is unrolled, so this is one shift and one and-or.
fn q_code(w: u32, pos: u32) -> f32 {
  let top = 23u - BITS; // where the code must sit: right under the exponent
  var x: u32;
  if (pos <= top) {
    x = w << (top - pos);
  } else {
    x = w >> (pos - top);
  }
  return bitcast<f32>((x & (((1u << BITS) - 1u) << top)) | Q_ONE);
}

// q_code over four words at the same bit position.
fn q_code4(w: vec4<u32>, pos: u32) -> vec4<f32> {
  return vec4<f32>(q_code(w.x, pos), q_code(w.y, pos), q_code(w.z, pos), q_code(w.w, pos));
}

// (scale·2^BITS, min − scale·2^BITS) from a pack2x16float(scale, min) metadata word.
fn q_affine(word: u32) -> vec2<f32> {
  let sm = unpack2x16float(word);
  let s = sm.x * f32(1u << BITS);
  return vec2<f32>(s, sm.y - s);
}

// Eight channels whose codes sit at bits [0, 8·BITS) of (w0, w1) — w1 holds bits 32 .. 63, used
// by 8-bit codes only — dequantized with one affine pair a (one token's 32-channel group).
fn q_dequant8(w0: u32, w1: u32, a: vec2<f32>) -> F8 {
  var f: array<f32, 8>;
  for (var j = 0u; j < 8u; j++) {
    let bit = j * BITS;
    f[j] = q_code(select(w0, w1, bit >= 32u), bit % 32u);
  }
  return F8(
    fma(vec4<f32>(f[0], f[1], f[2], f[3]), vec4<f32>(a.x), vec4<f32>(a.y)),
    fma(vec4<f32>(f[4], f[5], f[6], f[7]), vec4<f32>(a.x), vec4<f32>(a.y)),
  );
}
