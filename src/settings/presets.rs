//! Presets: the exact semantics of the libraries users come from.
//!
//! | preset | Muon momentum | Nesterov `U` | norm guard | shape scale | aux Adam |
//! |---|---|---|---|---|---|
//! | `torch` | `m ← β m + (1-β) g` | `β m + (1-β) g` | `max(‖X‖, 1e-7)` | `sqrt(max(1, rows/cols))` | `torch.optim.AdamW` defaults |
//! | `keller` | `m ← β m + (1-β) g` | `β m + (1-β) g` | `‖X‖ + 1e-7` | `sqrt(max(1, d₋₂/d₋₁))` on the last two dims (as `muon_update` reads the unflattened grad) | Adam, ε on `sqrt(v̂)` |
//! | `optax` | `m ← β m + (1-β) g`, bias-corrected | `β m/(1-β^(t+1)) + (1-β) g/(1-βᵗ)` | `‖X‖ + ε` | `sqrt(max(1, cols/rows))` | NAdamW sharing ε and `nesterov` |
//! | `keras` | `m ← β m + g` | `g + β m` | `‖X‖ + 1e-7` | `0.2·sqrt(max(rows, cols))` | ε on uncorrected `sqrt(v)`, lr × `adam_lr_ratio` |
//! | `keras-3.12` | `m ← β m + g` | `g + β m` | `‖X‖ + 1e-7`, 3-D per leading index | `sqrt(max(1, shape[0]/shape[1]))` of the stored shape | ε on uncorrected `sqrt(v)`, lr × 0.1; `wd = 0.1` on every variable |
//! | `moonlight` | `m ← β m + g` | `g + β m` | `‖X‖ + 1e-7` | `0.2·sqrt(max(rows, cols))` | ε on uncorrected `sqrt(v)`, shares lr and wd |
//!
//! Every preset then applies `W ← W·(1 - lr·wd) - lr·scale·O` with `O` the Newton-Schulz output.

use crate::error::{Error, Result};
pub use crate::settings::overrides::Overrides;
use crate::settings::{
    AdamVariant, AdamWConfig, AdjustLr, MomentumKind, MuonConfig, NormEps, NsSchedule, RoutingRule,
    ScaleDims, Settings, WeightLayout,
};

/// A library whose Muon (and aux AdamW) we reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// `torch.optim.Muon` + `torch.optim.AdamW` (PyTorch 2.9+).
    Torch,
    /// `SingleDeviceMuonWithAuxAdam` from KellerJordan's `muon-optimizer`.
    Keller,
    /// `optax.contrib.muon`.
    Optax,
    /// `keras.optimizers.Muon` (Keras 3.15).
    Keras,
    /// `keras.optimizers.Muon` of Keras 3.10-3.12, the release the seed document describes:
    /// `ns_steps = 6`, `adam_lr_ratio = 0.1`, `weight_decay = 0.1` on every variable (with the
    /// main lr), rank 2 and 3 to Muon (3-D orthogonalized per leading index: dimension numbers
    /// `1/2`), rank 4 to AdamW, shape scale `sqrt(max(1, shape[0]/shape[1]))` (`keras_legacy`).
    Keras312,
    /// The Muon of "Muon is Scalable for LLM Training" (Moonlight).
    Moonlight,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 6] = [
        Self::Torch,
        Self::Keller,
        Self::Optax,
        Self::Keras,
        Self::Keras312,
        Self::Moonlight,
    ];

    /// The preset's name in the replay format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Torch => "torch",
            Self::Keller => "keller",
            Self::Optax => "optax",
            Self::Keras => "keras",
            Self::Keras312 => "keras-3.12",
            Self::Moonlight => "moonlight",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| Error::UnknownPreset(s.into()))
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Keras' default ratio of the AdamW learning rate to the Muon one.
pub const KERAS_ADAM_LR_RATIO: f64 = 1.0;

/// Keras 3.10-3.12's default `adam_lr_ratio`.
pub const KERAS_312_ADAM_LR_RATIO: f64 = 0.1;

impl Preset {
    /// The preset's settings with `o` applied: the library's defaults, then `o`'s Muon keys,
    /// then AdamW's defaults that follow Muon's, then `o`'s AdamW and routing keys.
    pub fn settings(self, o: &Overrides) -> Result<Settings> {
        let (mut muon, mut adam, mut routing) = self.defaults();
        self.apply_muon(o, &mut muon)?;
        self.follow_muon(&muon, &mut adam);
        apply_adam(o, &mut adam);
        apply_routing(o, &mut routing)?;
        let settings = Settings {
            muon: vec![muon],
            adam: vec![adam],
            routing,
            keras: crate::settings::keras::StepOptions::from_overrides(o)?,
            non_finite: o.non_finite.unwrap_or_default(),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The library's own defaults, before any override.
    fn defaults(self) -> (MuonConfig, AdamWConfig, RoutingRule) {
        let mut muon = MuonConfig::default();
        let mut adam = AdamWConfig::default();
        let mut routing = RoutingRule::default();
        match self {
            Self::Torch => {
                // torch.optim.Muon(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, eps=1e-7, ns_steps=5)
                routing.max_rank = Some(2);
            }
            Self::Keller => {
                // muon group: lr=0.02, weight_decay=0, momentum=0.95; adam group: lr=3e-4, betas=(0.9, 0.95), eps=1e-10, wd=0
                muon.lr = 0.02;
                muon.weight_decay = 0.0;
                muon.norm_eps = NormEps::Additive;
                muon.scale_dims = ScaleDims::LastTwo;
                adam = AdamWConfig {
                    lr: 3e-4,
                    weight_decay: 0.0,
                    beta1: 0.9,
                    beta2: 0.95,
                    eps: 1e-10,
                    ..AdamWConfig::default()
                };
            }
            Self::Optax => {
                // optax.contrib.muon(learning_rate, beta=0.95, eps=1e-8, weight_decay=0, nesterov=True,
                //                    adam_b1=0.9, adam_b2=0.999, adam_weight_decay=0)
                muon.lr = 0.02;
                muon.weight_decay = 0.0;
                muon.bias_correction = true;
                muon.eps = 1e-8;
                muon.norm_eps = NormEps::Additive;
                muon.layout = WeightLayout::InOut;
                adam.weight_decay = 0.0;
                routing.max_rank = Some(2);
            }
            Self::Keras => {
                muon.weight_decay = 0.004;
                muon.momentum_kind = MomentumKind::Plain;
                muon.norm_eps = NormEps::Additive;
                muon.adjust_lr = AdjustLr::MatchRmsAdamW;
                // `adjust_lr = original` stays `(out, in)`: Keras' `sqrt(max(1, shape[0]/shape[1]))`
                // (the spec's `keras_legacy` on a 2-D parameter), not optax's `(in, out)`.
                adam = AdamWConfig {
                    weight_decay: 0.004,
                    eps: 1e-7,
                    variant: AdamVariant::UncorrectedEps,
                    ..AdamWConfig::default()
                };
                routing.max_rank = Some(2);
                routing.exclude_embeddings = true;
            }
            Self::Keras312 => {
                // keras/src/optimizers/muon.py of Keras 3.12: Muon(learning_rate=0.001,
                // epsilon=1e-7, weight_decay=0.1, adam_lr_ratio=0.1, momentum=0.95, ns_steps=6)
                muon.weight_decay = 0.1;
                muon.momentum_kind = MomentumKind::Plain;
                muon.norm_eps = NormEps::Additive;
                muon.adjust_lr = AdjustLr::KerasLegacy;
                muon.rank3_slices = true;
                adam = AdamWConfig {
                    weight_decay: 0.1,
                    eps: 1e-7,
                    variant: AdamVariant::UncorrectedEps,
                    ..AdamWConfig::default()
                };
                routing.max_rank = Some(3);
                routing.exclude_embeddings = true;
            }
            Self::Moonlight => {
                muon.momentum_kind = MomentumKind::Plain;
                muon.norm_eps = NormEps::Additive;
                muon.adjust_lr = AdjustLr::MatchRmsAdamW;
                adam = AdamWConfig {
                    beta1: 0.9,
                    beta2: 0.95,
                    eps: 1e-8,
                    variant: AdamVariant::UncorrectedEps,
                    ..AdamWConfig::default()
                };
            }
        }
        (muon, adam, routing)
    }

    /// `o`'s keys of the Muon group (optax's options included, for every preset).
    fn apply_muon(self, o: &Overrides, muon: &mut MuonConfig) -> Result<()> {
        // Muon's own settings.
        if let Some(v) = o.lr {
            muon.lr = v;
        }
        if let Some(v) = o.weight_decay {
            muon.weight_decay = v;
        }
        if let Some(v) = o.momentum {
            muon.momentum = v;
        }
        if let Some(v) = o.nesterov {
            muon.nesterov = v;
        }
        if let Some(v) = o.eps {
            muon.eps = v;
        }
        if let Some(v) = o.adjust_lr {
            muon.adjust_lr = v;
        }
        if let Some(v) = o.rms_scale {
            muon.rms_scale = v;
        }
        let [a, b, c] = NsSchedule::KELLER;
        let text = o
            .ns_coefficients
            .clone()
            .unwrap_or_else(|| format!("{a},{b},{c}"));
        let ns_steps = if self == Self::Keras312 { 6 } else { 5 };
        muon.ns = NsSchedule::parse(&text, o.ns_steps.unwrap_or(ns_steps))?;
        // optax's options, for every preset.
        if let Some(v) = o.preconditioning {
            muon.preconditioning = v;
        }
        if let Some(v) = o.adaptive {
            muon.adaptive = v;
        }
        if let Some(v) = o.mu_dtype {
            muon.mu_dtype = v;
        }
        if let Some(v) = &o.weight_dimension_numbers {
            muon.dimension_numbers = v.clone();
        }
        Ok(())
    }

    /// AdamW's defaults that follow Muon's, by each library's rule.
    fn follow_muon(self, muon: &MuonConfig, adam: &mut AdamWConfig) {
        match self {
            Self::Torch | Self::Keller => {}
            Self::Optax => {
                adam.lr = muon.lr;
                adam.eps = muon.eps;
                // optax.contrib.muon passes mu_dtype to its aux adamw too.
                adam.mu_dtype = muon.mu_dtype;
                adam.variant = if muon.nesterov {
                    AdamVariant::Nesterov
                } else {
                    AdamVariant::Standard
                };
            }
            Self::Keras => {
                adam.lr = muon.lr * KERAS_ADAM_LR_RATIO;
                adam.decay_lr = Some(muon.lr);
            }
            Self::Keras312 => {
                adam.lr = muon.lr * KERAS_312_ADAM_LR_RATIO;
                adam.decay_lr = Some(muon.lr);
                // The base optimizer decays every variable by the one `weight_decay`.
                adam.weight_decay = muon.weight_decay;
            }
            Self::Moonlight => {
                adam.lr = muon.lr;
                adam.weight_decay = muon.weight_decay;
            }
        }
    }
}

/// `o`'s keys of the AdamW group.
fn apply_adam(o: &Overrides, adam: &mut AdamWConfig) {
    if let Some(v) = o.adam_lr {
        adam.lr = v;
    }
    if let Some(v) = o.adam_weight_decay {
        adam.weight_decay = v;
    }
    if let Some((b1, b2)) = o.adam_betas {
        adam.beta1 = b1;
        adam.beta2 = b2;
    }
    if let Some(v) = o.adam_eps {
        adam.eps = v;
    }
}

/// `o`'s routing keys (Keras Muon's).
fn apply_routing(o: &Overrides, routing: &mut RoutingRule) -> Result<()> {
    if let Some(v) = o.exclude_embeddings {
        routing.exclude_embeddings = v;
    }
    if let Some(v) = &o.exclude_layers {
        routing.exclude_layers = super::routing::patterns(v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keras' `adjust_lr = original` is `sqrt(max(1, shape[0]/shape[1]))`, the spec's
    /// `keras_legacy` on a 2-D parameter (not optax's `(in, out)` scale).
    #[test]
    fn keras_original_scale_is_keras_legacy_on_2d() {
        for preset in [Preset::Keras, Preset::Keras312] {
            let o = Overrides {
                adjust_lr: Some(AdjustLr::Original),
                ..Default::default()
            };
            let muon = &preset.settings(&o).unwrap().muon[0];
            let mut legacy = muon.clone();
            legacy.adjust_lr = AdjustLr::KerasLegacy;
            for shape in [[8, 2], [2, 8], [5, 5]] {
                assert_eq!(
                    muon.shape_scale(&shape),
                    legacy.shape_scale(&shape),
                    "{shape:?}"
                );
            }
            assert_eq!(muon.shape_scale(&[8, 2]), 2.0);
            assert_eq!(muon.shape_scale(&[2, 8]), 1.0);
        }
    }

    /// The `non_finite` key lands in the settings, and the settings refuse `skip_step` with
    /// gradient accumulation or EMA, naming both keys.
    #[test]
    fn non_finite_is_a_setting_checked_with_the_options_it_cannot_join() {
        use crate::settings::NonFinitePolicy;
        let skip = Some(NonFinitePolicy::SkipStep);
        let o = Overrides {
            non_finite: skip,
            ..Default::default()
        };
        assert_eq!(
            Preset::Torch.settings(&o).unwrap().non_finite,
            NonFinitePolicy::SkipStep
        );
        let plain = Preset::Torch.settings(&Overrides::default()).unwrap();
        assert_eq!(plain.non_finite, NonFinitePolicy::Propagate);
        let combos = [
            (
                Overrides {
                    gradient_accumulation_steps: Some(2),
                    ..o.clone()
                },
                "gradient_accumulation_steps",
            ),
            (
                Overrides {
                    use_ema: Some(true),
                    ..o.clone()
                },
                "use_ema",
            ),
        ];
        for (o, other) in combos {
            let err = Preset::Keras.settings(&o).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidHyperparameter { key, value, reason }
                    if *key == format!("non_finite, {other}") && value == "skip_step"
                        && *reason == format!("skip_step cannot be combined with {other}")),
                "{err}"
            );
        }
    }
}
