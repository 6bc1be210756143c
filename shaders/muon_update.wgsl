#import matrix_view
#import muon_steps
// The Muon update with decoupled weight decay:  W <- W * keep - lr_eff * O,
// keep = 1 - lr * wd and lr_eff = lr * shape scale, both from the batch's MuonStep.
// O is read transposed back for tall matrices.

@group(0) @binding(2) var<storage, read> ortho: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;

// One invocation per column of a row of a matrix (see momentum.wgsl).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let col = gid.x;
    if col >= dims.cols {
        return;
    }
    let s = steps[dims.batch];
    let keep = s.keep;
    let lr_eff = s.lr_eff;
    let ws_cols = view_cols();
    let ws_stride = view_stride();
    for (var i = gid.z; i < dims.count; i += groups.z) {
        for (var row = gid.y; row < dims.rows; row += groups.y) {
            let e = row * dims.cols + col;
            let o = ortho[dims.ws_base + (dims.first + i) * ws_stride + view_index(row, col, ws_cols)];
            let pi = i * dims.stride + e;
            param[pi] = fma(param[pi], keep, -lr_eff * o);
        }
    }
}
