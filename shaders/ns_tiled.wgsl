#import ns_problems
#import tiled_operands
// The Newton-Schulz products for GPUs:
//   C = alpha * L * R^T + beta * D + diag * I   (SYMMETRIC: upper-triangle tiles, mirrored)
//   C = alpha * L * R   + beta * D              (otherwise)
// for every matrix of every problem in `problems`: one dispatch covers all shapes of a step.
// Classic workgroup tiling: a (4 WG) x (4 WG) tile of C per WG x WG workgroup, 4x4 per invocation,
// operands staged through workgroup memory BK columns of k at a time. The planner pads every
// dimension to the tile, so no load or store needs a bounds check.
// The problem table and tile lookup are ns_problems.wgsl.

// Room for BK x (tile + 1) floats (one column of padding against bank conflicts): 16 KiB for
// both stages, WebGPU's default limit; tile 64 allows BK <= 16, tile 32 allows BK <= 32.
const STAGE: u32 = 2048u;

@compute @workgroup_size(WG, WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let side = 4u * WG;
    let stride = side + 1u;
    let threads = WG * WG;
    let tile = locate(wid.x + wid.y * groups.x, side);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if !tile.found {
        return;
    }
    let p = problems[tile.problem];
    let lbase = p.l_base + tile.matrix * p.l_mat;
    let rbase = p.r_base + tile.matrix * p.r_mat;
    let t = lid.y * WG + lid.x;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Consecutive invocations read consecutive addresses in every layout.
        for (var idx = t; idx < side * BK; idx += threads) {
            let r = idx / BK;
            let kk = idx % BK;
            tile_l[kk * stride + r] = left[lbase + (tile.row0 + r) * p.l_row + k0 + kk];
            if SYMMETRIC {
                tile_r[kk * stride + r] = right[rbase + (tile.col0 + r) * p.r_row + k0 + kk];
            } else {
                let c = idx % side;
                let kr = idx / side;
                tile_r[kr * stride + c] = right[rbase + (k0 + kr) * p.r_row + tile.col0 + c];
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = tile_l[kk * stride + lid.y + WG * i];
                b[i] = tile_r[kk * stride + lid.x + WG * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    let cbase = p.c_base + tile.matrix * p.c_mat;
    let dbase = p.d_base + tile.matrix * p.d_mat;
    for (var i = 0u; i < 4u; i++) {
        let row = tile.row0 + lid.y + WG * i;
        for (var j = 0u; j < 4u; j++) {
            let col = tile.col0 + lid.x + WG * j;
            var v = p.alpha * acc[i * 4u + j];
            if p.use_d != 0u {
                v = fma(p.beta, addend[dbase + row * p.c_row + col], v);
            }
            if row == col {
                v += p.diag;
            }
            result[cbase + row * p.c_row + col] = v;
            if tile.mirror {
                result[cbase + col * p.c_row + row] = v;
            }
        }
    }
}
