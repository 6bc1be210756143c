//! The Keras base optimizer's options (clipping, loss scale, accumulation, schedules, EMA) on the
//! GPU against the f64 reference, on edge shapes (1×n, n×1, tall, wide, odd, a same-shape batch
//! sharing an arena, a vector, a caller-owned buffer), on every adapter.

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::reference::ReferenceOptimizer;
use muon_wgpu::{
    Clip, Ema, Error, LrSchedule, OptimizerBuilder, Overrides, Preset, Route, Settings, Source,
    StepOptions,
};

fn shapes() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("row", vec![1, 33]),
        ("col", vec![29, 1]),
        ("tall", vec![40, 7]),
        ("wide", vec![7, 40]),
        ("odd.0", vec![13, 11]),
        ("odd.1", vec![13, 11]),
        ("bias", vec![17]),
        ("owned", vec![9, 5]),
    ]
}

/// Ours, the reference's and the initial values, by tensor name (EMA included).
type Outcome = (
    HashMap<String, Vec<f32>>,
    HashMap<String, Vec<f64>>,
    HashMap<String, Vec<f32>>,
);

/// `calls` steps of `settings` on the GPU and in the reference; gradients in `[-g, g)`.
/// Returns `(ours, reference's, initial values)` by tensor name, EMA included.
fn run(ctx: &muon_wgpu::GpuContext, settings: Settings, calls: usize, g: f32) -> Outcome {
    let mut builder = OptimizerBuilder::new(ctx, settings.clone()).unwrap();
    let mut reference = ReferenceOptimizer::new(settings.clone()).unwrap();
    let mut init = HashMap::new();
    let mut owned = None;
    for (i, (name, shape)) in shapes().into_iter().enumerate() {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = random(7 + i as u64, len).iter().map(|v| v * 0.5).collect();
        if name == "owned" {
            // The caller's buffers: a tensor at offset 0 of a buffer of its own.
            let (value, grad) = (buffer(ctx, &values), buffer(ctx, &vec![0.0; len]));
            owned = Some(grad.clone());
            let source = Source::Buffers { value, grad };
            builder.add(name, &shape, source, Route::Auto).unwrap();
        } else {
            builder.add_host(name, &shape, &values).unwrap();
        }
        reference.add(name, &shape, &values, Route::Auto).unwrap();
        init.insert(name.to_string(), values);
    }
    let mut opt = builder.build().unwrap();
    for call in 0..calls {
        let grads: HashMap<String, Vec<f32>> = (shapes().iter().enumerate())
            .map(|(i, (name, shape))| {
                let len = shape.iter().product();
                let values = random(100 * call as u64 + i as u64, len);
                (name.to_string(), values.iter().map(|v| v * g).collect())
            })
            .collect();
        for (name, values) in &grads {
            if *name == "owned" {
                let bytes = bytemuck::cast_slice(values);
                ctx.queue.write_buffer(owned.as_ref().unwrap(), 0, bytes);
            } else {
                opt.write_gradient(name, values).unwrap();
            }
        }
        opt.step().unwrap();
        reference.step(&grads).unwrap();
    }
    assert_eq!(opt.call_count(), calls as u64);
    assert_eq!(opt.step_count(), reference.step);
    let ours = pollster::block_on(opt.read_all()).unwrap();
    let ours = ours.into_iter().map(|(n, _, v)| (n, v)).collect();
    let mut want = HashMap::new();
    for p in &reference.params {
        want.insert(format!("param/{}", p.name), p.value.clone());
        let state = match p.route {
            muon_wgpu::Group::Muon(_) => vec![("momentum", &p.momentum)],
            muon_wgpu::Group::AdamW(_) => {
                vec![("exp_avg", &p.exp_avg), ("exp_avg_sq", &p.exp_avg_sq)]
            }
        };
        for (k, v) in state {
            want.insert(format!("state/{}/{k}", p.name), v.clone());
        }
        if settings.keras.ema.is_some() {
            want.insert(format!("ema/{}", p.name), p.ema.clone());
        }
    }
    (ours, want, init)
}

fn check(label: &str, (ours, want, init): &Outcome) {
    let mut names: Vec<_> = ours.keys().collect();
    names.sort();
    let mut expected: Vec<_> = want.keys().collect();
    expected.sort();
    assert_eq!(names, expected, "{label}: tensor sets differ");
    for (name, w) in want {
        let got = &ours[name];
        let base = name.split_once('/').map(|(_, n)| n).unwrap_or(name);
        let err = match init.get(base) {
            // Parameters and averages: relative to how far they moved.
            Some(i) if name.starts_with("param/") || name.starts_with("ema/") => {
                relative_to_update(got, w, i)
            }
            _ => max_abs_diff(got, w) / max_abs(w).max(1e-30),
        };
        assert!(err <= 2e-4, "{label}: {name} error {err:.2e}");
    }
}

fn settings(preset: Preset, options: StepOptions) -> Settings {
    let o = Overrides {
        lr: Some(0.02),
        weight_decay: Some(0.05),
        ..Default::default()
    };
    Settings {
        keras: options,
        ..preset.settings(&o).unwrap()
    }
}

#[test]
fn clipping_and_loss_scale_match_the_reference_on_edge_shapes() {
    for a in adapters() {
        let cases = [
            (
                "clipnorm + loss scale",
                StepOptions {
                    clip: Some(Clip::Norm(0.5)),
                    loss_scale_factor: Some(8.0),
                    ..Default::default()
                },
                8.0,
            ),
            (
                "global_clipnorm",
                StepOptions {
                    clip: Some(Clip::GlobalNorm(1.5)),
                    ..Default::default()
                },
                1.0,
            ),
            (
                "clipvalue",
                StepOptions {
                    clip: Some(Clip::Value(0.3)),
                    ..Default::default()
                },
                1.0,
            ),
        ];
        for (label, options, g) in cases {
            let label = format!("{} {label}", a.ctx.describe());
            check(&label, &run(&a.ctx, settings(Preset::Keras, options), 3, g));
        }
    }
}

#[test]
fn accumulation_schedules_and_ema_match_the_reference_on_edge_shapes() {
    for a in adapters() {
        let cases = [
            (
                Preset::Keras,
                "accumulation 2, EMA overwriting every 2 updates, cosine with warmup",
                StepOptions {
                    accumulation_steps: Some(2),
                    loss_scale_factor: Some(2.0),
                    clip: Some(Clip::GlobalNorm(2.0)),
                    ema: Some(Ema {
                        momentum: 0.9,
                        overwrite_frequency: Some(2),
                    }),
                    schedule: Some(LrSchedule::Cosine {
                        decay_steps: 3,
                        alpha: 0.1,
                        warmup_steps: 2,
                        from: 0.2,
                    }),
                },
                7,
            ),
            (
                Preset::Torch,
                "EMA and an exponential decay on torch",
                StepOptions {
                    ema: Some(Ema {
                        momentum: 0.5,
                        overwrite_frequency: None,
                    }),
                    schedule: Some(LrSchedule::Exponential {
                        decay_steps: 1,
                        decay_rate: 0.7,
                        staircase: false,
                    }),
                    ..Default::default()
                },
                3,
            ),
            (
                Preset::Optax,
                "a closure with accumulation 3 on optax",
                StepOptions {
                    schedule: Some(LrSchedule::closure(|k| 1.0 / (1.0 + k as f64))),
                    accumulation_steps: Some(3),
                    ..Default::default()
                },
                6,
            ),
        ];
        for (preset, label, options, calls) in cases {
            let label = format!("{} {label}", a.ctx.describe());
            check(&label, &run(&a.ctx, settings(preset, options), calls, 1.0));
        }
    }
}

#[test]
fn a_schedule_yielding_a_non_finite_rate_is_an_error_that_changes_nothing() {
    let a = adapters().remove(0);
    let options = StepOptions {
        schedule: Some(LrSchedule::closure(|k| if k >= 1 { f64::NAN } else { 1.0 })),
        ..Default::default()
    };
    let mut b = OptimizerBuilder::new(&a.ctx, settings(Preset::Torch, options)).unwrap();
    b.add_host("w", &[4, 3], &[0.5; 12]).unwrap();
    let mut opt = b.build().unwrap();
    opt.write_gradient("w", &[0.1; 12]).unwrap();
    opt.step().unwrap();
    let before = pollster::block_on(opt.read_parameter("w")).unwrap();
    opt.write_gradient("w", &[0.1; 12]).unwrap();
    let err = opt.step().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidHyperparameter { key, .. } if key == "lr_schedule"),
        "{err}"
    );
    assert_eq!((opt.step_count(), opt.call_count()), (1, 1));
    assert_eq!(pollster::block_on(opt.read_parameter("w")).unwrap(), before);
}

#[test]
fn option_keys_reach_the_settings_and_bad_ones_name_their_key() {
    let mut o = Overrides::default();
    for (key, text) in [
        ("global_clipnorm", "1.5"),
        ("gradient_accumulation_steps", "4"),
        ("use_ema", "true"),
        ("ema_momentum", "0.9"),
        ("ema_overwrite_frequency", "10"),
        ("loss_scale_factor", "128"),
        ("lr_schedule", "linear_warmup:steps=10"),
        ("exclude_layers", "head;^out"),
        ("exclude_embeddings", "false"),
    ] {
        muon_wgpu::settings::overrides::key(key)
            .unwrap()
            .set(&mut o, text)
            .unwrap();
    }
    let s = Preset::Keras.settings(&o).unwrap();
    assert_eq!(s.keras.clip, Some(Clip::GlobalNorm(1.5)));
    assert_eq!(s.keras.accumulation_steps, Some(4));
    assert_eq!(s.keras.loss_scale_factor, Some(128.0));
    assert_eq!(
        s.keras.ema,
        Some(Ema {
            momentum: 0.9,
            overwrite_frequency: Some(10)
        })
    );
    assert_eq!(s.keras.schedule.as_ref().unwrap().factor(5), 0.5);
    assert!(s.routing.routes_to_muon("token_embedding", &[9, 4]));
    assert!(!s.routing.routes_to_muon("lm_head", &[9, 4]));
    assert!(!s.routing.routes_to_muon("out_proj", &[9, 4]));
    assert!(s.routing.routes_to_muon("blocks.0.out", &[9, 4]));

    for (key, text) in [
        ("gradient_accumulation_steps", "1"),
        ("exclude_layers", "(unclosed"),
        ("lr_schedule", "cosine:alpha=0.1"),
    ] {
        let mut o = Overrides::default();
        let err = (muon_wgpu::settings::overrides::key(key)
            .unwrap()
            .set(&mut o, text))
        .and_then(|_| Preset::Keras.settings(&o).map(|_| ()))
        .unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
    let o = Overrides {
        clipnorm: Some(1.0),
        global_clipnorm: Some(1.0),
        ..Default::default()
    };
    let err = Preset::Torch.settings(&o).unwrap_err().to_string();
    assert!(err.contains("clipnorm, global_clipnorm"), "{err}");
}

#[test]
fn saving_and_loading_keeps_the_moving_average() {
    let a = adapters().remove(0);
    let options = StepOptions {
        ema: Some(Ema {
            momentum: 0.9,
            overwrite_frequency: Some(3),
        }),
        ..Default::default()
    };
    let build = || {
        let mut b =
            OptimizerBuilder::new(&a.ctx, settings(Preset::Keras, options.clone())).unwrap();
        b.add_host("w", &[5, 3], &random(1, 15)).unwrap();
        b.add_host("b", &[5], &random(2, 5)).unwrap();
        b.build().unwrap()
    };
    let step = |opt: &mut muon_wgpu::Optimizer, k: u64| {
        opt.write_gradient("w", &random(10 + k, 15)).unwrap();
        opt.write_gradient("b", &random(20 + k, 5)).unwrap();
        opt.step().unwrap();
    };
    let mut straight = build();
    (0..2).for_each(|k| step(&mut straight, k));
    let saved = pollster::block_on(straight.save_state()).unwrap();
    (2..5).for_each(|k| step(&mut straight, k));
    let mut resumed = build();
    resumed.load_state(&saved).unwrap();
    (2..5).for_each(|k| step(&mut resumed, k));
    let all = |o: &muon_wgpu::Optimizer| pollster::block_on(o.read_all()).unwrap();
    let (x, y) = (all(&straight), all(&resumed));
    assert!(x.iter().any(|(n, _, _)| n == "ema/w"));
    assert_eq!(x, y);
}

#[test]
fn skip_step_refuses_accumulation_and_ema_naming_both_keys() {
    let a = adapters().remove(0);
    let combos = [
        (
            StepOptions {
                accumulation_steps: Some(2),
                ..Default::default()
            },
            "gradient_accumulation_steps",
        ),
        (
            StepOptions {
                ema: Some(Ema {
                    momentum: 0.9,
                    overwrite_frequency: None,
                }),
                ..Default::default()
            },
            "use_ema",
        ),
    ];
    for (options, key) in combos {
        let skipping = Settings {
            non_finite: muon_wgpu::optimizer::NonFinitePolicy::SkipStep,
            ..settings(Preset::Torch, options)
        };
        // The settings refuse the combination, and so does the builder that validates them.
        let Err(err) = OptimizerBuilder::new(&a.ctx, skipping.clone()) else {
            panic!("skip_step with {key} must be refused")
        };
        let text = err.to_string();
        assert!(text.contains("non_finite") && text.contains(key), "{text}");
        assert_eq!(skipping.validate().unwrap_err().to_string(), text);
    }
}
