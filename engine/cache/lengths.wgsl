// Advances each sequence's stored length after an append: lens[b] += counts[b].
// A dispatch of its own, so every append kernel before it read the old length.

@group(0) @binding(0) var<storage, read_write> lens: array<u32>; // [B]
@group(0) @binding(1) var<storage, read> counts: array<u32>;     // [B]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&lens)) {
    lens[gid.x] += counts[gid.x];
  }
}
