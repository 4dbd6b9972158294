// The workgroup argmax shared by argmax.wgsl and sample.wgsl, appended to each by its host:
// each thread's best (value, index) so far → the workgroup's, the lowest index on ties (as
// torch.argmax). The including kernel declares WG (a power of two).

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// (v, i) beats (w, j): larger value, or the same value at a lower index.
fn beats(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

// The index of the workgroup's best pair (0xffffffff if no thread had one). Every thread of the
// workgroup calls it (it holds barriers) and gets the same answer.
fn reduce_best(lid: u32, bv: f32, bi: u32) -> u32 {
  best_v[lid] = bv;
  best_i[lid] = bi;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k && beats(best_v[lid + k], best_i[lid + k], best_v[lid], best_i[lid])) {
      best_v[lid] = best_v[lid + k];
      best_i[lid] = best_i[lid + k];
    }
    workgroupBarrier();
  }
  return best_i[0];
}
