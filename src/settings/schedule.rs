//! Learning-rate schedules: a factor `η(k)` that multiplies every group's learning rate (and
//! the learning rate that Keras' weight decay uses) at micro-step `k`, evaluated on the host each
//! step and written with the step scalars, so a schedule never rebuilds anything.
//!
//! `k` is the 0-based count of calls to `step` before this one, as Keras passes its
//! `optimizer._iterations` to a schedule: under gradient accumulation the schedule sees micro-steps
//! (the update of micro-step `k = S·t − 1` uses `η(S·t − 1)`), while Adam's bias correction counts
//! applied updates `t`.
//!
//! Replay / command-line spelling (`lr_schedule`): `constant`,
//! `linear_warmup:steps=W[,from=F]`, `cosine:decay_steps=D[,alpha=A][,warmup_steps=W][,from=F]`,
//! `exponential:decay_steps=D,decay_rate=R[,staircase=true]`,
//! `piecewise:boundaries=B₁|B₂|…,values=V₀|V₁|…|Vₙ`. The closure form is Rust-only
//! ([`LrSchedule::closure`]).

use std::sync::Arc;

use crate::error::{Error, Result};

/// A learning-rate factor per micro-step `k` (see the module doc). The formulas are Keras'
/// schedules (`keras.optimizers.schedules`) with `initial_learning_rate` (or `warmup_target`)
/// equal to 1: a Keras schedule of peak `P` is ours with `lr = P` (and `adam_lr` scaled alike).
#[derive(Clone)]
pub enum LrSchedule {
    /// `η = 1`.
    Constant,
    /// `η = F + (1 − F)·min(k, W)/W`: linear warmup from `F` to 1 over `W` steps (Keras'
    /// `CosineDecay` warmup without its decay).
    LinearWarmup { steps: u64, from: f64 },
    /// Keras `CosineDecay`: with `W` warmup steps, `k' = min(k, D + W)`,
    /// `η = F + (1 − F)·k'/W` while `k' < W`, then `η = (1 − α)·½(1 + cos(π·(k' − W)/D)) + α`.
    /// (Keras' `initial_learning_rate = F·P`, `warmup_target = P`; without warmup, `F` is unused.)
    Cosine {
        decay_steps: u64,
        alpha: f64,
        warmup_steps: u64,
        from: f64,
    },
    /// Keras `ExponentialDecay`: `η = R^(k/D)`, the exponent floored when `staircase`.
    Exponential {
        decay_steps: u64,
        decay_rate: f64,
        staircase: bool,
    },
    /// Keras `PiecewiseConstantDecay`: `η = V₀` for `k ≤ B₁`, `Vᵢ` for `Bᵢ < k ≤ Bᵢ₊₁`, `Vₙ` for
    /// `k > Bₙ`.
    Piecewise {
        boundaries: Vec<u64>,
        values: Vec<f64>,
    },
    /// Any function of `k` (like a Keras schedule object or PyTorch's `LambdaLR`).
    Closure(Arc<dyn Fn(u64) -> f64 + Send + Sync>),
}

impl std::fmt::Debug for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closure(_) => f.write_str("Closure(..)"),
            Self::Constant => f.write_str("Constant"),
            Self::LinearWarmup { steps, from } => write!(f, "LinearWarmup({steps}, {from})"),
            Self::Cosine {
                decay_steps,
                alpha,
                warmup_steps,
                from,
            } => write!(f, "Cosine({decay_steps}, {alpha}, {warmup_steps}, {from})"),
            Self::Exponential {
                decay_steps,
                decay_rate,
                staircase,
            } => write!(f, "Exponential({decay_steps}, {decay_rate}, {staircase})"),
            Self::Piecewise { boundaries, values } => {
                write!(f, "Piecewise({boundaries:?}, {values:?})")
            }
        }
    }
}

impl PartialEq for LrSchedule {
    /// Closures are equal when they are the same closure.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Closure(a), Self::Closure(b)) => Arc::ptr_eq(a, b),
            (Self::Closure(_), _) | (_, Self::Closure(_)) => false,
            _ => format!("{self:?}") == format!("{other:?}"),
        }
    }
}

const KEY: &str = "lr_schedule";

fn bad(text: &str, reason: impl Into<String>) -> Error {
    Error::InvalidHyperparameter {
        key: KEY.into(),
        value: text.into(),
        reason: reason.into(),
    }
}

impl LrSchedule {
    /// A schedule from any function of the micro-step `k`.
    pub fn closure(f: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        Self::Closure(Arc::new(f))
    }

    /// `η(k)`, the factor on every learning rate at micro-step `k` (0-based).
    pub fn factor(&self, k: u64) -> f64 {
        match self {
            Self::Constant => 1.0,
            Self::LinearWarmup { steps, from } => {
                from + (1.0 - from) * (k.min(*steps) as f64) / (*steps as f64)
            }
            Self::Cosine {
                decay_steps,
                alpha,
                warmup_steps,
                from,
            } => {
                let k = k.min(decay_steps + warmup_steps);
                if k < *warmup_steps {
                    from + (1.0 - from) * k as f64 / *warmup_steps as f64
                } else {
                    let done = (k - warmup_steps) as f64 / *decay_steps as f64;
                    (1.0 - alpha) * 0.5 * (1.0 + (std::f64::consts::PI * done).cos()) + alpha
                }
            }
            Self::Exponential {
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let p = k as f64 / *decay_steps as f64;
                decay_rate.powf(if *staircase { p.floor() } else { p })
            }
            Self::Piecewise { boundaries, values } => {
                let i = boundaries.iter().take_while(|&&b| k > b).count();
                values[i]
            }
            Self::Closure(f) => f(k),
        }
    }

    /// `η(k)`, or an error naming `lr_schedule` when it is not finite.
    pub fn checked_factor(&self, k: u64) -> Result<f64> {
        let eta = self.factor(k);
        if eta.is_finite() {
            Ok(eta)
        } else {
            Err(bad(
                &format!("{self:?}"),
                format!("yields the non-finite rate factor {eta} at step {k}"),
            ))
        }
    }

    /// Checks the parameters (the closure is checked at each step instead).
    pub fn validate(&self) -> Result<()> {
        let text = format!("{self:?}");
        let finite = |x: f64, what: &str| {
            if x.is_finite() {
                Ok(())
            } else {
                Err(bad(&text, format!("{what} must be finite")))
            }
        };
        match self {
            Self::Constant | Self::Closure(_) => Ok(()),
            Self::LinearWarmup { steps, from } => {
                finite(*from, "from")?;
                if *steps == 0 {
                    return Err(bad(&text, "steps must be > 0"));
                }
                Ok(())
            }
            Self::Cosine {
                decay_steps,
                alpha,
                from,
                ..
            } => {
                finite(*alpha, "alpha")?;
                finite(*from, "from")?;
                if *decay_steps == 0 {
                    return Err(bad(&text, "decay_steps must be > 0"));
                }
                Ok(())
            }
            Self::Exponential {
                decay_steps,
                decay_rate,
                ..
            } => {
                if !(decay_rate.is_finite() && *decay_rate > 0.0) {
                    return Err(bad(&text, "decay_rate must be a positive number"));
                }
                if *decay_steps == 0 {
                    return Err(bad(&text, "decay_steps must be > 0"));
                }
                Ok(())
            }
            Self::Piecewise { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return Err(bad(&text, "needs one more value than boundaries"));
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad(&text, "boundaries must increase"));
                }
                values.iter().try_for_each(|&v| finite(v, "every value"))
            }
        }
    }

    /// Parses the replay / command-line spelling (see the module doc).
    pub fn parse(text: &str) -> Result<Self> {
        let (name, args) = text.trim().split_once(':').unwrap_or((text.trim(), ""));
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for part in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(text, format!("`{part}` is not key=value")))?;
            fields.push((k.trim(), v.trim()));
        }
        let known: &[&str] = match name {
            "constant" => &[],
            "linear_warmup" => &["steps", "from"],
            "cosine" => &["decay_steps", "alpha", "warmup_steps", "from"],
            "exponential" => &["decay_steps", "decay_rate", "staircase"],
            "piecewise" => &["boundaries", "values"],
            _ => {
                return Err(bad(
                    text,
                    "expected constant, linear_warmup, cosine, exponential or piecewise",
                ))
            }
        };
        if let Some((k, _)) = fields.iter().find(|(k, _)| !known.contains(k)) {
            return Err(bad(text, format!("`{name}` takes no `{k}`")));
        }
        let get = |k: &str| fields.iter().find(|(f, _)| *f == k).map(|(_, v)| *v);
        let number = |k: &str, default: Option<f64>| -> Result<f64> {
            match get(k) {
                Some(v) => v
                    .parse::<f64>()
                    .map_err(|_| bad(text, format!("{k} is not a number"))),
                None => default.ok_or_else(|| bad(text, format!("`{name}` needs {k}"))),
            }
        };
        let whole = |k: &str, default: Option<u64>| -> Result<u64> {
            match get(k) {
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| bad(text, format!("{k} is not a whole number"))),
                None => default.ok_or_else(|| bad(text, format!("`{name}` needs {k}"))),
            }
        };
        let list = |k: &str| -> Result<Vec<&str>> {
            Ok(get(k)
                .ok_or_else(|| bad(text, format!("`{name}` needs {k}")))?
                .split('|')
                .map(str::trim)
                .collect())
        };
        let schedule = match name {
            "constant" => Self::Constant,
            "linear_warmup" => Self::LinearWarmup {
                steps: whole("steps", None)?,
                from: number("from", Some(0.0))?,
            },
            "cosine" => Self::Cosine {
                decay_steps: whole("decay_steps", None)?,
                alpha: number("alpha", Some(0.0))?,
                warmup_steps: whole("warmup_steps", Some(0))?,
                from: number("from", Some(0.0))?,
            },
            "exponential" => Self::Exponential {
                decay_steps: whole("decay_steps", None)?,
                decay_rate: number("decay_rate", None)?,
                staircase: match get("staircase") {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(_) => return Err(bad(text, "staircase must be true or false")),
                },
            },
            _ => Self::Piecewise {
                boundaries: (list("boundaries")?.into_iter())
                    .map(|v| {
                        v.parse()
                            .map_err(|_| bad(text, "boundaries are whole numbers"))
                    })
                    .collect::<Result<_>>()?,
                values: (list("values")?.into_iter())
                    .map(|v| v.parse().map_err(|_| bad(text, "values are numbers")))
                    .collect::<Result<_>>()?,
            },
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_cosine_with_warmup_rises_then_decays_to_alpha() {
        let s =
            LrSchedule::parse("cosine:decay_steps=4,alpha=0.1,warmup_steps=2,from=0.5").unwrap();
        let eta: Vec<f64> = (0..8).map(|k| s.factor(k)).collect();
        assert_eq!(&eta[..3], &[0.5, 0.75, 1.0]);
        let mid = 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * 0.5).cos()) + 0.1;
        assert!((eta[4] - mid).abs() < 1e-15);
        assert!((eta[6] - 0.1).abs() < 1e-15 && (eta[7] - 0.1).abs() < 1e-15);
    }

    #[test]
    fn piecewise_takes_the_value_after_each_boundary() {
        let s = LrSchedule::parse("piecewise:boundaries=1|3,values=1|0.5|0.25").unwrap();
        let eta: Vec<f64> = (0..6).map(|k| s.factor(k)).collect();
        assert_eq!(eta, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn exponential_and_warmup_follow_their_formulas() {
        let s =
            LrSchedule::parse("exponential:decay_steps=2,decay_rate=0.5,staircase=true").unwrap();
        assert_eq!(
            (0..5).map(|k| s.factor(k)).collect::<Vec<_>>(),
            [1.0, 1.0, 0.5, 0.5, 0.25]
        );
        let s = LrSchedule::parse("exponential:decay_steps=2,decay_rate=0.5").unwrap();
        assert!((s.factor(1) - 0.5f64.sqrt()).abs() < 1e-15);
        let s = LrSchedule::parse("linear_warmup:steps=4").unwrap();
        assert_eq!(
            (0..6).map(|k| s.factor(k)).collect::<Vec<_>>(),
            [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
        );
        assert_eq!(LrSchedule::parse("constant").unwrap().factor(9), 1.0);
    }

    #[test]
    fn bad_schedules_name_the_key() {
        for text in [
            "cosine",
            "cosine:decay_steps=0",
            "warmup:steps=3",
            "piecewise:boundaries=3|1,values=1|2|3",
            "piecewise:boundaries=1,values=1",
            "exponential:decay_steps=2,decay_rate=-1",
            "linear_warmup:steps=2,alpha=1",
        ] {
            let err = LrSchedule::parse(text).unwrap_err().to_string();
            assert!(err.contains("lr_schedule"), "{text}: {err}");
        }
        let inf = LrSchedule::closure(|k| if k == 2 { f64::INFINITY } else { 1.0 });
        assert!(inf.checked_factor(1).is_ok());
        assert!(inf
            .checked_factor(2)
            .unwrap_err()
            .to_string()
            .contains("lr_schedule"));
    }
}
