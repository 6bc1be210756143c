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
    var peak = vec4(0.0);
    for (var e = lid; e < len; e += 256u) {
        let v = x[base + e];
        sum = fma(v, v, sum);
        peak = max(peak, abs(v));
    }
    let total = workgroup_sum(lid, (sum.x + sum.y) + (sum.z + sum.w));
    let largest = workgroup_max(lid, max(max(peak.x, peak.y), max(peak.z, peak.w)));
    // As normalize.wgsl: when the squares overflow, X / max|X| is summed and divided instead.
    let rescale = overflowed(total, largest);
    var scaled = vec4(0.0);
    if rescale {
        for (var e = lid; e < len; e += 256u) {
            let v = x[base + e] / largest;
            scaled = fma(v, v, scaled);
        }
    }
    let scaled_total = workgroup_sum(lid, (scaled.x + scaled.y) + (scaled.z + scaled.w));
    var first = vec4(1.0);
    var scale = vec4(divisor(dims, total));
    if rescale {
        first = vec4(largest);
        scale = vec4(guard(dims, sqrt(scaled_total), dims.eps / largest));
    }
    for (var e = lid; e < len; e += 256u) {
        x[base + e] = x[base + e] / first / scale;
    }
}
