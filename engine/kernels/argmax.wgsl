// Greedy sampling on the GPU: ids[b] = argmax_v logits[b, v], the lowest index on ties (as
// torch.argmax). One workgroup per row; NaN never wins. Only these ids are read back.
// Host side: argmax.ts; reference: engine/reference/ops.ts argmaxRef.

override WG: u32 = 256u;

struct Params {
  B: u32,
  V: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;  // [B, V]
@group(0) @binding(2) var<storage, read_write> ids: array<u32>; // [B]

// beats and reduce_best: argmax_reduce.wgsl, appended by the host.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  var bv = -3.4e38;
  var bi = 0xffffffffu;
  for (var v = lid; v < p.V; v += WG) {
    let x = logits[b * p.V + v];
    if (beats(x, v, bv, bi)) { // false for NaN
      bv = x;
      bi = v;
    }
  }
  let best = reduce_best(lid, bv, bi);
  if (lid == 0u) {
    ids[b] = select(best, 0u, best == 0xffffffffu); // all NaN: token 0
  }
}
