//! The checks of single values; the error names the key at fault.

use crate::error::{Error, Result};

pub(crate) fn invalid(key: &str, value: f64, reason: &str) -> Error {
    Error::InvalidHyperparameter {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Finite and >= 0, as torch checks learning rates and weight decays.
pub(crate) fn check_non_negative(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(key, value, "must be a finite number >= 0"))
    }
}

pub(crate) fn check_positive(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, value, "must be a positive number"))
    }
}

pub(crate) fn check_range(key: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value >= lo && value < hi {
        Ok(())
    } else {
        Err(invalid(key, value, &format!("must be in [{lo}, {hi})")))
    }
}
