//! The one error type of the crate.

use thiserror::Error;

/// Everything that can go wrong in muon-wgpu. Each variant names the thing at fault.
#[derive(Debug, Error)]
pub enum Error {
    #[error("no GPU adapter found for backend `{backend}`: {reason}")]
    NoAdapter { backend: String, reason: String },
    #[error("could not create a device on adapter `{adapter}`: {reason}")]
    RequestDevice { adapter: String, reason: String },
    #[error("unknown backend `{0}` (expected one of vulkan, gl, metal, dx12, webgpu, any)")]
    UnknownBackend(String),
    #[error(
        "unknown preset `{0}` (expected one of torch, keller, optax, keras, keras-3.12, moonlight)"
    )]
    UnknownPreset(String),
    #[error("parameter `{name}` is registered twice")]
    DuplicateParameter { name: String },
    #[error("unknown parameter `{name}`")]
    UnknownParameter { name: String },
    #[error("parameter `{name}` has an invalid shape {shape:?}: {reason}")]
    InvalidShape {
        name: String,
        shape: Vec<usize>,
        reason: String,
    },
    #[error(
        "parameter `{name}`: {what} has {got} values, but its shape {shape:?} needs {expected}"
    )]
    LengthMismatch {
        name: String,
        what: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("parameter `{name}`: {what} buffer is unusable: {reason}")]
    InvalidBuffer {
        name: String,
        what: String,
        reason: String,
    },
    #[error(
        "parameter `{name}` has rank {rank}; Muon needs a matrix (rank >= 2), so it must use AdamW"
    )]
    RankTooLowForMuon { name: String, rank: usize },
    #[error("parameter `{name}` is routed to {kind} group {group}, but only {available} such groups exist")]
    UnknownGroup {
        name: String,
        kind: &'static str,
        group: usize,
        available: usize,
    },
    #[error("invalid hyperparameter `{key}` = {value}: {reason}")]
    InvalidHyperparameter {
        key: String,
        value: String,
        reason: String,
    },
    #[error("gradient of parameter `{name}` is missing at step {step}")]
    MissingGradient { name: String, step: usize },
    #[error("unknown metadata key `{key}` (see the replay format for the accepted keys)")]
    UnknownMetadataKey { key: String },
    #[error("tensor `{tensor}` in {path}: {reason}")]
    InvalidTensor {
        path: String,
        tensor: String,
        reason: String,
    },
    #[error("malformed file {path}: {reason}")]
    MalformedFile { path: String, reason: String },
    #[error("state file does not match this optimizer: {reason}")]
    StateMismatch { reason: String },
    #[error("buffer of {bytes} bytes for {what} exceeds the device limit of {limit} bytes")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("weight_dimension_numbers of parameter `{name}`: {reason}")]
    InvalidDimensionNumbers { name: String, reason: String },
    #[error("weight_dimension_numbers lists parameter `{name}`, but {reason}")]
    DimensionNumbersNotMuon { name: String, reason: String },
    #[error("GPU readback failed: {0}")]
    Readback(String),
    /// An error every rank of an MPI job reaches together (rank 0 alone reports it).
    #[error("MPI rank {rank} of {world}: {reason}")]
    Distributed {
        rank: usize,
        world: usize,
        reason: String,
    },
    /// An MPI call that failed on this rank alone.
    #[error("MPI rank {rank} of {world}: {what}: {reason}")]
    MpiCall {
        rank: usize,
        world: usize,
        what: String,
        reason: String,
    },
    #[error("MPI rank {rank} of {world}: {what} did not complete within {seconds} s (a rank died, hangs or runs something else; MUON_WGPU_MPI_TIMEOUT sets the limit)")]
    CollectiveTimeout {
        rank: usize,
        world: usize,
        what: String,
        seconds: f64,
    },
    #[error("the GPU device was lost ({reason}); rebuild the optimizer on a new device and load the last saved state")]
    DeviceLost { reason: String },
    #[error("GPU error in {operation}: {message}")]
    Gpu { operation: String, message: String },
    #[error("kernel variant `{variant}` cannot run on adapter `{adapter}`")]
    UnsupportedKernel { variant: String, adapter: String },
    #[error("parameter `{name}`: no gradient written since the last step (write one, or allow stale gradients)")]
    StaleGradient { name: String },
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("refusing to write {path}: {reason}")]
    UnsafeOutput { path: String, reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
