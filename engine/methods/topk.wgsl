// Exact top-k selection and compaction per (b, hk) row: keeps every forced position (j < sinks
// or j ≥ T − recent) and the `take` highest-scoring others — score descending, ties to the lower
// position — and writes the kept positions ascending. Specification: selectKeptRef in
// engine/reference/methods.ts (equal output, element for element).
//
// One workgroup per row (grid Hkv × B), WG = 256 threads:
// 1. Radix select of τ, the take-th largest order key among non-forced tokens, and `need`, how
//    many keys equal to τ to take (radix_select.wgsl, appended by the host).
// 2. Stable compaction of the forced, the above-τ and the first `need` at-τ tokens, in position
//    order (radix_select.wgsl's compact).
// The row is read 4 + 1 times: fine for T up to 128K and B·Hkv rows of a layer.

const WG = 256u;

struct Params {
  T: u32,      // tokens per row
  K: u32,      // kept per row (the budget)
  sinks: u32,  // forced: positions [0, sinks)
  recent: u32, // forced: positions [T − recent, T)
  take: u32,   // K − forced tokens: how many to select by score
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<u32>;     // [B, Hkv, T] f32 bits
@group(0) @binding(2) var<storage, read_write> kept: array<u32>; // [B, Hkv, K] positions

// radix_select.wgsl's hooks (appended by the host): sinks and the recent window are forced
fn forced(j: u32, n: u32) -> bool {
  return j < p.sinks || j + p.recent >= n;
}

fn emit(i: u32, j: u32) {
  kept[i] = j;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x; // b · Hkv + hk
  let base = row * p.T;

  // --- 1. radix select ---------------------------------------------------------------------
  var tau = 0xffffffffu;
  var need = 0u;
  if (p.take > 0u) {
    let r = radix_select(base, p.T, p.take, lid);
    tau = r.x;
    need = r.y;
  }

  // --- 2. stable compaction
  compact(base, p.T, tau, need, row * p.K, lid);
}
