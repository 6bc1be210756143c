#import norm_batches
// Frobenius normalization before Newton-Schulz, one workgroup per matrix, every batch at once
// (the table and the reduction are norm_batches.wgsl).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let at = locate_matrix(wid.x + wid.y * groups.x);
    if at.x >= arrayLength(&batches) {
        return;
    }
    let dims = batches[at.x];
    let base = dims.base + at.y * dims.mat_stride;
    var sum = 0.0;
    for (var e = lid; e < dims.len; e += 256u) {
        let v = x[base + e];
        sum = fma(v, v, sum);
    }
    let denom = divisor(dims, workgroup_sum(lid, sum));
    for (var e = lid; e < dims.len; e += 256u) {
        x[base + e] = x[base + e] / denom;
    }
}
