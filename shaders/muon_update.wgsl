// The Muon update with decoupled weight decay:  W <- W * keep - lr_eff * O,
// keep = 1 - lr * wd and lr_eff = lr * shape scale, both from the step scalars.
// O is read transposed back for tall matrices.

struct MatrixDims {
    rows: u32,
    cols: u32,
    count: u32,
    first: u32,
    dst_stride: u32,  // elements between matrices in the parameter buffer
    mat_stride: u32,
    unit: u32,
    transposed: u32,
    ws_cols: u32,     // elements per row of the workspace view (0: dense)
    ws_stride: u32,   // elements between matrices in the workspace (0: mat_stride)
    ws_base: u32,     // element offset of the batch in the workspace
}

@group(0) @binding(0) var<uniform> dims: MatrixDims;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read> ortho: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;

// One invocation per column of a row of a matrix (see momentum.wgsl).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let col = gid.x;
    if col >= dims.cols {
        return;
    }
    let s = dims.unit * 16u;
    let keep = scalars[s + 4u];
    let lr_eff = scalars[s + 5u];
    // The workspace view is min x max with rows ws_cols apart.
    var ws_cols = dims.ws_cols;
    if ws_cols == 0u {
        ws_cols = max(dims.rows, dims.cols);
    }
    var ws_stride = dims.ws_stride;
    if ws_stride == 0u {
        ws_stride = dims.mat_stride;
    }
    for (var i = gid.z; i < dims.count; i += groups.z) {
        for (var row = gid.y; row < dims.rows; row += groups.y) {
            let e = row * dims.cols + col;
            var xi = row * ws_cols + col;
            if dims.transposed != 0u {
                xi = col * ws_cols + row;
            }
            let o = ortho[dims.ws_base + (dims.first + i) * ws_stride + xi];
            let pi = i * dims.dst_stride + e;
            param[pi] = fma(param[pi], keep, -lr_eff * o);
        }
    }
}
