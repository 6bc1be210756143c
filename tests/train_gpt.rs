//! A short run of the character-level GPT on Shakespeare lowers the validation loss below a fixed
//! threshold, on every adapter: the whole path (data, forward, backward, Muon and AdamW) learns.

mod common;

use common::*;
use muon_wgpu::nn::gpt::{self, GptSpec, GptTrainer, GptTrainerOptions, TokenBatchRef};
use muon_wgpu::nn::text::{self, TextBatches};
use muon_wgpu::{Overrides, Preset};

/// Steps of the run.
const STEPS: usize = 80;
/// Below the 3.31 nats per character of the corpus' character frequencies alone: the model must
/// use its context. The initial loss is ln 76 = 4.33.
const THRESHOLD: f64 = 3.0;

#[test]
fn a_short_gpt_run_lowers_the_validation_loss_below_the_threshold_on_every_adapter() {
    let corpus = text::shakespeare().unwrap();
    let spec = GptSpec {
        vocab: corpus.vocab.len(),
        context: 16,
        width: 32,
        heads: 2,
        layers: 1,
    };
    let validation = text::evaluation_windows(corpus.validation(), spec.context, 32).unwrap();
    let validation = TokenBatchRef {
        inputs: &validation.inputs,
        targets: &validation.targets,
    };
    let settings = Preset::Torch
        .settings(&Overrides {
            lr: Some(0.05),
            adam_lr: Some(0.01),
            weight_decay: Some(0.0),
            adam_weight_decay: Some(0.0),
            ..Default::default()
        })
        .unwrap();
    let options = GptTrainerOptions {
        batch_size: 8,
        eval_batch_size: 32,
        history: STEPS,
    };
    for adapter in adapters() {
        let ctx = &adapter.ctx;
        let name = format!("{} ({:?})", ctx.info.name, ctx.info.backend);
        let params = gpt::init_params(&spec, 0);
        let mut trainer = GptTrainer::new(
            ctx,
            spec,
            &params,
            settings.clone(),
            gpt::muon_for_blocks,
            options,
        )
        .unwrap();
        let before = pollster::block_on(trainer.evaluate(validation)).unwrap();
        let mut batches = TextBatches::new(corpus.train(), 8, spec.context, 0).unwrap();
        for _ in 0..STEPS {
            let batch = batches.next_batch(corpus.train());
            trainer
                .step(TokenBatchRef {
                    inputs: &batch.inputs,
                    targets: &batch.targets,
                })
                .unwrap();
        }
        let train = pollster::block_on(trainer.read_metrics()).unwrap();
        assert_eq!(train.len(), STEPS, "{name}");
        let after = pollster::block_on(trainer.evaluate(validation)).unwrap();
        eprintln!(
            "{name}: validation loss {:.3} -> {:.3}, first / last training loss {:.3} / {:.3}",
            before.loss,
            after.loss,
            train[0].loss,
            train[STEPS - 1].loss
        );
        assert!(
            (before.loss - (spec.vocab as f64).ln()).abs() < 0.1,
            "{name}"
        );
        assert!(
            after.loss < THRESHOLD,
            "{name}: validation loss {:.3} is not below {THRESHOLD}",
            after.loss
        );
        let sample = pollster::block_on(trainer.sample(&[0], 20, 0.8, 1)).unwrap();
        assert_eq!(sample.len(), 20);
        assert!(sample.iter().all(|&t| (t as usize) < spec.vocab));
    }
}
