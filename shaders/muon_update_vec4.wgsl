#import matrix_view
#import muon_steps
// muon_update.wgsl on 4 x 4 blocks, for matrices whose rows, columns, strides and offsets are
// all multiples of 4:  W <- W * keep - lr_eff * O, O read from the workspace view (a tall
// matrix's block is read as rows of the transposed view and transposed in registers).

@group(0) @binding(2) var<storage, read> ortho: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> param: array<vec4<f32>>;

// One invocation per 4 x 4 block (see momentum_vec4.wgsl).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let cols4 = dims.cols / 4u;
    let c4 = gid.x;
    if c4 >= cols4 {
        return;
    }
    let s = steps[dims.batch];
    let keep = vec4(s.keep);
    let lr_eff = -s.lr_eff;
    let ws_cols = view_cols();
    let ws_stride = view_stride();
    let ws4 = ws_cols / 4u;
    for (var i = gid.z; i < dims.count; i += groups.z) {
        let pbase = i * (dims.stride / 4u);
        let obase = (dims.ws_base + (dims.first + i) * ws_stride) / 4u;
        for (var r4 = gid.y; r4 < dims.rows / 4u; r4 += groups.y) {
            var o0: vec4<f32>;
            var o1: vec4<f32>;
            var o2: vec4<f32>;
            var o3: vec4<f32>;
            if dims.transposed != 0u {
                let t = obase + 4u * c4 * ws4 + r4;
                let q0 = ortho[t];
                let q1 = ortho[t + ws4];
                let q2 = ortho[t + 2u * ws4];
                let q3 = ortho[t + 3u * ws4];
                o0 = vec4(q0.x, q1.x, q2.x, q3.x);
                o1 = vec4(q0.y, q1.y, q2.y, q3.y);
                o2 = vec4(q0.z, q1.z, q2.z, q3.z);
                o3 = vec4(q0.w, q1.w, q2.w, q3.w);
            } else {
                let t = obase + 4u * r4 * ws4 + c4;
                o0 = ortho[t];
                o1 = ortho[t + ws4];
                o2 = ortho[t + 2u * ws4];
                o3 = ortho[t + 3u * ws4];
            }
            let e0 = pbase + 4u * r4 * cols4 + c4;
            let e1 = e0 + cols4;
            let e2 = e1 + cols4;
            let e3 = e2 + cols4;
            param[e0] = fma(param[e0], keep, lr_eff * o0);
            param[e1] = fma(param[e1], keep, lr_eff * o1);
            param[e2] = fma(param[e2], keep, lr_eff * o2);
            param[e3] = fma(param[e3], keep, lr_eff * o3);
        }
    }
}
