#import step_scalars
// AdamW over a flat run of elements (one tensor, or many packed into one arena):
//   m <- m + (1-b1)(g - m);   v <- v + (1-b2)(g^2 - v)
//   W <- W * keep - lr_eff * (use_m m + use_g g) / (sqrt(use_v v + eps_root) + eps)
// The host picks use_m, use_g, use_v and lr_eff for the standard, uncorrected-eps and Nesterov forms.

struct AdamDims {
    len: u32,
    group: u32,       // which AdamStep to read
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: AdamDims;
@group(0) @binding(1) var<storage, read> steps: array<AdamStep>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(5) var<storage, read_write> exp_avg_sq: array<f32>;

// A grid of at most a few thousand workgroups; each invocation strides over the elements.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let s = steps[dims.group];
    let one_minus_b1 = s.one_minus_beta1;
    let one_minus_b2 = s.one_minus_beta2;
    let use_m = s.use_m;
    let use_g = s.use_g;
    let use_v = s.use_v;
    let eps = s.eps;
    let eps_root = s.eps_root;
    let keep = s.keep;
    let lr_eff = s.lr_eff;
    let stride = groups.x * groups.y * 256u;
    for (var idx = gid.y * groups.x * 256u + gid.x; idx < dims.len; idx += stride) {
        let g = grad[idx];
        let m = fma(one_minus_b1, g - exp_avg[idx], exp_avg[idx]);
        let v = fma(one_minus_b2, g * g - exp_avg_sq[idx], exp_avg_sq[idx]);
        exp_avg[idx] = m;
        exp_avg_sq[idx] = v;
        let num = fma(use_m, m, use_g * g);
        let den = sqrt(fma(use_v, v, eps_root)) + eps;
        param[idx] = fma(param[idx], keep, -lr_eff * (num / den));
    }
}
