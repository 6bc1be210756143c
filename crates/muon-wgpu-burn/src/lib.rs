//! # muon-wgpu-burn
//!
//! muon-wgpu's Muon (with AdamW for the rest) as an optimizer for [burn](https://burn.dev)
//! models on the wgpu backend: burn's own semantics by default (`burn_optim::MuonConfig` +
//! `AdamWConfig`, see [`preset`]), with every same-shape matrix of the model orthogonalized in
//! one batched Newton-Schulz and one submit per step.
//!
//! Per Muon matrix (rank 2, not an embedding or a head) with gradient `G`:
//! ```text
//! v ← β·v + G;   U = G + β·v;   X = NS₅(U / max(‖U‖_F, ε));   W ← W·(1 − lr·wd) − lr·s(A, B)·X
//! ```
//! and AdamW for every other parameter.
//!
//! ```no_run
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::GradientsParams;
//! use burn::tensor::Tensor;
//! use muon_wgpu_burn::{BurnWgpu, MuonWgpuConfig};
//!
//! # fn main() -> muon_wgpu_burn::Result<()> {
//! let gpu = BurnWgpu::init()?; // burn's wgpu runtime, shared with muon-wgpu
//! let device = gpu.device.clone().autodiff();
//! let mut model: Linear = LinearConfig::new(64, 32).init(&device);
//! let mut optim = MuonWgpuConfig::new().init(&model, &gpu)?;
//! let x = Tensor::<2>::ones([8, 64], &device);
//! let loss = model.forward(x).powf_scalar(2.0).mean();
//! let grads = GradientsParams::from_grads(loss.backward(), &model);
//! model = optim.step(0.02, model, grads)?; // weight: Muon, bias: AdamW
//! # Ok(()) }
//! ```

mod bridge;
pub mod config;
pub mod error;
pub mod gpu;
pub mod learner;
pub mod optimizer;
pub mod params;
pub mod preset;
mod step;

pub use config::MuonWgpuConfig;
pub use error::{Error, Result};
pub use gpu::BurnWgpu;
pub use optimizer::{MuonWgpu, StepTiming};
pub use preset::Preset;
