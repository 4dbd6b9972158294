// Exact top-k of one row, shared by topk.wgsl and quest_select.wgsl and appended to each by its
// host. The row is positions j < n of scores[base ..] (f32 bits); the including kernel declares
// WG, `scores`, fn forced(j: u32, n: u32) -> bool (kept whatever its score) and
// fn emit(i: u32, j: u32) (store position j at output index i). Every thread of the workgroup
// calls these functions (they hold barriers).
//   radix_select  τ, the take-th largest order key (the u32 whose unsigned order is the f32 total
//                 order of a score) among the non-forced positions, and `need`, how many keys
//                 equal to τ to take (the lowest positions): four passes of 8 bits, most
//                 significant first; each builds a 256-bin histogram of the keys that match the
//                 digits found so far and picks the digit where the count from the top reaches
//                 what is still needed. take > 0.
//   compact       stable compaction in chunks of WG positions: a workgroup scan counts, in one
//                 u32, the "forced or key > τ" positions (low 16 bits) and the "key = τ" ones
//                 (high 16 bits) before each position; a position is kept if it is of the first
//                 kind, or of the second and fewer than `need` came before it; it goes to output
//                 index out + (first kind before it) + min(second kind before it, need).

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> found: vec2<u32>; // (digits found so far, keys still needed)
var<workgroup> scan: array<u32, WG>;

fn order_key(bits: u32) -> u32 {
  return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

// (τ, need) for the row; see the header.
fn radix_select(base: u32, n: u32, take: u32, lid: u32) -> vec2<u32> {
  var prefix = 0u;
  var remaining = take;
  for (var round = 0u; round < 4u; round++) {
    let shift = 24u - 8u * round;
    let mask = select(~((1u << (shift + 8u)) - 1u), 0u, round == 0u); // digits above this one
    atomicStore(&hist[lid], 0u);
    workgroupBarrier();
    for (var j = lid; j < n; j += WG) {
      if (!forced(j, n)) {
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
  return vec2(prefix, remaining);
}

// Writes the kept positions of the row, ascending, through emit(out + slot, j); see the header.
// With τ = 0xffffffff and need = 0 (nothing selected by score) only forced positions are kept.
fn compact(base: u32, n: u32, tau: u32, need: u32, out: u32, lid: u32) {
  var carry_gt = 0u;
  var carry_eq = 0u;
  for (var c = 0u; c < n; c += WG) {
    let j = c + lid;
    var x = 0u;
    if (j < n) {
      if (forced(j, n)) {
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
      emit(out + gt + min(eq, need), j);
    }
    let total = scan[WG - 1u];
    carry_gt += total & 0xffffu;
    carry_eq += total >> 16u;
    workgroupBarrier();
  }
}
