//! Training a GPT with the crate's optimizer, all on the GPU: a step records the batch upload,
//! forward, loss, backward and the optimizer step into one encoder and one submit, with no
//! readback. Evaluation and sampling use plans of their own.

use crate::error::{Error, Result};
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::gpu::GpuContext;
use crate::nn::batch::Metrics;
use crate::nn::data::Rng;
use crate::optimizer::{Optimizer, OptimizerBuilder};
use crate::settings::{Route, Settings};

use super::model::{Gpt, GptPlan, TokenBatchRef};
use super::{GptParam, GptSpec};

/// Sizes of a [`GptTrainer`]'s plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptTrainerOptions {
    /// Sequences of a training batch.
    pub batch_size: usize,
    /// Sequences evaluated per launch by [`GptTrainer::evaluate`].
    pub eval_batch_size: usize,
    /// Training batches whose metrics stay on the GPU between [`GptTrainer::read_metrics`] calls.
    pub history: usize,
}

impl Default for GptTrainerOptions {
    fn default() -> Self {
        Self {
            batch_size: 16,
            eval_batch_size: 16,
            history: 4096,
        }
    }
}

/// A GPT and its optimizer: Muon and AdamW groups as the settings and `route` say.
pub struct GptTrainer {
    gpt: Gpt,
    optimizer: Optimizer,
    train: GptPlan,
    eval: GptPlan,
    /// One sequence, for sampling a token at a time.
    sampler: GptPlan,
}

impl GptTrainer {
    /// Uploads `params`, registers every parameter with an optimizer of `settings` routed by
    /// `route` (e.g. [`muon_for_blocks`](super::muon_for_blocks)), records and warms up the plans.
    pub fn new(
        ctx: &GpuContext,
        spec: GptSpec,
        params: &[Vec<f32>],
        settings: Settings,
        route: impl Fn(&GptParam) -> Route,
        options: GptTrainerOptions,
    ) -> Result<Self> {
        let gpt = Gpt::new(ctx, spec, params)?;
        let mut builder = OptimizerBuilder::new(ctx, settings)?;
        gpt.register(&mut builder, route)?;
        let optimizer = builder.build()?;
        let train = gpt.plan(options.batch_size, true, options.history)?;
        // Evaluation reads its history every 32 batches, so 64 entries are enough.
        let eval = gpt.plan(options.eval_batch_size, false, 64)?;
        let sampler = gpt.plan(1, false, 1)?;
        Ok(Self {
            gpt,
            optimizer,
            train,
            eval,
            sampler,
        })
    }

    pub fn gpt(&self) -> &Gpt {
        &self.gpt
    }

    pub fn spec(&self) -> &GptSpec {
        self.gpt.spec()
    }

    pub fn context(&self) -> &GpuContext {
        self.gpt.context()
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
    pub fn train_plan(&self) -> &GptPlan {
        &self.train
    }

    /// Records forward, loss and backward of `batch`, leaving the gradients in the optimizer's
    /// gradient buffers, without a step.
    pub fn record_gradients(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: TokenBatchRef<'_>,
    ) -> Result<()> {
        self.train.record(self.gpt.context(), encoder, &batch)
    }

    /// Records one training step (upload, forward, loss, backward, optimizer step) into `encoder`.
    pub fn record_step(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        batch: TokenBatchRef<'_>,
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
        batch: TokenBatchRef<'_>,
        model_queries: &wgpu::QuerySet,
        optimizer_queries: &wgpu::QuerySet,
    ) -> Result<(Vec<&'static str>, Vec<&'static str>)> {
        let ctx = self.gpt.context().clone();
        let model = self
            .train
            .record_timed(&ctx, encoder, &batch, model_queries)?;
        let optimizer = self
            .optimizer
            .record_step_timed(encoder, optimizer_queries)?;
        Ok((model, optimizer))
    }

    /// Records and submits one training step (one submit); returns without waiting for the GPU.
    pub fn step(&mut self, batch: TokenBatchRef<'_>) -> Result<wgpu::SubmissionIndex> {
        let ctx = self.gpt.context().clone();
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("gpt step"),
            });
        self.record_step(&mut encoder, batch)?;
        Ok(ctx.queue.submit([encoder.finish()]))
    }

    /// The training metrics (mean loss per token before the step, next-token accuracy) of every
    /// step submitted since the last call, oldest first; waits for the GPU.
    pub async fn read_metrics(&mut self) -> Result<Vec<Metrics>> {
        let ctx = self.gpt.context().clone();
        self.train.read_history(&ctx).await
    }

    /// Mean loss per token and next-token accuracy over `batch` (any number of whole
    /// sequences), without training; waits for the GPU. One submit per
    /// [`GptTrainerOptions::eval_batch_size`] sequences.
    pub async fn evaluate(&mut self, batch: TokenBatchRef<'_>) -> Result<Metrics> {
        let ctx = self.gpt.context().clone();
        let chunk = self.eval.capacity() * self.spec().context;
        if batch.inputs.is_empty() || batch.targets.len() != batch.inputs.len() {
            return Err(Error::InvalidTensor {
                path: "<batch>".into(),
                tensor: "targets".into(),
                reason: format!(
                    "{} targets for {} tokens (evaluation needs at least one sequence)",
                    batch.targets.len(),
                    batch.inputs.len()
                ),
            });
        }
        let mut parts = Vec::new();
        for (inputs, targets) in batch.inputs.chunks(chunk).zip(batch.targets.chunks(chunk)) {
            let part = TokenBatchRef { inputs, targets };
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            self.eval.record(&ctx, &mut encoder, &part)?;
            ctx.queue.submit([encoder.finish()]);
            if self.eval.recorded().is_multiple_of(32) {
                parts.extend(self.eval.read_history(&ctx).await?);
            }
        }
        parts.extend(self.eval.read_history(&ctx).await?);
        Ok(Metrics::combine(&parts))
    }

    /// The logits of the next token after `context` (its last `spec.context` tokens; at least
    /// one), `vocab` values; waits for the GPU.
    pub async fn next_logits(&mut self, context: &[u32]) -> Result<Vec<f32>> {
        let ctx = self.gpt.context().clone();
        let t = self.spec().context;
        let window = &context[context.len().saturating_sub(t)..];
        if window.is_empty() {
            return Err(Error::InvalidTensor {
                path: "<sample>".into(),
                tensor: "prompt".into(),
                reason: "sampling needs at least one token of context".into(),
            });
        }
        // Causal attention: the padding after the window does not change its logits.
        let mut inputs = window.to_vec();
        inputs.resize(t, 0);
        let targets = vec![0; t];
        let batch = TokenBatchRef {
            inputs: &inputs,
            targets: &targets,
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.sampler.record(&ctx, &mut encoder, &batch)?;
        ctx.queue.submit([encoder.finish()]);
        let vocab = self.spec().vocab;
        let range = BufferRange {
            buffer: self.sampler.logits_buffer().clone(),
            offset: ((window.len() - 1) * vocab * 4) as u64,
            len: vocab,
        };
        let logits = read_ranges(&ctx, &[range]).await?.remove(0);
        // Sampling leaves no metrics of interest.
        self.sampler.read_history(&ctx).await?;
        Ok(logits)
    }

    /// `count` tokens sampled after `prompt` at `temperature` (0: the most likely token), from a
    /// seed; waits for the GPU once per token.
    pub async fn sample(
        &mut self,
        prompt: &[u32],
        count: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<Vec<u32>> {
        let mut rng = Rng::new(seed);
        let mut tokens = prompt.to_vec();
        for _ in 0..count {
            let logits = self.next_logits(&tokens).await?;
            tokens.push(pick(&logits, temperature, &mut rng));
        }
        Ok(tokens[prompt.len()..].to_vec())
    }

    /// Every parameter's current value; waits for the GPU.
    pub async fn read_params(&self) -> Result<Vec<Vec<f32>>> {
        self.gpt.read_params().await
    }

    /// Every parameter's gradient from the last backward pass that ran; waits for the GPU.
    pub async fn read_gradients(&self) -> Result<Vec<Vec<f32>>> {
        self.gpt.read_gradients().await
    }
}

/// A token drawn from `softmax(logits / temperature)`, or the first argmax at temperature 0.
pub fn pick(logits: &[f32], temperature: f64, rng: &mut Rng) -> u32 {
    let top = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    if temperature <= 0.0 {
        return logits.iter().position(|&v| v == top).unwrap_or(0) as u32;
    }
    let weights: Vec<f64> = logits
        .iter()
        .map(|&v| ((v - top) as f64 / temperature).exp())
        .collect();
    let mut target = rng.next_f64() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        target -= w;
        if target < 0.0 {
            return i as u32;
        }
    }
    (weights.len() - 1) as u32
}
