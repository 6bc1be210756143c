#import segment
// Clips one tensor's gradient in place:
//   mode 0 (clipvalue a):                 g <- clamp(g, -a, a)
//   mode 1 (clipnorm, global_clipnorm):   g <- g * factors[slot]   (from clip_factors)

@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let width = groups.x * 256u;
    let stride = width * groups.y;
    var f = 1.0;
    if seg.mode == 1u {
        f = factors[seg.slot];
    }
    for (var i = gid.y * width + gid.x; i < seg.len; i += stride) {
        let g = grad[seg.offset + i];
        if seg.mode == 0u {
            grad[seg.offset + i] = clamp(g, -seg.a, seg.a);
        } else {
            grad[seg.offset + i] = g * f;
        }
    }
}
