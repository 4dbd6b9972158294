// Advances each sequence's stored length after a per-slot write (format.ts SlotWritable):
// lens[b] = min(lens[b] + 1, CAP). A sequence below capacity appended its token; a full one
// overwrote a slot and keeps its length. A dispatch of its own, after the format's write kernel.

override CAP: u32; // token capacity per sequence

@group(0) @binding(0) var<storage, read_write> lens: array<u32>; // [B]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&lens)) {
    lens[gid.x] = min(lens[gid.x] + 1u, CAP);
  }
}
