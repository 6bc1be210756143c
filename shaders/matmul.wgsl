#import tiled_operands
// Batched matrix product with an axpby epilogue, the building block of Newton-Schulz:
//   C = alpha * op(L) op(R) + beta * D
// op(L) = L (stored m x k) or L^T (TRANSPOSE_L, stored k x m);
// op(R) = R (stored k x n) or R^T (TRANSPOSE_R, stored n x k; X X^T is L = R = X with TRANSPOSE_R).
// One (4 WG) x (4 WG) tile of C per WG x WG workgroup, 4x4 per invocation, operands staged through
// workgroup memory BK columns of k at a time (WG and BK are pipeline-overridable, like ns_tiled's).

override TRANSPOSE_L: bool = false;
override TRANSPOSE_R: bool = false;

struct MatmulDims {
    m: u32,
    n: u32,
    k: u32,
    use_d: u32,       // 0: skip reading D (beta is 0)
    l_stride: u32,    // elements between batch entries of L, R, D and C
    r_stride: u32,
    d_stride: u32,
    c_stride: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> dims: MatmulDims;
// Room for a (4 WG) x BK stage of each operand: 4 KiB each, so 4 * WG * BK <= 1024.
const STAGE: u32 = 1024u;
// The tiles (tiled_operands.wgsl) are stored k-major so that the inner loop reads consecutive
// rows and columns.

@compute @workgroup_size(WG, WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let batch = wid.z;
    let side = 4u * WG;
    let row0 = wid.y * side;
    let col0 = wid.x * side;
    let t = lid.y * WG + lid.x;
    let threads = WG * WG;
    let lbase = batch * dims.l_stride;
    let rbase = batch * dims.r_stride;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        for (var idx = t; idx < side * BK; idx += threads) {
            var r: u32;
            var kk: u32;
            // Consecutive invocations read consecutive addresses in either layout.
            if TRANSPOSE_L {
                kk = idx / side;
                r = idx % side;
            } else {
                r = idx / BK;
                kk = idx % BK;
            }
            let gi = row0 + r;
            let gk = k0 + kk;
            var v = 0.0;
            if gi < dims.m && gk < dims.k {
                if TRANSPOSE_L {
                    v = left[lbase + gk * dims.m + gi];
                } else {
                    v = left[lbase + gi * dims.k + gk];
                }
            }
            tile_l[kk * side + r] = v;
        }
        for (var idx = t; idx < side * BK; idx += threads) {
            var c: u32;
            var kk: u32;
            if TRANSPOSE_R {
                c = idx / BK;
                kk = idx % BK;
            } else {
                kk = idx / side;
                c = idx % side;
            }
            let gj = col0 + c;
            let gk = k0 + kk;
            var v = 0.0;
            if gj < dims.n && gk < dims.k {
                if TRANSPOSE_R {
                    v = right[rbase + gj * dims.k + gk];
                } else {
                    v = right[rbase + gk * dims.n + gj];
                }
            }
            tile_r[kk * side + c] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = tile_l[kk * side + lid.y + WG * i];
                b[i] = tile_r[kk * side + lid.x + WG * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    let dbase = batch * dims.d_stride;
    let cbase = batch * dims.c_stride;
    for (var i = 0u; i < 4u; i++) {
        let gi = row0 + lid.y + WG * i;
        for (var j = 0u; j < 4u; j++) {
            let gj = col0 + lid.x + WG * j;
            if gi < dims.m && gj < dims.n {
                var v = dims.alpha * acc[i * 4u + j];
                if dims.use_d != 0u {
                    v = fma(dims.beta, addend[dbase + gi * dims.n + gj], v);
                }
                result[cbase + gi * dims.n + gj] = v;
            }
        }
    }
}
