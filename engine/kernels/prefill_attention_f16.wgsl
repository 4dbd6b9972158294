// f16 storage variant of prefill_attention.wgsl: q, k, v and out are array<vec4<f16>>; staging,
// scores, softmax and accumulation stay f32. This file is only the preamble: the host prepends it
// to the body of prefill_attention.wgsl in place of that file's `alias IO4 = vec4<f32>;` line,
// because WGSL override constants can specialise values but not types. Needs "shader-f16".

enable f16;

alias IO4 = vec4<f16>; // storage element: 4 consecutive values along D
