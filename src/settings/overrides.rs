//! The settings a user may override on top of a preset, and their keys, defined once here for
//! the replay format (metadata keys), the command line (`--key value`) and the JS API
//! (camelCase options).

use crate::error::{Error, Result};
use crate::settings::optax::{DimensionNumbers, MuDtype, Preconditioning};
use crate::settings::AdjustLr;

/// Settings that override a preset's defaults (the replay format's metadata keys).
/// Unset fields take the preset's default, or its rule (e.g. Keras' `adam_lr = lr · 0.1`... see each preset).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub lr: Option<f64>,
    pub adam_lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub adam_weight_decay: Option<f64>,
    pub momentum: Option<f64>,
    pub nesterov: Option<bool>,
    pub ns_steps: Option<usize>,
    /// `a,b,c`, `a,b,c;a,b,c;...` or `polar_express`.
    pub ns_coefficients: Option<String>,
    pub eps: Option<f64>,
    pub adjust_lr: Option<AdjustLr>,
    pub rms_scale: Option<f64>,
    pub adam_betas: Option<(f64, f64)>,
    pub adam_eps: Option<f64>,
    /// What a NaN or Inf in a gradient does (`non_finite`), into [`super::Settings::non_finite`].
    pub non_finite: Option<crate::settings::NonFinitePolicy>,
    /// optax's options (see [`crate::settings::optax`]).
    pub preconditioning: Option<Preconditioning>,
    pub adaptive: Option<bool>,
    pub mu_dtype: Option<MuDtype>,
    pub weight_dimension_numbers: Option<Vec<(String, DimensionNumbers)>>,
    // The Keras base optimizer's options (`crate::settings::keras`) and Keras Muon's routing options.
    pub clipnorm: Option<f64>,
    pub global_clipnorm: Option<f64>,
    pub clipvalue: Option<f64>,
    pub loss_scale_factor: Option<f64>,
    pub gradient_accumulation_steps: Option<u64>,
    pub use_ema: Option<bool>,
    pub ema_momentum: Option<f64>,
    pub ema_overwrite_frequency: Option<u64>,
    /// See [`crate::settings::schedule`] for the spelling.
    pub lr_schedule: Option<String>,
    /// `;`-separated regular expressions.
    pub exclude_layers: Option<String>,
    pub exclude_embeddings: Option<bool>,
}

/// The type of an override's value, for front ends that are typed (the JS API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A finite number.
    Number,
    /// A whole number >= 0.
    Count,
    /// `true` or `false`.
    Flag,
    /// Text (a name or a list).
    Text,
    /// Two numbers, `a,b`.
    Pair,
}

/// One override key.
pub struct Key {
    /// The replay metadata key and command-line flag (`adam_lr`).
    pub name: &'static str,
    /// The JS option (`adamLr`).
    pub js_name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    set: fn(&mut Overrides, &str) -> Result<()>,
}

impl Key {
    /// Parses `text` (as written in replay metadata or on the command line) into `o`.
    pub fn set(&self, o: &mut Overrides, text: &str) -> Result<()> {
        (self.set)(o, text)
    }
}

/// Every override key, in the order the command line lists them.
pub const KEYS: &[Key] = &[
    Key {
        name: "lr",
        js_name: "lr",
        kind: Kind::Number,
        help: "Muon's learning rate",
        set: |o, v| {
            o.lr = Some(number("lr", v)?);
            Ok(())
        },
    },
    Key {
        name: "adam_lr",
        js_name: "adamLr",
        kind: Kind::Number,
        help: "AdamW's learning rate",
        set: |o, v| {
            o.adam_lr = Some(number("adam_lr", v)?);
            Ok(())
        },
    },
    Key {
        name: "weight_decay",
        js_name: "weightDecay",
        kind: Kind::Number,
        help: "Muon's decoupled weight decay",
        set: |o, v| {
            o.weight_decay = Some(number("weight_decay", v)?);
            Ok(())
        },
    },
    Key {
        name: "adam_weight_decay",
        js_name: "adamWeightDecay",
        kind: Kind::Number,
        help: "AdamW's decoupled weight decay",
        set: |o, v| {
            o.adam_weight_decay = Some(number("adam_weight_decay", v)?);
            Ok(())
        },
    },
    Key {
        name: "momentum",
        js_name: "momentum",
        kind: Kind::Number,
        help: "Muon's momentum β",
        set: |o, v| {
            o.momentum = Some(number("momentum", v)?);
            Ok(())
        },
    },
    Key {
        name: "nesterov",
        js_name: "nesterov",
        kind: Kind::Flag,
        help: "Nesterov momentum: true or false",
        set: |o, v| {
            o.nesterov = Some(flag("nesterov", v)?);
            Ok(())
        },
    },
    Key {
        name: "ns_steps",
        js_name: "nsSteps",
        kind: Kind::Count,
        help: "Newton-Schulz iterations",
        set: |o, v| {
            o.ns_steps = Some(count("ns_steps", v)?);
            Ok(())
        },
    },
    Key {
        name: "ns_coefficients",
        js_name: "nsCoefficients",
        kind: Kind::Text,
        help: "a,b,c, a,b,c;a,b,c;... (one per iteration) or polar_express",
        set: |o, v| {
            o.ns_coefficients = Some(v.to_string());
            Ok(())
        },
    },
    Key {
        name: "eps",
        js_name: "eps",
        kind: Kind::Number,
        help: "ε of the normalization before Newton-Schulz",
        set: |o, v| {
            o.eps = Some(number("eps", v)?);
            Ok(())
        },
    },
    Key {
        name: "adjust_lr",
        js_name: "adjustLr",
        kind: Kind::Text,
        help: "shape scale: original, match_rms_adamw, none or keras_legacy",
        set: |o, v| {
            o.adjust_lr = Some(v.parse()?);
            Ok(())
        },
    },
    Key {
        name: "rms_scale",
        js_name: "rmsScale",
        kind: Kind::Number,
        help: "factor of match_rms_adamw's scale",
        set: |o, v| {
            o.rms_scale = Some(number("rms_scale", v)?);
            Ok(())
        },
    },
    Key {
        name: "adam_betas",
        js_name: "adamBetas",
        kind: Kind::Pair,
        help: "AdamW's β₁,β₂",
        set: |o, v| {
            o.adam_betas = Some(pair("adam_betas", v)?);
            Ok(())
        },
    },
    Key {
        name: "adam_eps",
        js_name: "adamEps",
        kind: Kind::Number,
        help: "AdamW's ε",
        set: |o, v| {
            o.adam_eps = Some(number("adam_eps", v)?);
            Ok(())
        },
    },
    Key {
        name: "non_finite",
        js_name: "nonFinite",
        kind: Kind::Text,
        help: "a NaN or Inf gradient: propagate (as torch) or skip_step (as GradScaler: the whole step is skipped)",
        set: |o, v| {
            o.non_finite = Some(v.parse()?);
            Ok(())
        },
    },
    Key {
        name: "preconditioning",
        js_name: "preconditioning",
        kind: Kind::Text,
        help: "scaling before Newton-Schulz (optax): frobenius, spectral, aol or schatten",
        set: |o, v| {
            o.preconditioning = Some(v.parse()?);
            Ok(())
        },
    },
    Key {
        name: "adaptive",
        js_name: "adaptive",
        kind: Kind::Flag,
        help: "optax adaptive: scale the update by <U, O>: true or false",
        set: |o, v| {
            o.adaptive = Some(flag("adaptive", v)?);
            Ok(())
        },
    },
    Key {
        name: "mu_dtype",
        js_name: "muDtype",
        kind: Kind::Text,
        help: "dtype of the stored first moments: f32, bf16 or f16",
        set: |o, v| {
            o.mu_dtype = Some(v.parse()?);
            Ok(())
        },
    },
    Key {
        name: "weight_dimension_numbers",
        js_name: "weightDimensionNumbers",
        kind: Kind::Text,
        help: "optax MuonDimensionNumbers: NAME=R/O;NAME=R/O;... (R, O comma-separated axes)",
        set: |o, v| {
            o.weight_dimension_numbers = Some(dimension_numbers(v)?);
            Ok(())
        },
    },
    Key {
        name: "clipnorm",
        js_name: "clipnorm",
        kind: Kind::Number,
        help: "Keras: clip each gradient tensor to this norm",
        set: |o, v| {
            o.clipnorm = Some(number("clipnorm", v)?);
            Ok(())
        },
    },
    Key {
        name: "global_clipnorm",
        js_name: "globalClipnorm",
        kind: Kind::Number,
        help: "Keras: clip all gradients together to this norm",
        set: |o, v| {
            o.global_clipnorm = Some(number("global_clipnorm", v)?);
            Ok(())
        },
    },
    Key {
        name: "clipvalue",
        js_name: "clipvalue",
        kind: Kind::Number,
        help: "Keras: clip each gradient element to [-c, c]",
        set: |o, v| {
            o.clipvalue = Some(number("clipvalue", v)?);
            Ok(())
        },
    },
    Key {
        name: "loss_scale_factor",
        js_name: "lossScaleFactor",
        kind: Kind::Number,
        help: "Keras: gradients are divided by it first",
        set: |o, v| {
            o.loss_scale_factor = Some(number("loss_scale_factor", v)?);
            Ok(())
        },
    },
    Key {
        name: "gradient_accumulation_steps",
        js_name: "gradientAccumulationSteps",
        kind: Kind::Count,
        help: "Keras: update on every S-th step with the mean of S gradients (S >= 2)",
        set: |o, v| {
            o.gradient_accumulation_steps = Some(count("gradient_accumulation_steps", v)? as u64);
            Ok(())
        },
    },
    Key {
        name: "use_ema",
        js_name: "useEma",
        kind: Kind::Flag,
        help: "Keras: keep an exponential moving average of the parameters (ema/<name>)",
        set: |o, v| {
            o.use_ema = Some(flag("use_ema", v)?);
            Ok(())
        },
    },
    Key {
        name: "ema_momentum",
        js_name: "emaMomentum",
        kind: Kind::Number,
        help: "Keras: the EMA's momentum, in [0, 1) (0.99)",
        set: |o, v| {
            o.ema_momentum = Some(number("ema_momentum", v)?);
            Ok(())
        },
    },
    Key {
        name: "ema_overwrite_frequency",
        js_name: "emaOverwriteFrequency",
        kind: Kind::Count,
        help: "Keras: every this many updates the parameters take their EMA",
        set: |o, v| {
            o.ema_overwrite_frequency = Some(count("ema_overwrite_frequency", v)? as u64);
            Ok(())
        },
    },
    Key {
        name: "lr_schedule",
        js_name: "lrSchedule",
        kind: Kind::Text,
        help: "learning-rate factor per step: constant, linear_warmup:steps=W[,from=F], cosine:decay_steps=D[,alpha=A][,warmup_steps=W][,from=F], exponential:decay_steps=D,decay_rate=R[,staircase=true], piecewise:boundaries=B1|B2,values=V0|V1|V2",
        set: |o, v| {
            crate::settings::schedule::LrSchedule::parse(v)?;
            o.lr_schedule = Some(v.to_string());
            Ok(())
        },
    },
    Key {
        name: "exclude_layers",
        js_name: "excludeLayers",
        kind: Kind::Text,
        help: "Keras routing: ;-separated regular expressions; matching names go to AdamW",
        set: |o, v| {
            crate::settings::routing::patterns(v)?;
            o.exclude_layers = Some(v.to_string());
            Ok(())
        },
    },
    Key {
        name: "exclude_embeddings",
        js_name: "excludeEmbeddings",
        kind: Kind::Flag,
        help: "Keras routing: names containing `embedding` (any case) go to AdamW",
        set: |o, v| {
            o.exclude_embeddings = Some(flag("exclude_embeddings", v)?);
            Ok(())
        },
    },
];

/// `NAME=R/O;NAME=R/O;...`, each entry split at its last `=` (names may hold `/` and `=`).
fn dimension_numbers(value: &str) -> Result<Vec<(String, DimensionNumbers)>> {
    value
        .split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, dims) = entry.rsplit_once('=').ok_or_else(|| {
                invalid(
                    "weight_dimension_numbers",
                    entry,
                    "expected NAME=R/O (e.g. blocks/w=1/2)",
                )
            })?;
            Ok((name.trim().to_string(), DimensionNumbers::parse(dims)?))
        })
        .collect()
}

/// The override key named `name`, if any.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

pub(crate) fn invalid(key: &str, value: &str, reason: &str) -> Error {
    Error::InvalidHyperparameter {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// A finite number.
pub(crate) fn number(key: &str, value: &str) -> Result<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| invalid(key, value, "expected a finite number"))
}

/// A whole number >= 0.
pub(crate) fn count(key: &str, value: &str) -> Result<usize> {
    value
        .trim()
        .parse::<usize>()
        .map_err(|_| invalid(key, value, "expected a non-negative integer"))
}

fn flag(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" | "True" | "1" => Ok(true),
        "false" | "False" | "0" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

fn pair(key: &str, value: &str) -> Result<(f64, f64)> {
    match value.split(',').collect::<Vec<_>>().as_slice() {
        [a, b] => Ok((number(key, a)?, number(key, b)?)),
        _ => Err(invalid(key, value, "expected b1,b2")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_its_text_into_its_field() {
        let mut o = Overrides::default();
        for (name, text) in [
            ("lr", "0.02"),
            ("adam_lr", "3e-4"),
            ("weight_decay", "0.1"),
            ("adam_weight_decay", "0"),
            ("momentum", "0.9"),
            ("nesterov", "False"),
            ("ns_steps", "6"),
            ("ns_coefficients", "polar_express"),
            ("eps", "1e-8"),
            ("adjust_lr", "none"),
            ("rms_scale", "0.3"),
            ("adam_betas", "0.9,0.95"),
            ("adam_eps", "1e-10"),
            ("non_finite", "skip_step"),
        ] {
            key(name).unwrap().set(&mut o, text).unwrap();
        }
        assert_eq!(
            o,
            Overrides {
                lr: Some(0.02),
                adam_lr: Some(3e-4),
                weight_decay: Some(0.1),
                adam_weight_decay: Some(0.0),
                momentum: Some(0.9),
                nesterov: Some(false),
                ns_steps: Some(6),
                ns_coefficients: Some("polar_express".into()),
                eps: Some(1e-8),
                adjust_lr: Some(AdjustLr::None),
                rms_scale: Some(0.3),
                adam_betas: Some((0.9, 0.95)),
                adam_eps: Some(1e-10),
                non_finite: Some(crate::settings::NonFinitePolicy::SkipStep),
                ..Overrides::default()
            }
        );
        // 13 original keys, non_finite, 4 of optax's options, 11 of the Keras base optimizer's.
        assert_eq!(KEYS.len(), 29);
    }

    #[test]
    fn optax_option_keys_parse_and_name_their_key_when_bad() {
        let mut o = Overrides::default();
        for (name, text) in [
            ("preconditioning", "aol"),
            ("adaptive", "true"),
            ("mu_dtype", "bf16"),
            ("weight_dimension_numbers", "a/b=c=1/2;w=0,1/-1"),
        ] {
            key(name).unwrap().set(&mut o, text).unwrap();
        }
        assert_eq!(o.preconditioning, Some(Preconditioning::Aol));
        assert_eq!(o.mu_dtype, Some(MuDtype::Bf16));
        let dims = o.weight_dimension_numbers.unwrap();
        assert_eq!(dims[0].0, "a/b=c");
        assert_eq!(dims[1].1.reduction, vec![0, 1]);
        for (name, text) in [
            ("preconditioning", "polar"),
            ("mu_dtype", "f8"),
            ("weight_dimension_numbers", "w=0"),
        ] {
            let err = key(name).unwrap().set(&mut Overrides::default(), text);
            let err = err.unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn bad_text_names_the_key() {
        let mut o = Overrides::default();
        for (name, text) in [("lr", "x"), ("nesterov", "yes"), ("adam_betas", "0.9")] {
            let err = key(name).unwrap().set(&mut o, text).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert_eq!(o, Overrides::default());
    }

    #[test]
    fn js_names_are_the_camel_case_of_the_keys() {
        for k in KEYS {
            let mut camel = String::new();
            let mut upper = false;
            for c in k.name.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    camel.extend(c.to_uppercase());
                    upper = false;
                } else {
                    camel.push(c);
                }
            }
            assert_eq!(k.js_name, camel);
        }
    }
}
