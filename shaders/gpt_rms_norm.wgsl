#import gpt_rms_norm_dims
// RMSNorm without a learned gain (PyTorch's F.rms_norm(x, (cols,), eps=eps), as modded-nanogpt's
// norm), one invocation per row; rstd is kept for the backward pass:
//   rstd_r = 1 / sqrt(mean_c x[r, c]^2 + eps)      y[r, c] = x[r, c] rstd_r

@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.y * groups.x * 64u + gid.x;
    if r >= dims.rows {
        return;
    }
    let base = r * dims.cols;
    var squares = 0.0;
    for (var c = 0u; c < dims.cols; c++) {
        let v = x[base + c];
        squares = fma(v, v, squares);
    }
    let scale = inverseSqrt(squares / f32(dims.cols) + dims.eps);
    rstd[r] = scale;
    for (var c = 0u; c < dims.cols; c++) {
        y[base + c] = x[base + c] * scale;
    }
}
