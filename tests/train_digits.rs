//! A short training run on the UCI digits reaches over 90% test accuracy with Muon + AdamW,
//! on every adapter, from a fixed seed.

mod common;

use std::time::Instant;

use common::*;
use muon_wgpu::nn::{self, Activation, Batch, Loss, MlpSpec, Targets, Trainer, TrainerOptions};
use muon_wgpu::{Overrides, Preset};

const STEPS: usize = 150;
const BATCH: usize = 64;

#[test]
fn muon_with_adamw_reaches_90_percent_test_accuracy_on_digits() {
    let digits = nn::data::digits().unwrap();
    let spec = MlpSpec::new(
        &[64, 64, 64, 10],
        Activation::Relu,
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    let params = nn::init_params(&spec, 7);
    for a in adapters() {
        let ctx = &a.ctx;
        let settings = Preset::Torch
            .settings(&Overrides {
                lr: Some(0.02),
                adam_lr: Some(3e-3),
                weight_decay: Some(0.0),
                adam_weight_decay: Some(0.0),
                ..Default::default()
            })
            .unwrap();
        let options = TrainerOptions {
            batch_size: BATCH,
            ..Default::default()
        };
        let mut trainer = Trainer::new(
            ctx,
            spec.clone(),
            &params,
            settings,
            nn::muon_for_hidden,
            options,
        )
        .unwrap();
        assert_eq!(
            trainer.optimizer().stats().muon_params,
            1,
            "one hidden matrix"
        );
        let before = pollster::block_on(trainer.evaluate_dataset(&digits.test)).unwrap();
        let start = Instant::now();
        let mut batches = nn::data::Batches::new(digits.train.len(), BATCH, 7).unwrap();
        // GL holds its context for a whole submit: keep submits to a few steps.
        let per_submit = if is_gl(ctx) { 2 } else { 10 };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for step in 1..=STEPS {
            let (inputs, labels) = digits.train.gather(batches.next_indices());
            let batch = Batch {
                inputs: &inputs,
                targets: Targets::Labels(&labels),
            };
            trainer.record_step(&mut encoder, batch).unwrap();
            if step % per_submit == 0 || step == STEPS {
                let done = std::mem::replace(
                    &mut encoder,
                    ctx.device.create_command_encoder(&Default::default()),
                );
                ctx.queue.submit([done.finish()]);
            }
        }
        let train = pollster::block_on(trainer.read_metrics()).unwrap();
        let test = pollster::block_on(trainer.evaluate_dataset(&digits.test)).unwrap();
        eprintln!(
            "{}: {STEPS} steps in {:.1?}, test accuracy {:.1}% -> {:.1}%, train loss {:.3} -> {:.3}",
            ctx.describe(),
            start.elapsed(),
            100.0 * before.accuracy,
            100.0 * test.accuracy,
            train[0].loss,
            train[STEPS - 1].loss
        );
        assert_eq!(train.len(), STEPS);
        assert!(train
            .iter()
            .all(|m| m.samples == BATCH && m.loss.is_finite()));
        assert_eq!(test.samples, 360);
        assert!(
            test.accuracy > 0.9,
            "{}: test accuracy {:.1}% after {STEPS} steps",
            ctx.describe(),
            100.0 * test.accuracy
        );
    }
}
