//! Parameter descriptions and their routing to Muon or AdamW.

use crate::config::Settings;
use crate::error::{Error, Result};

/// Which optimizer group a parameter joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The settings' [`RoutingRule`](crate::config::RoutingRule), into group 0.
    Auto,
    /// Muon group `i` (like `use_muon=True` in KellerJordan's `MuonWithAuxAdam`).
    Muon(usize),
    /// AdamW group `i`.
    AdamW(usize),
}

/// Where a parameter's value and gradient live.
pub enum Source<'a> {
    /// Host data, uploaded into buffers the optimizer owns.
    Host(&'a [f32]),
    /// The caller's buffers (usage STORAGE; COPY_SRC to read back), used in place.
    Buffers {
        value: wgpu::Buffer,
        grad: wgpu::Buffer,
    },
}

/// A resolved route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolved {
    Muon(usize),
    AdamW(usize),
}

/// Number of elements of a shape, checking it is a valid tensor shape.
pub fn element_count(name: &str, shape: &[usize]) -> Result<usize> {
    let bad = |reason: &str| Error::InvalidShape {
        name: name.into(),
        shape: shape.to_vec(),
        reason: reason.into(),
    };
    if shape.is_empty() {
        return Err(bad("a parameter needs rank >= 1"));
    }
    if shape.contains(&0) {
        return Err(bad("every dimension must be at least 1"));
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= u32::MAX as usize)
        .ok_or_else(|| bad("too many elements"))
}

/// The `(rows, cols)` matrix view Muon works on: rank > 2 is `(shape[0], product of the rest)`.
pub fn matrix_view(shape: &[usize]) -> (usize, usize) {
    (shape[0], shape[1..].iter().product::<usize>().max(1))
}

/// Resolves a route for `name` against `settings`, checking the group exists and Muon gets a matrix.
pub fn resolve(settings: &Settings, name: &str, shape: &[usize], route: Route) -> Result<Resolved> {
    let resolved = match route {
        Route::Auto
            if settings.routing.routes_to_muon(name, shape) && !settings.muon.is_empty() =>
        {
            Resolved::Muon(0)
        }
        Route::Auto => Resolved::AdamW(0),
        Route::Muon(g) => Resolved::Muon(g),
        Route::AdamW(g) => Resolved::AdamW(g),
    };
    let (kind, group, available) = match resolved {
        Resolved::Muon(g) => ("Muon", g, settings.muon.len()),
        Resolved::AdamW(g) => ("AdamW", g, settings.adam.len()),
    };
    if group >= available {
        return Err(Error::UnknownGroup {
            name: name.into(),
            kind,
            group,
            available,
        });
    }
    if matches!(resolved, Resolved::Muon(_)) && shape.len() < 2 {
        return Err(Error::RankTooLowForMuon {
            name: name.into(),
            rank: shape.len(),
        });
    }
    Ok(resolved)
}
