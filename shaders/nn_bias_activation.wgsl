#import nn_activations
// Bias and activation of a linear layer, after the matmul wrote z = X W^T (rows x cols):
//   z[r, c] <- z[r, c] + bias[c]
//   a[r, c] <- act(z[r, c])
// z keeps the pre-activation for the backward pass. Activations from nn_activations.wgsl.

struct BiasActivationDims {
    rows: u32,
    cols: u32,
    activation: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: BiasActivationDims;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> a: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.y * groups.x * 256u + gid.x;
    if idx >= dims.rows * dims.cols {
        return;
    }
    let v = z[idx] + bias[idx % dims.cols];
    z[idx] = v;
    a[idx] = activate(dims.activation, v);
}
