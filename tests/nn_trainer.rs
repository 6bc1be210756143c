//! The trainer end to end: steps against the f64 reference (forward, backward and optimizer),
//! evaluation and prediction across launches, and the errors a caller can run into.

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::nn::reference;
use muon_wgpu::nn::{
    self, Activation, Batch, LayerParams, Loss, MlpSpec, ParamKind, Targets, Trainer,
    TrainerOptions,
};
use muon_wgpu::reference::ReferenceOptimizer;
use muon_wgpu::{AdamWConfig, Error, MuonConfig, RoutingRule, Settings};

fn settings() -> Settings {
    Settings {
        muon: vec![MuonConfig {
            lr: 0.05,
            ..Default::default()
        }],
        // ε well above f32 rounding of the gradients, so that no near-zero entry flips its update.
        adam: vec![AdamWConfig {
            lr: 0.01,
            eps: 1e-4,
            ..Default::default()
        }],
        routing: RoutingRule::default(),
        keras: Default::default(),
        non_finite: Default::default(),
    }
}

fn options(batch: usize) -> TrainerOptions {
    TrainerOptions {
        batch_size: batch,
        eval_batch_size: 16,
        history: 4,
    }
}

#[test]
fn training_steps_match_the_reference_forward_backward_and_optimizer() {
    let spec = MlpSpec::new(
        &[9, 33, 17, 21, 4],
        Activation::Gelu,
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    let params = nn::init_params(&spec, 5);
    let rows = 13;
    let steps = 3;
    let batches: Vec<(Vec<f32>, Vec<u32>)> = (0..steps)
        .map(|s| {
            let inputs = random(40 + s, rows * 9);
            let labels = (0..rows as u32).map(|r| (r + s as u32) % 4).collect();
            (inputs, labels)
        })
        .collect();

    // The reference: f64 forward and backward, f32 gradients into the f64 optimizer.
    let mut opt = ReferenceOptimizer::new(settings()).unwrap();
    for role in spec.roles() {
        let (fan_in, fan_out) = spec.layer_dims(role.layer);
        let (shape, values) = match role.kind {
            ParamKind::Weight => (vec![fan_out, fan_in], &params[role.layer].weight),
            ParamKind::Bias => (vec![fan_out], &params[role.layer].bias),
        };
        opt.add(&role.name(), &shape, values, nn::muon_for_hidden(&role))
            .unwrap();
    }
    let mut losses = Vec::new();
    for (inputs, labels) in &batches {
        let current: Vec<LayerParams<f64>> = (0..spec.layers())
            .map(|l| LayerParams {
                weight: opt.params[2 * l].value.clone(),
                bias: opt.params[2 * l + 1].value.clone(),
            })
            .collect();
        let (value, grads) = reference::loss_and_gradients(
            &spec,
            &current,
            &to_f64(inputs),
            &Targets::Labels(labels),
            rows,
        );
        losses.push(value.loss);
        let mut map = HashMap::new();
        for (l, g) in grads.iter().enumerate() {
            let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
            map.insert(format!("layers.{l}.weight"), f32s(&g.weight));
            map.insert(format!("layers.{l}.bias"), f32s(&g.bias));
        }
        opt.step(&map).unwrap();
    }

    for a in adapters() {
        let ctx = &a.ctx;
        let label = ctx.describe();
        let mut trainer = Trainer::new(
            ctx,
            spec.clone(),
            &params,
            settings(),
            nn::muon_for_hidden,
            options(16),
        )
        .unwrap();
        let stats = trainer.optimizer().stats().clone();
        assert_eq!((stats.muon_params, stats.adam_params), (2, 6), "{label}");
        // All steps in one submit: each batch's upload must stay its own.
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for (inputs, labels) in &batches {
            let batch = Batch {
                inputs,
                targets: Targets::Labels(labels),
            };
            trainer.record_step(&mut encoder, batch).unwrap();
        }
        ctx.queue.submit([encoder.finish()]);
        let metrics = pollster::block_on(trainer.read_metrics()).unwrap();
        assert_eq!(metrics.len(), steps as usize, "{label}");
        for (m, want) in metrics.iter().zip(&losses) {
            assert!(
                (m.loss - want).abs() < 1e-5,
                "{label}: loss {} vs {want}",
                m.loss
            );
        }
        let got = pollster::block_on(trainer.read_params()).unwrap();
        for (l, g) in got.iter().enumerate() {
            for (what, got, p) in [
                ("weight", &g.weight, &opt.params[2 * l]),
                ("bias", &g.bias, &opt.params[2 * l + 1]),
            ] {
                let init = if what == "weight" {
                    &params[l].weight
                } else {
                    &params[l].bias
                };
                let err = relative_to_update(got, &p.value, init);
                assert!(
                    err < 1e-3,
                    "{label}: layer {l} {what} error {err:.2e} of the update"
                );
            }
        }
    }
}

#[test]
fn evaluation_and_prediction_across_launches_match_the_reference() {
    for loss in Loss::ALL {
        let spec = MlpSpec::new(&[7, 19, 3], Activation::Tanh, loss).unwrap();
        let params = nn::init_params(&spec, 9);
        let rows = 37; // three launches of 16 rows, the last one short
        let inputs = random(3, rows * 7);
        let labels: Vec<u32> = (0..rows as u32).map(|r| r % 3).collect();
        let p64: Vec<_> = params.iter().map(LayerParams::to_f64).collect();
        let fwd = reference::forward(&spec, &p64, &to_f64(&inputs), rows);
        let want = reference::loss(loss, fwd.outputs(), &Targets::Labels(&labels), rows, 3);
        for a in adapters() {
            let ctx = &a.ctx;
            let label = format!("{} {loss:?}", ctx.describe());
            let mut trainer = Trainer::new(
                ctx,
                spec.clone(),
                &params,
                settings(),
                nn::adamw_only,
                options(8),
            )
            .unwrap();
            let outputs = pollster::block_on(trainer.predict(&inputs)).unwrap();
            let err = max_abs_diff(&outputs, fwd.outputs());
            assert!(err < 1e-5, "{label}: outputs differ by {err:.2e}");
            let m =
                pollster::block_on(trainer.evaluate(&inputs, Targets::Labels(&labels))).unwrap();
            assert_eq!(m.samples, rows, "{label}");
            assert!(
                (m.loss - want.loss).abs() < 1e-5,
                "{label}: {} vs {}",
                m.loss,
                want.loss
            );
            assert_eq!(
                (m.accuracy * rows as f64).round() as usize,
                want.correct,
                "{label}"
            );
        }
    }
}

#[test]
fn squared_error_takes_labels_as_one_hot_targets() {
    let spec = MlpSpec::new(&[5, 6, 4], Activation::Relu, Loss::MeanSquaredError).unwrap();
    let params = nn::init_params(&spec, 1);
    let inputs = random(8, 3 * 5);
    let labels = [2u32, 0, 3];
    let one_hot: Vec<f32> = labels
        .iter()
        .flat_map(|&l| (0..4).map(move |c| if c == l { 1.0 } else { 0.0 }))
        .collect();
    for a in adapters() {
        let ctx = &a.ctx;
        let mut grads = Vec::new();
        for targets in [Targets::Labels(&labels), Targets::Values(&one_hot)] {
            let mut trainer = Trainer::new(
                ctx,
                spec.clone(),
                &params,
                settings(),
                nn::adamw_only,
                options(4),
            )
            .unwrap();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let batch = Batch {
                inputs: &inputs,
                targets,
            };
            trainer.record_gradients(&mut encoder, batch).unwrap();
            ctx.queue.submit([encoder.finish()]);
            grads.push(pollster::block_on(trainer.read_gradients()).unwrap());
        }
        assert_eq!(grads[0], grads[1], "{}", ctx.describe());
    }
}

#[test]
fn bad_batches_and_parameters_are_rejected_with_the_tensor_at_fault() {
    let a = adapters().remove(0);
    let ctx = &a.ctx;
    let spec = MlpSpec::new(&[4, 8, 3], Activation::Relu, Loss::SoftmaxCrossEntropy).unwrap();
    let params = nn::init_params(&spec, 0);
    let mut trainer = Trainer::new(
        ctx,
        spec.clone(),
        &params,
        settings(),
        nn::muon_for_hidden,
        options(2),
    )
    .unwrap();
    let inputs = [0.5f32; 8];
    let cases: [(&str, &[f32], Targets<'_>); 5] = [
        ("label 3 at row 1", &inputs, Targets::Labels(&[0, 3])),
        (
            "2 labels for 1 rows",
            &inputs[..4],
            Targets::Labels(&[0, 1]),
        ),
        (
            "3 rows, but the plan holds at most 2",
            &[0.0; 12],
            Targets::Labels(&[0, 1, 2]),
        ),
        (
            "not a positive whole number",
            &inputs[..5],
            Targets::Labels(&[0]),
        ),
        ("takes class labels", &inputs, Targets::Values(&[0.0; 6])),
    ];
    for (want, inputs, targets) in cases {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let err = trainer
            .record_step(&mut encoder, Batch { inputs, targets })
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidTensor { .. }) && err.to_string().contains(want),
            "{err}"
        );
    }
    // No batch was recorded, so no metrics either.
    assert!(pollster::block_on(trainer.read_metrics())
        .unwrap()
        .is_empty());

    let short = vec![LayerParams {
        weight: vec![0.0; 32],
        bias: vec![0.0; 8],
    }];
    let err = Trainer::new(
        ctx,
        spec.clone(),
        &short,
        settings(),
        nn::adamw_only,
        options(2),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("2 layers need 2 parameter sets"),
        "{err}"
    );
    let mut wrong = params.clone();
    wrong[1].bias.pop();
    let err = Trainer::new(
        ctx,
        spec.clone(),
        &wrong,
        settings(),
        nn::adamw_only,
        options(2),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("layers.1.bias"), "{err}");
    // A hidden matrix routed to Muon needs a Muon group.
    let spec3 = MlpSpec::new(&[4, 8, 8, 3], Activation::Relu, Loss::SoftmaxCrossEntropy).unwrap();
    let adam_only = Settings {
        muon: vec![],
        ..settings()
    };
    let err = Trainer::new(
        ctx,
        spec3.clone(),
        &nn::init_params(&spec3, 0),
        adam_only,
        nn::muon_for_hidden,
        options(2),
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::UnknownGroup { .. }), "{err}");
    assert!(MlpSpec::new(&[4], Activation::Relu, Loss::MeanSquaredError).is_err());
    assert!(MlpSpec::new(&[4, 0, 2], Activation::Relu, Loss::MeanSquaredError).is_err());
}

#[test]
fn metrics_history_keeps_the_latest_batches_when_not_read_in_time() {
    let a = adapters().remove(0);
    let ctx = &a.ctx;
    let spec = MlpSpec::new(&[2, 3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy).unwrap();
    let mut trainer = Trainer::new(
        ctx,
        spec.clone(),
        &nn::init_params(&spec, 0),
        settings(),
        nn::adamw_only,
        options(4),
    )
    .unwrap();
    // history 4: record 6 batches of 1..=6 rows, read the last 4.
    for rows in 1..=4usize {
        let inputs = vec![0.1; rows * 2];
        let labels = vec![1u32; rows];
        trainer
            .step(Batch {
                inputs: &inputs,
                targets: Targets::Labels(&labels),
            })
            .unwrap();
    }
    for rows in [1usize, 2] {
        let inputs = vec![0.1; rows * 2];
        let labels = vec![0u32; rows];
        trainer
            .step(Batch {
                inputs: &inputs,
                targets: Targets::Labels(&labels),
            })
            .unwrap();
    }
    let samples: Vec<usize> = pollster::block_on(trainer.read_metrics())
        .unwrap()
        .iter()
        .map(|m| m.samples)
        .collect();
    assert_eq!(samples, [3, 4, 1, 2]);
}
