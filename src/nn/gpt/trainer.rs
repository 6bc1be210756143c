//! The GPT's trainer: the shared [`ModelTrainer`] (steps, metrics, parameters) with evaluation
//! over token windows and sampling.

use crate::error::{Error, Result};
use crate::nn::batch::Metrics;
use crate::nn::data::Rng;
use crate::nn::trainer::{ModelTrainer, TrainerOptions};

use super::model::Gpt;
use super::plan::TokenBatchRef;

/// A GPT and its optimizer: Muon and AdamW groups as the settings and `route` say (e.g.
/// [`muon_for_blocks`](super::muon_for_blocks)).
pub type GptTrainer = ModelTrainer<Gpt>;

/// Sizes of a [`GptTrainer`]'s plans, in sequences.
pub type GptTrainerOptions = TrainerOptions;

impl GptTrainer {
    pub fn gpt(&self) -> &Gpt {
        &self.model
    }

    /// Mean loss per token and next-token accuracy over `batch` (any number of whole
    /// sequences), without training; waits for the GPU. One submit per
    /// [`GptTrainerOptions::eval_batch_size`] sequences.
    pub async fn evaluate(&mut self, batch: TokenBatchRef<'_>) -> Result<Metrics> {
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
        let parts = batch.inputs.chunks(chunk).zip(batch.targets.chunks(chunk));
        let parts = parts.map(|(inputs, targets)| TokenBatchRef { inputs, targets });
        self.evaluate_parts(parts).await
    }

    /// The logits of the next token after `context` (its last `spec.context` tokens; at least
    /// one), `vocab` values; waits for the GPU.
    pub async fn next_logits(&mut self, context: &[u32]) -> Result<Vec<f32>> {
        let ctx = self.context().clone();
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
        let vocab = self.spec().vocab;
        let sampler = self
            .sampler
            .as_mut()
            .expect("a GPT trainer keeps a sampling plan");
        let offset = (window.len() - 1) * vocab;
        let logits = Self::outputs(&ctx, sampler, &batch, offset, vocab).await?;
        // Sampling leaves no metrics of interest.
        sampler.read_history(&ctx).await?;
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
