// Shared by the matmul kernels, appended to matmul.wgsl and to gemv_vec.wgsl by matmul.ts: the
// store of one output (bias, fused residual) and the end of both gemv kernels — 256 threads, GL
// lanes per row of W, each holding MMAX running sums, reduced through workgroup memory; lane m
// of the row then writes y[m, n0 + n]. The including kernel declares p, bias, y, BIAS and ACC.

const GL: u32 = 32u; // gemv: lanes per row of W
const GCOL: u32 = 8u; // gemv: rows of W per workgroup (256 threads)
const MMAX: u32 = 8u; // gemv: most rows of x

var<workgroup> red: array<f32, 2048>; // [MMAX, 256] gemv partial sums

// y[m, n0 + n] = v (+ bias) (+ y).
fn store(m: u32, n: u32, v: f32) {
  var out = v;
  if (BIAS) {
    out += bias[p.n0 + n];
  }
  let at = m * p.ldy + p.n0 + n;
  if (ACC) {
    out += y[at];
  }
  y[at] = out;
}

// A gemv thread's sums for row n of W (thread lid, lane lid % GL) → y. Called by every thread
// of the workgroup (it holds barriers).
fn gemv_finish(lid: u32, n: u32, acc: array<f32, 8>) {
  let col = lid / GL;
  let lane = lid % GL;
  for (var m = 0u; m < MMAX; m++) {
    red[m * 256u + lid] = acc[m];
  }
  workgroupBarrier();
  for (var s = GL / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var m = 0u; m < MMAX; m++) {
        if (m < p.M) {
          red[m * 256u + lid] += red[m * 256u + lid + s];
        }
      }
    }
    workgroupBarrier();
  }
  if (n < p.Nc && lane < p.M) {
    store(lane, n, red[lane * 256u + col * GL]);
  }
}
