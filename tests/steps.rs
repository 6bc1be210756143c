//! Whole multi-step runs on the GPU against the f64 reference optimizer, for every preset and adapter.

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::kernels::NsVariant;
use muon_wgpu::reference::ReferenceOptimizer;
use muon_wgpu::{
    AdamWConfig, Group, MuonConfig, NsSchedule, OptimizerBuilder, Overrides, Preset, Route,
    Settings, Source,
};

/// Parameters covering vectors as matrices, odd sizes, tall, wide, a same-shape batch, rank 4.
fn shapes() -> Vec<(&'static str, Vec<usize>, Route)> {
    vec![
        ("blocks.0.attn.w", vec![37, 53], Route::Auto),
        ("blocks.1.attn.w", vec![37, 53], Route::Auto),
        ("blocks.2.attn.w", vec![37, 53], Route::Auto),
        ("tall", vec![70, 20], Route::Auto),
        ("wide", vec![8, 100], Route::Auto),
        ("row", vec![1, 33], Route::Auto),
        ("col", vec![33, 1], Route::Auto),
        ("conv", vec![6, 3, 3, 3], Route::Muon(0)),
        ("bias", vec![17], Route::Auto),
        ("token_embedding", vec![20, 8], Route::Auto),
    ]
}

struct Run {
    got: HashMap<String, Vec<f32>>,
    want: HashMap<String, Vec<f64>>,
    init: HashMap<String, Vec<f32>>,
}

fn run_both(
    ctx: &muon_wgpu::GpuContext,
    settings: Settings,
    steps: usize,
    lr_change: Option<(usize, f64)>,
) -> Run {
    run_with(ctx, settings, steps, lr_change, |_| {})
}

/// [`run_both`] with the builder configured by `configure` (kernel variant, Gram form).
fn run_with(
    ctx: &muon_wgpu::GpuContext,
    settings: Settings,
    steps: usize,
    lr_change: Option<(usize, f64)>,
    configure: impl Fn(&mut OptimizerBuilder),
) -> Run {
    let mut builder = OptimizerBuilder::new(ctx, settings.clone()).unwrap();
    configure(&mut builder);
    let mut reference = ReferenceOptimizer::new(settings).unwrap();
    let mut init = HashMap::new();
    for (i, (name, shape, route)) in shapes().into_iter().enumerate() {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = random(100 + i as u64, len)
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
        if let Some((at, lr)) = lr_change.filter(|&(at, _)| at == step) {
            let _ = at;
            opt.set_lr(Group::Muon(0), lr).unwrap();
            opt.set_lr(Group::AdamW(0), lr / 10.0).unwrap();
            reference.settings.muon[0].lr = lr;
            reference.settings.adam[0].lr = lr / 10.0;
        }
        let grads: HashMap<String, Vec<f32>> = shapes()
            .iter()
            .enumerate()
            .map(|(i, (name, shape, _))| {
                (
                    name.to_string(),
                    random(1000 * step as u64 + i as u64, shape.iter().product()),
                )
            })
            .collect();
        for (name, g) in &grads {
            opt.write_gradient(name, g).unwrap();
        }
        opt.step().unwrap();
        reference.step(&grads).unwrap();
    }
    let all = pollster::block_on(opt.read_all()).unwrap();
    let got = all.into_iter().map(|(n, _, v)| (n, v)).collect();
    let mut want = HashMap::new();
    for p in &reference.params {
        want.insert(format!("param/{}", p.name), p.value.clone());
        match p.route {
            muon_wgpu::Group::Muon(_) => {
                want.insert(format!("state/{}/momentum", p.name), p.momentum.clone());
            }
            muon_wgpu::Group::AdamW(_) => {
                want.insert(format!("state/{}/exp_avg", p.name), p.exp_avg.clone());
                want.insert(format!("state/{}/exp_avg_sq", p.name), p.exp_avg_sq.clone());
            }
        }
    }
    Run { got, want, init }
}

/// Parameters within `tol` of the reference, relative to how far they moved; state within 1e-5 relative.
fn check(run: &Run, label: &str, tol: f64) {
    if std::env::var("MUON_WGPU_SHOW_ERRORS").is_ok() {
        for (name, want) in &run.want {
            if let Some(p) = name.strip_prefix("param/") {
                let err = relative_to_update(&run.got[name], want, &run.init[p]);
                eprintln!("{label}: {name} {err:.2e}");
            }
        }
    }
    assert_eq!(run.got.len(), run.want.len(), "{label}: tensor sets differ");
    for (name, want) in &run.want {
        let got = &run.got[name];
        if let Some(p) = name.strip_prefix("param/") {
            let err = relative_to_update(got, want, &run.init[p]);
            assert!(
                err <= tol,
                "{label}: {name} error {err:.2e} relative to the update (limit {tol:.0e})"
            );
        } else {
            let err = max_abs_diff(got, want) / max_abs(want).max(1e-30);
            assert!(err <= 1e-5, "{label}: {name} state error {err:.2e}");
        }
    }
}

#[test]
fn every_preset_matches_the_reference_over_several_steps() {
    for a in adapters() {
        let steps = if is_gl(&a.ctx) { 2 } else { 4 };
        for preset in Preset::ALL {
            let settings = preset
                .settings(&Overrides {
                    lr: Some(0.03),
                    weight_decay: Some(0.1),
                    adam_weight_decay: Some(0.05),
                    ..Default::default()
                })
                .unwrap();
            let run = run_both(&a.ctx, settings, steps, None);
            check(&run, &format!("{} {preset}", a.ctx.describe()), 1e-4);
        }
    }
}

#[test]
fn non_nesterov_polar_express_and_per_iteration_schedules_match_the_reference() {
    for a in adapters() {
        let variants = [
            Overrides {
                nesterov: Some(false),
                ..Default::default()
            },
            Overrides {
                ns_coefficients: Some("polar_express".into()),
                ..Default::default()
            },
            Overrides {
                ns_coefficients: Some("3.4445,-4.775,2.0315;3,-3.2,1.2;2,-1.5,0.5".into()),
                ..Default::default()
            },
            Overrides {
                ns_steps: Some(0),
                ..Default::default()
            },
        ];
        for preset in [Preset::Torch, Preset::Optax, Preset::Keras] {
            for o in &variants {
                let o = Overrides {
                    lr: Some(0.02),
                    ..o.clone()
                };
                let run = run_both(&a.ctx, preset.settings(&o).unwrap(), 2, None);
                check(&run, &format!("{} {preset} {o:?}", a.ctx.describe()), 1e-4);
            }
        }
    }
}

#[test]
fn without_the_gram_form_wide_matrices_still_match_the_reference() {
    // `wide`, `tall`, `row` and `conv` run the Gram form by default; here the usual products:
    // momentum, normalization, 3 products per iteration, update.
    let a = adapters().remove(0);
    let plan = |gram: bool| {
        let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
        let mut b = OptimizerBuilder::new(&a.ctx, settings).unwrap();
        b.gram_form(gram);
        b.add_host("wide", &[8, 100], &[0.1; 800]).unwrap();
        b.build().unwrap().stats().dispatches
    };
    // (+1: the clear of the padded workspace, so that no NaN outlives its step there.)
    assert_eq!(plan(false), 4 + 3 * 5);
    assert_ne!(plan(true), plan(false));
    for a in adapters() {
        for preset in [Preset::Torch, Preset::Optax] {
            let settings = preset
                .settings(&Overrides {
                    lr: Some(0.03),
                    ..Default::default()
                })
                .unwrap();
            let run = run_with(&a.ctx, settings, 3, None, |b| {
                b.gram_form(false);
            });
            check(
                &run,
                &format!("{} {preset} usual form", a.ctx.describe()),
                1e-4,
            );
        }
    }
}

#[test]
fn every_newton_schulz_kernel_variant_matches_the_reference_end_to_end() {
    for a in adapters() {
        for variant in NsVariant::ALL {
            // llvmpipe's GL path compiles the tiled (GPU) kernels for minutes: see tests/kernels.rs.
            let slow = is_gl(&a.ctx)
                && a.ctx.info.device_type == wgpu::DeviceType::Cpu
                && matches!(variant, NsVariant::Tiled { .. });
            if !variant.supported(&a.ctx.device) || slow {
                continue;
            }
            for preset in [Preset::Torch, Preset::Keras] {
                let settings = preset
                    .settings(&Overrides {
                        lr: Some(0.03),
                        weight_decay: Some(0.1),
                        ..Default::default()
                    })
                    .unwrap();
                let run = run_with(&a.ctx, settings, 2, None, |b| {
                    b.ns_variant(variant);
                });
                // f16 operand copies: the products' inputs rounded to 2⁻¹¹.
                let tol = if variant.half() { 3e-2 } else { 1e-4 };
                check(
                    &run,
                    &format!("{} {variant} {preset}", a.ctx.describe()),
                    tol,
                );
            }
        }
    }
}

#[test]
fn newton_schulz_dispatches_do_not_grow_with_distinct_shapes() {
    let a = adapters().remove(0);
    let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
    let ns_steps = settings.muon[0].ns.0.len();
    let dispatches = |shapes: usize| {
        let mut b = OptimizerBuilder::new(&a.ctx, settings.clone()).unwrap();
        for i in 0..shapes {
            let shape = [8 + i, 24 + 2 * i];
            b.add_host(&format!("w{i}"), &shape, &vec![0.1; shape[0] * shape[1]])
                .unwrap();
        }
        b.add_host("bias", &[16], &[0.0; 16]).unwrap();
        b.build().unwrap().stats().clone()
    };
    let one = dispatches(1);
    let eight = dispatches(8);
    assert_eq!(one.ns_waves, 1);
    assert_eq!(eight.ns_waves, 1);
    // Per shape: its momentum and its update; per step: AdamW and the Newton-Schulz products,
    // whose number depends on the iterations only (the Gram form takes at most 4 per
    // iteration, plus normalization, the first Gram product and the final X = Q·X₀).
    let newton_schulz = one.dispatches - 2 - 1;
    assert!(newton_schulz <= 4 * ns_steps + 3, "{one:?}");
    assert_eq!(eight.dispatches, 2 * 8 + newton_schulz + 1);
    assert!(eight.dispatches <= 12 * eight.muon_shapes + 4 * ns_steps + 4);
}

#[test]
fn learning_rate_changes_between_steps_take_effect_without_rebuilding() {
    for a in adapters() {
        let settings = Preset::Keller.settings(&Overrides::default()).unwrap();
        let run = run_both(&a.ctx, settings, 3, Some((1, 0.07)));
        check(&run, &a.ctx.describe(), 1e-4);
    }
}

#[test]
fn caller_owned_buffers_give_bitwise_the_same_result_as_host_data() {
    for a in adapters() {
        let ctx = &a.ctx;
        let settings = Preset::Torch
            .settings(&Overrides {
                lr: Some(0.02),
                ..Default::default()
            })
            .unwrap();
        let params = [
            ("a", vec![12usize, 9]),
            ("b", vec![12, 9]),
            ("c", vec![5]),
            ("d", vec![9, 12]),
        ];
        let mut host = OptimizerBuilder::new(ctx, settings.clone()).unwrap();
        let mut caller = OptimizerBuilder::new(ctx, settings).unwrap();
        let mut buffers = Vec::new();
        for (i, (name, shape)) in params.iter().enumerate() {
            let len: usize = shape.iter().product();
            let init = random(i as u64, len);
            host.add(name, shape, Source::Host(&init), Route::Auto)
                .unwrap();
            // Mix: "b" stays host-owned in the caller optimizer so a batch holds both kinds.
            if *name == "b" {
                caller
                    .add(name, shape, Source::Host(&init), Route::Auto)
                    .unwrap();
                continue;
            }
            let (value, grad) = (buffer(ctx, &init), buffer(ctx, &vec![0.0; len]));
            caller
                .add(
                    name,
                    shape,
                    Source::Buffers {
                        value: value.clone(),
                        grad: grad.clone(),
                    },
                    Route::Auto,
                )
                .unwrap();
            buffers.push((name.to_string(), value, grad));
        }
        let (mut host, mut caller) = (host.build().unwrap(), caller.build().unwrap());
        for step in 0..3u64 {
            for (i, (name, shape)) in params.iter().enumerate() {
                let g = random(50 + step * 10 + i as u64, shape.iter().product());
                host.write_gradient(name, &g).unwrap();
                caller.write_gradient(name, &g).unwrap();
            }
            host.step().unwrap();
            caller.step().unwrap();
        }
        for (name, value, _) in &buffers {
            let want = pollster::block_on(host.read_parameter(name)).unwrap();
            let got = read(ctx, value, want.len());
            assert_eq!(got, want, "{} parameter {name}", ctx.describe());
        }
        let want = pollster::block_on(host.read_all()).unwrap();
        let got = pollster::block_on(caller.read_all()).unwrap();
        assert_eq!(got, want, "{}: state differs", ctx.describe());
    }
}

#[test]
fn dispatches_grow_with_distinct_shapes_not_with_parameters() {
    let a = adapters().remove(0);
    let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
    let count_for = |n: usize, shapes: usize| {
        let mut b = OptimizerBuilder::new(&a.ctx, settings.clone()).unwrap();
        for i in 0..n {
            let shape = [16 + (i % shapes), 24];
            b.add_host(&format!("w{i}"), &shape, &vec![0.1; shape[0] * 24])
                .unwrap();
            b.add_host(&format!("b{i}"), &[16], &[0.0; 16]).unwrap();
        }
        b.build().unwrap().stats().dispatches
    };
    assert_eq!(
        count_for(1, 1),
        count_for(24, 1),
        "same-shape parameters share dispatches"
    );
    assert_eq!(count_for(2, 2), count_for(24, 2));
    assert!(count_for(2, 2) > count_for(1, 1));
}

#[test]
fn several_groups_keep_their_own_hyperparameters() {
    for a in adapters() {
        let settings = Settings {
            muon: vec![
                MuonConfig {
                    lr: 0.02,
                    ..Default::default()
                },
                MuonConfig {
                    lr: 0.005,
                    weight_decay: 0.0,
                    ns: NsSchedule::polar_express(),
                    ..Default::default()
                },
            ],
            adam: vec![
                AdamWConfig::default(),
                AdamWConfig {
                    lr: 0.01,
                    beta2: 0.95,
                    ..Default::default()
                },
            ],
            routing: Default::default(),
            keras: Default::default(),
            non_finite: Default::default(),
        };
        let routes = [
            ("m0", Route::Muon(0)),
            ("m1", Route::Muon(1)),
            ("a0", Route::AdamW(0)),
            ("a1", Route::AdamW(1)),
        ];
        let mut builder = OptimizerBuilder::new(&a.ctx, settings.clone()).unwrap();
        let mut reference = ReferenceOptimizer::new(settings).unwrap();
        let mut init = HashMap::new();
        for (i, (name, route)) in routes.iter().enumerate() {
            let v = random(i as u64, 60);
            builder
                .add(name, &[6, 10], Source::Host(&v), *route)
                .unwrap();
            reference.add(name, &[6, 10], &v, *route).unwrap();
            init.insert(name.to_string(), v);
        }
        let mut opt = builder.build().unwrap();
        for step in 0..2u64 {
            let grads: HashMap<String, Vec<f32>> = routes
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (n.to_string(), random(step * 7 + i as u64, 60)))
                .collect();
            for (n, g) in &grads {
                opt.write_gradient(n, g).unwrap();
            }
            opt.step().unwrap();
            reference.step(&grads).unwrap();
        }
        for (name, _) in routes {
            let got = pollster::block_on(opt.read_parameter(name)).unwrap();
            let err = relative_to_update(&got, &reference.param(name).unwrap().value, &init[name]);
            assert!(err <= 1e-4, "{} {name}: {err:.2e}", a.ctx.describe());
        }
    }
}

/// A device whose storage bindings hold only a few matrices: the planner splits Newton-Schulz
/// into several waves sharing one workspace (as lavapipe does for `gpt2-small`), each wave with
/// its own normalization, f16 copies and products; results must not change. Not on wgpu's GL
/// backend, which dislikes a second context on the same adapter.
#[test]
fn several_newton_schulz_waves_match_the_reference_in_f32_and_f16() {
    let adapters =
        pollster::block_on(muon_wgpu::gpu::list_adapters(muon_wgpu::BackendChoice::Any)).unwrap();
    let mut tested = 0;
    for adapter in adapters {
        let info = adapter.get_info();
        if matches!(info.backend, wgpu::Backend::Gl | wgpu::Backend::Noop) {
            continue;
        }
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: 64 << 10,
            ..adapter.limits()
        };
        let features = adapter.features() & wgpu::Features::SUBGROUP;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("small bindings"),
            required_features: features,
            required_limits: limits,
            ..Default::default()
        }))
        .unwrap();
        let ctx = muon_wgpu::GpuContext::from_device(device, queue, info);
        for broadcast in [true, false] {
            for half in [false, true] {
                let variant = NsVariant::Lanes {
                    rows: 64,
                    broadcast,
                    half,
                };
                if !variant.supported(&ctx.device) {
                    continue;
                }
                let settings = Preset::Torch
                    .settings(&Overrides {
                        lr: Some(0.03),
                        weight_decay: Some(0.1),
                        ..Default::default()
                    })
                    .unwrap();
                let run = run_with(&ctx, settings.clone(), 2, None, |b| {
                    b.ns_variant(variant);
                });
                // The same model's plan, to see it takes several waves.
                let mut b = OptimizerBuilder::new(&ctx, settings).unwrap();
                b.ns_variant(variant);
                for (name, shape, route) in shapes() {
                    let len: usize = shape.iter().product();
                    b.add(name, &shape, Source::Host(&vec![0.1; len]), route)
                        .unwrap();
                }
                let waves = b.build().unwrap().stats().ns_waves;
                assert!(waves > 1, "{variant}: {waves} wave(s)");
                let tol = if half { 3e-2 } else { 1e-4 };
                check(
                    &run,
                    &format!("{} {variant}, {waves} waves", ctx.describe()),
                    tol,
                );
                tested += 1;
            }
        }
    }
    assert!(tested > 0, "no adapter besides GL to test waves on");
}
