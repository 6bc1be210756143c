#import norm_batches
// normalize.wgsl with vec4 loads, for batches whose sizes, strides and offsets are multiples of
// 4 (the optimizer's padded workspace always is): a CPU driver loads a vec4 in about the time of
// one f32. The table and the reduction are norm_batches.wgsl.

@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;

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
    let base = (dims.base + at.y * dims.mat_stride) / 4u;
    let len = dims.len / 4u;
    var sum = vec4(0.0);
    for (var e = lid; e < len; e += 256u) {
        let v = x[base + e];
        sum = fma(v, v, sum);
    }
    let scale = vec4(divisor(dims, workgroup_sum(lid, (sum.x + sum.y) + (sum.z + sum.w))));
    for (var e = lid; e < len; e += 256u) {
        x[base + e] = x[base + e] / scale;
    }
}
