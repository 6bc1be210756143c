//! The one error type of the integration: everything a user's model, gradients or device can get
//! wrong, typed, never a panic.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error of the core optimizer (hyperparameters, routing, GPU errors in its step).
    #[error(transparent)]
    Core(muon_wgpu::Error),
    /// The shared device was lost (ours and cubecl's handlers: see [`crate::BurnWgpu`]).
    #[error("the wgpu device was lost: {reason}")]
    DeviceLost { reason: String },
    /// A parameter or gradient that is not `f32`.
    #[error("`{name}` is {dtype}: muon-wgpu steps f32 tensors only")]
    NotF32 { name: String, dtype: String },
    /// A tensor that is not on the optimizer's wgpu device (another backend or another device).
    #[error("`{name}` is not on the optimizer's wgpu device: {reason}")]
    NotWgpu { name: String, reason: String },
    /// The model handed to `step` is not the one `init` registered (parameters added, removed,
    /// renamed or reshaped).
    #[error("the model's parameters changed since `init`: {reason}")]
    ModelChanged { reason: String },
    /// burn's wgpu runtime could not start.
    #[error("burn's wgpu runtime could not start: {0}")]
    WgpuInit(String),
    /// A burn optimizer option that has no exact equivalent here.
    #[error("burn option `{option}` = {value} is not supported: {reason}")]
    Unsupported {
        option: String,
        value: String,
        reason: String,
    },
    /// burn's runtime refused an operation (a tensor's buffer could not be reached).
    #[error("burn's runtime failed to {operation} `{name}`: {message}")]
    Burn {
        operation: &'static str,
        name: String,
        message: String,
    },
}

impl From<muon_wgpu::Error> for Error {
    fn from(e: muon_wgpu::Error) -> Self {
        match e {
            muon_wgpu::Error::DeviceLost { reason } => Self::DeviceLost { reason },
            other => Self::Core(other),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
