#import gpt_rms_norm_dims
// Backward of gpt_rms_norm.wgsl, one invocation per row, with y = x rstd:
//   dx[r, c] = rstd_r (dy[r, c] - y[r, c] mean_c'(dy[r, c'] y[r, c']))
// added to (accumulate = 1: the residual stream's gradient) or written over (0) dx.

@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.y * groups.x * 64u + gid.x;
    if r >= dims.rows {
        return;
    }
    let base = r * dims.cols;
    let scale = rstd[r];
    var dot = 0.0;
    for (var c = 0u; c < dims.cols; c++) {
        dot = fma(dy[base + c], x[base + c] * scale, dot);
    }
    let mean = dot / f32(dims.cols);
    for (var c = 0u; c < dims.cols; c++) {
        let g = scale * (dy[base + c] - x[base + c] * scale * mean);
        if dims.accumulate != 0u {
            dx[base + c] += g;
        } else {
            dx[base + c] = g;
        }
    }
}
