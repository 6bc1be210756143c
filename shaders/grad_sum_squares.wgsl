#import segment
// Partial sums of g^2 over one tensor: workgroup w of the (1-D) grid writes
// partials[slot * groups + w]; clip_factors adds them up in a fixed order.

@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * 256u;
    var s = 0.0;
    for (var i = wid.x * 256u + lid; i < seg.len; i += stride) {
        let g = grad[seg.offset + i];
        s = fma(g, g, s);
    }
    sums[lid] = s;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if lid < half {
            sums[lid] += sums[lid + half];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        partials[seg.slot * groups.x + wid.x] = sums[0];
    }
}
