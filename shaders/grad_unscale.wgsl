#import segment
// Keras' loss_scale_factor: g <- g / a, before anything else sees the gradient.

@group(0) @binding(1) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    for (var i = gid.y * width + gid.x; i < seg.len; i += stride) {
        grad[seg.offset + i] = grad[seg.offset + i] / seg.a;
    }
}
