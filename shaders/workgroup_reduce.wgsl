// Imported by the kernels that reduce over a workgroup of 256 invocations: the tree sum and
// maximum of one f32 per invocation, each a fixed order of operations (so reproducible).

var<workgroup> partial: array<f32, 256>;

// The sum of `value` over the 256 invocations of the workgroup, returned to all of them.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    // An earlier reduction's result may still be being read.
    workgroupBarrier();
    partial[lid] = value;
    workgroupBarrier();
    for (var width = 128u; width > 0u; width >>= 1u) {
        if lid < width {
            partial[lid] += partial[lid + width];
        }
        workgroupBarrier();
    }
    return partial[0];
}

// The largest `value` over the workgroup, returned to all of them.
fn workgroup_max(lid: u32, value: f32) -> f32 {
    workgroupBarrier();
    partial[lid] = value;
    workgroupBarrier();
    for (var width = 128u; width > 0u; width >>= 1u) {
        if lid < width {
            partial[lid] = max(partial[lid], partial[lid + width]);
        }
        workgroupBarrier();
    }
    return partial[0];
}
