//! An f64 CPU reference of the MLP's forward pass, losses and backward pass, for the tests.
//! It follows the formulas of the WGSL kernels (see [`Activation`] and [`Loss`]) in double
//! precision; the tests check it against finite differences and the GPU against it.
//! It is not a runtime fallback.

use crate::reference::{matmul, transpose};

use super::batch::Targets;
use super::model::{Activation, LayerParams, Loss, MlpSpec};

/// The error function, to about 1e-16.
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let value = if a < 3.0 {
        erf_series(a)
    } else {
        1.0 - erfc_continued_fraction(a)
    };
    value.copysign(x)
}

/// The complementary error function `1 - erf(x)`, accurate relative to its value in the tail.
pub fn erfc(x: f64) -> f64 {
    if x >= 3.0 {
        erfc_continued_fraction(x)
    } else {
        1.0 - erf(x)
    }
}

/// `erf(a) = 2/√π · e^(-a²) · Σ 2ⁿ a^(2n+1) / (1·3·…·(2n+1))`: positive terms, no cancellation.
fn erf_series(a: f64) -> f64 {
    let (mut term, mut sum, mut n) = (a, a, 0.0);
    while term > 1e-17 * sum {
        n += 1.0;
        term *= 2.0 * a * a / (2.0 * n + 1.0);
        sum += term;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt() * (-a * a).exp()
}

/// `erfc(a) = e^(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …))))` for `a >= 3`, evaluated from the tail.
fn erfc_continued_fraction(a: f64) -> f64 {
    let mut f = a;
    for k in (1..100).rev() {
        f = a + (k as f64 / 2.0) / f;
    }
    (-a * a).exp() / (std::f64::consts::PI.sqrt() * f)
}

/// The standard normal CDF `Φ(x) = erfc(-x/√2)/2`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

const GELU_K: f64 = 0.797_884_560_802_865_4; // √(2/π)
const GELU_C: f64 = 0.044715;

/// `act(x)`.
pub fn activate(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Gelu => x * normal_cdf(x),
        Activation::GeluTanh => 0.5 * x * (1.0 + (GELU_K * (x + GELU_C * x * x * x)).tanh()),
        Activation::Tanh => x.tanh(),
    }
}

/// `act'(x)` (with `relu'(0) = 0`, as PyTorch).
pub fn activate_grad(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Gelu => {
            normal_cdf(x) + x * (-0.5 * x * x).exp() / (std::f64::consts::TAU).sqrt()
        }
        Activation::GeluTanh => {
            let th = (GELU_K * (x + GELU_C * x * x * x)).tanh();
            0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_C * x * x)
        }
        Activation::Tanh => 1.0 - x.tanh().powi(2),
    }
}

/// The activations of a forward pass over `rows` samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// `rows × inputs`.
    pub inputs: Vec<f64>,
    /// Per layer, `rows × out`: `Z = X·Wᵀ + b`.
    pub pre: Vec<Vec<f64>>,
    /// Per layer, `rows × out`: `act(Z)`; the last layer's are the outputs.
    pub post: Vec<Vec<f64>>,
}

impl Forward {
    /// The network's outputs (logits or predictions).
    pub fn outputs(&self) -> &[f64] {
        self.post.last().expect("an MLP has a layer")
    }

    /// The input of layer `l`.
    pub fn layer_input(&self, l: usize) -> &[f64] {
        if l == 0 {
            &self.inputs
        } else {
            &self.post[l - 1]
        }
    }
}

/// A linear layer `Z = X·Wᵀ + b` for `X` (rows × in), `W` (out × in), `b` (out).
pub fn linear(
    x: &[f64],
    p: &LayerParams<f64>,
    rows: usize,
    fan_in: usize,
    fan_out: usize,
) -> Vec<f64> {
    let mut z = matmul(
        x,
        &transpose(&p.weight, fan_out, fan_in),
        rows,
        fan_in,
        fan_out,
    );
    for row in z.chunks_mut(fan_out) {
        for (v, b) in row.iter_mut().zip(&p.bias) {
            *v += b;
        }
    }
    z
}

/// The forward pass of `rows` samples `x` (rows × inputs).
pub fn forward(spec: &MlpSpec, params: &[LayerParams<f64>], x: &[f64], rows: usize) -> Forward {
    let mut fwd = Forward {
        inputs: x.to_vec(),
        pre: Vec::new(),
        post: Vec::new(),
    };
    for (l, p) in params.iter().enumerate().take(spec.layers()) {
        let (fan_in, fan_out) = spec.layer_dims(l);
        let z = linear(fwd.layer_input(l), p, rows, fan_in, fan_out);
        let act = spec.layer_activation(l);
        fwd.post.push(z.iter().map(|&v| activate(act, v)).collect());
        fwd.pre.push(z);
    }
    fwd
}

/// A loss over a batch: its mean, correct predictions, and its gradient with respect to the outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct LossValue {
    pub loss: f64,
    /// Rows whose first argmax matches the label (or the target's first argmax).
    pub correct: usize,
    /// `∂loss/∂outputs`, rows × classes.
    pub grad: Vec<f64>,
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = c;
        }
    }
    best
}

/// The loss of outputs `y` (rows × classes) against `targets` (labels are one-hot for the squared error).
pub fn loss(
    kind: Loss,
    y: &[f64],
    targets: &Targets<'_>,
    rows: usize,
    classes: usize,
) -> LossValue {
    let target_row = |r: usize| -> Vec<f64> {
        match targets {
            Targets::Labels(l) => (0..classes)
                .map(|c| if c == l[r] as usize { 1.0 } else { 0.0 })
                .collect(),
            Targets::Values(v) => v[r * classes..(r + 1) * classes]
                .iter()
                .map(|&t| t as f64)
                .collect(),
        }
    };
    let mut out = LossValue {
        loss: 0.0,
        correct: 0,
        grad: vec![0.0; rows * classes],
    };
    for r in 0..rows {
        let row = &y[r * classes..(r + 1) * classes];
        let t = target_row(r);
        let g = &mut out.grad[r * classes..(r + 1) * classes];
        match kind {
            Loss::SoftmaxCrossEntropy => {
                let top = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = row.iter().map(|v| (v - top).exp()).sum();
                let lse = top + sum.ln();
                // -Σ t·log softmax(y): for one-hot t, logsumexp(y) - y[label].
                let mass: f64 = t.iter().sum();
                for c in 0..classes {
                    out.loss += t[c] * (lse - row[c]);
                    g[c] = ((row[c] - top).exp() / sum * mass - t[c]) / rows as f64;
                }
            }
            Loss::MeanSquaredError => {
                for c in 0..classes {
                    let d = row[c] - t[c];
                    out.loss += d * d / classes as f64;
                    g[c] = 2.0 * d / (classes * rows) as f64;
                }
            }
        }
        out.correct += (argmax(row) == argmax(&t)) as usize;
    }
    out.loss /= rows as f64;
    out
}

/// Backward through a linear layer given `dZ` (rows × out): `(dW = dZᵀ·X, db = Σ_rows dZ, dX = dZ·W)`.
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    dz: &[f64],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
) -> (LayerParams<f64>, Vec<f64>) {
    let weight = matmul(&transpose(dz, rows, fan_out), x, fan_out, rows, fan_in);
    let mut bias = vec![0.0; fan_out];
    for row in dz.chunks(fan_out) {
        for (b, d) in bias.iter_mut().zip(row) {
            *b += d;
        }
    }
    let dx = matmul(dz, w, rows, fan_out, fan_in);
    (LayerParams { weight, bias }, dx)
}

/// The gradients of every layer's parameters, given `∂loss/∂outputs`.
pub fn backward(
    spec: &MlpSpec,
    params: &[LayerParams<f64>],
    fwd: &Forward,
    doutputs: &[f64],
    rows: usize,
) -> Vec<LayerParams<f64>> {
    let mut grads = vec![None; spec.layers()];
    let mut dpost = doutputs.to_vec();
    for l in (0..spec.layers()).rev() {
        let (fan_in, fan_out) = spec.layer_dims(l);
        let act = spec.layer_activation(l);
        let dz: Vec<f64> = dpost
            .iter()
            .zip(&fwd.pre[l])
            .map(|(&d, &z)| d * activate_grad(act, z))
            .collect();
        let (g, dx) = linear_backward(
            fwd.layer_input(l),
            &params[l].weight,
            &dz,
            rows,
            fan_in,
            fan_out,
        );
        grads[l] = Some(g);
        dpost = dx;
    }
    grads.into_iter().map(|g| g.expect("every layer")).collect()
}

/// Forward, loss and backward: the loss value and every layer's gradients.
pub fn loss_and_gradients(
    spec: &MlpSpec,
    params: &[LayerParams<f64>],
    x: &[f64],
    targets: &Targets<'_>,
    rows: usize,
) -> (LossValue, Vec<LayerParams<f64>>) {
    let fwd = forward(spec, params, x, rows);
    let value = loss(spec.loss, fwd.outputs(), targets, rows, spec.outputs());
    let grads = backward(spec, params, &fwd, &value.grad, rows);
    (value, grads)
}
