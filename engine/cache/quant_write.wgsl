// The quantizer shared by the quantized formats' append kernels (kivi_append.wgsl,
// groupwise_append.wgsl): asymmetric min-max over a group of QG = 32 values, f16 scale and min,
// nearest code. Appended after the kernel, which declares BITS, INV_MAXQ (overrides) and QG.
// It must match engine/reference/quant.ts bit for bit (the tests compare codes and metadata).

struct Quant {
  sm: u32,                // pack2x16float(scale, min)
  words: array<u32, 8>,   // QG codes packed little-endian, BITS words used
}

fn f16_round(x: f32) -> f32 {
  return unpack2x16float(pack2x16float(vec2f(x, 0.0))).x;
}

// argmin over c in [0, maxq] of |(x - mh) - c·sh|, ties → smaller c. c·sh is exact in f32,
// so fused multiply-add cannot change the comparison.
fn qcode(x: f32, sh: f32, mh: f32) -> u32 {
  if (sh == 0.0) {
    return 0u;
  }
  let maxq = (1u << BITS) - 1u;
  let d = x - mh;
  let c0 = u32(clamp(round(d / sh), 0.0, f32(maxq)));
  var best = c0;
  var be = abs(d - f32(c0) * sh);
  if (c0 > 0u) {
    let e = abs(d - f32(c0 - 1u) * sh);
    if (e <= be) {
      best = c0 - 1u;
      be = e;
    }
  }
  if (c0 < maxq) {
    let e = abs(d - f32(c0 + 1u) * sh);
    if (e < be) {
      best = c0 + 1u;
    }
  }
  return best;
}

fn quantize(xs: ptr<function, array<f32, 32>>) -> Quant {
  var mn = (*xs)[0];
  var mx = (*xs)[0];
  for (var j = 1u; j < QG; j++) {
    mn = min(mn, (*xs)[j]);
    mx = max(mx, (*xs)[j]);
  }
  var out: Quant;
  out.sm = pack2x16float(vec2f((mx - mn) * INV_MAXQ, mn));
  let sm = unpack2x16float(out.sm);
  for (var j = 0u; j < QG; j++) {
    let c = qcode((*xs)[j], sm.x, sm.y);
    out.words[j * BITS / 32u] |= c << ((j * BITS) % 32u);
  }
  return out;
}
