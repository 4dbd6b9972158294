// Exact top-k selection and compaction per (b, hk) row: keeps every forced position (j < sinks
// or j ≥ T − recent) and the `take` highest-scoring others — score descending, ties to the lower
// position — and writes the kept positions ascending. Specification: selectKeptRef in
// engine/reference/methods.ts (equal output, element for element).
//
// One workgroup per row (grid Hkv × B), WG = 256 threads:
// 1. Radix select of τ, the take-th largest order key (the u32 whose unsigned order is the f32
//    total order of a score) among non-forced tokens: four passes of 8 bits, most significant
//    first; each builds a 256-bin histogram of the keys that match the digits found so far and
//    picks the digit where the count from the top reaches what is still needed. After the four
//    passes `need` is how many keys equal to τ to take (the lowest positions).
// 2. Stable compaction in chunks of 256 positions: a workgroup scan counts, in one u32, the
//    "forced or key > τ" tokens (low 16 bits) and the "key = τ" tokens (high 16 bits) before each
//    position; a token is kept if it is of the first kind, or of the second and fewer than `need`
//    came before it; its slot is (first kind before it) + min(second kind before it, need).
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

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> found: vec2<u32>; // (digits found so far, keys still needed)
var<workgroup> scan: array<u32, WG>;

fn order_key(bits: u32) -> u32 {
  return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

fn is_forced(j: u32) -> bool {
  return j < p.sinks || j + p.recent >= p.T;
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
    var prefix = 0u;
    var remaining = p.take;
    for (var round = 0u; round < 4u; round++) {
      let shift = 24u - 8u * round;
      let mask = select(~((1u << (shift + 8u)) - 1u), 0u, round == 0u); // digits above this one
      atomicStore(&hist[lid], 0u);
      workgroupBarrier();
      for (var j = lid; j < p.T; j += WG) {
        if (!is_forced(j)) {
          let key = order_key(scores[base + j]);
          if ((key & mask) == prefix) {
            atomicAdd(&hist[(key >> shift) & 255u], 1u);
          }
        }
      }
      workgroupBarrier();
      if (lid == 0u) {
        var above = 0u;
        var digit = 0u;
        for (var d = 255i; d >= 0i; d--) {
          let c = atomicLoad(&hist[d]);
          if (above + c >= remaining) {
            digit = u32(d);
            break;
          }
          above += c;
        }
        found = vec2(prefix | (digit << shift), remaining - above);
      }
      let f = workgroupUniformLoad(&found);
      prefix = f.x;
      remaining = f.y;
    }
    tau = prefix;
    need = remaining;
  }

  // --- 2. stable compaction ----------------------------------------------------------------
  var carry_gt = 0u;
  var carry_eq = 0u;
  for (var c = 0u; c < p.T; c += WG) {
    let j = c + lid;
    var x = 0u;
    if (j < p.T) {
      if (is_forced(j)) {
        x = 1u;
      } else {
        let key = order_key(scores[base + j]);
        if (key > tau) {
          x = 1u;
        } else if (key == tau) {
          x = 1u << 16u;
        }
      }
    }
    scan[lid] = x;
    workgroupBarrier();
    for (var off = 1u; off < WG; off <<= 1u) {
      var y = 0u;
      if (lid >= off) {
        y = scan[lid - off];
      }
      workgroupBarrier();
      scan[lid] += y;
      workgroupBarrier();
    }
    let before = scan[lid] - x; // exclusive prefix, both halves
    let gt = carry_gt + (before & 0xffffu);
    let eq = carry_eq + (before >> 16u);
    if (x == 1u || (x == (1u << 16u) && eq < need)) {
      kept[row * p.K + gt + min(eq, need)] = j;
    }
    let total = scan[WG - 1u];
    carry_gt += total & 0xffffu;
    carry_eq += total >> 16u;
    workgroupBarrier();
  }
}
