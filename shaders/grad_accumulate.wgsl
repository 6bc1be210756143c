#import segment
// Keras' gradient accumulation over S = b micro-steps, after the loss-scale division by a:
//   mode 0 (not an update step):  acc <- g / a + acc
//   mode 1 (update step):         g <- (g / a + acc) / b;  acc <- 0

@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    for (var i = gid.y * width + gid.x; i < seg.len; i += stride) {
        let g = grad[seg.offset + i] / seg.a + acc[i];
        if seg.mode == 0u {
            acc[i] = g;
        } else {
            grad[seg.offset + i] = g / seg.b;
            acc[i] = 0.0;
        }
    }
}
