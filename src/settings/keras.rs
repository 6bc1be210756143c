//! The Keras base optimizer's options, for every preset: loss-scale division, gradient
//! accumulation, clipping, a learning-rate schedule and an exponential moving average of the
//! parameters (`keras.optimizers.Optimizer`'s `loss_scale_factor`, `gradient_accumulation_steps`,
//! `clipnorm` / `global_clipnorm` / `clipvalue`, `learning_rate` as a schedule, `use_ema`,
//! `ema_momentum`, `ema_overwrite_frequency`).
//!
//! Per call `k = 0, 1, …` of `step`, in Keras' order (`BaseOptimizer.apply` and the JAX backend's
//! `_backend_apply_gradients`):
//! ```text
//! g ← g / loss_scale_factor
//! accumulation (S steps): not an update step ((k+1) mod S ≠ 0):  A ← A + g; nothing else changes
//!                         update step:  g ← (g + A)/S;  A ← 0;  t ← t + 1
//! clipnorm c:        g ← g·c / max(‖g‖, c)                 per tensor
//! global_clipnorm c: g ← g·c·min(1/‖G‖, 1/c)               ‖G‖ over every gradient together
//! clipvalue c:       g ← clip(g, −c, c)
//! the preset's update, every learning rate times η(k) (see [`crate::settings::schedule`]), bias corrections at t
//! EMA (every call, also between updates):  avg ← f·avg + (1−f)·W,  f = 0 while t = 0 before
//!     this call, else ema_momentum;  when (t_before + 1) mod ema_overwrite_frequency = 0:  W ← avg
//! ```
//! where `t_before = ⌊k/S⌋` (Keras' `iterations` under accumulation). Everything runs on the GPU
//! in the step's one submit; only `η(k)` and the EMA factor are written from the host per step.
//! The transforms work in place: after a step, the gradient buffers hold the gradient the update
//! used (divided, averaged, clipped), and between updates the accumulators hold the sum so far.

use crate::error::{Error, Result};
use crate::settings::overrides::Overrides;
use crate::settings::schedule::LrSchedule;

/// Gradient clipping (Keras allows at most one kind).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// `clipnorm`: each tensor's gradient to norm at most `c`.
    Norm(f64),
    /// `global_clipnorm`: all gradients together to norm at most `c`.
    GlobalNorm(f64),
    /// `clipvalue`: each element to `[−c, c]`.
    Value(f64),
}

/// Keras' exponential moving average of the parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ema {
    /// `ema_momentum`, in `[0, 1)`.
    pub momentum: f64,
    /// `ema_overwrite_frequency`: every this many updates the parameters take the average.
    pub overwrite_frequency: Option<u64>,
}

/// The Keras base optimizer's options (module doc); the default changes nothing.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StepOptions {
    pub clip: Option<Clip>,
    /// `loss_scale_factor`: gradients are divided by it first.
    pub loss_scale_factor: Option<f64>,
    /// `gradient_accumulation_steps` `S ≥ 2`.
    pub accumulation_steps: Option<u64>,
    pub ema: Option<Ema>,
    /// The learning-rate factor per micro-step.
    pub schedule: Option<LrSchedule>,
}

fn invalid(key: &str, value: impl ToString, reason: &str) -> Error {
    Error::InvalidHyperparameter {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn positive(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, v, "must be a positive number"))
    }
}

impl StepOptions {
    /// Checks every value; the error names the key at fault.
    pub fn validate(&self) -> Result<()> {
        match self.clip {
            Some(Clip::Norm(c)) => positive("clipnorm", c)?,
            Some(Clip::GlobalNorm(c)) => positive("global_clipnorm", c)?,
            Some(Clip::Value(c)) => positive("clipvalue", c)?,
            None => {}
        }
        if let Some(s) = self.loss_scale_factor {
            positive("loss_scale_factor", s)?;
        }
        if let Some(s) = self.accumulation_steps {
            if s < 2 {
                return Err(invalid(
                    "gradient_accumulation_steps",
                    s,
                    "must be an integer >= 2",
                ));
            }
        }
        if let Some(e) = self.ema {
            if !(0.0..1.0).contains(&e.momentum) {
                return Err(invalid("ema_momentum", e.momentum, "must be in [0, 1)"));
            }
            if e.overwrite_frequency == Some(0) {
                return Err(invalid("ema_overwrite_frequency", 0, "must be >= 1"));
            }
        }
        if let Some(s) = &self.schedule {
            s.validate()?;
        }
        Ok(())
    }

    /// The options the override keys ask for; an error names the key at fault (more than one
    /// clipping key is an error, as in Keras).
    pub fn from_overrides(o: &Overrides) -> Result<Self> {
        let clips: Vec<(&str, Clip)> = [
            ("clipnorm", o.clipnorm.map(Clip::Norm)),
            ("global_clipnorm", o.global_clipnorm.map(Clip::GlobalNorm)),
            ("clipvalue", o.clipvalue.map(Clip::Value)),
        ]
        .into_iter()
        .filter_map(|(k, c)| Some((k, c?)))
        .collect();
        if clips.len() > 1 {
            let keys: Vec<&str> = clips.iter().map(|(k, _)| *k).collect();
            return Err(invalid(
                &keys.join(", "),
                "several",
                "only one of clipnorm, clipvalue and global_clipnorm can be set",
            ));
        }
        // As in Keras, the EMA's settings are ignored (and not checked) without `use_ema`.
        let use_ema = o.use_ema.unwrap_or(false);
        let options = Self {
            clip: clips.first().map(|(_, c)| *c),
            loss_scale_factor: o.loss_scale_factor,
            accumulation_steps: o.gradient_accumulation_steps,
            ema: use_ema.then(|| Ema {
                momentum: o.ema_momentum.unwrap_or(0.99),
                overwrite_frequency: o.ema_overwrite_frequency,
            }),
            schedule: o
                .lr_schedule
                .as_deref()
                .map(LrSchedule::parse)
                .transpose()?,
        };
        options.validate()?;
        Ok(options)
    }

    /// Accumulation steps `S` (1 without accumulation).
    pub fn steps_per_update(&self) -> u64 {
        self.accumulation_steps.unwrap_or(1)
    }

    /// Whether call `k` (0-based) applies an update.
    pub fn is_update(&self, k: u64) -> bool {
        (k + 1).is_multiple_of(self.steps_per_update())
    }

    /// Whether anything happens to the gradients before the update (a GPU pass per tensor).
    pub fn transforms_gradients(&self) -> bool {
        self.clip.is_some() || self.loss_scale_factor.is_some() || self.accumulation_steps.is_some()
    }

    /// `η(k)`, the learning-rate factor of call `k` (1 without a schedule).
    pub fn rate_factor(&self, k: u64) -> Result<f64> {
        self.schedule
            .as_ref()
            .map_or(Ok(1.0), |s| s.checked_factor(k))
    }

    /// The EMA of call `k`: `(f, overwrite)`, `avg ← f·avg + (1−f)·W`, then `W ← avg` if
    /// `overwrite` (Keras, with `iterations = ⌊k/S⌋` before the call's increment).
    pub fn ema_step(&self, k: u64) -> Option<(f64, bool)> {
        let e = self.ema?;
        let t = k / self.steps_per_update();
        let f = if t == 0 { 0.0 } else { e.momentum };
        let overwrite = e
            .overwrite_frequency
            .is_some_and(|n| (t + 1).is_multiple_of(n));
        Some((f, overwrite))
    }
}

/// The f64 forms of the gradient transforms (the reference of the GPU kernels).
pub mod reference {
    use super::Clip;

    /// Clips `grads` (one vector per tensor) as Keras' `_clip_gradients` does.
    pub fn clip(clip: Option<Clip>, grads: &mut [Vec<f64>]) {
        let norm = |g: &[f64]| g.iter().map(|x| x * x).sum::<f64>().sqrt();
        match clip {
            Some(Clip::Norm(c)) => {
                for g in grads {
                    let d = norm(g).max(c);
                    g.iter_mut().for_each(|x| *x = *x * c / d);
                }
            }
            Some(Clip::GlobalNorm(c)) => {
                let n = grads.iter().map(|g| norm(g).powi(2)).sum::<f64>().sqrt();
                let scale = c * (1.0 / n).min(1.0 / c);
                grads.iter_mut().flatten().for_each(|x| *x *= scale);
            }
            Some(Clip::Value(c)) => grads.iter_mut().flatten().for_each(|x| *x = x.clamp(-c, c)),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Overrides {
        Overrides::default()
    }

    #[test]
    fn more_than_one_clipping_key_is_an_error_naming_them() {
        let err = StepOptions::from_overrides(&Overrides {
            clipnorm: Some(1.0),
            clipvalue: Some(0.5),
            ..o()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("clipnorm, clipvalue"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, over) in [
            (
                "gradient_accumulation_steps",
                Overrides {
                    gradient_accumulation_steps: Some(1),
                    ..o()
                },
            ),
            (
                "ema_momentum",
                Overrides {
                    use_ema: Some(true),
                    ema_momentum: Some(1.0),
                    ..o()
                },
            ),
            (
                "ema_momentum",
                Overrides {
                    use_ema: Some(true),
                    ema_momentum: Some(-0.1),
                    ..o()
                },
            ),
            (
                "clipnorm",
                Overrides {
                    clipnorm: Some(0.0),
                    ..o()
                },
            ),
            (
                "loss_scale_factor",
                Overrides {
                    loss_scale_factor: Some(-2.0),
                    ..o()
                },
            ),
            (
                "ema_overwrite_frequency",
                Overrides {
                    use_ema: Some(true),
                    ema_overwrite_frequency: Some(0),
                    ..o()
                },
            ),
            (
                "lr_schedule",
                Overrides {
                    lr_schedule: Some("cosine".into()),
                    ..o()
                },
            ),
        ] {
            let err = StepOptions::from_overrides(&over).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        assert_eq!(
            StepOptions::from_overrides(&o()).unwrap(),
            StepOptions::default()
        );
        let ignored = Overrides {
            ema_momentum: Some(2.0),
            ..o()
        };
        assert_eq!(
            StepOptions::from_overrides(&ignored).unwrap(),
            StepOptions::default()
        );
    }

    #[test]
    fn accumulation_counts_updates_for_ema_as_keras_iterations() {
        let opts = StepOptions {
            accumulation_steps: Some(3),
            ema: Some(Ema {
                momentum: 0.9,
                overwrite_frequency: Some(2),
            }),
            ..Default::default()
        };
        let updates: Vec<bool> = (0..6).map(|k| opts.is_update(k)).collect();
        assert_eq!(updates, [false, false, true, false, false, true]);
        let ema: Vec<(f64, bool)> = (0..6).map(|k| opts.ema_step(k).unwrap()).collect();
        // iterations = ⌊k/3⌋: 0,0,0 (f = 0; (0+1) % 2 ≠ 0), then 1,1,1 (overwrite).
        assert_eq!(
            ema,
            [
                (0.0, false),
                (0.0, false),
                (0.0, false),
                (0.9, true),
                (0.9, true),
                (0.9, true)
            ]
        );
    }

    #[test]
    fn reference_clipping_follows_keras() {
        let mut g = vec![vec![3.0, 4.0], vec![0.0, 0.0], vec![1.0, -2.0]];
        reference::clip(Some(Clip::Norm(1.0)), &mut g);
        assert!(
            (g[0][0] - 0.6).abs() < 1e-15 && g[1] == [0.0, 0.0] && g[2][1] == -2.0 / 5f64.sqrt()
        );
        let mut g = vec![vec![3.0], vec![4.0]];
        reference::clip(Some(Clip::GlobalNorm(2.5)), &mut g);
        assert_eq!(g, [vec![1.5], vec![2.0]]);
        let mut g = vec![vec![3.0, -0.1]];
        reference::clip(Some(Clip::Value(0.5)), &mut g);
        assert_eq!(g, [vec![0.5, -0.1]]);
    }
}
