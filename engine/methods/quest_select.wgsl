// Quest page selection (host: quest_select.ts; specification: pageBoundsRef and selectPagesRef
// in engine/reference/quest.ts). Sequence b holds P = ceil(lens[b] / PS) pages and reads
// K = min(KP, P) of them per step.
//   bounds  one thread per (page, hk, b): U_h = Σ_d max(q_hd·M_d, q_hd·m_d) over the page's f16
//           max/min rows for each of the group's G query heads; the page's score is the max
//           over the G heads (the group's upper bound). scores [B, Hkv, PCAP] f32; pages ≥ P
//           are not written.
//   select  one workgroup per (hk, b), WG = 256 threads: the last page (P − 1) always, and the
//           K − 1 highest-scoring others — score descending, ties to the lower page — written
//           ascending to sel [B, Hkv, KP] u32; slots K .. KP − 1 get 0xffffffff. K = P writes
//           every page. The selection is topk.wgsl's (radix select of the threshold over the
//           f32 order keys, then a stable compaction), with T = P pages and one forced page,
//           except that P and K come from lens on the GPU: steps recorded back to back in one
//           command buffer select over their own lengths.

override D: u32 = 128u;  // head dim, a multiple of 8
override G: u32 = 4u;    // query heads per KV head
override QHKV: u32 = 8u; // KV heads
override PS: u32 = 16u;  // tokens per page
override PCAP: u32 = 1u; // page capacity per (b, hk): the row stride of scores
override KP: u32 = 1u;   // pages read per step (the budget's): the row stride of sel

const WG = 256u;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<storage, read> q: array<vec2<f32>>;          // [B, H, D/2]
@group(0) @binding(1) var<storage, read> page_meta: array<u32>;        // [B, Hkv, PCAP, 2, D/2] f16 pairs
@group(0) @binding(2) var<storage, read> lens: array<u32>;             // [B] the cache's
@group(0) @binding(3) var<storage, read_write> scores: array<u32>;     // [B, Hkv, PCAP] f32 bits
@group(0) @binding(4) var<storage, read_write> sel: array<u32>;        // [B, Hkv, KP] pages

// --- bounds ------------------------------------------------------------------------------------

@compute @workgroup_size(64)
fn bounds(@builtin(global_invocation_id) gid: vec3u) {
  let page = gid.x;
  let hk = gid.y;
  let b = gid.z;
  let pages = (lens[b] + PS - 1u) / PS;
  if (page >= pages || page >= PCAP) {
    return;
  }
  let D2 = D / 2u;
  let at = ((b * QHKV + hk) * PCAP + page) * D; // the max row; the min row follows
  var best = -3.0e38;
  for (var h = 0u; h < G; h++) {
    let qrow = (b * QHKV * G + hk * G + h) * D2;
    var s = 0.0;
    for (var w = 0u; w < D2; w++) {
      let qq = q[qrow + w];
      let hi = qq * unpack2x16float(page_meta[at + w]);
      let lo = qq * unpack2x16float(page_meta[at + D2 + w]);
      let m = max(hi, lo);
      s += m.x + m.y;
    }
    best = max(best, s);
  }
  scores[(b * QHKV + hk) * PCAP + page] = bitcast<u32>(best);
}

// --- select ------------------------------------------------------------------------------------

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> found: vec2<u32>; // (digits found so far, keys still needed)
var<workgroup> scan: array<u32, WG>;
var<workgroup> row_len: u32;

fn order_key(bits: u32) -> u32 {
  return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

@compute @workgroup_size(WG)
fn pick(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let hk = wid.x;
  let b = wid.y;
  let row = b * QHKV + hk;
  let base = row * PCAP;
  let out = row * KP;
  if (lid == 0u) {
    row_len = lens[b];
  }
  let len = workgroupUniformLoad(&row_len); // uniform: the barriers below depend on it
  let P = min((len + PS - 1u) / PS, PCAP);
  let K = min(KP, P);
  for (var i = K + lid; i < KP; i += WG) {
    sel[out + i] = NONE;
  }
  if (K == P) {
    for (var i = lid; i < P; i += WG) {
      sel[out + i] = i;
    }
    return;
  }
  // K < P: the last page is forced, `take` = K − 1 of pages [0, P − 1) by score
  let T = P - 1u;

  // --- 1. radix select of τ, the take-th largest key among pages [0, T)
  var tau = 0xffffffffu;
  var need = 0u;
  let take = K - 1u;
  if (take > 0u) {
    var prefix = 0u;
    var remaining = take;
    for (var round = 0u; round < 4u; round++) {
      let shift = 24u - 8u * round;
      let mask = select(~((1u << (shift + 8u)) - 1u), 0u, round == 0u); // digits above this one
      atomicStore(&hist[lid], 0u);
      workgroupBarrier();
      for (var j = lid; j < T; j += WG) {
        let key = order_key(scores[base + j]);
        if ((key & mask) == prefix) {
          atomicAdd(&hist[(key >> shift) & 255u], 1u);
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

  // --- 2. stable compaction of pages [0, T] (page T = P − 1 forced)
  var carry_gt = 0u;
  var carry_eq = 0u;
  for (var c = 0u; c <= T; c += WG) {
    let j = c + lid;
    var x = 0u;
    if (j == T) {
      x = 1u;
    } else if (j < T && take > 0u) {
      let key = order_key(scores[base + j]);
      if (key > tau) {
        x = 1u;
      } else if (key == tau) {
        x = 1u << 16u;
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
      sel[out + gt + min(eq, need)] = j;
    }
    let total = scan[WG - 1u];
    carry_gt += total & 0xffffu;
    carry_eq += total >> 16u;
    workgroupBarrier();
  }
}
