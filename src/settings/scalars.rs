//! The per-step scalars of both groups, computed in f64 on the host and copied into the
//! `MuonStep` / `AdamStep` uniforms: the one place `lr_eff`, `keep` and the schedule's factor `η`
//! meet (η = 1 without a schedule).

use crate::settings::adamw::{AdamVariant, AdamWConfig};
use crate::settings::muon::{MomentumKind, MuonConfig};

/// The per-step scalars of a Muon group, computed in f64 on the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MuonScalars {
    /// `m ← decay_m·m + decay_g·G`.
    pub decay_m: f64,
    pub decay_g: f64,
    /// `U = use_m·m + use_g·G`.
    pub use_m: f64,
    pub use_g: f64,
    /// `W ← W·keep - lr_eff·O`, `lr_eff = lr·s(rows, cols)`.
    pub keep: f64,
    pub lr_eff: f64,
}

/// The per-step scalars of an AdamW group: `W ← W·keep - lr_eff·(use_m·m + use_g·g)/(sqrt(use_v·v + eps_root) + eps)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamScalars {
    pub beta1: f64,
    pub beta2: f64,
    pub use_m: f64,
    pub use_g: f64,
    pub use_v: f64,
    pub eps: f64,
    pub eps_root: f64,
    pub keep: f64,
    pub lr_eff: f64,
}

/// `β^t` for any step count: `powi` while `t` fits its `i32` exponent (as before, bit for
/// bit), `powf` beyond (a wrapped exponent would turn the bias correction into NaN).
fn pow_step(beta: f64, t: u64) -> f64 {
    match i32::try_from(t) {
        Ok(t) => beta.powi(t),
        Err(_) => beta.powf(t as f64),
    }
}

impl MuonConfig {
    /// The scalars of step `t` (1-based) for a matrix of shape scale `scale`
    /// ([`MuonConfig::shape_scale`]), at the group's own rate (`η = 1`).
    pub fn scalars(&self, t: u64, scale: f64) -> MuonScalars {
        self.scalars_at_rate(t, scale, 1.0)
    }

    /// The scalars of step `t` with every learning rate times `η` (the schedule's factor):
    /// `keep = 1 − lr·η·wd`, `lr_eff = lr·s·η`; the momentum's decay and use as above.
    pub fn scalars_at_rate(&self, t: u64, scale: f64, eta: f64) -> MuonScalars {
        let b = self.momentum;
        let (decay_m, decay_g) = match self.momentum_kind {
            MomentumKind::Ema => (b, 1.0 - b),
            MomentumKind::Plain => (b, 1.0),
        };
        let (use_m, use_g) = match (self.nesterov, self.bias_correction) {
            (true, false) => (b, decay_g),
            (false, false) => (1.0, 0.0),
            (true, true) => (
                b / (1.0 - pow_step(b, t.saturating_add(1))),
                decay_g / (1.0 - pow_step(b, t)),
            ),
            (false, true) => (1.0 / (1.0 - pow_step(b, t)), 0.0),
        };
        MuonScalars {
            decay_m,
            decay_g,
            use_m,
            use_g,
            keep: 1.0 - self.lr * eta * self.weight_decay,
            lr_eff: self.lr * scale * eta,
        }
    }
}

impl AdamWConfig {
    /// The scalars of step `t` (1-based) at the group's own rate (`η = 1`).
    pub fn scalars(&self, t: u64) -> AdamScalars {
        self.scalars_at_rate(t, 1.0)
    }

    /// The scalars of step `t` with every learning rate times `η`, the decay's too (Keras decays
    /// with its scheduled main rate): `keep = 1 − decay_lr·η·wd`, `lr_eff` per [`AdamVariant`]
    /// times `η`.
    pub fn scalars_at_rate(&self, t: u64, eta: f64) -> AdamScalars {
        let (b1, b2) = (self.beta1, self.beta2);
        let bc1 = 1.0 - pow_step(b1, t);
        let bc2 = 1.0 - pow_step(b2, t);
        let (use_m, use_g, use_v, lr_eff) = match self.variant {
            AdamVariant::Standard => (1.0 / bc1, 0.0, 1.0 / bc2, self.lr),
            AdamVariant::UncorrectedEps => (1.0, 0.0, 1.0, self.lr * bc2.sqrt() / bc1),
            AdamVariant::Nesterov => (
                b1 / (1.0 - pow_step(b1, t.saturating_add(1))),
                (1.0 - b1) / bc1,
                1.0 / bc2,
                self.lr,
            ),
        };
        AdamScalars {
            beta1: b1,
            beta2: b2,
            use_m,
            use_g,
            use_v,
            eps: self.eps,
            eps_root: self.eps_root,
            keep: 1.0 - self.decay_lr.unwrap_or(self.lr) * eta * self.weight_decay,
            lr_eff: lr_eff * eta,
        }
    }
}
