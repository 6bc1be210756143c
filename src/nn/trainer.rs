//! Training a model (the MLP or the GPT) with the crate's optimizer, all on the GPU: a step
//! records the batch upload, forward, loss, backward and the optimizer step into one encoder
//! and one submit, with no readback. Evaluation (and the GPT's sampling) use plans of their own.

use crate::error::Result;
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::gpu::GpuContext;
use crate::optimizer::{Optimizer, OptimizerBuilder};
use crate::settings::{Route, Settings};

use super::batch::{check_batch, Batch, Metrics, Targets};
use super::data::Dataset;
use super::mlp::Mlp;
use super::model::MlpSpec;
use super::plan::{BatchPlan, Inputs, Model};

/// Sizes of a [`ModelTrainer`]'s plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainerOptions {
    /// Most rows (MLP) or sequences (GPT) of a training batch (a shorter MLP batch is padded
    /// and averaged over its own rows).
    pub batch_size: usize,
    /// Rows or sequences evaluated per launch by `evaluate` (and the MLP's `predict`).
    pub eval_batch_size: usize,
    /// Training batches whose metrics stay on the GPU between [`ModelTrainer::read_metrics`] calls.
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

/// Entries of an evaluation plan's history: it is read every [`EVAL_READ`] batches.
const EVAL_HISTORY: usize = 64;
/// Evaluation batches between two reads of their history.
const EVAL_READ: u64 = 32;

/// A model and its optimizer: Muon and AdamW groups as the settings and `route` say.
pub struct ModelTrainer<M: Model> {
    pub(crate) model: M,
    optimizer: Optimizer,
    train: BatchPlan<M::Inputs>,
    pub(crate) eval: BatchPlan<M::Inputs>,
    /// The model's sampling plan, if it samples.
    pub(crate) sampler: Option<BatchPlan<M::Inputs>>,
}

/// An MLP and its optimizer.
pub type Trainer = ModelTrainer<Mlp>;

impl<M: Model> ModelTrainer<M> {
    /// Uploads `params`, registers every parameter with an optimizer of `settings`, routed by
    /// `route` (e.g. [`muon_for_hidden`](super::muon_for_hidden),
    /// [`muon_for_blocks`](super::gpt::muon_for_blocks)), records and warms up the plans.
    pub fn new(
        ctx: &GpuContext,
        spec: M::Spec,
        params: &[M::Values],
        settings: Settings,
        route: impl Fn(&M::Param) -> Route,
        options: TrainerOptions,
    ) -> Result<Self> {
        let model = M::new(ctx, spec, params)?;
        let mut builder = OptimizerBuilder::new(ctx, settings)?;
        model.register(&mut builder, &route)?;
        let optimizer = builder.build()?;
        let train = model.plan(options.batch_size, true, options.history)?;
        let eval = model.plan(options.eval_batch_size, false, EVAL_HISTORY)?;
        let sampler = model.sampler()?;
        Ok(Self {
            model,
            optimizer,
            train,
            eval,
            sampler,
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    pub fn spec(&self) -> &M::Spec {
        self.model.spec()
    }

    pub fn context(&self) -> &GpuContext {
        self.model.context()
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
    pub fn train_plan(&self) -> &BatchPlan<M::Inputs> {
        &self.train
    }

    /// Records forward, loss and backward of `batch`, leaving the gradients in the optimizer's
    /// gradient buffers, without a step.
    pub fn record_gradients(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: <M::Inputs as Inputs>::Batch<'_>,
    ) -> Result<()> {
        self.train.record(self.model.context(), encoder, &batch)
    }

    /// Records one training step (upload, forward, loss, backward, optimizer step) into
    /// `encoder`: no submit, no readback. Several steps may be recorded before one submit.
    pub fn record_step(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: <M::Inputs as Inputs>::Batch<'_>,
    ) -> Result<()> {
        self.record_gradients(encoder, batch)?;
        self.optimizer.record_step(encoder)?;
        Ok(())
    }

    /// Records one training step like [`record_step`](Self::record_step) with every launch
    /// timed: the model's into `model_queries`, the optimizer's into `optimizer_queries` (each
    /// `2 × launches` entries). Returns both lists of labels. For profiling.
    pub fn record_step_timed(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: <M::Inputs as Inputs>::Batch<'_>,
        model_queries: &wgpu::QuerySet,
        optimizer_queries: &wgpu::QuerySet,
    ) -> Result<(Vec<&'static str>, Vec<&'static str>)> {
        let ctx = self.model.context().clone();
        let model = self
            .train
            .record_timed(&ctx, encoder, &batch, model_queries)?;
        let optimizer = self
            .optimizer
            .record_step_timed(encoder, optimizer_queries)?;
        Ok((model, optimizer))
    }

    /// Records and submits one training step (one submit); returns without waiting for the GPU.
    pub fn step(
        &mut self,
        batch: <M::Inputs as Inputs>::Batch<'_>,
    ) -> Result<wgpu::SubmissionIndex> {
        let ctx = self.model.context().clone();
        let label = format!("{} step", M::LABEL);
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&label),
            });
        self.record_step(&mut encoder, batch)?;
        Ok(ctx.queue.submit([encoder.finish()]))
    }

    /// The training metrics (mean loss before the step, accuracy) of every step submitted since
    /// the last call, oldest first; waits for the GPU. The last [`TrainerOptions::history`] are kept.
    pub async fn read_metrics(&mut self) -> Result<Vec<Metrics>> {
        let ctx = self.model.context().clone();
        self.train.read_history(&ctx).await
    }

    /// The metrics over `parts`, each run by the evaluation plan in a submit of its own;
    /// waits for the GPU.
    pub(crate) async fn evaluate_parts<'b>(
        &mut self,
        parts: impl Iterator<Item = <M::Inputs as Inputs>::Batch<'b>>,
    ) -> Result<Metrics> {
        let ctx = self.model.context().clone();
        let mut metrics = Vec::new();
        for part in parts {
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            self.eval.record(&ctx, &mut encoder, &part)?;
            ctx.queue.submit([encoder.finish()]);
            // The evaluation history is small: read it before it wraps.
            if self.eval.recorded().is_multiple_of(EVAL_READ) {
                metrics.extend(self.eval.read_history(&ctx).await?);
            }
        }
        metrics.extend(self.eval.read_history(&ctx).await?);
        Ok(Metrics::combine(&metrics))
    }

    /// Runs `batch` through `plan` (the evaluation or sampling plan) and reads `range` of its
    /// outputs; waits for the GPU.
    pub(crate) async fn outputs(
        ctx: &GpuContext,
        plan: &mut BatchPlan<M::Inputs>,
        batch: &<M::Inputs as Inputs>::Batch<'_>,
        offset: usize,
        len: usize,
    ) -> Result<Vec<f32>> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        plan.record(ctx, &mut encoder, batch)?;
        ctx.queue.submit([encoder.finish()]);
        let range = BufferRange {
            buffer: plan.outputs_buffer().clone(),
            offset: (offset * 4) as u64,
            len,
        };
        Ok(read_ranges(ctx, &[range]).await?.remove(0))
    }

    /// Every parameter's current value; waits for the GPU.
    pub async fn read_params(&self) -> Result<Vec<M::Values>> {
        super::plan::read_values(&self.model, false).await
    }

    /// Every parameter's gradient from the last backward pass that ran; waits for the GPU.
    pub async fn read_gradients(&self) -> Result<Vec<M::Values>> {
        super::plan::read_values(&self.model, true).await
    }
}

impl Trainer {
    pub fn mlp(&self) -> &Mlp {
        &self.model
    }

    /// Loss and accuracy over `inputs` with `targets`, without training; waits for the GPU.
    /// Runs in launches of [`TrainerOptions::eval_batch_size`] rows, one submit each.
    pub async fn evaluate(&mut self, inputs: &[f32], targets: Targets<'_>) -> Result<Metrics> {
        let spec: &MlpSpec = self.model.spec();
        let rows = check_batch(spec, usize::MAX, &Batch { inputs, targets })?;
        let (features, classes) = (spec.inputs(), spec.outputs());
        let chunk = self.eval.capacity();
        let parts = (0..rows).step_by(chunk).map(|start| {
            let end = (start + chunk).min(rows);
            let targets = match targets {
                Targets::Labels(l) => Targets::Labels(&l[start..end]),
                Targets::Values(v) => Targets::Values(&v[start * classes..end * classes]),
            };
            Batch {
                inputs: &inputs[start * features..end * features],
                targets,
            }
        });
        self.evaluate_parts(parts).await
    }

    /// [`evaluate`](Trainer::evaluate) on a labelled data set.
    pub async fn evaluate_dataset(&mut self, data: &Dataset) -> Result<Metrics> {
        self.evaluate(&data.inputs, Targets::Labels(&data.labels))
            .await
    }

    /// The network's outputs (logits, or predictions for the squared error) for `inputs`,
    /// `rows × outputs`; waits for the GPU.
    pub async fn predict(&mut self, inputs: &[f32]) -> Result<Vec<f32>> {
        let ctx = self.model.context().clone();
        let spec: &MlpSpec = self.model.spec();
        let (features, classes) = (spec.inputs(), spec.outputs());
        let zeros = vec![0u32; inputs.len() / features.max(1)];
        let all = Batch {
            inputs,
            targets: Targets::Labels(&zeros),
        };
        let rows = check_batch(spec, usize::MAX, &all)?;
        let chunk = self.eval.capacity();
        let mut out = Vec::with_capacity(rows * classes);
        for start in (0..rows).step_by(chunk) {
            let end = (start + chunk).min(rows);
            let batch = Batch {
                inputs: &inputs[start * features..end * features],
                targets: Targets::Labels(&zeros[start..end]),
            };
            let len = (end - start) * classes;
            out.extend(Self::outputs(&ctx, &mut self.eval, &batch, 0, len).await?);
        }
        // Prediction batches leave no metrics of interest.
        let _ = self.eval.read_history(&ctx).await;
        Ok(out)
    }
}
