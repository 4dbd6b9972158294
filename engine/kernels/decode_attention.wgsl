// Split-K decode attention, pass 1 of 2: one new query per sequence against a stored KV cache.
// Workgroup (s, hk, b) covers split s of sequence b's tokens for KV head hk and all G query
// heads of its GQA group, so every KV element is read from global memory once per group.
// The storage format is spliced in after this body: it declares its bindings and the functions
// kv_len, stage_k and stage_v (see engine/cache/format.ts), which dequantize a TILE of tokens
// into workgroup memory. Pass 2 (decode_reduce.wgsl) merges the splits.
// Not here: prefill (prefill_attention.wgsl), masks other than the stored length.

override D: u32 = 128u;    // head dim
override G: u32 = 4u;      // query heads per KV head (H / Hkv)
override TILE: u32 = 32u;  // tokens staged per step
override WG: u32 = 128u;   // threads per workgroup
override KS: u32 = D + 1u; // tile row stride (odd: no bank conflicts when threads walk rows)

const NEG: f32 = -3.0e38;

struct Params {
  B: u32,
  H: u32,
  S: u32,      // splits per sequence
  scale: f32,  // softmax scale, usually 1/sqrt(D)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;             // [B, H, D]
@group(0) @binding(2) var<storage, read_write> part_o: array<f32>;  // [B, H, S, D] unnormalised
@group(0) @binding(3) var<storage, read_write> part_ml: array<f32>; // [B, H, S, 2] (max, sum)

var<workgroup> tile: array<f32, TILE * KS>; // K or V tile, dequantized: [TILE, KS]
var<workgroup> qs: array<f32, G * D>;       // the group's queries, pre-scaled: [G, D]
var<workgroup> acc: array<f32, G * D>;      // running unnormalised outputs: [G, D]
var<workgroup> sc: array<f32, G * TILE>;    // scores, then probabilities: [G, TILE]
var<workgroup> m_run: array<f32, G>;
var<workgroup> l_run: array<f32, G>;
var<workgroup> alpha: array<f32, G>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let hk = wid.y;
  let b = wid.z;
  let len = kv_len(b);
  let per = (len + p.S - 1u) / p.S;
  let chunk = ((per + TILE - 1u) / TILE) * TILE;
  let start = min(s * chunk, len);
  let end = min(start + chunk, len);
  let h0 = b * p.H + hk * G; // first query row of the group

  for (var i = lid; i < G * D; i += WG) {
    qs[i] = q[h0 * D + i] * p.scale;
    acc[i] = 0.0;
  }
  if (lid < G) {
    m_run[lid] = NEG;
    l_run[lid] = 0.0;
  }
  workgroupBarrier();

  for (var t0 = start; t0 < end; t0 += TILE) {
    stage_k(b, hk, t0, lid);
    workgroupBarrier();
    for (var i = lid; i < G * TILE; i += WG) {
      let h = i / TILE;
      let t = i % TILE;
      var dot = 0.0;
      for (var d = 0u; d < D; d++) {
        dot += qs[h * D + d] * tile[t * KS + d];
      }
      sc[i] = select(NEG, dot, t0 + t < end);
    }
    workgroupBarrier();
    if (lid < G) {
      var mt = NEG;
      for (var t = 0u; t < TILE; t++) {
        mt = max(mt, sc[lid * TILE + t]);
      }
      let m_new = max(m_run[lid], mt);
      var sum = 0.0;
      for (var t = 0u; t < TILE; t++) {
        let e = select(0.0, exp(sc[lid * TILE + t] - m_new), t0 + t < end);
        sc[lid * TILE + t] = e;
        sum += e;
      }
      let a = exp(m_run[lid] - m_new);
      alpha[lid] = a;
      l_run[lid] = l_run[lid] * a + sum;
      m_run[lid] = m_new;
    }
    workgroupBarrier();
    stage_v(b, hk, t0, lid);
    workgroupBarrier();
    for (var i = lid; i < G * D; i += WG) {
      let h = i / D;
      let d = i % D;
      var a = acc[i] * alpha[h];
      for (var t = 0u; t < TILE; t++) {
        a += sc[h * TILE + t] * tile[t * KS + d];
      }
      acc[i] = a;
    }
    workgroupBarrier();
  }

  for (var i = lid; i < G * D; i += WG) {
    let h = i / D;
    let d = i % D;
    part_o[((h0 + h) * p.S + s) * D + d] = acc[i];
  }
  if (lid < G) {
    part_ml[((h0 + lid) * p.S + s) * 2u] = m_run[lid];
    part_ml[((h0 + lid) * p.S + s) * 2u + 1u] = l_run[lid];
  }
}
