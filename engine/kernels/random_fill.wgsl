// Seeded random weights on the GPU (for `shape:` presets: the shapes of a real model without
// downloading it). Element i of a tensor gets
//   offset + scale · (2u − 1) · sqrt(3),  u = (pcg(seed ^ pcg(i)) >> 8) · 2^−24  ∈ [0, 1)
// (zero mean, variance scale²), stored as f32 or as f16 pairs. Host side: random_fill.ts;
// reference: engine/reference/ops.ts randomFillRef (same hash, same arithmetic).

override F16: bool = false;

struct Params {
  words: u32,  // u32 words to write (values, or value pairs for f16)
  seed: u32,
  first: u32,  // index of this buffer's first value in the tensor (row chunks)
  _pad: u32,
  scale: f32,
  offset: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>; // [words] f32 bits or f16 pairs

fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn value(i: u32) -> f32 {
  let u = f32(pcg(p.seed ^ pcg(i)) >> 8u) * (1.0 / 16777216.0);
  return p.offset + p.scale * ((2.0 * u - 1.0) * 1.7320508);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = gid.x + gid.y * nwg.x * 64u;
  if (w >= p.words) {
    return;
  }
  if (F16) {
    let i = p.first + 2u * w;
    out[w] = pack2x16float(vec2f(value(i), value(i + 1u)));
  } else {
    out[w] = bitcast<u32>(value(p.first + w));
  }
}
