//! Progress bars: one a run, with its optimizer's name in front.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>13} [{bar:28.cyan/blue}] {pos:>4}/{len} {msg} ({elapsed})",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

/// A bar of `steps` in the common style.
pub fn bar(steps: usize) -> ProgressBar {
    ProgressBar::new(steps as u64).with_style(style())
}

/// Bars stacked one under the other (`hidden`: drawn nowhere, e.g. when stdout is JSON).
pub fn stack(hidden: bool) -> MultiProgress {
    let bars = MultiProgress::new();
    if hidden {
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    bars
}
