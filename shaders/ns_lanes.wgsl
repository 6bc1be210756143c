#import ns_problems
// The Newton-Schulz products for CPU adapters (lavapipe, llvmpipe, SwiftShader):
//   C = alpha * L * R^T + beta * D + diag * I   (SYMMETRIC: upper-triangle tiles, mirrored)
//   C = alpha * L * R   + beta * D              (otherwise)
// for every matrix of every problem in `problems`: one dispatch covers all shapes of a step.
//
// Why it looks like this: a CPU driver runs one workgroup of 8 invocations as one SIMD register
// and turns every buffer (or workgroup-memory) load into a loop over the lanes, so loads per fma
// decide the speed. No workgroup memory and no barriers: each invocation keeps a ROWS x 8 block
// of the tile in registers (vec4 accumulators), loads along k four at a time, and the rows of L
// are loaded once per workgroup, one in eight per lane, and shared with subgroupBroadcast
// (SHARE: broadcast; without subgroups every lane loads every row).
// Dimensions are padded to the tile by the planner (zero rows and columns change nothing in
// these products), so the hot loop has no bounds checks.
//
// This file is a template: the regions between `// generate <name>` and `// end` are unrolled
// by src/kernels/ns.rs for the chosen tile (TILE x TILE, TILE a multiple of 32); as stored here
// they hold the 32 x 32 broadcast instance, so with ns_problems.wgsl (the problem table and
// tile lookup, imported) the file is a working kernel on its own.

// generate bindings
@group(0) @binding(1) var<storage, read> left: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> right: array<vec4<f32>>;
// end
@group(0) @binding(3) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> result: array<vec4<f32>>;

// Writes one vec4 of C (index in vec4 units).
fn put(at: u32, v: vec4<f32>) {
    // generate put
    result[at] = v;
    // end
}

// Rows and columns of the tile of C one workgroup computes (the generated tile).
override TILE: u32 = 32u;

// Writes a 4 x 4 block of C: rows row..row+3 (one accumulator each) at columns col..col+3, and
// for an off-diagonal symmetric tile its transpose (D is symmetric there, so the transposed
// values are the same sums).
fn store4(
    p: Problem,
    base: u32,
    dbase: u32,
    row: u32,
    col: u32,
    a0: vec4<f32>,
    a1: vec4<f32>,
    a2: vec4<f32>,
    a3: vec4<f32>,
    mirror: bool,
) {
    var v0 = p.alpha * a0;
    var v1 = p.alpha * a1;
    var v2 = p.alpha * a2;
    var v3 = p.alpha * a3;
    let at = row * p.c_row + col;
    if p.use_d != 0u {
        let beta = vec4(p.beta);
        v0 = fma(beta, addend[(dbase + at) / 4u], v0);
        v1 = fma(beta, addend[(dbase + at + p.c_row) / 4u], v1);
        v2 = fma(beta, addend[(dbase + at + 2u * p.c_row) / 4u], v2);
        v3 = fma(beta, addend[(dbase + at + 3u * p.c_row) / 4u], v3);
    }
    if row == col {
        v0.x += p.diag;
        v1.y += p.diag;
        v2.z += p.diag;
        v3.w += p.diag;
    }
    put((base + at) / 4u, v0);
    put((base + at + p.c_row) / 4u, v1);
    put((base + at + 2u * p.c_row) / 4u, v2);
    put((base + at + 3u * p.c_row) / 4u, v3);
    if mirror {
        let back = col * p.c_row + row;
        put((base + back) / 4u, vec4(v0.x, v1.x, v2.x, v3.x));
        put((base + back + p.c_row) / 4u, vec4(v0.y, v1.y, v2.y, v3.y));
        put((base + back + 2u * p.c_row) / 4u, vec4(v0.z, v1.z, v2.z, v3.z));
        put((base + back + 3u * p.c_row) / 4u, vec4(v0.w, v1.w, v2.w, v3.w));
    }
}

@compute @workgroup_size(8)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let tile = locate(wid.x + wid.y * groups.x, TILE);
    if !tile.found {
        return;
    }
    let p = problems[tile.problem];
    let row0 = tile.row0;
    let col0 = tile.col0;
    let lbase = p.l_base + tile.matrix * p.l_mat;
    let rbase = p.r_base + tile.matrix * p.r_mat;
    // generate setup
    let steps = p.k / 4u;
    let r_step = p.r_row / 4u;
    var c0_0 = vec4<f32>();
    var c1_0 = vec4<f32>();
    var c2_0 = vec4<f32>();
    var c3_0 = vec4<f32>();
    var c4_0 = vec4<f32>();
    var c5_0 = vec4<f32>();
    var c6_0 = vec4<f32>();
    var c7_0 = vec4<f32>();
    var c8_0 = vec4<f32>();
    var c9_0 = vec4<f32>();
    var c10_0 = vec4<f32>();
    var c11_0 = vec4<f32>();
    var c12_0 = vec4<f32>();
    var c13_0 = vec4<f32>();
    var c14_0 = vec4<f32>();
    var c15_0 = vec4<f32>();
    var c16_0 = vec4<f32>();
    var c17_0 = vec4<f32>();
    var c18_0 = vec4<f32>();
    var c19_0 = vec4<f32>();
    var c20_0 = vec4<f32>();
    var c21_0 = vec4<f32>();
    var c22_0 = vec4<f32>();
    var c23_0 = vec4<f32>();
    var c24_0 = vec4<f32>();
    var c25_0 = vec4<f32>();
    var c26_0 = vec4<f32>();
    var c27_0 = vec4<f32>();
    var c28_0 = vec4<f32>();
    var c29_0 = vec4<f32>();
    var c30_0 = vec4<f32>();
    var c31_0 = vec4<f32>();
    let pa0 = (lbase + (row0 + 0u + lane) * p.l_row) / 4u;
    let pa1 = (lbase + (row0 + 8u + lane) * p.l_row) / 4u;
    let pa2 = (lbase + (row0 + 16u + lane) * p.l_row) / 4u;
    let pa3 = (lbase + (row0 + 24u + lane) * p.l_row) / 4u;
    let pb0_0 = (rbase + (col0 + 4u * lane + 0u + 0u) * p.r_row) / 4u;
    let pb0_1 = (rbase + (col0 + 4u * lane + 0u + 1u) * p.r_row) / 4u;
    let pb0_2 = (rbase + (col0 + 4u * lane + 0u + 2u) * p.r_row) / 4u;
    let pb0_3 = (rbase + (col0 + 4u * lane + 0u + 3u) * p.r_row) / 4u;
    let pn0 = (rbase + col0 + 4u * lane + 0u) / 4u;
    // end
    for (var k = 0u; k < steps; k++) {
        // generate body
        let a0_0 = left[pa0 + k];
        let a1_0 = left[pa1 + k];
        let a2_0 = left[pa2 + k];
        let a3_0 = left[pa3 + k];
        var b0_0: vec4<f32>;
        var b0_1: vec4<f32>;
        var b0_2: vec4<f32>;
        var b0_3: vec4<f32>;
        if SYMMETRIC {
            let r0_0_0 = right[pb0_0 + k];
            let r0_1_0 = right[pb0_1 + k];
            let r0_2_0 = right[pb0_2 + k];
            let r0_3_0 = right[pb0_3 + k];
            b0_0 = vec4(r0_0_0.x, r0_1_0.x, r0_2_0.x, r0_3_0.x);
            b0_1 = vec4(r0_0_0.y, r0_1_0.y, r0_2_0.y, r0_3_0.y);
            b0_2 = vec4(r0_0_0.z, r0_1_0.z, r0_2_0.z, r0_3_0.z);
            b0_3 = vec4(r0_0_0.w, r0_1_0.w, r0_2_0.w, r0_3_0.w);
        } else {
            b0_0 = right[pn0 + (4u * k + 0u) * r_step];
            b0_1 = right[pn0 + (4u * k + 1u) * r_step];
            b0_2 = right[pn0 + (4u * k + 2u) * r_step];
            b0_3 = right[pn0 + (4u * k + 3u) * r_step];
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 0u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 0u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 0u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 0u));
            c0_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c0_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 1u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 1u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 1u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 1u));
            c1_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c1_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 2u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 2u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 2u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 2u));
            c2_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c2_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 3u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 3u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 3u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 3u));
            c3_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c3_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 4u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 4u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 4u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 4u));
            c4_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c4_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 5u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 5u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 5u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 5u));
            c5_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c5_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 6u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 6u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 6u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 6u));
            c6_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c6_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a0_0.x, 7u));
            let v1 = vec4(subgroupBroadcast(a0_0.y, 7u));
            let v2 = vec4(subgroupBroadcast(a0_0.z, 7u));
            let v3 = vec4(subgroupBroadcast(a0_0.w, 7u));
            c7_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c7_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 0u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 0u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 0u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 0u));
            c8_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c8_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 1u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 1u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 1u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 1u));
            c9_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c9_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 2u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 2u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 2u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 2u));
            c10_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c10_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 3u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 3u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 3u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 3u));
            c11_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c11_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 4u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 4u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 4u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 4u));
            c12_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c12_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 5u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 5u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 5u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 5u));
            c13_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c13_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 6u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 6u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 6u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 6u));
            c14_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c14_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a1_0.x, 7u));
            let v1 = vec4(subgroupBroadcast(a1_0.y, 7u));
            let v2 = vec4(subgroupBroadcast(a1_0.z, 7u));
            let v3 = vec4(subgroupBroadcast(a1_0.w, 7u));
            c15_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c15_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 0u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 0u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 0u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 0u));
            c16_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c16_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 1u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 1u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 1u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 1u));
            c17_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c17_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 2u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 2u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 2u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 2u));
            c18_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c18_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 3u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 3u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 3u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 3u));
            c19_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c19_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 4u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 4u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 4u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 4u));
            c20_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c20_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 5u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 5u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 5u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 5u));
            c21_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c21_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 6u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 6u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 6u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 6u));
            c22_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c22_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a2_0.x, 7u));
            let v1 = vec4(subgroupBroadcast(a2_0.y, 7u));
            let v2 = vec4(subgroupBroadcast(a2_0.z, 7u));
            let v3 = vec4(subgroupBroadcast(a2_0.w, 7u));
            c23_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c23_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 0u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 0u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 0u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 0u));
            c24_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c24_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 1u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 1u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 1u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 1u));
            c25_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c25_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 2u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 2u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 2u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 2u));
            c26_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c26_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 3u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 3u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 3u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 3u));
            c27_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c27_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 4u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 4u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 4u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 4u));
            c28_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c28_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 5u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 5u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 5u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 5u));
            c29_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c29_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 6u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 6u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 6u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 6u));
            c30_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c30_0))));
        }
        {
            let v0 = vec4(subgroupBroadcast(a3_0.x, 7u));
            let v1 = vec4(subgroupBroadcast(a3_0.y, 7u));
            let v2 = vec4(subgroupBroadcast(a3_0.z, 7u));
            let v3 = vec4(subgroupBroadcast(a3_0.w, 7u));
            c31_0 = fma(v3, b0_3, fma(v2, b0_2, fma(v1, b0_1, fma(v0, b0_0, c31_0))));
        }
        // end
    }
    let cbase = p.c_base + tile.matrix * p.c_mat;
    let dbase = p.d_base + tile.matrix * p.d_mat;
    // generate epilogue
    store4(p, cbase, dbase, row0 + 0u, col0 + 4u * lane + 0u, c0_0, c1_0, c2_0, c3_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 4u, col0 + 4u * lane + 0u, c4_0, c5_0, c6_0, c7_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 8u, col0 + 4u * lane + 0u, c8_0, c9_0, c10_0, c11_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 12u, col0 + 4u * lane + 0u, c12_0, c13_0, c14_0, c15_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 16u, col0 + 4u * lane + 0u, c16_0, c17_0, c18_0, c19_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 20u, col0 + 4u * lane + 0u, c20_0, c21_0, c22_0, c23_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 24u, col0 + 4u * lane + 0u, c24_0, c25_0, c26_0, c27_0, tile.mirror);
    store4(p, cbase, dbase, row0 + 28u, col0 + 4u * lane + 0u, c28_0, c29_0, c30_0, c31_0, tile.mirror);
    // end
}
