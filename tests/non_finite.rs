//! NaN and Inf gradients (the `skip_step` policy, workspace padding) and the norm at the edges of
//! f32 (issue 13, points 4 and 5).

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::optimizer::NonFinitePolicy;
use muon_wgpu::reference::ReferenceOptimizer;
use muon_wgpu::{Optimizer, OptimizerBuilder, Overrides, Preset, Route, Source};

/// Odd shapes: two padded Muon matrices (one wave), one AdamW vector.
const PARAMS: &[(&str, &[usize])] = &[("w", &[64, 48]), ("t", &[33, 32]), ("b", &[7])];

fn build(
    ctx: &muon_wgpu::GpuContext,
    preset: Preset,
    params: &[(&str, &[usize])],
    policy: NonFinitePolicy,
) -> Optimizer {
    let settings = preset
        .settings(&Overrides {
            lr: Some(0.02),
            weight_decay: Some(0.1),
            non_finite: Some(policy),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(settings.non_finite, policy);
    let mut b = OptimizerBuilder::new(ctx, settings).unwrap();
    for (i, (name, shape)) in params.iter().enumerate() {
        b.add_host(name, shape, &random(i as u64, shape.iter().product()))
            .unwrap();
    }
    b.build().unwrap()
}

fn grads(params: &[(&str, &[usize])], k: u64) -> Vec<Vec<f32>> {
    (params.iter().enumerate())
        .map(|(i, (_, s))| random(1000 * k + i as u64, s.iter().product()))
        .collect()
}

fn step(opt: &mut Optimizer, params: &[(&str, &[usize])], grads: &[Vec<f32>]) {
    for ((name, _), g) in params.iter().zip(grads) {
        opt.write_gradient(name, g).unwrap();
    }
    opt.step().unwrap();
}

#[test]
fn skip_step_skips_every_parameter_and_does_not_advance_the_step_count() {
    for a in adapters() {
        // Optax: Muon's and AdamW's bias corrections both follow the step count.
        for preset in [Preset::Optax, Preset::Torch] {
            let mut skipping = build(&a.ctx, preset, PARAMS, NonFinitePolicy::SkipStep);
            let mut clean = build(&a.ctx, preset, PARAMS, NonFinitePolicy::Propagate);
            for k in 0..5u64 {
                let mut g = grads(PARAMS, k);
                match k {
                    1 => g[2][3] = f32::NAN,        // AdamW's gradient
                    3 => g[0][100] = f32::INFINITY, // a Muon matrix's
                    _ => step(&mut clean, PARAMS, &g),
                }
                step(&mut skipping, PARAMS, &g);
            }
            let label = format!("{} {preset}", a.ctx.describe());
            let got = pollster::block_on(skipping.read_all()).unwrap();
            let want = pollster::block_on(clean.read_all()).unwrap();
            // Same scalars, same kernels: bitwise what the clean steps alone give.
            assert_eq!(got, want, "{label}");
            assert_eq!(skipping.step_count(), 3, "{label}");
            assert_eq!(pollster::block_on(skipping.skipped_steps()).unwrap(), 2);
            // A saved state carries the applied count.
            let saved = pollster::block_on(skipping.save_state()).unwrap();
            let mut resumed = build(&a.ctx, preset, PARAMS, NonFinitePolicy::SkipStep);
            resumed.load_state(&saved).unwrap();
            assert_eq!(resumed.step_count(), 3, "{label}");
        }
    }
}

#[test]
fn skip_step_stays_exact_past_its_window_of_step_scalars() {
    let params: &[(&str, &[usize])] = &[("w", &[6, 8]), ("b", &[5])];
    let steps = muon_wgpu::optimizer::SKIP_STEP_WINDOW as u64 + 6;
    for a in adapters() {
        let mut skipping = build(&a.ctx, Preset::Optax, params, NonFinitePolicy::SkipStep);
        let mut clean = build(&a.ctx, Preset::Optax, params, NonFinitePolicy::Propagate);
        let mut skipped = 0;
        for k in 0..steps {
            let mut g = grads(params, k);
            if k % 9 == 4 {
                g[(k % 2) as usize][0] = f32::NAN;
                skipped += 1;
            } else {
                step(&mut clean, params, &g);
            }
            step(&mut skipping, params, &g);
        }
        let got = pollster::block_on(skipping.read_all()).unwrap();
        let want = pollster::block_on(clean.read_all()).unwrap();
        assert_eq!(got, want, "{}", a.ctx.describe());
        assert_eq!(skipping.step_count(), steps - skipped);
        assert_eq!(
            pollster::block_on(skipping.skipped_steps()).unwrap(),
            skipped
        );
    }
}

#[test]
fn replay_skip_step_matches_the_reference_that_skips_the_same_steps() {
    let a = adapters().remove(0);
    let mut t = Vec::new();
    for (name, shape) in PARAMS {
        let len: usize = shape.iter().product();
        t.push((format!("param/{name}"), shape.to_vec(), random(7, len)));
        for k in 0..3 {
            let mut g = random(8 + k, len);
            if k == 1 && *name == "t" {
                g[5] = f32::NEG_INFINITY;
            }
            t.push((format!("grad/{k}/{name}"), shape.to_vec(), g));
        }
    }
    let meta = HashMap::from([("non_finite".to_string(), "skip_step".to_string())]);
    let bytes = muon_wgpu::io::tensors::serialize(&t, meta).unwrap();
    let case = muon_wgpu::io::replay::Case::parse(&bytes, "case").unwrap();
    let got = pollster::block_on(case.run(&a.ctx)).unwrap();
    let want = case.run_reference().unwrap();
    for ((name, _, g), (_, _, w)) in got.iter().zip(&want) {
        assert!(g.iter().all(|v| v.is_finite()), "{name}");
        let err = max_abs_diff(g, w) / max_abs(w).max(1e-30);
        assert!(err < 1e-4, "{name}: {err:.2e}");
    }
}

#[test]
fn a_nan_step_leaves_nothing_behind_in_the_workspace_padding() {
    for a in adapters() {
        let label = a.ctx.describe();
        let mut opt = build(&a.ctx, Preset::Torch, PARAMS, NonFinitePolicy::Propagate);
        let clean_state = pollster::block_on(opt.save_state()).unwrap();
        let mut g = grads(PARAMS, 0);
        g[0][7] = f32::NAN;
        g[1][7] = f32::NAN;
        step(&mut opt, PARAMS, &g);
        let poisoned = pollster::block_on(opt.read_parameter("w")).unwrap();
        assert!(
            poisoned.iter().any(|v| v.is_nan()),
            "propagate lets the NaN through"
        );
        // Back to a clean state: the next steps are those of an optimizer that never saw a NaN.
        opt.load_state(&clean_state).unwrap();
        let mut fresh = build(&a.ctx, Preset::Torch, PARAMS, NonFinitePolicy::Propagate);
        for k in 1..3 {
            let g = grads(PARAMS, k);
            step(&mut opt, PARAMS, &g);
            step(&mut fresh, PARAMS, &g);
        }
        let got = pollster::block_on(opt.read_all()).unwrap();
        let want = pollster::block_on(fresh.read_all()).unwrap();
        assert_eq!(got, want, "{label}");
    }
}

/// The update of one Muon step on `shape` with gradient `grad` from weights `init`, GPU and f64.
fn muon_update(
    ctx: &muon_wgpu::GpuContext,
    shape: &[usize],
    init: &[f32],
    grad: &[f32],
) -> (Vec<f32>, Vec<f64>) {
    let settings = Preset::Torch
        .settings(&Overrides {
            lr: Some(0.02),
            weight_decay: Some(0.0),
            ..Default::default()
        })
        .unwrap();
    let mut b = OptimizerBuilder::new(ctx, settings.clone()).unwrap();
    b.add("w", shape, Source::Host(init), Route::Muon(0))
        .unwrap();
    let mut opt = b.build().unwrap();
    opt.write_gradient("w", grad).unwrap();
    opt.step().unwrap();
    let got = pollster::block_on(opt.read_parameter("w")).unwrap();
    let mut reference = ReferenceOptimizer::new(settings).unwrap();
    reference.add("w", shape, init, Route::Muon(0)).unwrap();
    reference
        .step(&HashMap::from([("w".to_string(), grad.to_vec())]))
        .unwrap();
    (got, reference.param("w").unwrap().value.clone())
}

#[test]
fn gradients_near_the_largest_f32_give_the_same_update_as_small_ones() {
    for a in adapters() {
        for shape in [[8usize, 6], [40, 48]] {
            let len = shape[0] * shape[1];
            let init = random(1, len);
            let small = random(2, len);
            let huge: Vec<f32> = small.iter().map(|g| g * 3e38).collect();
            let (got_small, _) = muon_update(&a.ctx, &shape, &init, &small);
            let (got_huge, want) = muon_update(&a.ctx, &shape, &init, &huge);
            assert!(got_huge.iter().all(|v| v.is_finite()));
            // Muon is scale-invariant: the same update (to f32 rounding of the scaling).
            let err = relative_to_update(&got_huge, &want, &init);
            assert!(err < 1e-4, "{} {shape:?}: {err:.2e}", a.ctx.describe());
            let moved = relative_to_update(&got_small, &want, &init);
            assert!(moved < 1e-4, "{} {shape:?}: {moved:.2e}", a.ctx.describe());
        }
    }
}

/// A matrix with very long rows (or, tall, columns): its sums of squares and its
/// Newton-Schulz Gram product `X·Xᵀ` run over every one of its long side, split in chunks
/// past `NsVariant::max_k` (llvmpipe ends an invocation's loops after 65535 iterations).
fn long_matches_the_reference(shape: [usize; 2]) {
    let len = shape[0] * shape[1];
    for a in adapters() {
        let start = std::time::Instant::now();
        // Small starting values: at a million columns the update is ~3e-5 per element, and the
        // f32 rounding of a stored parameter near 1 would alone be 2e-3 of it, which no kernel
        // can avoid; near 1e-3 it is 1e-6 of it, so the plain metric measures the kernels.
        let init: Vec<f32> = random(3, len).iter().map(|v| v * 1e-3).collect();
        let grad = random(4, len);
        let (got, want) = muon_update(&a.ctx, &shape, &init, &grad);
        let err = relative_to_update(&got, &want, &init);
        assert!(err < 1e-3, "{} {shape:?}: {err:.2e}", a.ctx.describe());
        eprintln!(
            "{} {shape:?}: {err:.2e}, {:.2?}",
            a.ctx.describe(),
            start.elapsed()
        );
    }
}

#[test]
fn a_one_by_65536_matrix_matches_the_reference() {
    long_matches_the_reference([1, 65536]);
}

#[test]
fn long_rows_and_columns_past_the_loop_limit_match_the_reference() {
    for shape in [[1, 300_001], [3, 270_001], [270_001, 2]] {
        long_matches_the_reference(shape);
    }
}

#[test]
fn a_one_by_a_million_matrix_matches_the_reference() {
    long_matches_the_reference([1, 1_000_000]);
}
