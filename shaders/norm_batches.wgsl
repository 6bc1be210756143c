#import locate_matrix
#import workgroup_reduce
// Imported by normalize.wgsl and normalize_vec4.wgsl: the batch table (which matrix a workgroup
// normalizes: locate_matrix.wgsl; its sum of squares: workgroup_reduce.wgsl) and the guarded
// divisor:
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
