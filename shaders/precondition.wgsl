#import locate_matrix
#import workgroup_reduce
// optax's AOL and Schatten-4 preconditioning, fused into the first Newton-Schulz iteration:
// after A = X X^T, with no eps on X,
//   aol:       s_i = 1 / sqrt(max(sum_j |A_ij|, 1e-8));  X <- diag(s) X;  A <- diag(s) A diag(s)
//   schatten:  s = 1 / sqrt(max(||A||_F, 1e-8));          X <- s X;        A <- s^2 A
// and the iteration goes on with the rescaled A. One workgroup per matrix, every batch at once.

struct PrecDims {
    mode: u32,     // 1 aol, 2 schatten
    m: u32,        // rows of the (padded, wide) view
    n: u32,        // columns
    count: u32,    // matrices in this batch
    x_base: u32,   // workspace offset of the batch's X (and of the AOL scales' scratch)
    a_base: u32,   // offset of its Gram matrices
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> batches: array<PrecDims>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> scales: array<f32>;

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
    let d = batches[at.x];
    let matrix = at.y;
    let xb = d.x_base + matrix * d.m * d.n;
    let ab = d.a_base + matrix * d.m * d.m;
    if d.mode == 2u {
        var sum = 0.0;
        for (var e = lid; e < d.m * d.m; e += 256u) {
            sum = fma(a[ab + e], a[ab + e], sum);
        }
        let s = inverseSqrt(max(sqrt(workgroup_sum(lid, sum)), 1e-8));
        for (var e = lid; e < d.m * d.n; e += 256u) {
            x[xb + e] *= s;
        }
        for (var e = lid; e < d.m * d.m; e += 256u) {
            a[ab + e] *= s * s;
        }
        return;
    }
    for (var i = lid; i < d.m; i += 256u) {
        var row = 0.0;
        for (var j = 0u; j < d.m; j++) {
            row += abs(a[ab + i * d.m + j]);
        }
        scales[xb + i] = inverseSqrt(max(row, 1e-8));
    }
    storageBarrier();
    for (var e = lid; e < d.m * d.m; e += 256u) {
        let i = e / d.m;
        let j = e - i * d.m;
        a[ab + e] *= scales[xb + i] * scales[xb + j];
    }
    for (var e = lid; e < d.m * d.n; e += 256u) {
        x[xb + e] *= scales[xb + e / d.n];
    }
}
