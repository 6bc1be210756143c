//! A multilayer perceptron trained on the GPU with the crate's optimizer: forward and backward
//! passes in WGSL (`shaders/nn_*.wgsl`) on the crate's matmul kernel, with every gradient written
//! straight into the optimizer's gradient buffers, so a training step never leaves the GPU.
//!
//! - [`model`]: what a network is ([`MlpSpec`], [`Activation`], [`Loss`]), its initialization and
//!   the routing of its parameters ([`muon_for_hidden`], [`adamw_only`]).
//! - [`mlp`]: the parameters on the GPU and the recorded plans that run a batch.
//! - [`plan`]: what the MLP and the GPT share: storage buffers, the launch recorder, the
//!   recorded plan of a batch, and the [`Model`] trait.
//! - [`trainer`]: a model with its optimizer ([`ModelTrainer`]); steps, metrics, evaluation,
//!   prediction for the MLP.
//! - [`data`]: the UCI optical digits (embedded), two spirals, minibatches.
//! - [`reference`](mod@reference): the f64 CPU reference of the forward and backward passes, for the tests.
//! - [`gpt`]: a character-level GPT (decoder-only transformer) on the same kernels and optimizer.
//! - [`text`]: the embedded Shakespeare corpus, its vocabulary, split and batches, for the GPT.
//!
//! ```no_run
//! use muon_wgpu::nn::{self, Activation, Batch, Loss, MlpSpec, Targets, Trainer, TrainerOptions};
//! use muon_wgpu::{BackendChoice, GpuContext, Overrides, Preset};
//!
//! # fn main() -> muon_wgpu::Result<()> {
//! let ctx = pollster::block_on(GpuContext::new(BackendChoice::Any))?;
//! let digits = nn::data::digits()?;
//! let spec = MlpSpec::new(&[64, 256, 256, 10], Activation::Relu, Loss::SoftmaxCrossEntropy)?;
//! let params = nn::init_params(&spec, 0);
//! let settings = Preset::Torch.settings(&Overrides {
//!     lr: Some(0.02),
//!     adam_lr: Some(3e-3),
//!     ..Default::default()
//! })?;
//! let options = TrainerOptions { batch_size: 64, ..Default::default() };
//! let mut trainer = Trainer::new(&ctx, spec, &params, settings, nn::muon_for_hidden, options)?;
//! let mut batches = nn::data::Batches::new(digits.train.len(), 64, 0)?;
//! for _ in 0..500 {
//!     let (inputs, labels) = digits.train.gather(batches.next_indices());
//!     trainer.step(Batch { inputs: &inputs, targets: Targets::Labels(&labels) })?;
//! }
//! let test = pollster::block_on(trainer.evaluate_dataset(&digits.test))?;
//! println!("test accuracy {:.1}%", 100.0 * test.accuracy);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod data;
pub mod gpt;
pub mod kernels;
pub mod matmul;
pub mod mlp;
pub mod model;
pub mod plan;
pub mod reference;
pub mod text;
pub mod trainer;

pub use batch::{Batch, Metrics, Targets};
pub use data::{Batches, Dataset, Rng, Split};
pub use mlp::{LayerBuffers, Mlp, MlpInputs, Plan};
pub use model::{
    adamw_only, init_params, muon_for_hidden, Activation, LayerParams, Loss, MlpSpec, ParamKind,
    ParamRole,
};
pub use plan::{BatchPlan, Model};
pub use trainer::{ModelTrainer, Trainer, TrainerOptions};
