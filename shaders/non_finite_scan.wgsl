#import non_finite_ranges
// Sets control[0] when any gradient value of the ranges is NaN or Inf (skip_step policy).

@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> control: array<atomic<u32>>;

// Invocations stride over every range beyond the (capped) grid; one atomic per invocation.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    let first = gid.y * width + gid.x;
    var found = false;
    for (var r = 0u; r < arrayLength(&ranges); r++) {
        let range = ranges[r];
        for (var i = first; i < range.len; i += stride) {
            found = found || is_non_finite(grad[range.offset + i]);
        }
    }
    if found {
        atomicOr(&control[0], 1u);
    }
}
