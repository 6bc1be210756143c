// Activation functions shared by nn_bias_activation.wgsl and nn_activation_backward.wgsl
// (imported by both; not a kernel on its own). Codes match muon_wgpu::nn::Activation.
//   0 identity   x
//   1 relu       max(x, 0)                             relu'(0) = 0, as PyTorch
//   2 gelu       x Phi(x), Phi the normal CDF          PyTorch's gelu(approximate="none")
//   3 gelu_tanh  x (1 + tanh(k (x + 0.044715 x^3))) / 2, k = sqrt(2/pi)   (approximate="tanh")
//   4 tanh       tanh(x)

const SQRT_HALF: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;
const GELU_K: f32 = 0.79788456080286536;
const GELU_C: f32 = 0.044715;

// erfc(z) for z >= 0 with relative error below 1.2e-7 (Numerical Recipes' erfcc, a Chebyshev fit),
// so that Phi keeps its relative accuracy deep in the negative tail.
fn erfc_nonnegative(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(p - z * z);
}

// Phi(x) = erfc(-x / sqrt 2) / 2.
fn normal_cdf(x: f32) -> f32 {
    let tail = 0.5 * erfc_nonnegative(abs(x) * SQRT_HALF);
    return select(tail, 1.0 - tail, x >= 0.0);
}

// tanh with its argument clamped: some drivers compute tanh through exp and overflow to NaN.
fn safe_tanh(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

fn activate(kind: u32, x: f32) -> f32 {
    switch kind {
        case 1u: { return max(x, 0.0); }
        case 2u: { return x * normal_cdf(x); }
        case 3u: {
            return 0.5 * x * (1.0 + safe_tanh(GELU_K * (x + GELU_C * x * x * x)));
        }
        case 4u: { return safe_tanh(x); }
        default: { return x; }
    }
}

// d activate(kind, x) / dx.
fn activate_grad(kind: u32, x: f32) -> f32 {
    switch kind {
        case 1u: { return select(0.0, 1.0, x > 0.0); }
        case 2u: { return normal_cdf(x) + x * INV_SQRT_2PI * exp(-0.5 * x * x); }
        case 3u: {
            let th = safe_tanh(GELU_K * (x + GELU_C * x * x * x));
            return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
        }
        case 4u: {
            let th = safe_tanh(x);
            return 1.0 - th * th;
        }
        default: { return 1.0; }
    }
}
