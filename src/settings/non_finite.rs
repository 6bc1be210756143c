//! The non-finite policy: what a NaN or Inf in a gradient does to a step (the GPU side is
//! `optimizer::non_finite`).

use crate::error::{Error, Result};

/// What a NaN or Inf in a gradient does (replay key `non_finite`, CLI `--non-finite`, JS
/// option `nonFinite`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonFinitePolicy {
    /// The step runs and the NaN or Inf reaches the parameter (as `torch.optim`).
    #[default]
    Propagate,
    /// The whole step is skipped for every parameter and the step count does not advance (as
    /// `torch.amp.GradScaler`); a skipped step zeroes the gradients it found.
    SkipStep,
}

impl NonFinitePolicy {
    /// The name used in the replay format: `propagate` or `skip_step`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Propagate => "propagate",
            Self::SkipStep => "skip_step",
        }
    }
}

impl std::str::FromStr for NonFinitePolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "propagate" => Ok(Self::Propagate),
            "skip_step" => Ok(Self::SkipStep),
            other => Err(Error::InvalidHyperparameter {
                key: "non_finite".into(),
                value: other.into(),
                reason: "expected propagate or skip_step".into(),
            }),
        }
    }
}
