//! Everything an optimizer is configured with, in one place: the Muon and AdamW groups, the
//! per-step scalars derived from them, the routing of parameters to the groups, optax's and
//! Keras' options, the learning-rate schedule, the non-finite policy; the presets that fill them
//! and the override keys that change them; and the checks of their combinations.

mod adamw;
mod check;
pub mod keras;
mod muon;
pub mod non_finite;
pub mod optax;
pub mod overrides;
pub mod presets;
mod routing;
mod scalars;
pub mod schedule;

pub use adamw::{AdamVariant, AdamWConfig};
pub use muon::{
    named_ns_schedule, AdjustLr, MomentumKind, MuonConfig, NormEps, NsSchedule, ScaleDims,
    WeightLayout, MAX_NS_STEPS,
};
pub use non_finite::NonFinitePolicy;
pub use routing::{Group, Pattern, Route, RoutingRule};
pub use scalars::{AdamScalars, MuonScalars};

use crate::error::{Error, Result};

/// Everything an optimizer needs: its groups, its automatic routing, Keras' options and the
/// non-finite policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Muon groups; automatic routing uses group 0.
    pub muon: Vec<MuonConfig>,
    /// AdamW groups; automatic routing uses group 0.
    pub adam: Vec<AdamWConfig>,
    pub routing: RoutingRule,
    /// The Keras base optimizer's options: clipping, accumulation, loss scale, schedule, EMA.
    pub keras: keras::StepOptions,
    /// What a NaN or Inf in a gradient does (default: [`NonFinitePolicy::Propagate`]).
    pub non_finite: NonFinitePolicy,
}

impl Settings {
    /// Checks every group, Keras' options, and the combinations that cannot run together.
    pub fn validate(&self) -> Result<()> {
        self.muon.iter().try_for_each(MuonConfig::validate)?;
        self.adam.iter().try_for_each(AdamWConfig::validate)?;
        self.keras.validate()?;
        self.check_combinations()
    }

    /// `skip_step` refuses gradient accumulation and EMA: a skipped step is decided on the GPU,
    /// and the host's micro-step and EMA counts could not follow it without a readback.
    fn check_combinations(&self) -> Result<()> {
        if self.non_finite != NonFinitePolicy::SkipStep {
            return Ok(());
        }
        let other = if self.keras.accumulation_steps.is_some() {
            "gradient_accumulation_steps"
        } else if self.keras.ema.is_some() {
            "use_ema"
        } else {
            return Ok(());
        };
        Err(Error::InvalidHyperparameter {
            key: format!("non_finite, {other}"),
            value: "skip_step".into(),
            reason: format!("skip_step cannot be combined with {other}"),
        })
    }
}

/// Resolves a route for `name` against `settings`, checking the group exists and Muon gets a matrix.
pub fn resolve(settings: &Settings, name: &str, shape: &[usize], route: Route) -> Result<Group> {
    let group = match route {
        Route::Auto
            if settings.routing.routes_to_muon(name, shape) && !settings.muon.is_empty() =>
        {
            Group::Muon(0)
        }
        Route::Auto => Group::AdamW(0),
        Route::Muon(g) => Group::Muon(g),
        Route::AdamW(g) => Group::AdamW(g),
    };
    let (kind, index, available) = match group {
        Group::Muon(g) => ("Muon", g, settings.muon.len()),
        Group::AdamW(g) => ("AdamW", g, settings.adam.len()),
    };
    if index >= available {
        return Err(Error::UnknownGroup {
            name: name.into(),
            kind,
            group: index,
            available,
        });
    }
    if matches!(group, Group::Muon(_)) && shape.len() < 2 {
        return Err(Error::RankTooLowForMuon {
            name: name.into(),
            rank: shape.len(),
        });
    }
    Ok(group)
}

/// Checks every group's `dimension_numbers` against the registered parameters
/// `(name, shape, group)`: each listed name must be a parameter routed to that Muon group, and
/// its axes must exist and be disjoint.
pub fn check_listed<'a>(
    settings: &Settings,
    params: impl Iterator<Item = (&'a str, &'a [usize], Group)> + Clone,
) -> Result<()> {
    for (g, cfg) in settings.muon.iter().enumerate() {
        for (name, dims) in &cfg.dimension_numbers {
            let not_muon = |reason: String| Error::DimensionNumbersNotMuon {
                name: name.clone(),
                reason,
            };
            let Some((_, shape, route)) = params.clone().find(|(n, _, _)| n == name) else {
                return Err(not_muon("no parameter of that name is registered".into()));
            };
            if route != Group::Muon(g) {
                return Err(not_muon(format!(
                    "it is routed to {route:?}, not to Muon group {g} (list it under `muon` too)"
                )));
            }
            dims.resolve(name, shape)?;
        }
    }
    Ok(())
}
