// Imported by non_finite_scan.wgsl and non_finite_zero.wgsl: the gradient ranges of one buffer
// (offset and length in f32 elements), and the control words of the skip_step policy:
//   control[0]  1 when this step's gradients hold a NaN or Inf (cleared before every step)
//   control[1]  steps applied since the host last read the words (selects the step scalars)
//   control[2]  steps skipped in all
//   control[3]  1 when more steps were recorded than the host provided scalars for

struct GradRange {
    offset: u32,
    len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> ranges: array<GradRange>;

// Inf and NaN are the f32 values whose exponent bits are all ones (a bit test, so that no
// compiler may assume finite math away).
fn is_non_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}
