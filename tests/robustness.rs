//! Never crash, never lose data (issue 13): GPU errors and device loss as typed errors, memory
//! bounded by the input, chunked readback, strict validation, atomic outputs, explicit pitfalls,
//! and a hostile-input suite for the parsers.

mod common;

use std::collections::HashMap;

use common::*;
use muon_wgpu::io::replay::Case;
use muon_wgpu::io::tensors;
use muon_wgpu::{
    Error, GpuContext, Group, Optimizer, OptimizerBuilder, Overrides, Preset, Route, Source,
};
use proptest::prelude::*;

fn settings() -> muon_wgpu::Settings {
    Preset::Torch.settings(&Overrides::default()).unwrap()
}

fn small(ctx: &GpuContext) -> Optimizer {
    let mut b = OptimizerBuilder::new(ctx, settings()).unwrap();
    b.add_host("w", &[6, 4], &random(1, 24)).unwrap();
    b.add_host("b", &[3], &random(2, 3)).unwrap();
    b.build().unwrap()
}

fn step(opt: &mut Optimizer, k: u64) -> muon_wgpu::Result<()> {
    opt.write_gradient("w", &random(10 + k, 24))?;
    opt.write_gradient("b", &random(20 + k, 3))?;
    opt.step().map(|_| ())
}

/// A case of one parameter `w` (2×2) with the named extra tensors and metadata.
fn case_with(extra: &[&str], meta: &[(&str, &str)]) -> Vec<u8> {
    let mut t = vec![("param/w".to_string(), vec![2, 2], vec![0.5; 4])];
    for name in extra {
        t.push((name.to_string(), vec![2, 2], vec![0.1; 4]));
    }
    let meta = (meta.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tensors::serialize(&t, meta).unwrap()
}

fn parse(bytes: &[u8]) -> muon_wgpu::Result<Case> {
    Case::parse(bytes, "case")
}

// --- 1. GPU errors ---------------------------------------------------------------------------

#[test]
fn a_destroyed_gradient_buffer_is_a_typed_error_not_a_panic() {
    for a in adapters() {
        let value = buffer(&a.ctx, &random(1, 12));
        let grad = buffer(&a.ctx, &random(2, 12));
        let mut b = OptimizerBuilder::new(&a.ctx, settings()).unwrap();
        b.add(
            "w",
            &[4, 3],
            Source::Buffers {
                value,
                grad: grad.clone(),
            },
            Route::Auto,
        )
        .unwrap();
        let mut opt = b.build().unwrap();
        grad.destroy();
        let err = opt.step().unwrap_err();
        assert!(matches!(err, Error::Gpu { .. }), "{err}");
        assert!(err.to_string().contains("step"), "{err}");
    }
}

#[test]
fn a_lost_device_is_a_typed_error_and_the_saved_state_rebuilds_the_optimizer() {
    for a in adapters() {
        let label = a.ctx.describe();
        let mut straight = small(&a.ctx);
        for k in 0..3 {
            step(&mut straight, k).unwrap();
        }
        let want = pollster::block_on(straight.read_all()).unwrap();

        // A context of its own, to lose.
        let adapter =
            pollster::block_on(muon_wgpu::gpu::list_adapters(muon_wgpu::BackendChoice::Any))
                .unwrap()
                .into_iter()
                .find(|x| {
                    x.get_info().name == a.ctx.info.name
                        && x.get_info().backend == a.ctx.info.backend
                })
                .unwrap();
        let doomed = pollster::block_on(GpuContext::from_adapter(adapter)).unwrap();
        let mut opt = small(&doomed);
        step(&mut opt, 0).unwrap();
        step(&mut opt, 1).unwrap();
        let saved = pollster::block_on(opt.save_state()).unwrap();
        doomed.device.destroy();
        doomed.wait_idle();
        // Every call now reports the loss; none panics.
        let lost = |e: &Error| matches!(e, Error::DeviceLost { .. } | Error::Gpu { .. });
        let e = opt.write_gradient("w", &random(9, 24)).unwrap_err();
        assert!(lost(&e), "{label}: {e}");
        let e = opt.step().unwrap_err();
        assert!(lost(&e), "{label}: {e}");
        let e = pollster::block_on(opt.read_all()).unwrap_err();
        assert!(lost(&e), "{label}: {e}");
        assert!(doomed.health().is_lost(), "{label}: the loss was recorded");

        // The documented way back: a new optimizer on a live device, then the last save.
        let mut rebuilt = small(&a.ctx);
        rebuilt.load_state(&saved).unwrap();
        step(&mut rebuilt, 2).unwrap();
        assert_eq!(
            pollster::block_on(rebuilt.read_all()).unwrap(),
            want,
            "{label}"
        );
    }
}

#[test]
fn caller_buffers_beyond_the_binding_limit_and_unsupported_kernels_are_refused() {
    for a in adapters() {
        let adapter =
            pollster::block_on(muon_wgpu::gpu::list_adapters(muon_wgpu::BackendChoice::Any))
                .unwrap()
                .into_iter()
                .find(|x| {
                    x.get_info().name == a.ctx.info.name
                        && x.get_info().backend == a.ctx.info.backend
                })
                .unwrap();
        let mut limits = adapter.limits();
        limits.max_storage_buffer_binding_size = 1 << 16;
        let ctx =
            pollster::block_on(GpuContext::from_adapter_with_limits(adapter, limits)).unwrap();
        let big = buffer(&ctx, &vec![0.0; (1 << 16) / 4 + 4]);
        let grad = buffer(&ctx, &[0.0; 16]);
        let mut b = OptimizerBuilder::new(&ctx, settings()).unwrap();
        let Err(err) = b.add(
            "w",
            &[4, 4],
            Source::Buffers { value: big, grad },
            Route::Auto,
        ) else {
            panic!("a buffer beyond the binding limit was accepted");
        };
        assert!(
            matches!(&err, Error::InvalidBuffer { name, reason, .. } if name == "w" && reason.contains("binding")),
            "{err}"
        );
        // A forced kernel: built, refused as unsupported, or a GPU error; never a panic.
        let variant: muon_wgpu::kernels::NsVariant = "lanes32-broadcast".parse().unwrap();
        let mut b = OptimizerBuilder::new(&a.ctx, settings()).unwrap();
        b.add_host("w", &[8, 8], &random(1, 64)).unwrap();
        b.ns_variant(variant);
        match b.build() {
            Ok(_) => assert!(variant.supported(&a.ctx.device)),
            Err(Error::UnsupportedKernel { variant: v, .. }) => {
                assert!(!variant.supported(&a.ctx.device));
                assert_eq!(v, "lanes32-broadcast");
            }
            Err(e) => assert!(matches!(e, Error::Gpu { .. }), "{e}"),
        }
    }
}

// --- 2. Memory bounded by the input ----------------------------------------------------------

#[test]
fn step_numbers_have_one_spelling_and_are_bounded_by_the_file() {
    for step in ["99999999999", "20000000", "00", "+0", "01", "-1", "1e3", ""] {
        let bytes = case_with(&[&format!("grad/{step}/w")], &[]);
        let err = parse(&bytes).unwrap_err();
        assert!(matches!(err, Error::InvalidTensor { .. }), "{step}: {err}");
    }
    // Two spellings of one step cannot both be given any more: only `0` is step 0.
    assert!(parse(&case_with(&["grad/0/w"], &[])).is_ok());
    let err = parse(&case_with(&["grad/0/w", "grad/00/w"], &[])).unwrap_err();
    assert!(err.to_string().contains("`00`"), "{err}");
}

#[test]
fn iteration_and_repeat_counts_are_checked_before_allocating() {
    for v in ["1000000000", "65", "18446744073709551615"] {
        let err = parse(&case_with(&["grad/0/w"], &[("ns_steps", v)])).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidHyperparameter { key, .. } if key == "ns_steps"),
            "{v}: {err}"
        );
    }
    let err = parse(&case_with(&["grad/0/w"], &[("steps", "1000000000000")])).unwrap_err();
    assert!(
        matches!(err, Error::MissingGradient { step: 1, .. }),
        "{err}"
    );
    for spec in ["4x4*1000000000", "4x4*0", "4x4*99999,4x4*2"] {
        let err = muon_wgpu::bench::parse_shapes(spec).unwrap_err();
        assert!(err.contains("repeat count"), "{spec}: {err}");
    }
    assert_eq!(muon_wgpu::bench::parse_shapes("4x4*3").unwrap().len(), 3);
}

#[test]
fn empty_names_are_errors() {
    let err = parse(&case_with(&[], &[])).map(|_| ()).and_then(|_| {
        let t = vec![("param/".to_string(), vec![2], vec![0.0; 2])];
        parse(&tensors::serialize(&t, HashMap::new()).unwrap()).map(|_| ())
    });
    assert!(matches!(err, Err(Error::InvalidTensor { .. })), "{err:?}");
    let a = adapters().remove(0);
    let mut b = OptimizerBuilder::new(&a.ctx, settings()).unwrap();
    assert!(matches!(
        b.add_host("", &[2], &[0.0; 2]),
        Err(Error::InvalidName { .. })
    ));
}

// --- 3. Chunked readback ---------------------------------------------------------------------

#[test]
fn state_larger_than_the_largest_buffer_is_read_and_saved_in_chunks() {
    for a in adapters() {
        let adapter =
            pollster::block_on(muon_wgpu::gpu::list_adapters(muon_wgpu::BackendChoice::Any))
                .unwrap()
                .into_iter()
                .find(|x| {
                    x.get_info().name == a.ctx.info.name
                        && x.get_info().backend == a.ctx.info.backend
                })
                .unwrap();
        let mut limits = adapter.limits();
        // 256 KiB buffers; the parameters and state below take 1.5 MiB.
        limits.max_buffer_size = 1 << 18;
        limits.max_storage_buffer_binding_size = 1 << 18;
        let ctx =
            pollster::block_on(GpuContext::from_adapter_with_limits(adapter, limits)).unwrap();
        let mut b = OptimizerBuilder::new(&ctx, settings()).unwrap();
        let shapes: Vec<(String, Vec<usize>)> = (0..4)
            .map(|i| (format!("w{i}"), vec![96, 128]))
            .chain([("b".to_string(), vec![50_000])])
            .collect();
        let init: Vec<Vec<f32>> = (shapes.iter().enumerate())
            .map(|(i, (_, s))| random(i as u64, s.iter().product()))
            .collect();
        for ((n, s), v) in shapes.iter().zip(&init) {
            b.add(n, s, Source::Host(v), Route::Auto).unwrap();
        }
        let opt = b.build().unwrap();
        let all = pollster::block_on(opt.read_all()).unwrap();
        let bytes: usize = all.iter().map(|t| t.2.len() * 4).sum();
        assert!(bytes as u64 > 3 * (1 << 18), "{bytes}");
        for ((n, _), v) in shapes.iter().zip(&init) {
            let got = &all.iter().find(|t| t.0 == format!("param/{n}")).unwrap().2;
            assert_eq!(got, v, "{} {n}", a.ctx.describe());
        }
        let saved = pollster::block_on(opt.save_state()).unwrap();
        let mut again = {
            let mut b = OptimizerBuilder::new(&ctx, settings()).unwrap();
            for (n, s) in &shapes {
                b.add(
                    n,
                    s,
                    Source::Host(&vec![0.0; s.iter().product()]),
                    Route::Auto,
                )
                .unwrap();
            }
            b.build().unwrap()
        };
        again.load_state(&saved).unwrap();
        assert_eq!(pollster::block_on(again.read_all()).unwrap(), all);
        // Odd chunk sizes split ranges anywhere: the same values.
        let ranges: Vec<muon_wgpu::BufferRange> =
            opt.params().iter().map(|p| p.value.clone()).collect();
        let whole =
            pollster::block_on(muon_wgpu::gpu::readback::read_ranges(&ctx, &ranges)).unwrap();
        let pieces = pollster::block_on(muon_wgpu::gpu::readback::read_ranges_in_chunks(
            &ctx,
            &ranges,
            4 * 4099,
        ))
        .unwrap();
        assert_eq!(whole, pieces);
    }
}

// --- 6. Validation ---------------------------------------------------------------------------

#[test]
fn negative_rates_and_decays_are_refused_as_torch_does() {
    for key in [
        "lr",
        "adam_lr",
        "weight_decay",
        "adam_weight_decay",
        "rms_scale",
    ] {
        let mut o = Overrides::default();
        muon_wgpu::settings::overrides::key(key)
            .unwrap()
            .set(&mut o, "-0.1")
            .unwrap();
        let err = Preset::Torch.settings(&o).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidHyperparameter { key: k, .. } if k == key),
            "{key}: {err}"
        );
    }
    let a = adapters().remove(0);
    let mut opt = small(&a.ctx);
    assert!(opt.set_lr(Group::Muon(0), -1.0).is_err());
    assert!(opt.set_weight_decay(Group::AdamW(0), -1e-3).is_err());
}

#[test]
fn state_files_are_checked_in_full_and_a_refused_one_changes_nothing() {
    let a = adapters().remove(0);
    let mut opt = small(&a.ctx);
    step(&mut opt, 0).unwrap();
    let before = pollster::block_on(opt.read_all()).unwrap();
    let saved = pollster::block_on(opt.save_state()).unwrap();
    let file = tensors::parse(&saved, "state").unwrap();
    let edit = |meta: &[(&str, Option<&str>)], tensor: Option<(&str, usize, f32)>| {
        let mut metadata = file.metadata.clone();
        for (k, v) in meta {
            match v {
                Some(v) => metadata.insert(k.to_string(), v.to_string()),
                None => metadata.remove(*k),
            };
        }
        let mut t = file.tensors.clone();
        if let Some((name, i, v)) = tensor {
            t.iter_mut().find(|x| x.0 == name).unwrap().2[i] = v;
        }
        tensors::serialize(&t, metadata).unwrap()
    };
    let cases = [
        ("no format", edit(&[("format", None)], None)),
        (
            "other format",
            edit(&[("format", Some("muon-wgpu-state-9"))], None),
        ),
        (
            "step past 2^53",
            edit(&[("step", Some("9007199254740993"))], None),
        ),
        ("negative step", edit(&[("step", Some("-1"))], None)),
        (
            "NaN moment",
            edit(&[], Some(("state/b/exp_avg", 1, f32::NAN))),
        ),
        (
            "Inf momentum",
            edit(&[], Some(("state/w/momentum", 0, f32::INFINITY))),
        ),
        (
            "negative second moment",
            edit(&[], Some(("state/b/exp_avg_sq", 2, -1e-3))),
        ),
        ("NaN parameter", edit(&[], Some(("param/w", 3, f32::NAN)))),
    ];
    for (what, bytes) in cases {
        let err = opt.load_state(&bytes).unwrap_err();
        assert!(matches!(err, Error::StateMismatch { .. }), "{what}: {err}");
    }
    assert_eq!(opt.step_count(), 1);
    assert_eq!(pollster::block_on(opt.read_all()).unwrap(), before);
    // A step count near 2³² (or far beyond) still gives finite bias corrections.
    for t in [u32::MAX as u64 - 1, 1 << 40] {
        opt.set_step_count(t).unwrap();
        step(&mut opt, 1).unwrap();
        let all = pollster::block_on(opt.read_all()).unwrap();
        assert!(
            all.iter().all(|x| x.2.iter().all(|v| v.is_finite())),
            "step {t}"
        );
    }
    assert!(opt.set_step_count(u64::MAX).is_err());
}

// --- 8. Pitfalls ------------------------------------------------------------------------------

#[test]
fn a_step_without_fresh_gradients_is_an_error_unless_allowed() {
    let a = adapters().remove(0);
    let mut opt = small(&a.ctx);
    step(&mut opt, 0).unwrap();
    let before = pollster::block_on(opt.read_all()).unwrap();
    let err = opt.step().unwrap_err();
    assert!(
        matches!(&err, Error::StaleGradient { name } if name == "w"),
        "{err}"
    );
    opt.write_gradient("w", &random(5, 24)).unwrap();
    let err = opt.step().unwrap_err();
    assert!(
        matches!(&err, Error::StaleGradient { name } if name == "b"),
        "{err}"
    );
    assert_eq!(opt.step_count(), 1);
    // Only the refused steps: nothing moved.
    let after = pollster::block_on(opt.read_all()).unwrap();
    assert_eq!(after, before);
    opt.allow_stale_gradients(true);
    opt.step().unwrap();
    assert_eq!(opt.step_count(), 2);
    // Gradients written on the GPU only (never from the host) are never called stale.
    let mut gpu_written = small(&a.ctx);
    gpu_written.step().unwrap();
    gpu_written.step().unwrap();
}

// --- 7. Atomic outputs, and the command line --------------------------------------------------

#[test]
fn the_cli_refuses_to_overwrite_its_input_and_bounds_counts() {
    let dir = std::env::temp_dir().join(format!("muon-wgpu-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case = dir.join("case.safetensors");
    let bytes = case_with(&["grad/0/w"], &[]);
    std::fs::write(&case, &bytes).unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_muon-wgpu"))
            .args(args)
            .output()
            .unwrap()
    };
    let c = case.to_str().unwrap();
    let same = dir.join(".").join("case.safetensors");
    let run = cli(&["replay", c, "-o", same.to_str().unwrap()]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("input"));
    assert_eq!(std::fs::read(&case).unwrap(), bytes, "the input is intact");
    // A good run leaves the output and no temporary file.
    let out = dir.join("out.safetensors");
    let run = cli(&["replay", c, "-o", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["case.safetensors", "out.safetensors"]);
    // Past the file-size limit midway: an error, the old output intact, no temporary file.
    #[cfg(unix)]
    {
        let t = vec![
            ("param/w".to_string(), vec![100, 100], random(1, 10_000)),
            ("grad/0/w".to_string(), vec![100, 100], random(2, 10_000)),
        ];
        let big = dir.join("big.safetensors");
        std::fs::write(&big, tensors::serialize(&t, HashMap::new()).unwrap()).unwrap();
        let old = std::fs::read(&out).unwrap();
        let script = format!(
            "ulimit -f 20; exec '{}' replay '{}' -o '{}'",
            env!("CARGO_BIN_EXE_muon-wgpu"),
            big.display(),
            out.display()
        );
        let run = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(!run.status.success());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("I/O error"), "{stderr}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            old,
            "the old output is intact"
        );
        std::fs::remove_file(&big).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["case.safetensors", "out.safetensors"]);
    }
    for args in [
        &[
            "replay",
            c,
            "-o",
            out.to_str().unwrap(),
            "--ns-steps",
            "1000000000",
        ][..],
        &[
            "bench",
            "--shapes",
            "4x4",
            "--ns-steps",
            "1000000000",
            "--steps",
            "1",
        ][..],
        &["bench", "--shapes", "4x4*1000000000", "--steps", "1"][..],
    ] {
        let run = cli(args);
        assert!(!run.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("ns_steps") || stderr.contains("repeat count"),
            "{args:?}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- 9. Hostile files: every prefix, huge headers, arbitrary bytes ----------------------------

#[test]
fn truncated_and_huge_header_files_are_typed_errors() {
    let bytes = case_with(&["grad/0/w"], &[("lr", "0.01")]);
    for end in 0..bytes.len() {
        assert!(parse(&bytes[..end]).is_err(), "prefix of {end} bytes");
    }
    for header in [u64::MAX, 1 << 40, bytes.len() as u64] {
        let mut b = bytes.clone();
        b[..8].copy_from_slice(&header.to_le_bytes());
        assert!(
            matches!(parse(&b), Err(Error::MalformedFile { .. })),
            "header {header}"
        );
    }
    let a = adapters().remove(0);
    let mut opt = small(&a.ctx);
    let saved = pollster::block_on(opt.save_state()).unwrap();
    for end in (0..saved.len()).step_by(7) {
        assert!(opt.load_state(&saved[..end]).is_err(), "state prefix {end}");
    }
}

#[test]
fn hostile_metadata_gets_typed_errors() {
    for (key, value) in [
        ("steps", "-1"),
        ("steps", "1e9"),
        ("lr", "inf"),
        ("lr", "-0.0001"),
        ("momentum", "1"),
        ("ns_coefficients", "1,2"),
        ("ns_coefficients", "nan,1,1"),
        ("muon", "nothere"),
        ("non_finite", "ignore"),
        ("preset", "\u{0}"),
        ("x".repeat(1000).as_str(), "1"),
    ] {
        let err = parse(&case_with(&["grad/0/w"], &[(key, value)])).unwrap_err();
        assert!(!matches!(err, Error::Io { .. }), "{key}={value}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_tensor_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = tensors::parse(&bytes, "random");
    }

    #[test]
    fn arbitrary_step_spellings_parse_only_when_canonical(step in "[+0-9a-z]{0,6}") {
        let ok = parse(&case_with(&[&format!("grad/{step}/w")], &[])).is_ok();
        prop_assert_eq!(ok, step == "0");
    }

    #[test]
    fn arbitrary_metadata_values_never_panic(key in 0usize..16, value in ".{0,24}") {
        let keys: Vec<&str> = muon_wgpu::io::replay::keys().map(|(k, _)| k).collect();
        let key = keys[key % keys.len()];
        let _ = parse(&case_with(&["grad/0/w"], &[(key, &value)]));
    }
}

#[test]
fn arbitrary_bytes_never_panic_load_state() {
    let a = adapters().remove(0);
    let opt = std::cell::RefCell::new(small(&a.ctx));
    let saved = pollster::block_on(opt.borrow().save_state()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
    runner
        .run(&(0..saved.len(), any::<u8>()), |(at, v)| {
            let mut b = saved.clone();
            b[at] = v;
            let _ = opt.borrow_mut().load_state(&b);
            Ok(())
        })
        .unwrap();
}
