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
    var peak = 0.0;
    for (var e = lid; e < dims.len; e += 256u) {
        let v = x[base + e];
        sum = fma(v, v, sum);
        peak = max(peak, abs(v));
    }
    let total = workgroup_sum(lid, sum);
    let largest = workgroup_max(lid, peak);
    // Every finite matrix gets its true norm: when the squares overflow, X / max|X| is summed
    // instead and X is divided by max|X| first (‖X‖ = max|X|·‖X / max|X|‖).
    let rescale = overflowed(total, largest);
    var scaled = 0.0;
    if rescale {
        for (var e = lid; e < dims.len; e += 256u) {
            let v = x[base + e] / largest;
            scaled = fma(v, v, scaled);
        }
    }
    let scaled_total = workgroup_sum(lid, scaled);
    var first = 1.0;
    var denom = divisor(dims, total);
    if rescale {
        first = largest;
        denom = guard(dims, sqrt(scaled_total), dims.eps / largest);
    }
    for (var e = lid; e < dims.len; e += 256u) {
        x[base + e] = x[base + e] / first / denom;
    }
}
