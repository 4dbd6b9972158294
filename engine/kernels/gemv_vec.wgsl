// Decode matmul with 16-byte loads: y = x · Wᵀ (+ bias) (+ y) for M ≤ 8 rows of x, W [N, K] as
// stored (one row chunk per dispatch). The same contract as matmul.wgsl's gemv entry point, for
// the shapes that allow vector loads: f16 W with K a multiple of 8 (8 weights per vec4<u32>),
// f32 W with K a multiple of 4. Host side: matmul.ts (picks this or the scalar gemv); reference:
// engine/reference/ops.ts matmulRef.
//
// Why: decode is a pass over the weights, so its speed is the weights' bandwidth. The scalar gemv
// issues one 4-byte load per lane per step plus two 4-byte loads of x; here a lane loads 16 bytes
// of W (a warp reads 512 contiguous bytes of one row) and the matching x as vec4<f32>, and keeps
// two W loads in flight per loop step. An estimate, not a measurement: engine/bench's model
// suite measures decode against the copy kernel's bandwidth (docs/gpu.md).
//
// Layout: a workgroup of 256 threads covers 8 rows of W (columns of y), 32 lanes each; lane l
// takes vec4 words l, l + 32, l + 64, ... of its row, keeps M running f32 sums (each word's 8 or
// 4 products summed with dot(), then added), and the 32 lanes reduce through workgroup memory
// (gemv_finish in gemv_epilogue.wgsl, which matmul.ts appends, as it does to matmul.wgsl).
// Every sum is formed the same way whatever M is, so a sequence's output does not depend on the
// batch it decodes in.

override F16: bool = false; // W as f16 pairs: a vec4<u32> holds 8 weights; else 4 f32
override BIAS: bool = false;
override ACC: bool = false;

struct Params {
  M: u32, // rows of x and y (≤ 8)
  K: u32, // columns of x and of W
  Nc: u32, // rows of W in this chunk
  n0: u32, // first row of this chunk in W
  ldy: u32, // row stride of y
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // [M, K/4]
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // [Nc, K/8] f16 or [Nc, K/4] f32
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [N] (unused unless BIAS)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [M, ldy]

// Row m of x · one vec4 word of W (word i of its row): 8 (f16) or 4 (f32) products, summed.
fn word_dot(m: u32, i: u32, wv: vec4<u32>) -> f32 {
  if (F16) {
    let at = (m * p.K) / 4u + 2u * i; // x columns 8i .. 8i + 7
    let lo = vec4<f32>(unpack2x16float(wv.x), unpack2x16float(wv.y));
    let hi = vec4<f32>(unpack2x16float(wv.z), unpack2x16float(wv.w));
    return dot(x[at], lo) + dot(x[at + 1u], hi);
  }
  return dot(x[(m * p.K) / 4u + i], bitcast<vec4<f32>>(wv));
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let lane = lid % GL;
  let n = (wid.x + wid.y * nwg.x) * GCOL + lid / GL;
  let words = select(p.K / 4u, p.K / 8u, F16); // vec4 words per row of W
  var acc = array<f32, 8>(); // [MMAX]
  if (n < p.Nc) {
    let row = n * words;
    var i = lane;
    // two words in flight per step
    for (; i + GL < words; i += 2u * GL) {
      let w0 = w[row + i];
      let w1 = w[row + i + GL];
      for (var m = 0u; m < MMAX; m++) {
        if (m < p.M) {
          acc[m] += word_dot(m, i, w0) + word_dot(m, i + GL, w1);
        }
      }
    }
    if (i < words) {
      let w0 = w[row + i];
      for (var m = 0u; m < MMAX; m++) {
        if (m < p.M) {
          acc[m] += word_dot(m, i, w0);
        }
      }
    }
  }
  gemv_finish(lid, n, acc);
}
