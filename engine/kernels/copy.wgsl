// Device-to-device copy: the bandwidth roofline. Every attention figure kvlab reports is quoted
// as a fraction of what this kernel achieves in the same run. vec4<u32> loads, grid-stride loop.

override WG: u32 = 256u;

struct Params {
  n: u32,      // vec4 elements to copy
  stride: u32, // threads in the grid
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;       // [n]
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>; // [n]

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let first = gid.x + gid.y * nwg.x * WG;
  for (var i = first; i < p.n; i += p.stride) {
    dst[i] = src[i];
  }
}
