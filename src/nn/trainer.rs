//! Training an MLP with the crate's optimizer, all on the GPU: a step records the batch upload,
//! forward, loss, backward and the optimizer step into one encoder, with no readback.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::optimizer::{Optimizer, OptimizerBuilder};
use crate::settings::Route;
use crate::settings::Settings;

use super::batch::{check_batch, Batch, Metrics, Targets};
use super::data::Dataset;
use super::mlp::{Mlp, Plan};
use super::model::{LayerParams, MlpSpec, ParamRole};

/// Sizes of a [`Trainer`]'s plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainerOptions {
    /// Most rows of a training batch (a shorter batch is padded and averaged over its own rows).
    pub batch_size: usize,
    /// Rows evaluated per launch by [`Trainer::evaluate`] and [`Trainer::predict`].
    pub eval_batch_size: usize,
    /// Training batches whose metrics stay on the GPU between [`Trainer::read_metrics`] calls.
    pub history: usize,
}

impl Default for TrainerOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            eval_batch_size: 512,
            history: 4096,
        }
    }
}

/// An MLP and its optimizer: Muon and AdamW groups as the settings and `route` say.
pub struct Trainer {
    mlp: Mlp,
    optimizer: Optimizer,
    train: Plan,
    eval: Plan,
}

impl Trainer {
    /// Uploads `params`, registers every parameter with an optimizer of `settings`, routed by
    /// `route` (e.g. [`muon_for_hidden`](super::muon_for_hidden)), and records the plans.
    pub fn new(
        ctx: &GpuContext,
        spec: MlpSpec,
        params: &[LayerParams],
        settings: Settings,
        route: impl Fn(&ParamRole) -> Route,
        options: TrainerOptions,
    ) -> Result<Self> {
        let mlp = Mlp::new(ctx, spec, params)?;
        let mut builder = OptimizerBuilder::new(ctx, settings)?;
        mlp.register(&mut builder, route)?;
        let optimizer = builder.build()?;
        let train = mlp.plan(options.batch_size, true, options.history)?;
        // Evaluation reads its history right after each call, so a few entries are enough.
        let eval = mlp.plan(options.eval_batch_size, false, 64)?;
        Ok(Self {
            mlp,
            optimizer,
            train,
            eval,
        })
    }

    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    pub fn spec(&self) -> &MlpSpec {
        self.mlp.spec()
    }

    pub fn context(&self) -> &GpuContext {
        self.mlp.context()
    }

    /// The optimizer, e.g. for its [`stats`](Optimizer::stats).
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The optimizer, e.g. to [`set_lr`](Optimizer::set_lr) for a schedule.
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    /// The training plan.
    pub fn train_plan(&self) -> &Plan {
        &self.train
    }

    /// Records forward, loss and backward of `batch`, leaving the gradients in the optimizer's
    /// gradient buffers, without a step.
    pub fn record_gradients(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: Batch<'_>,
    ) -> Result<()> {
        self.train.record(self.mlp.context(), encoder, &batch)
    }

    /// Records one training step (upload, forward, loss, backward, optimizer step) into
    /// `encoder`: no submit, no readback. Several steps may be recorded before one submit.
    pub fn record_step(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: Batch<'_>,
    ) -> Result<()> {
        self.record_gradients(encoder, batch)?;
        self.optimizer.record_step(encoder)?;
        Ok(())
    }

    /// Records and submits one training step; returns without waiting for the GPU.
    pub fn step(&mut self, batch: Batch<'_>) -> Result<wgpu::SubmissionIndex> {
        let ctx = self.mlp.context().clone();
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("mlp step"),
            });
        self.record_step(&mut encoder, batch)?;
        Ok(ctx.queue.submit([encoder.finish()]))
    }

    /// The training metrics (loss before the step, accuracy) of every step submitted since the
    /// last call, oldest first; waits for the GPU. The last [`TrainerOptions::history`] are kept.
    pub async fn read_metrics(&mut self) -> Result<Vec<Metrics>> {
        let ctx = self.mlp.context().clone();
        self.train.read_history(&ctx).await
    }

    /// Loss and accuracy over `inputs` with `targets`, without training; waits for the GPU.
    /// Runs in launches of [`TrainerOptions::eval_batch_size`] rows, one submit each.
    pub async fn evaluate(&mut self, inputs: &[f32], targets: Targets<'_>) -> Result<Metrics> {
        let ctx = self.mlp.context().clone();
        let rows = check_batch(self.mlp.spec(), usize::MAX, &Batch { inputs, targets })?;
        let (features, classes) = (self.spec().inputs(), self.spec().outputs());
        let chunk = self.eval.capacity();
        let mut parts = Vec::new();
        let mut start = 0;
        while start < rows {
            let end = (start + chunk).min(rows);
            let targets = match targets {
                Targets::Labels(l) => Targets::Labels(&l[start..end]),
                Targets::Values(v) => Targets::Values(&v[start * classes..end * classes]),
            };
            let batch = Batch {
                inputs: &inputs[start * features..end * features],
                targets,
            };
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            self.eval.record(&ctx, &mut encoder, &batch)?;
            ctx.queue.submit([encoder.finish()]);
            start = end;
            // The evaluation history is small: read it before it wraps.
            if self.eval.recorded().is_multiple_of(32) {
                parts.extend(self.eval.read_history(&ctx).await?);
            }
        }
        parts.extend(self.eval.read_history(&ctx).await?);
        Ok(Metrics::combine(&parts))
    }

    /// [`evaluate`](Trainer::evaluate) on a labelled data set.
    pub async fn evaluate_dataset(&mut self, data: &Dataset) -> Result<Metrics> {
        self.evaluate(&data.inputs, Targets::Labels(&data.labels))
            .await
    }

    /// The network's outputs (logits, or predictions for the squared error) for `inputs`,
    /// `rows × outputs`; waits for the GPU.
    pub async fn predict(&mut self, inputs: &[f32]) -> Result<Vec<f32>> {
        let ctx = self.mlp.context().clone();
        let (features, classes) = (self.spec().inputs(), self.spec().outputs());
        let zeros = vec![0u32; inputs.len() / features.max(1)];
        let rows = check_batch(
            self.mlp.spec(),
            usize::MAX,
            &Batch {
                inputs,
                targets: Targets::Labels(&zeros),
            },
        )?;
        let chunk = self.eval.capacity();
        let mut out = Vec::with_capacity(rows * classes);
        let mut start = 0;
        while start < rows {
            let end = (start + chunk).min(rows);
            let batch = Batch {
                inputs: &inputs[start * features..end * features],
                targets: Targets::Labels(&zeros[start..end]),
            };
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            self.eval.record(&ctx, &mut encoder, &batch)?;
            ctx.queue.submit([encoder.finish()]);
            let range = crate::gpu::readback::BufferRange {
                buffer: self.eval.outputs_buffer().clone(),
                offset: 0,
                len: (end - start) * classes,
            };
            out.extend(
                crate::gpu::readback::read_ranges(&ctx, &[range])
                    .await?
                    .remove(0),
            );
            start = end;
        }
        // Prediction batches leave no metrics of interest.
        let _ = self.eval.read_history(&ctx).await;
        Ok(out)
    }

    /// Every layer's current parameters; waits for the GPU.
    pub async fn read_params(&self) -> Result<Vec<LayerParams>> {
        self.mlp.read_params().await
    }

    /// Every layer's gradients from the last backward pass that ran; waits for the GPU.
    pub async fn read_gradients(&self) -> Result<Vec<LayerParams>> {
        self.mlp.read_gradients().await
    }
}
