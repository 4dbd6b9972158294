// Decode-time eviction kernels (host side: evict_kernels.ts; driven by evict.ts). Recorded per
// decode step in this order around the cache's slot write and decode attention:
//   select   per (b, hk): the slot the incoming token goes to — lens[b] below capacity, else the
//            evictable slot with the lowest (rank key, position); records the evicted position,
//            and sets the slot's position and statistic for the incoming token
//   (the cache's writeSlots: the token into that slot, lens[b] = min(lens[b] + 1, CAP))
//   advance  per b: next[b] += 1
//   (decode attention, writing raw scores scale·q·k [B, H, CAP] and per-split (max, Σexp))
//   stats    per (b, hk, slot < lens[b]): this step's attention probability, mean over the
//            group's G query heads, added to (h2o) or replacing (tova) the slot's statistic
// and once after the one-shot compression of the prompt:
//   init     per (b, hk, kept slot): position and statistic from the Compressor's kept / scores
// Specification: selectVictimRef, stepStatsRef and EvictorRef in engine/reference/methods.ts.

override HKV: u32;      // Hkv
override G: u32;        // query heads per KV head
override CAP: u32;      // slots per (b, hk): the budget
override RULE: u32 = 0; // rank key: 0 position (oldest), 1 statistic (accumulated, current)
override H: u32 = G * HKV;

const WG = 256u;         // select
const NONE = 0xffffffffu; // "no eviction: appended"

struct Params {
  B: u32,
  sinks: u32,      // positions < sinks are never evicted
  recent: u32,     // nor the newest `recent` (the incoming token is one of them)
  S: u32,          // decode-attention splits (part_ml)
  accumulate: u32, // stats: 1 add (h2o), 0 replace (tova)
  K: u32,          // init: kept tokens per (b, hk)
  T: u32,          // init: prompt tokens (the next position) and the scores' row length
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lens: array<u32>;            // [B] the cache's lengths
@group(0) @binding(2) var<storage, read_write> next: array<u32>;      // [B] incoming position
@group(0) @binding(3) var<storage, read_write> pos: array<u32>;       // [B, Hkv, CAP]
@group(0) @binding(4) var<storage, read_write> stat: array<f32>;      // [B, Hkv, CAP] (RULE 1)
@group(0) @binding(5) var<storage, read_write> slots: array<u32>;     // [B, Hkv] slot written
@group(0) @binding(6) var<storage, read_write> evicted: array<u32>;   // [B, Hkv] position or NONE
@group(0) @binding(7) var<storage, read> att: array<f32>;             // [B, H, CAP] scale·q·k
@group(0) @binding(8) var<storage, read> part_ml: array<vec2<f32>>;   // [B, H, S] (max, Σexp)
@group(0) @binding(9) var<storage, read> kept: array<u32>;            // [B, Hkv, K] init
@group(0) @binding(10) var<storage, read> scores: array<f32>;         // [B, Hkv, T] init

var<workgroup> rk: array<u32, WG>; // select: best (key, position, slot) per thread
var<workgroup> rp: array<u32, WG>;
var<workgroup> rs: array<u32, WG>;
var<workgroup> ml: array<vec2<f32>, G>; // stats: (max, Σexp) of the group's G rows

/** The u32 whose unsigned order is the f32 total order (engine/reference/methods.ts orderKey). */
fn order_key(bits: u32) -> u32 {
  return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

/** (key, position) a is lower than b. */
fn lower(ka: u32, pa: u32, kb: u32, pb: u32) -> bool {
  return ka < kb || (ka == kb && pa < pb);
}

// grid (Hkv, B); 256 threads scan the slots, then a tree reduction
@compute @workgroup_size(WG)
fn select_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let hk = wid.x;
  let b = wid.y;
  let row = b * HKV + hk;
  let len = lens[b];
  let t = next[b];
  var bk = NONE;
  var bp = NONE;
  var bs = NONE;
  for (var s = lid; s < len; s += WG) {
    let ps = pos[row * CAP + s];
    if (ps >= p.sinks && t - ps >= p.recent) {
      var key = ps;
      if (RULE == 1u) {
        key = order_key(bitcast<u32>(stat[row * CAP + s]));
      }
      if (lower(key, ps, bk, bp)) {
        bk = key;
        bp = ps;
        bs = s;
      }
    }
  }
  rk[lid] = bk;
  rp[lid] = bp;
  rs[lid] = bs;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half && lower(rk[lid + half], rp[lid + half], rk[lid], rp[lid])) {
      rk[lid] = rk[lid + half];
      rp[lid] = rp[lid + half];
      rs[lid] = rs[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var slot = len;
    var gone = NONE;
    if (len >= CAP) {
      // the host validated that some slot is evictable (sinks + recent ≤ budget, sinks < budget)
      slot = select(rs[0], 0u, rs[0] == NONE);
      gone = rp[0];
    }
    slots[row] = slot;
    evicted[row] = gone;
    pos[row * CAP + slot] = t;
    if (RULE == 1u) {
      stat[row * CAP + slot] = 0.0;
    }
  }
}

// grid ⌈B/64⌉
@compute @workgroup_size(64)
fn advance_main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < p.B) {
    next[gid.x] += 1u;
  }
}

// grid (⌈CAP/64⌉, Hkv, B)
@compute @workgroup_size(64)
fn stats_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let hk = wid.y;
  let b = wid.z;
  if (lid < G) {
    // merged over the splits exactly as decode_reduce.wgsl merges them
    let r = (b * H + hk * G + lid) * p.S;
    var m = -3.0e38;
    for (var s = 0u; s < p.S; s++) {
      if (part_ml[r + s].y > 0.0) {
        m = max(m, part_ml[r + s].x);
      }
    }
    var l = 0.0;
    for (var s = 0u; s < p.S; s++) {
      let x = part_ml[r + s];
      if (x.y > 0.0) {
        l += x.y * exp(x.x - m);
      }
    }
    ml[lid] = vec2(m, l);
  }
  workgroupBarrier();
  let slot = wid.x * 64u + lid;
  if (slot >= lens[b]) {
    return;
  }
  var a = 0.0;
  for (var g = 0u; g < G; g++) {
    let x = att[(b * H + hk * G + g) * CAP + slot];
    a += exp(x - ml[g].x) / ml[g].y;
  }
  a /= f32(G);
  let i = (b * HKV + hk) * CAP + slot;
  if (p.accumulate == 1u) {
    stat[i] += a;
  } else {
    stat[i] = a;
  }
}

// grid over [B, Hkv, K] (x, y spread)
@compute @workgroup_size(64)
fn init_main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.B * HKV * p.K) {
    return;
  }
  let row = i / p.K; // b · Hkv + hk
  let s = i % p.K;
  let j = kept[i];
  pos[row * CAP + s] = j;
  if (RULE == 1u) {
    stat[row * CAP + s] = scores[row * p.T + j];
  }
  if (s == 0u && row % HKV == 0u) {
    next[row / HKV] = p.T;
  }
}
