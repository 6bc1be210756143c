//! An AdamW group's hyperparameters.

use crate::error::Result;
use crate::settings::check::{check_non_negative, check_positive, check_range, invalid};
use crate::settings::optax::MuDtype;

/// Where Adam's ε enters, and whether the first moment is Nesterov-corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdamVariant {
    /// `m̂/(sqrt(v̂) + ε)` with `m̂ = m/(1-β₁ᵗ)`, `v̂ = v/(1-β₂ᵗ)` (PyTorch, KellerJordan).
    Standard,
    /// `lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ) · m/(sqrt(v) + ε)`: ε on the uncorrected `sqrt(v)` (Keras, Moonlight).
    UncorrectedEps,
    /// NAdam: `m̂ = β₁·m/(1-β₁^(t+1)) + (1-β₁)·g/(1-β₁ᵗ)`, then `m̂/(sqrt(v̂ + ε_root) + ε)` (optax `nadamw`).
    Nesterov,
}

/// One AdamW group's hyperparameters.
///
/// ```text
/// m ← β₁·m + (1-β₁)·g;   v ← β₂·v + (1-β₂)·g²
/// W ← W·(1 - decay_lr·wd) - lr·update      (update per AdamVariant)
/// ```
/// `decay_lr` is `lr` unless set (Keras decays with its main learning rate).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub eps_root: f64,
    pub variant: AdamVariant,
    pub decay_lr: Option<f64>,
    /// Dtype of the stored first moment (optax's `mu_dtype` reaches its aux Adam): `m' =
    /// round(round(β₁)·m) + (1-β₁)·g` drives the step, `m ← round(m')` (see [`MuDtype`]).
    pub mu_dtype: MuDtype,
}

impl Default for AdamWConfig {
    /// `torch.optim.AdamW`'s defaults.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            eps_root: 0.0,
            variant: AdamVariant::Standard,
            decay_lr: None,
            mu_dtype: MuDtype::F32,
        }
    }
}

impl AdamWConfig {
    /// Checks every value; the error names the key at fault.
    pub fn validate(&self) -> Result<()> {
        check_non_negative("adam_lr", self.lr)?;
        check_non_negative("adam_weight_decay", self.weight_decay)?;
        check_range("adam_betas", self.beta1, 0.0, 1.0)?;
        check_range("adam_betas", self.beta2, 0.0, 1.0)?;
        check_positive("adam_eps", self.eps)?;
        if !(self.eps_root >= 0.0 && self.eps_root.is_finite()) {
            return Err(invalid("adam_eps_root", self.eps_root, "must be >= 0"));
        }
        Ok(())
    }
}
