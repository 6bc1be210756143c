//! An f64 CPU reference of the GPT: every layer's forward and backward, and whole-model loss and
//! gradients, following the formulas of the WGSL kernels (see the [module docs](super)) in
//! double precision. The tests check it against finite differences and the GPU against it.
//! It is not a runtime fallback.
//!
//! Matrices are row-major; a batch holds `sequences × positions` rows.

use crate::nn::model::Activation;
use crate::nn::reference::{activate, activate_grad};
use crate::reference::{matmul, transpose};

use super::{GptSpec, ParamKind, RMS_EPS};

/// `x[n] = wte[token[n]] + wpe[n mod positions]`, rows of `width`.
pub fn embedding(
    tokens: &[u32],
    wte: &[f64],
    wpe: &[f64],
    positions: usize,
    width: usize,
) -> Vec<f64> {
    let mut x = vec![0.0; tokens.len() * width];
    for (n, &t) in tokens.iter().enumerate() {
        let p = n % positions;
        for c in 0..width {
            x[n * width + c] = wte[t as usize * width + c] + wpe[p * width + c];
        }
    }
    x
}

/// `(dwte, dwpe)`: `dwte[v] = Σ_{n: token[n] = v} dx[n]`, `dwpe[p] = Σ_{n mod positions = p} dx[n]`.
pub fn embedding_backward(
    tokens: &[u32],
    dx: &[f64],
    vocab: usize,
    positions: usize,
    width: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut dwte = vec![0.0; vocab * width];
    let mut dwpe = vec![0.0; positions * width];
    for (n, &t) in tokens.iter().enumerate() {
        let p = n % positions;
        for c in 0..width {
            dwte[t as usize * width + c] += dx[n * width + c];
            dwpe[p * width + c] += dx[n * width + c];
        }
    }
    (dwte, dwpe)
}

/// `(y, rstd)`: `rstd_r = 1/√(mean_c x_rc² + ε)`, `y_rc = x_rc·rstd_r`.
pub fn rms_norm(x: &[f64], cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; x.len()];
    let rstd: Vec<f64> = x
        .chunks(cols)
        .zip(y.chunks_mut(cols))
        .map(|(row, out)| {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / cols as f64;
            let r = 1.0 / (ms + RMS_EPS as f64).sqrt();
            for (o, v) in out.iter_mut().zip(row) {
                *o = v * r;
            }
            r
        })
        .collect();
    (y, rstd)
}

/// `dx_rc = rstd_r·(dy_rc − y_rc·mean_c'(dy_rc'·y_rc'))`, `y = x·rstd`.
pub fn rms_norm_backward(x: &[f64], dy: &[f64], cols: usize) -> Vec<f64> {
    let (y, rstd) = rms_norm(x, cols);
    let mut dx = vec![0.0; x.len()];
    for (r, &rs) in rstd.iter().enumerate() {
        let row = r * cols..(r + 1) * cols;
        let dot = dy[row.clone()]
            .iter()
            .zip(&y[row.clone()])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / cols as f64;
        for i in row {
            dx[i] = rs * (dy[i] - y[i] * dot);
        }
    }
    dx
}

/// `x·Wᵀ` for `x` (rows × in) and `W` (out × in).
pub fn linear(x: &[f64], w: &[f64], fan_in: usize, fan_out: usize) -> Vec<f64> {
    let rows = x.len() / fan_in;
    matmul(x, &transpose(w, fan_out, fan_in), rows, fan_in, fan_out)
}

/// `(dW, dx)` of `y = x·Wᵀ`: `dW = dyᵀ·x`, `dx = dy·W`.
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    fan_in: usize,
    fan_out: usize,
) -> (Vec<f64>, Vec<f64>) {
    let rows = x.len() / fan_in;
    let dw = matmul(&transpose(dy, rows, fan_out), x, fan_out, rows, fan_in);
    let dx = matmul(dy, w, rows, fan_out, fan_in);
    (dw, dx)
}

/// The shape of an attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub sequences: usize,
    pub positions: usize,
    pub width: usize,
    pub heads: usize,
}

impl AttentionShape {
    fn head_size(&self) -> usize {
        self.width / self.heads
    }

    fn scale(&self) -> f64 {
        1.0 / (self.head_size() as f64).sqrt()
    }

    /// Index of `q` (part 0), `k` (1) or `v` (2) of head `h`, element `d`, at row `n`, in `qkv`.
    fn at(&self, part: usize, n: usize, h: usize, d: usize) -> usize {
        n * 3 * self.width + part * self.width + h * self.head_size() + d
    }

    /// Index of `p_ij` of sequence `s`, head `h`.
    fn prob(&self, s: usize, h: usize, i: usize, j: usize) -> usize {
        ((s * self.heads + h) * self.positions + i) * self.positions + j
    }
}

/// Causal multi-head attention on `qkv` (rows × 3C: q, k, v side by side, head `h` the columns
/// `h·d .. (h+1)·d` of each): `(y, p)` with `p_ij = softmax_{j ≤ i}(q_i·k_j/√d)` (zero for
/// `j > i`), stored `(sequence, head, i, j)`, and `y_i = Σ_j p_ij·v_j` (rows × C).
pub fn attention(qkv: &[f64], a: AttentionShape) -> (Vec<f64>, Vec<f64>) {
    let (t, c, d) = (a.positions, a.width, a.head_size());
    let mut y = vec![0.0; a.sequences * t * c];
    let mut p = vec![0.0; a.sequences * a.heads * t * t];
    for s in 0..a.sequences {
        for h in 0..a.heads {
            for i in 0..t {
                let qi = s * t + i;
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        let kj = s * t + j;
                        a.scale()
                            * (0..d)
                                .map(|e| qkv[a.at(0, qi, h, e)] * qkv[a.at(1, kj, h, e)])
                                .sum::<f64>()
                    })
                    .collect();
                let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = scores.iter().map(|v| (v - top).exp()).sum();
                for (j, v) in scores.iter().enumerate() {
                    p[a.prob(s, h, i, j)] = (v - top).exp() / sum;
                }
                for e in 0..d {
                    y[qi * c + h * d + e] = (0..=i)
                        .map(|j| p[a.prob(s, h, i, j)] * qkv[a.at(2, s * t + j, h, e)])
                        .sum();
                }
            }
        }
    }
    (y, p)
}

/// `dqkv` of [`attention`] given `dy`:
/// ```text
/// dp_ij = dy_i·v_j     ds_ij = p_ij (dp_ij − Σ_j' p_ij' dp_ij')
/// dq_i = Σ_j ds_ij k_j / √d     dk_j = Σ_i ds_ij q_i / √d     dv_j = Σ_i p_ij dy_i
/// ```
pub fn attention_backward(qkv: &[f64], p: &[f64], dy: &[f64], a: AttentionShape) -> Vec<f64> {
    let (t, c, d) = (a.positions, a.width, a.head_size());
    let mut dqkv = vec![0.0; qkv.len()];
    for s in 0..a.sequences {
        for h in 0..a.heads {
            for i in 0..t {
                let qi = s * t + i;
                let dp: Vec<f64> = (0..=i)
                    .map(|j| {
                        (0..d)
                            .map(|e| dy[qi * c + h * d + e] * qkv[a.at(2, s * t + j, h, e)])
                            .sum()
                    })
                    .collect();
                let mean: f64 = (0..=i).map(|j| p[a.prob(s, h, i, j)] * dp[j]).sum();
                for j in 0..=i {
                    let kj = s * t + j;
                    let pij = p[a.prob(s, h, i, j)];
                    let ds = pij * (dp[j] - mean);
                    for e in 0..d {
                        dqkv[a.at(0, qi, h, e)] += a.scale() * ds * qkv[a.at(1, kj, h, e)];
                        dqkv[a.at(1, kj, h, e)] += a.scale() * ds * qkv[a.at(0, qi, h, e)];
                        dqkv[a.at(2, kj, h, e)] += pij * dy[qi * c + h * d + e];
                    }
                }
            }
        }
    }
    dqkv
}

/// `(mean loss, dlogits)` of softmax cross-entropy over `rows` rows of `vocab` logits:
/// `L = mean_r [logsumexp(z_r) − z_r[target_r]]`, `dz = (softmax(z) − onehot)/rows`.
pub fn cross_entropy(logits: &[f64], targets: &[u32], vocab: usize) -> (f64, Vec<f64>) {
    let rows = targets.len();
    let mut dz = vec![0.0; logits.len()];
    let mut loss = 0.0;
    for (r, &target) in targets.iter().enumerate() {
        let row = &logits[r * vocab..(r + 1) * vocab];
        let top = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|v| (v - top).exp()).sum();
        loss += top + sum.ln() - row[target as usize];
        for (c, v) in row.iter().enumerate() {
            let onehot = if c == target as usize { 1.0 } else { 0.0 };
            dz[r * vocab + c] = ((v - top).exp() / sum - onehot) / rows as f64;
        }
    }
    (loss / rows as f64, dz)
}

/// What a block's backward pass needs from its forward pass.
#[derive(Clone, Debug)]
pub struct BlockForward {
    /// The block's input (rows × C).
    pub input: Vec<f64>,
    pub norm1: Vec<f64>,
    pub qkv: Vec<f64>,
    pub probs: Vec<f64>,
    /// Attention output before its projection.
    pub attended: Vec<f64>,
    /// After the attention's residual add.
    pub middle: Vec<f64>,
    pub norm2: Vec<f64>,
    /// `norm2·W₁ᵀ + b₁`.
    pub hidden: Vec<f64>,
    pub activated: Vec<f64>,
}

/// A forward pass over a batch.
#[derive(Clone, Debug)]
pub struct Forward {
    pub blocks: Vec<BlockForward>,
    /// The last block's output.
    pub last: Vec<f64>,
    pub final_norm: Vec<f64>,
    /// rows × vocab.
    pub logits: Vec<f64>,
}

/// The forward pass of `tokens` (`sequences × spec.context`), params in [`GptSpec::params`] order.
pub fn forward(spec: &GptSpec, params: &[Vec<f64>], tokens: &[u32]) -> Forward {
    let (c, hid) = (spec.width, spec.hidden());
    let param = |k: ParamKind| &params[spec.index(k)];
    let shape = AttentionShape {
        sequences: tokens.len() / spec.context,
        positions: spec.context,
        width: c,
        heads: spec.heads,
    };
    let mut x = embedding(
        tokens,
        param(ParamKind::TokenEmbedding),
        param(ParamKind::PositionEmbedding),
        spec.context,
        c,
    );
    let mut blocks = Vec::new();
    for l in 0..spec.layers {
        let (norm1, _) = rms_norm(&x, c);
        let qkv = linear(&norm1, param(ParamKind::AttentionQkv(l)), c, 3 * c);
        let (attended, probs) = attention(&qkv, shape);
        let proj = linear(&attended, param(ParamKind::AttentionProj(l)), c, c);
        let middle: Vec<f64> = x.iter().zip(&proj).map(|(a, b)| a + b).collect();
        let (norm2, _) = rms_norm(&middle, c);
        let mut hidden = linear(&norm2, param(ParamKind::MlpFc(l)), c, hid);
        for row in hidden.chunks_mut(hid) {
            for (v, b) in row.iter_mut().zip(param(ParamKind::MlpFcBias(l))) {
                *v += b;
            }
        }
        let activated: Vec<f64> = hidden
            .iter()
            .map(|&v| activate(Activation::Gelu, v))
            .collect();
        let out = linear(&activated, param(ParamKind::MlpProj(l)), hid, c);
        let next: Vec<f64> = middle.iter().zip(&out).map(|(a, b)| a + b).collect();
        blocks.push(BlockForward {
            input: std::mem::replace(&mut x, next),
            norm1,
            qkv,
            probs,
            attended,
            middle,
            norm2,
            hidden,
            activated,
        });
    }
    let (final_norm, _) = rms_norm(&x, c);
    let logits = linear(&final_norm, param(ParamKind::Head), c, spec.vocab);
    Forward {
        blocks,
        last: x,
        final_norm,
        logits,
    }
}

/// Mean cross-entropy of predicting `targets` from `tokens`, and the gradient of every parameter.
pub fn loss_and_gradients(
    spec: &GptSpec,
    params: &[Vec<f64>],
    tokens: &[u32],
    targets: &[u32],
) -> (f64, Vec<Vec<f64>>) {
    let (c, hid) = (spec.width, spec.hidden());
    let param = |k: ParamKind| &params[spec.index(k)];
    let shape = AttentionShape {
        sequences: tokens.len() / spec.context,
        positions: spec.context,
        width: c,
        heads: spec.heads,
    };
    let fwd = forward(spec, params, tokens);
    let mut grads: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let (loss, dlogits) = cross_entropy(&fwd.logits, targets, spec.vocab);
    let (dhead, dnorm) = linear_backward(
        &fwd.final_norm,
        param(ParamKind::Head),
        &dlogits,
        c,
        spec.vocab,
    );
    grads[spec.index(ParamKind::Head)] = dhead;
    let mut dx = rms_norm_backward(&fwd.last, &dnorm, c);
    for (l, b) in fwd.blocks.iter().enumerate().rev() {
        let (dproj2, mut dact) =
            linear_backward(&b.activated, param(ParamKind::MlpProj(l)), &dx, hid, c);
        for (g, &z) in dact.iter_mut().zip(&b.hidden) {
            *g *= activate_grad(Activation::Gelu, z);
        }
        let mut dbias = vec![0.0; hid];
        for row in dact.chunks(hid) {
            for (s, v) in dbias.iter_mut().zip(row) {
                *s += v;
            }
        }
        let (dfc, dnorm2) = linear_backward(&b.norm2, param(ParamKind::MlpFc(l)), &dact, c, hid);
        for (g, v) in dx.iter_mut().zip(rms_norm_backward(&b.middle, &dnorm2, c)) {
            *g += v;
        }
        let (dproj, dattended) =
            linear_backward(&b.attended, param(ParamKind::AttentionProj(l)), &dx, c, c);
        let dqkv = attention_backward(&b.qkv, &b.probs, &dattended, shape);
        let (dqkv_w, dnorm1) =
            linear_backward(&b.norm1, param(ParamKind::AttentionQkv(l)), &dqkv, c, 3 * c);
        for (g, v) in dx.iter_mut().zip(rms_norm_backward(&b.input, &dnorm1, c)) {
            *g += v;
        }
        grads[spec.index(ParamKind::MlpProj(l))] = dproj2;
        grads[spec.index(ParamKind::MlpFcBias(l))] = dbias;
        grads[spec.index(ParamKind::MlpFc(l))] = dfc;
        grads[spec.index(ParamKind::AttentionProj(l))] = dproj;
        grads[spec.index(ParamKind::AttentionQkv(l))] = dqkv_w;
    }
    let (dwte, dwpe) = embedding_backward(tokens, &dx, spec.vocab, spec.context, c);
    grads[spec.index(ParamKind::TokenEmbedding)] = dwte;
    grads[spec.index(ParamKind::PositionEmbedding)] = dwpe;
    (loss, grads)
}

/// The mean loss alone.
pub fn loss(spec: &GptSpec, params: &[Vec<f64>], tokens: &[u32], targets: &[u32]) -> f64 {
    let fwd = forward(spec, params, tokens);
    cross_entropy(&fwd.logits, targets, spec.vocab).0
}
