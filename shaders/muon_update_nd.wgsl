#import nd_view
#import muon_steps
// The Muon update for any parameter rank (nd_view.wgsl), with optax's adaptive scale:
//   W <- W * keep - lr_eff * f * O,   f = <U, O> of the whole parameter (adaptive) or 1.

@group(0) @binding(2) var<storage, read> ortho: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> inner: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let s = steps[dims.batch];
    let total = dims.len * dims.count;
    let stride = groups.x * groups.y * 256u;
    for (var k = gid.x + gid.y * groups.x * 256u; k < total; k += stride) {
        let i = k / dims.len;
        let e = k - i * dims.len;
        let member = dims.first + i;
        var scale = s.lr_eff;
        if dims.keep_u != 0u {
            scale *= inner[dims.ip_base + member];
        }
        let o = ortho[workspace_index(member, e)];
        let pi = i * dims.src_stride + e;
        param[pi] = fma(param[pi], s.keep, -scale * o);
    }
}
