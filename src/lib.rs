//! # muon-wgpu
//!
//! The Muon optimizer, with AdamW for the parameters Muon should not touch, as WebGPU compute
//! shaders through `wgpu`: natively on Vulkan, Metal, DX12 and GL, and in the browser through wasm.
//!
//! A step follows the algorithm of KellerJordan's `muon.py`:
//! momentum → Newton-Schulz orthogonalization (`A = XXᵀ; B = bA + cA²; X = aX + BX`) →
//! shape scale → decoupled weight decay, with the exact variants of PyTorch, optax, Keras
//! and Moonlight available as [`Preset`]s.
//!
//! ```no_run
//! use muon_wgpu::{BackendChoice, GpuContext, OptimizerBuilder, Overrides, Preset};
//!
//! # fn main() -> muon_wgpu::Result<()> {
//! let ctx = pollster::block_on(GpuContext::new(BackendChoice::Any))?;
//! let settings = Preset::Torch.settings(&Overrides { lr: Some(0.02), ..Default::default() })?;
//! let mut builder = OptimizerBuilder::new(&ctx, settings)?;
//! builder.add_host("hidden.weight", &[256, 128], &vec![0.01; 256 * 128])?; // rank 2: Muon
//! builder.add_host("hidden.bias", &[256], &vec![0.0; 256])?;               // rank 1: AdamW
//! let mut opt = builder.build()?;
//! opt.write_gradient("hidden.weight", &vec![0.1; 256 * 128])?;
//! opt.write_gradient("hidden.bias", &vec![0.1; 256])?;
//! opt.step()?; // one submit, no readback
//! let w = pollster::block_on(opt.read_parameter("hidden.weight"))?;
//! # Ok(()) }
//! ```

pub mod bench;
pub mod demo;
pub mod distributed;
pub mod error;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod nn;
pub mod optimizer;
pub mod reference;
pub mod settings;
pub mod shaders;
pub mod shape;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use gpu::readback::BufferRange;
pub use gpu::{BackendChoice, GpuContext};
pub use optimizer::{Optimizer, OptimizerBuilder, ParamInfo, ParamState, Source, StepStats};
pub use settings::keras::{Clip, Ema, StepOptions};
pub use settings::optax::{DimensionNumbers, MatrixMap, MuDtype, Preconditioning};
pub use settings::presets::{Overrides, Preset};
pub use settings::schedule::LrSchedule;
pub use settings::{
    AdamVariant, AdamWConfig, AdjustLr, Group, MomentumKind, MuonConfig, NormEps, NsSchedule,
    Route, RoutingRule, ScaleDims, Settings, WeightLayout,
};
