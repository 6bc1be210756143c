#import non_finite_ranges
// Zeros the gradient ranges when control[0] says the step is skipped (skip_step policy): the
// step's kernels then read zeros with the identity step scalars, so no NaN reaches any state.

@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read> control: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    if control[0] == 0u {
        return;
    }
    let width = groups.x * 256u;
    let stride = width * groups.y;
    let first = gid.y * width + gid.x;
    for (var r = 0u; r < arrayLength(&ranges); r++) {
        let range = ranges[r];
        for (var i = first; i < range.len; i += stride) {
            grad[range.offset + i] = 0.0;
        }
    }
}
