// Split-K decode attention, pass 2 of 2: merges the S partial results of each (b, h) row with
// the log-sum-exp rule. Splits that held no tokens carry l = 0 and drop out.

override D: u32 = 128u;
override WG: u32 = 64u;

struct Params {
  B: u32,
  H: u32,
  S: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part_o: array<f32>;  // [B, H, S, D]
@group(0) @binding(2) var<storage, read> part_ml: array<f32>; // [B, H, S, 2]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [B, H, D]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * 65535u; // b * H + h
  if (row >= p.B * p.H) {
    return;
  }
  var m = -3.0e38;
  for (var s = 0u; s < p.S; s++) {
    if (part_ml[(row * p.S + s) * 2u + 1u] > 0.0) {
      m = max(m, part_ml[(row * p.S + s) * 2u]);
    }
  }
  var l = 0.0;
  for (var s = 0u; s < p.S; s++) {
    let ls = part_ml[(row * p.S + s) * 2u + 1u];
    if (ls > 0.0) {
      l += ls * exp(part_ml[(row * p.S + s) * 2u] - m);
    }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = lid; d < D; d += WG) {
    var o = 0.0;
    for (var s = 0u; s < p.S; s++) {
      let ls = part_ml[(row * p.S + s) * 2u + 1u];
      if (ls > 0.0) {
        o += part_o[(row * p.S + s) * D + d] * exp(part_ml[(row * p.S + s) * 2u] - m);
      }
    }
    out[row * D + d] = o * inv;
  }
}
