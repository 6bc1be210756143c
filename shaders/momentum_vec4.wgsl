#import matrix_view
#import muon_steps
// momentum.wgsl on 4 x 4 blocks, for matrices whose rows, columns, strides and offsets are all
// multiples of 4 (almost every layer):
//   m <- decay_m * m + decay_g * g
//   u  = use_m * m + use_g * g, into the workspace view (transposed for tall matrices)
// Why blocks of vec4: a CPU driver loads a vec4 in about the time of one f32, and a 4 x 4 block
// transposes in registers, so tall matrices are written as whole rows of the workspace too.

@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> momentum: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> x: array<vec4<f32>>;

// One invocation per 4 x 4 block; the grid is block columns x block rows x matrices, and each
// invocation strides over the block rows and matrices beyond it.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let cols4 = dims.cols / 4u;
    let c4 = gid.x;
    if c4 >= cols4 {
        return;
    }
    let s = steps[dims.batch];
    let decay_m = vec4(s.decay_m);
    let decay_g = s.decay_g;
    let use_m = vec4(s.use_m);
    let use_g = s.use_g;
    let ws_cols = view_cols();
    let ws_stride = view_stride();
    let ws4 = ws_cols / 4u;
    for (var i = gid.z; i < dims.count; i += groups.z) {
        let matrix = dims.first + i;
        let gbase = i * (dims.stride / 4u);
        let mbase = matrix * (dims.mat_stride / 4u);
        let xbase = (dims.ws_base + matrix * ws_stride) / 4u;
        for (var r4 = gid.y; r4 < dims.rows / 4u; r4 += groups.y) {
            let e0 = 4u * r4 * cols4 + c4;
            let e1 = e0 + cols4;
            let e2 = e1 + cols4;
            let e3 = e2 + cols4;
            let g0 = grad[gbase + e0];
            let g1 = grad[gbase + e1];
            let g2 = grad[gbase + e2];
            let g3 = grad[gbase + e3];
            let m0 = fma(decay_m, momentum[mbase + e0], decay_g * g0);
            let m1 = fma(decay_m, momentum[mbase + e1], decay_g * g1);
            let m2 = fma(decay_m, momentum[mbase + e2], decay_g * g2);
            let m3 = fma(decay_m, momentum[mbase + e3], decay_g * g3);
            momentum[mbase + e0] = m0;
            momentum[mbase + e1] = m1;
            momentum[mbase + e2] = m2;
            momentum[mbase + e3] = m3;
            let u0 = fma(use_m, m0, use_g * g0);
            let u1 = fma(use_m, m1, use_g * g1);
            let u2 = fma(use_m, m2, use_g * g2);
            let u3 = fma(use_m, m3, use_g * g3);
            if dims.transposed != 0u {
                // Column 4·c4 + j of the block is row 4·c4 + j of the workspace view.
                let t = xbase + 4u * c4 * ws4 + r4;
                x[t] = vec4(u0.x, u1.x, u2.x, u3.x);
                x[t + ws4] = vec4(u0.y, u1.y, u2.y, u3.y);
                x[t + 2u * ws4] = vec4(u0.z, u1.z, u2.z, u3.z);
                x[t + 3u * ws4] = vec4(u0.w, u1.w, u2.w, u3.w);
            } else {
                let t = xbase + 4u * r4 * ws4 + c4;
                x[t] = u0;
                x[t + ws4] = u1;
                x[t + 2u * ws4] = u2;
                x[t + 3u * ws4] = u3;
            }
        }
    }
}
