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
//           every page. The selection is topk.wgsl's (radix_select.wgsl for the threshold over the
//           f32 order keys, then a stable compaction), over the P pages with the last one forced,
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

var<workgroup> row_len: u32;

// radix_select.wgsl's hooks (appended by the host): the last page is forced
fn forced(j: u32, n: u32) -> bool {
  return j + 1u == n;
}

fn emit(i: u32, j: u32) {
  sel[i] = j;
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

  // --- 1. radix select of τ, the take-th largest key among pages [0, P − 1)
  var tau = 0xffffffffu;
  var need = 0u;
  let take = K - 1u;
  if (take > 0u) {
    let r = radix_select(base, P, take, lid);
    tau = r.x;
    need = r.y;
  }

  // --- 2. stable compaction of pages [0, P) (page P − 1 forced)
  compact(base, P, tau, need, out, lid);
}
