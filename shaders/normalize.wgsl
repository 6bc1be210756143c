// Frobenius normalization before Newton-Schulz, one workgroup per matrix, every batch at once:
//   X <- X / (||X||_F + eps)        (additive)
//   X <- X / max(||X||_F, eps)      (clamped, torch.optim.Muon)

struct NormDims {
    len: u32,         // elements per matrix
    mat_stride: u32,  // elements between matrices
    clamp: u32,       // 1: max(norm, eps), 0: norm + eps
    count: u32,       // matrices in this batch
    eps: f32,
    base: u32,        // element offset of the batch's first matrix
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> batches: array<NormDims>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

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
    let base = dims.base + matrix * dims.mat_stride;
    var sum = 0.0;
    for (var e = lid; e < dims.len; e += 256u) {
        let v = x[base + e];
        sum = fma(v, v, sum);
    }
    partial[lid] = sum;
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
    for (var e = lid; e < dims.len; e += 256u) {
        x[base + e] = x[base + e] / denom;
    }
}
