#import mu_dtype
#import step_scalars
// AdamW with the first moment stored in bf16 / f16, two per u32 (optax's mu_dtype for its aux
// Adam), the arithmetic as optax runs it:
//   m' = round(round(b1) * m) + (1-b1) * g     (f32; round() to the dtype, nearest even)
//   v  <- v + (1-b2)(g^2 - v)                   (f32)
//   W  <- W * keep - lr_eff * (use_m m' + use_g g) / (sqrt(use_v v + eps_root) + eps)
//   m  <- round(m')
// b1 is 1 - (1-b1) in f32. One invocation per pair of elements (one writer per packed word).

struct AdamPackedDims {
    len: u32,
    group: u32,       // which AdamStep to read
    dtype: u32,       // 1 bf16, 2 f16
    _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: AdamPackedDims;
@group(0) @binding(1) var<storage, read> steps: array<AdamStep>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<u32>;
@group(0) @binding(5) var<storage, read_write> exp_avg_sq: array<f32>;

// The step of element `idx` from its stored first moment; returns the unrounded m'.
fn one(idx: u32, m_old: f32, s: AdamStep) -> f32 {
    let g = grad[idx];
    let b1 = round_to(1.0 - s.one_minus_beta1, dims.dtype);
    let m = round_to(b1 * m_old, dims.dtype) + s.one_minus_beta1 * g;
    let v = fma(s.one_minus_beta2, g * g - exp_avg_sq[idx], exp_avg_sq[idx]);
    exp_avg_sq[idx] = v;
    let num = fma(s.use_m, m, s.use_g * g);
    let den = sqrt(fma(s.use_v, v, s.eps_root)) + s.eps;
    param[idx] = fma(param[idx], s.keep, -s.lr_eff * (num / den));
    return m;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let s = steps[dims.group];
    let pairs = (dims.len + 1u) / 2u;
    let stride = groups.x * groups.y * 256u;
    for (var p = gid.y * groups.x * 256u + gid.x; p < pairs; p += stride) {
        let word = exp_avg[p];
        var packed = round_bits(one(2u * p, stored_value(word & 0xffffu, dims.dtype), s), dims.dtype);
        if 2u * p + 1u < dims.len {
            let hi = one(2u * p + 1u, stored_value(word >> 16u, dims.dtype), s);
            packed |= round_bits(hi, dims.dtype) << 16u;
        }
        exp_avg[p] = packed;
    }
}
