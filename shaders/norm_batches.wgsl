// Imported by normalize.wgsl and normalize_vec4.wgsl: the batch table, which matrix a
// workgroup normalizes, the workgroup sum of squares and the guarded divisor:
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

var<workgroup> partial: array<f32, 256>;

// (batch, matrix within it) of workgroup `index`; batch is past the table when none is left.
// Uniform per workgroup, so the barriers of `workgroup_sum` stay in uniform control flow.
fn locate_matrix(index: u32) -> vec2<u32> {
    var matrix = index;
    var b = 0u;
    let count = arrayLength(&batches);
    loop {
        if b >= count || matrix < batches[b].count {
            break;
        }
        matrix -= batches[b].count;
        b += 1u;
    }
    return vec2(b, matrix);
}

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

// What the matrix is divided by, from its sum of squares.
fn divisor(dims: NormDims, sum_of_squares: f32) -> f32 {
    return guard(dims, sqrt(sum_of_squares), dims.eps);
}

// The norm guarded by eps: max(norm, eps) or norm + eps.
fn guard(dims: NormDims, norm: f32, eps: f32) -> f32 {
    if dims.clamp != 0u {
        return max(norm, eps);
    }
    return norm + eps;
}

// Whether a finite matrix's sum of squares overflowed to +Inf (squares above 3.4e38), so that
// it must be summed again on X / max|X|. A NaN or Inf in X is not rescued: it propagates.
fn overflowed(sum_of_squares: f32, peak: f32) -> bool {
    let inf = 0x7f800000u;
    return bitcast<u32>(sum_of_squares) == inf && (bitcast<u32>(peak) & inf) != inf;
}
