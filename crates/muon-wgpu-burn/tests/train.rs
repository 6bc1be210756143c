//! Training a burn model with burn's own Muon + AdamW and with ours under the `burn` preset, from
//! the same initialization on the same batches: the parameters must agree within 1e-5 relative.
//! Each step's gradients come from one backward pass (at our model's parameters) and go to both
//! optimizers: burn's backward is not reproducible from call to call on lavapipe (see
//! `common::same_grads`), which would compare burn with itself.

mod common;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, MuonConfig, decay::WeightDecayConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use muon_wgpu::{AdjustLr, Group};
use muon_wgpu_burn::{Error, MuonWgpuConfig};

const TOLERANCE: f64 = 1e-5;

fn device() -> Device {
    gpu().device.clone().autodiff()
}

/// Trains two copies of `model`, ours and burn's, `steps` times on the same gradients; the worst
/// parameter.
fn train_both<M: Module>(
    model: M,
    muon: &MuonConfig,
    adamw: &AdamWConfig,
    loss: impl Fn(&M, usize) -> Tensor<1>,
    steps: usize,
    lr: f64,
) -> (String, f64) {
    let mut ours = (MuonWgpuConfig::from_burn(muon, adamw).unwrap())
        .init(&model, gpu())
        .unwrap();
    let mut theirs = burn_reference(&ours, muon, adamw);
    let (mut a, mut b) = (model.clone(), model);
    for step in 0..steps {
        let grads = GradientsParams::from_grads(loss(&a, step).backward(), &a);
        let copy = same_grads(&grads, &b);
        a = ours.step(lr, a, grads).unwrap();
        b = theirs.step(lr, b, copy);
    }
    worst_relative(&values(&a), &values(&b))
}

fn mlp_batch(step: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let x = tensor(
        Normal::new(100 + step as u64).sample(16 * 24, 1.0),
        [16, 24],
        device,
    );
    let targets: Vec<i32> = (0..16).map(|i| ((i * 7 + step * 3) % 10) as i32).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [16]), device);
    (x, targets)
}

fn tokens(step: usize, vocab: usize, device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i32> = (0..4 * 9)
        .map(|i| ((i * 5 + step * 11 + i * i) % vocab) as i32)
        .collect();
    Tensor::<2, Int>::from_data(TensorData::new(ids, [4, 9]), device)
}

#[test]
fn mlp_matches_burns_muon_and_adamw_within_1e5() {
    let device = device();
    let model = Mlp::new(24, 32, 10, &device);
    let loss = |m: &Mlp, step| {
        let (x, t) = mlp_batch(step, &device);
        m.loss(x, t)
    };
    let (name, err) = train_both(
        model,
        &MuonConfig::new(),
        &AdamWConfig::new(),
        loss,
        5,
        0.02,
    );
    eprintln!("mlp: worst {name} {err:.2e}");
    assert!(err <= TOLERANCE, "{name} differs by {err:.2e} relative");
}

#[test]
fn transformer_block_matches_burns_muon_with_options_within_1e5() {
    let device = device();
    let model = Block::new(17, 16, 2, &device);
    let muon = MuonConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(0.1)))
        .with_adjust_lr_fn(burn::optim::AdjustLrFn::MatchRmsAdamW);
    let adamw = AdamWConfig::new().with_beta_2(0.95).with_weight_decay(0.01);
    let loss = |m: &Block, step| m.loss(tokens(step, 17, &device));
    let (name, err) = train_both(model, &muon, &adamw, loss, 4, 0.01);
    eprintln!("transformer block: worst {name} {err:.2e}");
    assert!(err <= TOLERANCE, "{name} differs by {err:.2e} relative");
}

#[test]
fn routing_sends_matrices_to_muon_and_embeddings_heads_and_vectors_to_adamw() {
    let device = device();
    let model = Block::new(17, 16, 2, &device);
    let ours = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    assert_routes(&ours, |path| {
        path.contains("embedding")
            || path.starts_with("head.")
            || !path.ends_with("weight")
            || path.contains("norm")
    });
    assert!(
        ours.routes()
            .iter()
            .any(|(p, _)| p == "encoder.layers.0.mha.query.weight")
    );
}

#[test]
fn exclude_layers_moves_matching_paths_to_adamw() {
    let device = device();
    let model = Mlp::new(8, 8, 3, &device);
    let ours = (MuonWgpuConfig::new().with_exclude_layers(&["^input\\."]))
        .init(&model, gpu())
        .unwrap();
    let routes: std::collections::HashMap<_, _> = ours.routes().into_iter().collect();
    assert_eq!(routes["input.weight"], Group::AdamW(0));
    assert_eq!(routes["hidden.weight"], Group::Muon(0));
    // The preset's head rule was replaced by the caller's patterns.
    assert_eq!(routes["head.weight"], Group::Muon(0));
}

#[test]
fn a_parameter_without_gradient_keeps_its_value_and_state() {
    let device = device();
    let model = Mlp::new(8, 8, 3, &device);
    let mut ours = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    let (x, t) = (tensor(vec![0.5; 4 * 8], [4, 8], &device), {
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i32, 1, 2, 1], [4]), &device)
    });
    let grads = GradientsParams::from_grads(model.loss(x.clone(), t.clone()).backward(), &model);
    let model = ours.step(0.01, model, grads).unwrap();
    let state = |o: &muon_wgpu_burn::MuonWgpu| {
        let all = pollster::block_on(o.core().read_all()).unwrap();
        all.into_iter()
            .find(|(n, _, _)| n == "state/hidden.weight/momentum")
            .unwrap()
            .2
    };
    let before = (values(&model), state(&ours));
    let mut grads = GradientsParams::from_grads(model.loss(x, t).backward(), &model);
    grads.remove::<2>(model.hidden.weight.id).unwrap();
    let model = ours.step(0.01, model, grads).unwrap();
    let after = (values(&model), state(&ours));
    let hidden = |v: &[(String, Vec<f32>)]| {
        v.iter()
            .find(|(p, _)| p == "hidden.weight")
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(hidden(&before.0), hidden(&after.0), "value changed");
    assert_eq!(before.1, after.1, "momentum changed");
    assert_ne!(
        values(&model)
            .iter()
            .find(|(p, _)| p == "input.weight")
            .unwrap()
            .1,
        before
            .0
            .iter()
            .find(|(p, _)| p == "input.weight")
            .unwrap()
            .1,
        "the others still step"
    );
}

#[test]
fn a_different_model_is_a_typed_error() {
    let device = device();
    let model = Mlp::new(8, 8, 3, &device);
    let mut ours = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    let other = Mlp::new(8, 8, 3, &device);
    let err = ours
        .step(0.01, other, GradientsParams::new())
        .expect_err("refused");
    assert!(matches!(err, Error::ModelChanged { .. }), "{err}");
}

#[test]
fn burn_options_without_an_equivalent_are_refused_by_name() {
    let muon = MuonConfig::new().with_momentum(burn::optim::momentum::MomentumConfig {
        momentum: 0.9,
        dampening: 0.1,
        nesterov: false,
    });
    let err = MuonWgpuConfig::from_burn(&muon, &AdamWConfig::new()).unwrap_err();
    assert!(matches!(&err, Error::Unsupported { option, .. } if option == "momentum.dampening"));
    let err = MuonWgpuConfig::from_burn(&MuonConfig::new(), &AdamWConfig::new().with_amsgrad(true))
        .unwrap_err();
    assert!(matches!(&err, Error::Unsupported { option, .. } if option == "amsgrad"));
}

#[test]
fn burn_adjust_lr_fn_maps_to_the_core_shape_scale() {
    let muon = MuonConfig::new().with_adjust_lr_fn(burn::optim::AdjustLrFn::MatchRmsAdamW);
    let s = MuonWgpuConfig::from_burn(&muon, &AdamWConfig::new())
        .unwrap()
        .settings()
        .unwrap();
    assert_eq!(s.muon[0].adjust_lr, AdjustLr::MatchRmsAdamW);
    assert_eq!(s.muon[0].shape_scale(&[1024, 512]), 0.2 * 32.0);
    assert_eq!(s.adam[0].eps, f64::from(1e-5f32));
}

#[test]
fn the_learner_hook_steps_the_installed_optimizer_and_keeps_errors() {
    let device = device();
    let model = Mlp::new(8, 8, 3, &device);
    let x = tensor(vec![0.25; 4 * 8], [4, 8], &device);
    let t = Tensor::<1, Int>::from_data(TensorData::new(vec![0i32, 1, 2, 1], [4]), &device);
    let grads = GradientsParams::from_grads(model.loss(x.clone(), t.clone()).backward(), &model);
    let before = values(&model);
    // Nothing installed: the model comes back unchanged and the error is kept.
    let model = muon_wgpu_burn::learner::optimize(model, 0.01.into(), grads);
    assert_eq!(values(&model), before);
    assert!(muon_wgpu_burn::learner::take_error().is_some());
    let optim = MuonWgpuConfig::new().init(&model, gpu()).unwrap();
    muon_wgpu_burn::learner::install(optim);
    let grads = GradientsParams::from_grads(model.loss(x, t).backward(), &model);
    let model = muon_wgpu_burn::learner::optimize(model, 0.01.into(), grads);
    assert!(muon_wgpu_burn::learner::take_error().is_none());
    assert_ne!(values(&model), before);
    assert_eq!(
        muon_wgpu_burn::learner::uninstall().unwrap().step_count(),
        1
    );
}
