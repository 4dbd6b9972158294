// Row gather: out[n, :] = table[ids[n], :] as f32, for the ids that fall in this chunk of the
// table (rows row0 .. row0 + rows); one dispatch per chunk (engine/kernels/matrix.ts). The
// embedding lookup, and also the gather of each sequence's last hidden state before the final
// norm. Host side: embedding.ts; reference: engine/reference/ops.ts embeddingRef.

override F16: bool = false; // table as f16 pairs in u32 words (C even); else f32 bits

struct Params {
  N: u32,    // ids (output rows)
  C: u32,    // columns of the table (hidden size)
  row0: u32, // first table row of this chunk
  rows: u32, // table rows in this chunk
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;         // [N]
@group(0) @binding(2) var<storage, read> table: array<u32>;       // [rows, C] f32 bits or [rows, C/2] f16 pairs
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [N, C]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u; // over [N, C]
  if (i >= p.N * p.C) {
    return;
  }
  let n = i / p.C;
  let c = i % p.C;
  let id = ids[n];
  if (id < p.row0 || id >= p.row0 + p.rows) {
    return;
  }
  let r = id - p.row0;
  if (F16) {
    out[i] = unpack2x16float(table[(r * p.C + c) / 2u])[c & 1u];
  } else {
    out[i] = bitcast<f32>(table[r * p.C + c]);
  }
}
