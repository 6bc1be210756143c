// normalize.wgsl with vec4 loads, for batches whose sizes, strides and offsets are multiples of
// 4 (the optimizer's padded workspace always is): a CPU driver loads a vec4 in about the time of
// one f32. One workgroup per matrix, every batch at once:
//   X <- X / (||X||_F + eps)        (additive)
//   X <- X / max(||X||_F, eps)      (clamped, torch.optim.Muon)

struct NormDims {
    len: u32,
    mat_stride: u32,
    clamp: u32,
    count: u32,
    eps: f32,
    base: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> batches: array<NormDims>;
@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Which batch and matrix: uniform per workgroup, so the barriers stay in uniform control flow.
    var matrix = wid.x + wid.y * groups.x;
    var b = 0u;
    let count = arrayLength(&batches);
    loop {
        if b >= count || matrix < batches[b].count {
            break;
        }
        matrix -= batches[b].count;
        b += 1u;
    }
    if b >= count {
        return;
    }
    let dims = batches[b];
    let base = (dims.base + matrix * dims.mat_stride) / 4u;
    let len = dims.len / 4u;
    var sum = vec4(0.0);
    for (var e = lid; e < len; e += 256u) {
        let v = x[base + e];
        sum = fma(v, v, sum);
    }
    partial[lid] = (sum.x + sum.y) + (sum.z + sum.w);
    workgroupBarrier();
    for (var width = 128u; width > 0u; width >>= 1u) {
        if lid < width {
            partial[lid] += partial[lid + width];
        }
        workgroupBarrier();
    }
    let norm = sqrt(partial[0]);
    var denom = norm + dims.eps;
    if dims.clamp != 0u {
        denom = max(norm, dims.eps);
    }
    let scale = vec4(denom);
    for (var e = lid; e < len; e += 256u) {
        x[base + e] = x[base + e] / scale;
    }
}
