//! The web demo's Shakespeare race: one character-level GPT trained twice from the same
//! initialization on the same batches, once with Muon for the block matrices + AdamW for the rest,
//! once with AdamW alone, both on the GPU. Plain Rust: `src/web` binds it for the page and
//! `examples/web_parity.rs --gpt` runs it natively, so both execute the same code.

use crate::nn::gpt::{self, GptParam, GptSpec, GptTrainer, GptTrainerOptions, TokenBatchRef};
use crate::nn::text::{self, Corpus, TextBatches, TokenBatch};
use crate::nn::Metrics;
use crate::{GpuContext, Result, Route};

use super::race::{config_rates, losses, race_settings, Pair, Rates};

/// What the race trains and how.
#[derive(Clone, Debug, PartialEq)]
pub struct GptRaceConfig {
    pub context: usize,
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    /// Sequences per batch.
    pub batch: usize,
    /// Seed of the initialization and of the batches (both runs share them).
    pub seed: u64,
    /// Muon's learning rate (attention and MLP matrices).
    pub muon_lr: f64,
    /// AdamW's learning rate next to Muon (embeddings, head, biases).
    pub aux_lr: f64,
    /// The AdamW-only baseline's learning rate.
    pub adamw_lr: f64,
    /// Validation sequences per evaluation.
    pub eval_sequences: usize,
}

impl Default for GptRaceConfig {
    /// `examples/gpt.rs`'s defaults: its model and the rates its `--sweep` chose.
    fn default() -> Self {
        Self {
            context: 64,
            width: 64,
            heads: 4,
            layers: 2,
            batch: 8,
            seed: 0,
            muon_lr: 0.02,
            aux_lr: 0.003,
            adamw_lr: 0.003,
            eval_sequences: 16,
        }
    }
}

config_rates!(GptRaceConfig);

/// Both trainers, the corpus and the shared batches.
pub struct GptRace {
    config: GptRaceConfig,
    corpus: Corpus,
    batches: TextBatches,
    validation: TokenBatch,
    muon: GptTrainer,
    adamw: GptTrainer,
    steps: u64,
}

impl GptRace {
    /// Builds both runs from the same initialization.
    pub fn new(ctx: &GpuContext, config: GptRaceConfig) -> Result<Self> {
        let corpus = text::shakespeare()?;
        let spec = GptSpec {
            vocab: corpus.vocab.len(),
            context: config.context,
            width: config.width,
            heads: config.heads,
            layers: config.layers,
        };
        spec.validate()?;
        let params = gpt::init_params(&spec, config.seed);
        let options = GptTrainerOptions {
            batch_size: config.batch,
            eval_batch_size: config.eval_sequences.clamp(1, 64),
            // The page reads the history every few steps.
            history: 1024,
        };
        let muon = GptTrainer::new(
            ctx,
            spec,
            &params,
            race_settings(config.muon_lr, config.aux_lr)?,
            gpt::muon_for_blocks,
            options,
        )?;
        let adamw = GptTrainer::new(
            ctx,
            spec,
            &params,
            race_settings(config.muon_lr, config.adamw_lr)?,
            |_: &GptParam| Route::AdamW(0),
            options,
        )?;
        let batches = TextBatches::new(corpus.train(), config.batch, spec.context, config.seed)?;
        let validation =
            text::evaluation_windows(corpus.validation(), spec.context, config.eval_sequences)?;
        Ok(Self {
            config,
            corpus,
            batches,
            validation,
            muon,
            adamw,
            steps: 0,
        })
    }

    pub fn config(&self) -> &GptRaceConfig {
        &self.config
    }

    pub fn spec(&self) -> &GptSpec {
        self.muon.spec()
    }

    /// Steps recorded so far (each trains both runs on the same batch).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Tokens of one training batch.
    pub fn tokens_per_step(&self) -> usize {
        self.config.batch * self.config.context
    }

    /// Records `steps` training steps of both runs, one submit per step and run (a GPT step is
    /// long on a software adapter); returns without waiting for the GPU.
    pub fn train(&mut self, steps: usize) -> Result<()> {
        for _ in 0..steps {
            let batch = self.batches.next_batch(self.corpus.train());
            for trainer in [&mut self.muon, &mut self.adamw] {
                trainer.step(TokenBatchRef {
                    inputs: &batch.inputs,
                    targets: &batch.targets,
                })?;
            }
            self.steps += 1;
        }
        Ok(())
    }

    /// The training loss (before its update) of every step since the last call, oldest first.
    pub async fn read_losses(&mut self) -> Result<Pair<Vec<f64>>> {
        Ok(Pair {
            muon: losses(self.muon.read_metrics().await?),
            adamw: losses(self.adamw.read_metrics().await?),
        })
    }

    /// Validation loss and next-character accuracy of both runs.
    pub async fn evaluate(&mut self) -> Result<Pair<Metrics>> {
        let batch = TokenBatchRef {
            inputs: &self.validation.inputs,
            targets: &self.validation.targets,
        };
        Ok(Pair {
            muon: self.muon.evaluate(batch).await?,
            adamw: self.adamw.evaluate(batch).await?,
        })
    }

    /// `count` characters from each model after a newline, at `temperature`, from `seed`.
    pub async fn sample(
        &mut self,
        count: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<Pair<String>> {
        let prompt = self.corpus.vocab.encode("\n")?;
        let muon = self.muon.sample(&prompt, count, temperature, seed).await?;
        let adamw = self.adamw.sample(&prompt, count, temperature, seed).await?;
        Ok(Pair {
            muon: self.corpus.vocab.decode(&muon),
            adamw: self.corpus.vocab.decode(&adamw),
        })
    }

    /// Changes the learning rates from the next step on (see [`Rates::apply`]).
    pub fn set_rates(&mut self, rates: Rates) -> Result<()> {
        rates.apply(self.muon.optimizer_mut(), self.adamw.optimizer_mut())?;
        self.config.set_rates(rates);
        Ok(())
    }
}
