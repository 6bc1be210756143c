//! `muon-wgpu bench`: whole optimizer steps on one adapter, timed (see `docs/src/bench.md`).
//!
//! Every shape is a Muon parameter with a random gradient (fixed seed) uploaded once; the timed
//! region is whole steps (momentum, Newton-Schulz, update), each one submit followed by a wait
//! for the GPU, after untimed warm-up steps. `first_step_ms` is the cold start: from building the
//! optimizer (choosing the kernel variant, compiling pipelines, uploading) to the end of the
//! first step; `pipeline_ms` is the part of it spent creating and compiling pipelines and tuning
//! (see `kernels::warm_up`). `record_ms` is the host time to record one step into a command encoder.
//!
//! The Newton-Schulz work is counted the textbook way: a matrix viewed with `m ≤ n` costs
//! `2m²n + 2m³ + 2m²n` floating point operations per iteration, whatever the kernels skip.

mod cases;
#[cfg(not(target_arch = "wasm32"))]
mod cpu_time;
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
mod json;
pub mod random;
#[cfg(not(target_arch = "wasm32"))]
mod run;
mod table;

pub use cases::{model_shapes, ns_gflop, parse_shapes, shape_name, MAX_BENCH_PARAMS, MODELS};
#[cfg(not(target_arch = "wasm32"))]
pub use run::{kernel_times, needs_timestamps, run};

use crate::settings::presets::Preset;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Parameter shapes (`[rows, cols]` or `[out, in, h, w]`), one per Muon parameter.
    pub shapes: Vec<Vec<usize>>,
    pub steps: usize,
    pub warmup: usize,
    pub backend: crate::BackendChoice,
    pub preset: Preset,
    pub ns_steps: usize,
    /// Forces a Newton-Schulz kernel variant instead of the tuned one.
    pub ns_variant: Option<crate::kernels::NsVariant>,
    /// Also time each kernel of one more step with timestamp queries.
    pub profile: bool,
    /// Let wide matrices run the Gram form of Newton-Schulz (the optimizer's default).
    pub gram_form: bool,
    /// optax's scaling before Newton-Schulz (`--preconditioning`).
    pub preconditioning: crate::Preconditioning,
    /// Stored momentum dtype (`--mu-dtype`).
    pub mu_dtype: crate::MuDtype,
}

/// Minimum, median and maximum of some timings.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self::default();
        }
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Self {
            min: v[0],
            median,
            max: v[v.len() - 1],
        }
    }
}

/// The result of a run, as printed.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    pub adapter: String,
    pub backend: String,
    pub driver: String,
    pub shapes: Vec<String>,
    pub params: u64,
    pub steps: usize,
    pub warmup: usize,
    pub ns_steps: usize,
    pub preset: String,
    pub step_ms: Spread,
    pub ns_gflop_per_step: f64,
    pub gflops: f64,
    pub dispatches_per_step: usize,
    pub submits_per_step: usize,
    pub param_bytes: u64,
    pub state_bytes: u64,
    pub workspace_bytes: u64,
    pub first_step_ms: f64,
    /// Of `first_step_ms`: creating and compiling pipelines, and tuning.
    pub pipeline_ms: f64,
    /// Compile time (the warm-up's first dispatch) per kernel label, slowest first.
    pub compile_ms: Vec<(String, f64)>,
    pub record_ms: Spread,
    pub ns_kernel: String,
    /// Whether the kernel variant came from the tuning cache, and the tuning pass's time.
    pub tuned_from_cache: bool,
    pub tune_ms: f64,
    /// Whether the variant was forced (`--kernel`) rather than chosen for the adapter.
    pub forced_kernel: bool,
    /// Whether wide matrices could run the Gram form of Newton-Schulz.
    pub gram_form: bool,
    /// CPU time of this process per timed step (Unix, with the `cli` feature): for CPU adapters (lavapipe runs in the
    /// process) a measure that other load on the machine disturbs far less than wall time.
    pub cpu_ms: Option<Spread>,
    /// GPU time per kernel label over one profiled step: `(label, dispatches, ms)`.
    pub profile: Vec<(String, usize, f64)>,
}

/// The largest Newton-Schulz work per step (GFLOP) run on wgpu's GL backend, which aborts when
/// one submit holds the GL context for more than a few seconds.
pub const GL_GFLOP_LIMIT: f64 = 5.0;
