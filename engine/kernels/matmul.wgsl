// Matmul against a Hugging Face weight: y = x · Wᵀ (+ bias) (+ y), W [N, K] as stored, one
// row chunk of W per dispatch (engine/kernels/matrix.ts). Host side and shape checks: matmul.ts;
// reference: engine/reference/ops.ts matmulRef.
//
// Two entry points, same arithmetic (f32 accumulation, W read as f32 or unpacked from f16):
// - tiled: prefill (many rows). A workgroup of 16×16 threads computes a 64×64 tile of y, each
//   thread 4×4 outputs (rows ly + 16·i, columns lx + 16·j), over K in steps of 16 staged in
//   workgroup memory. Out-of-range rows, columns and K are zero-padded in the tiles.
// - gemv: decode (M ≤ 8 rows). A workgroup of 256 threads computes 8 columns of y: 32 lanes per
//   column walk K with a stride of 32 words (neighbouring lanes read neighbouring words of one
//   row of W: coalesced), keep M running sums each, and reduce them through workgroup memory.
//   Every weight word is read once per step, whatever M: decode is a pass over the weights.
// Epilogue: + bias[n0 + n] (BIAS), then + the old y (ACC: the residual add fused in): store()
// and gemv_finish() in gemv_epilogue.wgsl, which matmul.ts appends.
// Not here: transposed x, batched weights, f16 activations, subgroup operations.

override F16: bool = false; // W as f16 pairs in u32 words (K even); else f32 bits
override BIAS: bool = false;
override ACC: bool = false;

struct Params {
  M: u32,   // rows of x and y
  K: u32,   // columns of x and of W
  Nc: u32,  // rows of W in this chunk (columns of y written)
  n0: u32,  // first row of this chunk in W: y columns n0 .. n0 + Nc
  ldy: u32, // row stride of y (N, the rows of the whole W)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [M, K]
@group(0) @binding(2) var<storage, read> w: array<u32>;       // [Nc, K] f32 bits or [Nc, K/2] f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<f32>;    // [N] (unused unless BIAS)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [M, ldy]

// W[n, k] of this chunk as f32.
fn w_at(n: u32, k: u32) -> f32 {
  if (F16) {
    return unpack2x16float(w[(n * p.K + k) / 2u])[k & 1u];
  }
  return bitcast<f32>(w[n * p.K + k]);
}

// --- tiled -------------------------------------------------------------------------------------

const TS: u32 = 64u; // tile rows (of x) and columns (rows of W)
const BK: u32 = 16u; // K per step

var<workgroup> xs: array<f32, 1024>; // [BK, TS] x tile, k-major
var<workgroup> ws: array<f32, 1024>; // [BK, TS] W tile, k-major

@compute @workgroup_size(16, 16)
fn tiled(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) l: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let m0 = wid.y * TS;
  let c0 = wid.x * TS;
  var acc: array<f32, 16>; // [4, 4]
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var j = 0u; j < 4u; j++) {
      let e = lid + 256u * j;
      let r = e / BK;
      let k = k0 + e % BK;
      var xv = 0.0;
      if (m0 + r < p.M && k < p.K) {
        xv = x[(m0 + r) * p.K + k];
      }
      xs[(e % BK) * TS + r] = xv;
      var wv = 0.0;
      if (c0 + r < p.Nc && k < p.K) {
        wv = w_at(c0 + r, k);
      }
      ws[(e % BK) * TS + r] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[kk * TS + l.y + 16u * i];
        b[i] = ws[kk * TS + l.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let m = m0 + l.y + 16u * i;
      let n = c0 + l.x + 16u * j;
      if (m < p.M && n < p.Nc) {
        store(m, n, acc[i * 4u + j]);
      }
    }
  }
}

// --- gemv --------------------------------------------------------------------------------------

@compute @workgroup_size(256)
fn gemv(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let lane = lid % GL;
  let n = (wid.x + wid.y * nwg.x) * GCOL + lid / GL;
  var acc = array<f32, 8>(); // [MMAX]
  if (n < p.Nc) {
    if (F16) {
      let K2 = p.K / 2u;
      for (var k2 = lane; k2 < K2; k2 += GL) {
        let wv = unpack2x16float(w[n * K2 + k2]);
        for (var m = 0u; m < MMAX; m++) {
          if (m < p.M) {
            let at = m * p.K + 2u * k2;
            acc[m] = fma(x[at + 1u], wv.y, fma(x[at], wv.x, acc[m]));
          }
        }
      }
    } else {
      for (var k = lane; k < p.K; k += GL) {
        let wv = bitcast<f32>(w[n * p.K + k]);
        for (var m = 0u; m < MMAX; m++) {
          if (m < p.M) {
            acc[m] = fma(x[m * p.K + k], wv, acc[m]);
          }
        }
      }
    }
  }
  gemv_finish(lid, n, acc);
}
