#import nn_activations
// Backward through an activation, in place on the incoming gradient:
//   grad[i] <- grad[i] * act'(z[i])        (dL/dz = dL/da * da/dz)
// Activations from nn_activations.wgsl.

struct ActivationDims {
    len: u32,
    activation: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: ActivationDims;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.y * groups.x * 256u + gid.x;
    if idx >= dims.len {
        return;
    }
    grad[idx] = grad[idx] * activate_grad(dims.activation, z[idx]);
}
