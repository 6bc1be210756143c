//! Tensor shapes: element counts and the matrix view Muon works on. A leaf: no crate imports
//! but the error type.

use crate::error::{Error, Result};

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

/// Checks that `got` values (`what`: which ones, for the error) fill the `expected` elements of
/// parameter `name` of `shape`.
pub fn check_length(
    name: &str,
    what: &str,
    shape: &[usize],
    expected: usize,
    got: usize,
) -> Result<()> {
    if got != expected {
        return Err(Error::LengthMismatch {
            name: name.into(),
            what: what.into(),
            shape: shape.to_vec(),
            expected,
            got,
        });
    }
    Ok(())
}

/// The `(rows, cols)` matrix view Muon works on: rank > 2 is `(shape[0], product of the rest)`.
pub fn matrix_view(shape: &[usize]) -> (usize, usize) {
    (shape[0], shape[1..].iter().product::<usize>().max(1))
}
