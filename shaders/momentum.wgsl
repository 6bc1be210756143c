#import matrix_view
#import muon_steps
// Muon momentum and its Nesterov combination, written into the Newton-Schulz workspace.
//   m <- decay_m * m + decay_g * g          (EMA: beta, 1-beta; heavy ball: beta, 1)
//   u  = use_m * m + use_g * g              (Nesterov, plain, or bias-corrected, chosen on the host)
// u is stored transposed for tall matrices so that Newton-Schulz always sees rows <= cols.

@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> momentum: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

// One invocation per column of a row of a matrix (the grid is columns x rows x matrices, so
// no index is divided: a CPU driver divides integers one lane at a time).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let col = gid.x;
    if col >= dims.cols {
        return;
    }
    let s = steps[dims.batch];
    let decay_m = s.decay_m;
    let decay_g = s.decay_g;
    let use_m = s.use_m;
    let use_g = s.use_g;
    let ws_cols = view_cols();
    let ws_stride = view_stride();
    for (var i = gid.z; i < dims.count; i += groups.z) {
        let matrix = dims.first + i;
        for (var row = gid.y; row < dims.rows; row += groups.y) {
            let e = row * dims.cols + col;
            let g = grad[i * dims.stride + e];
            let mi = matrix * dims.mat_stride + e;
            let m = fma(decay_m, momentum[mi], decay_g * g);
            momentum[mi] = m;
            x[dims.ws_base + matrix * ws_stride + view_index(row, col, ws_cols)] = fma(use_m, m, use_g * g);
        }
    }
}
