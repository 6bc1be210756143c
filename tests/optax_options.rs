//! optax's options on the GPU against the f64 reference (`reference::optax`), on edge shapes:
//! 1×n, tall, wide, odd, and batched slices of rank 3 and 4 (dimension numbers), every adapter.

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::reference::optax::spectral_norm;
use muon_wgpu::reference::ReferenceOptimizer;
use muon_wgpu::{
    Error, MuDtype, OptimizerBuilder, Overrides, Preconditioning, Preset, Route, Source,
};

/// Edge shapes; `r3` and `r4` run as batched slices.
fn shapes() -> Vec<(&'static str, Vec<usize>, Route)> {
    vec![
        ("row", vec![1, 33], Route::Muon(0)),
        ("tall", vec![40, 12], Route::Muon(0)),
        ("wide", vec![6, 50], Route::Muon(0)),
        ("odd", vec![13, 17], Route::Muon(0)),
        ("odd2", vec![13, 17], Route::Muon(0)),
        ("r3", vec![3, 5, 7], Route::Muon(0)),
        ("r4", vec![2, 3, 4, 5], Route::Muon(0)),
        ("bias", vec![9], Route::AdamW(0)),
    ]
}

const DIMS: &str = "r3=1/2;r4=1,-1/0";

struct Run {
    got: HashMap<String, Vec<f32>>,
    want: HashMap<String, Vec<f64>>,
    init: HashMap<String, Vec<f32>>,
}

fn run_both(ctx: &muon_wgpu::GpuContext, preset: Preset, o: Overrides, steps: usize) -> Run {
    let settings = preset.settings(&o).unwrap();
    let mut builder = OptimizerBuilder::new(ctx, settings.clone()).unwrap();
    let mut reference = ReferenceOptimizer::new(settings).unwrap();
    let mut init = HashMap::new();
    for (i, (name, shape, route)) in shapes().into_iter().enumerate() {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = random(300 + i as u64, len)
            .iter()
            .map(|v| v * 0.5)
            .collect();
        builder
            .add(name, &shape, Source::Host(&values), route)
            .unwrap();
        reference.add(name, &shape, &values, route).unwrap();
        init.insert(name.to_string(), values);
    }
    let mut opt = builder.build().unwrap();
    for step in 0..steps {
        let grads: HashMap<String, Vec<f32>> = shapes()
            .iter()
            .enumerate()
            .map(|(i, (n, s, _))| {
                (
                    n.to_string(),
                    random(7000 + 31 * step as u64 + i as u64, s.iter().product()),
                )
            })
            .collect();
        for (n, g) in &grads {
            opt.write_gradient(n, g).unwrap();
        }
        opt.step().unwrap();
        reference.step(&grads).unwrap();
    }
    let got = pollster::block_on(opt.read_all())
        .unwrap()
        .into_iter()
        .map(|(n, _, v)| (n, v))
        .collect();
    let mut want = HashMap::new();
    for p in &reference.params {
        want.insert(format!("param/{}", p.name), p.value.clone());
        if let muon_wgpu::Group::Muon(_) = p.route {
            want.insert(format!("state/{}/momentum", p.name), p.momentum.clone());
        } else {
            want.insert(format!("state/{}/exp_avg", p.name), p.exp_avg.clone());
            want.insert(format!("state/{}/exp_avg_sq", p.name), p.exp_avg_sq.clone());
        }
    }
    Run { got, want, init }
}

/// Parameters within `tol` relative to how far they moved; momentum within `state_tol`.
fn check(run: &Run, label: &str, tol: f64, state_tol: f64) {
    assert_eq!(run.got.len(), run.want.len(), "{label}");
    for (name, want) in &run.want {
        let got = &run.got[name];
        let err = match name.strip_prefix("param/") {
            Some(p) => relative_to_update(got, want, &run.init[p]),
            None => max_abs_diff(got, want) / max_abs(want).max(1e-30),
        };
        let limit = if name.starts_with("param/") {
            tol
        } else {
            state_tol
        };
        if std::env::var("MUON_WGPU_SHOW_ERRORS").is_ok() {
            eprintln!("{label}: {name} {err:.2e}");
        }
        assert!(
            err <= limit,
            "{label}: {name} error {err:.2e} (limit {limit:.0e})"
        );
    }
}

fn dims() -> Option<Vec<(String, muon_wgpu::DimensionNumbers)>> {
    let mut o = Overrides::default();
    muon_wgpu::settings::overrides::key("weight_dimension_numbers")
        .unwrap()
        .set(&mut o, DIMS)
        .unwrap();
    o.weight_dimension_numbers
}

#[test]
fn every_preconditioning_matches_the_reference_on_edge_shapes_and_slices() {
    for a in adapters() {
        let steps = if is_gl(&a.ctx) { 2 } else { 3 };
        for p in ["frobenius", "spectral", "aol", "schatten"] {
            let o = Overrides {
                preconditioning: Some(p.parse().unwrap()),
                weight_dimension_numbers: dims(),
                ..Default::default()
            };
            let run = run_both(&a.ctx, Preset::Optax, o, steps);
            check(&run, &format!("{} {p}", a.ctx.describe()), 2e-4, 1e-5);
        }
    }
}

#[test]
fn adaptive_and_aol_with_fewer_iterations_match_the_reference() {
    for a in adapters() {
        for (preset, o) in [
            (
                Preset::Optax,
                Overrides {
                    adaptive: Some(true),
                    weight_dimension_numbers: dims(),
                    ..Default::default()
                },
            ),
            (
                Preset::Torch,
                Overrides {
                    adaptive: Some(true),
                    ..Default::default()
                },
            ),
            (
                Preset::Keras,
                Overrides {
                    preconditioning: Some(Preconditioning::Aol),
                    ns_steps: Some(4),
                    ..Default::default()
                },
            ),
        ] {
            let run = run_both(&a.ctx, preset, o, 2);
            // ⟨U, O⟩·O carries O's f32 rounding twice.
            check(
                &run,
                &format!("{} {preset} adaptive/aol", a.ctx.describe()),
                5e-4,
                1e-5,
            );
        }
    }
}

#[test]
fn packed_bf16_and_f16_momentum_match_the_reference() {
    // optax's aux Adam keeps its first moment in mu_dtype too (`adamw_packed.wgsl`).
    for a in adapters() {
        for dtype in [MuDtype::Bf16, MuDtype::F16] {
            for preset in [Preset::Optax, Preset::Keras] {
                let o = Overrides {
                    mu_dtype: Some(dtype),
                    weight_dimension_numbers: dims(),
                    ..Default::default()
                };
                let run = run_both(&a.ctx, preset, o, 3);
                // A stored value may differ by one unit of the dtype where the f32 sum lands
                // next to a rounding boundary (the reference sums in f64).
                let unit = if dtype == MuDtype::Bf16 {
                    2f64.powi(-7)
                } else {
                    2f64.powi(-10)
                };
                check(
                    &run,
                    &format!("{} {preset} {dtype:?}", a.ctx.describe()),
                    2e-3,
                    unit,
                );
            }
        }
    }
}

/// With no iteration, lr 1 and no decay, the update is `X / (σ + ε)` itself: its size gives
/// the GPU's estimate of σ_max, compared with the f64 eigenvalue solver (an SVD's σ_max).
#[test]
fn spectral_estimate_agrees_with_the_svd() {
    for a in adapters() {
        let o = Overrides {
            preconditioning: Some(Preconditioning::Spectral),
            ns_steps: Some(0),
            lr: Some(1.0),
            nesterov: Some(false),
            adjust_lr: Some(muon_wgpu::AdjustLr::None),
            eps: Some(1e-30),
            ..Default::default()
        };
        let settings = Preset::Optax.settings(&o).unwrap();
        let shapes: [(&str, [usize; 2]); 3] = [
            ("square", [48, 48]),
            ("tall", [90, 31]),
            ("wide", [17, 120]),
        ];
        let mut builder = OptimizerBuilder::new(&a.ctx, settings).unwrap();
        for (n, s) in shapes {
            builder
                .add(n, &s, Source::Host(&vec![0.0; s[0] * s[1]]), Route::Muon(0))
                .unwrap();
        }
        let mut opt = builder.build().unwrap();
        let mut previous: HashMap<&str, Vec<f32>> = HashMap::new();
        for step in 0..2u64 {
            let mut grads = HashMap::new();
            for (i, (n, s)) in shapes.iter().enumerate() {
                let g = random(50 + 10 * step + i as u64, s[0] * s[1]);
                opt.write_gradient(n, &g).unwrap();
                opt.write_parameter(n, &vec![0.0; g.len()]).unwrap();
                grads.insert(*n, g);
            }
            opt.step().unwrap();
            for (n, s) in shapes {
                let o = pollster::block_on(opt.read_parameter(n)).unwrap();
                // optax without Nesterov: U = m̂ = m/(1-βᵗ); step 1: U = g; step 2 (the
                // warm-started power iteration): U = (β(1-β)g₀ + (1-β)g₁)/(1-β²).
                let g = &grads[n];
                let u: Vec<f64> = match previous.get(n) {
                    None => to_f64(g),
                    Some(g0) => g0
                        .iter()
                        .zip(g)
                        .map(|(&a, &b)| (0.95 * 0.05 * a as f64 + 0.05 * b as f64) / (1.0 - 0.9025))
                        .collect(),
                };
                let sigma_true = spectral_norm(&u, s[0], s[1]);
                let norm_u: f64 = u.iter().map(|v| v * v).sum::<f64>().sqrt();
                let norm_o: f64 = o.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
                let sigma_gpu = norm_u / norm_o;
                let err = (sigma_gpu - sigma_true).abs() / sigma_true;
                eprintln!(
                    "{} {n} step {step}: σ relative error {err:.1e}",
                    a.ctx.describe()
                );
                assert!(
                    err <= 5e-4,
                    "{} {n} step {step}: σ {sigma_gpu} vs SVD {sigma_true}: {err:.1e}",
                    a.ctx.describe()
                );
            }
            previous = grads;
        }
    }
}

#[test]
fn dimension_numbers_of_a_parameter_not_routed_to_muon_are_an_error() {
    let a = &adapters()[0];
    let o = Overrides {
        weight_dimension_numbers: dims(),
        ..Default::default()
    };
    let settings = Preset::Optax.settings(&o).unwrap();
    let mut b = OptimizerBuilder::new(&a.ctx, settings.clone()).unwrap();
    b.add("r3", &[3, 5, 7], Source::Host(&[0.0; 105]), Route::AdamW(0))
        .unwrap();
    b.add(
        "r4",
        &[2, 3, 4, 5],
        Source::Host(&[0.0; 120]),
        Route::Muon(0),
    )
    .unwrap();
    let err = b.build().err().expect("r3 is AdamW's");
    assert!(
        matches!(&err, Error::DimensionNumbersNotMuon { name, .. } if name == "r3"),
        "{err}"
    );
    let mut b = OptimizerBuilder::new(&a.ctx, settings).unwrap();
    b.add("r3", &[3, 5], Source::Host(&[0.0; 15]), Route::Muon(0))
        .unwrap();
    let err = b.build().err().expect("axis 2 of a matrix");
    assert!(
        err.to_string().contains("`r3`") && err.to_string().contains("axis 2"),
        "{err}"
    );
}

/// A bf16 state saved (widened to f32) and loaded (packed again) resumes bit for bit, for the
/// Muon momentum and optax's aux Adam first moment alike.
#[test]
fn packed_moments_survive_save_and_load_bitwise() {
    let a = &adapters()[0];
    let o = Overrides {
        mu_dtype: Some(MuDtype::Bf16),
        weight_dimension_numbers: dims(),
        ..Default::default()
    };
    let settings = Preset::Optax.settings(&o).unwrap();
    let build = || {
        let mut b = OptimizerBuilder::new(&a.ctx, settings.clone()).unwrap();
        for (i, (n, s, r)) in shapes().into_iter().enumerate() {
            let v = random(900 + i as u64, s.iter().product());
            b.add(n, &s, Source::Host(&v), r).unwrap();
        }
        b.build().unwrap()
    };
    let step = |opt: &mut muon_wgpu::Optimizer, k: u64| {
        for (i, (n, s, _)) in shapes().into_iter().enumerate() {
            let g = random(950 + 10 * k + i as u64, s.iter().product());
            opt.write_gradient(n, &g).unwrap();
        }
        opt.step().unwrap();
    };
    let mut straight = build();
    (0..3).for_each(|k| step(&mut straight, k));
    let mut first = build();
    (0..2).for_each(|k| step(&mut first, k));
    let saved = pollster::block_on(first.save_state()).unwrap();
    let mut resumed = build();
    resumed.load_state(&saved).unwrap();
    step(&mut resumed, 2);
    let want = pollster::block_on(straight.read_all()).unwrap();
    let got = pollster::block_on(resumed.read_all()).unwrap();
    assert_eq!(got, want);
}
