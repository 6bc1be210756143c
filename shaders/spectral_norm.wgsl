#import locate_matrix
#import workgroup_reduce
// optax's spectral preconditioning: X <- X / (sigma_max(X) + eps), sigma_max^2 the largest
// eigenvalue of A = X X^T, by power iteration on A from the previous step's vector (warm start;
// a fixed pseudo-random one the first time). It stops when the Rayleigh quotient changes by at
// most `tol` relative, or after `max_iters`. One workgroup per matrix, every batch at once.

struct SpecDims {
    m: u32,          // rows of the (padded, wide) view
    n: u32,
    count: u32,      // matrices in this batch
    x_base: u32,
    a_base: u32,
    v_base: u32,     // offset of the batch's vectors (2 m per matrix: v, then A v)
    max_iters: u32,
    _pad: u32,
    eps: f32,
    tol: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> batches: array<SpecDims>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> vectors: array<f32>;

var<workgroup> shared_sums: vec3<f32>;

// Sums of the three values over the workgroup (each workgroup_reduce.wgsl's tree), the same for
// every invocation and uniform, so the power iteration may branch on them.
fn sums(lid: u32, value: vec3<f32>) -> vec3<f32> {
    let x = workgroup_sum(lid, value.x);
    let y = workgroup_sum(lid, value.y);
    let z = workgroup_sum(lid, value.z);
    if lid == 0u {
        shared_sums = vec3(x, y, z);
    }
    return workgroupUniformLoad(&shared_sums);
}

fn hash01(i: u32) -> f32 {
    var h = i * 747796405u + 2891336453u;
    h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
    h = (h >> 22u) ^ h;
    return f32(h) / 4294967296.0;
}

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
    let m = d.m;
    let xb = d.x_base + matrix * m * d.n;
    let ab = d.a_base + matrix * m * m;
    let vb = d.v_base + matrix * 2u * m;
    let wb = vb + m;

    var vv = 0.0;
    for (var i = lid; i < m; i += 256u) {
        vv += vectors[vb + i] * vectors[vb + i];
    }
    if sums(lid, vec3(vv, 0.0, 0.0)).x == 0.0 {
        for (var i = lid; i < m; i += 256u) {
            vectors[vb + i] = 0.5 + hash01(i);
        }
    }
    storageBarrier();
    var lambda = 0.0;
    var previous = -1.0;
    for (var it = 0u; it < d.max_iters; it++) {
        // w = A v; v.v, v.w, w.w
        var acc = vec3(0.0);
        for (var i = lid; i < m; i += 256u) {
            var w = 0.0;
            for (var j = 0u; j < m; j++) {
                w = fma(a[ab + i * m + j], vectors[vb + j], w);
            }
            vectors[wb + i] = w;
            let v = vectors[vb + i];
            acc += vec3(v * v, v * w, w * w);
        }
        let s = sums(lid, acc);
        lambda = s.y / max(s.x, 1e-30);
        storageBarrier();
        if s.z > 0.0 {
            let inv = inverseSqrt(s.z);
            for (var i = lid; i < m; i += 256u) {
                vectors[vb + i] = vectors[wb + i] * inv;
            }
        }
        storageBarrier();
        let done = abs(lambda - previous) <= d.tol * lambda;
        previous = lambda;
        if done {
            break;
        }
    }
    let divisor = sqrt(max(lambda, 0.0)) + d.eps;
    for (var e = lid; e < m * d.n; e += 256u) {
        x[xb + e] = x[xb + e] / divisor;
    }
}
