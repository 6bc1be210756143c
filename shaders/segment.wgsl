// One tensor's run of elements in a buffer, with a kernel's constants for it (the Keras base
// optimizer's options, src/kernels/options.rs).

struct Segment {
    offset: u32, // first element of the tensor in its buffer
    len: u32,    // elements (clip_factors: the number of tensors)
    slot: u32,   // the tensor's index in the norm tables
    mode: u32,   // which form of the kernel (see each kernel)
    a: f32,      // the kernel's constants
    b: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> seg: Segment;
