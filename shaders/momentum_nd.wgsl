#import nd_view
#import mu_dtype
#import muon_steps
// Muon momentum for any parameter rank and momentum dtype, written into the workspace per the
// dimension numbers (nd_view.wgsl):
//   m' = decay_m * m + decay_g * g                                  (f32 momentum)
//   m' = round(round(decay_m) * m) + decay_g * g                    (bf16 / f16, as optax)
//   u  = use_m * m' + use_g * g;   m <- m' (stored rounded to nearest even)
// One invocation per pair of elements, so a packed word has one writer.

@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> momentum: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> u: array<f32>;

// m' of element e (member `member`, dispatch-relative `i`); writes u into the workspace.
fn one(member: u32, i: u32, e: u32, m_old: f32, s: MuonStep) -> f32 {
    let g = grad[i * dims.src_stride + e];
    var fresh = fma(s.decay_m, m_old, s.decay_g * g);
    if dims.dtype != 0u {
        fresh = round_to(round_to(s.decay_m, dims.dtype) * m_old, dims.dtype) + s.decay_g * g;
    }
    let value = fma(s.use_m, fresh, s.use_g * g);
    let at = workspace_index(member, e);
    x[at] = value;
    if dims.keep_u != 0u {
        u[at] = value;
    }
    return fresh;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let s = steps[dims.batch];
    let pairs = (dims.len + 1u) / 2u;
    let total = pairs * dims.count;
    let stride = groups.x * groups.y * 256u;
    for (var k = gid.x + gid.y * groups.x * 256u; k < total; k += stride) {
        let i = k / pairs;
        let p = k - i * pairs;
        let member = dims.first + i;
        let e0 = 2u * p;
        let has_second = e0 + 1u < dims.len;
        if dims.dtype == 0u {
            let w = member * dims.mom_stride + e0;
            momentum[w] = bitcast<u32>(one(member, i, e0, bitcast<f32>(momentum[w]), s));
            if has_second {
                momentum[w + 1u] = bitcast<u32>(one(member, i, e0 + 1u, bitcast<f32>(momentum[w + 1u]), s));
            }
        } else {
            let w = member * dims.mom_stride + p;
            let word = momentum[w];
            let lo = one(member, i, e0, stored_value(word & 0xffffu, dims.dtype), s);
            var packed = round_bits(lo, dims.dtype);
            if has_second {
                let hi = one(member, i, e0 + 1u, stored_value(word >> 16u, dims.dtype), s);
                packed |= round_bits(hi, dims.dtype) << 16u;
            }
            momentum[w] = packed;
        }
    }
}
