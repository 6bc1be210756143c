//! Saving and loading optimizer state; resuming is bitwise identical to not stopping.

mod common;

use common::*;
use muon_wgpu::{Error, Optimizer, OptimizerBuilder, Overrides, Preset};

const PARAMS: &[(&str, &[usize])] = &[
    ("w1", &[12, 9]),
    ("w2", &[12, 9]),
    ("tall", &[20, 6]),
    ("conv", &[4, 2, 3, 3]),
    ("b", &[7]),
];

fn build(ctx: &muon_wgpu::GpuContext, preset: Preset) -> Optimizer {
    let settings = preset
        .settings(&Overrides {
            lr: Some(0.02),
            weight_decay: Some(0.1),
            ..Default::default()
        })
        .unwrap();
    let mut b = OptimizerBuilder::new(ctx, settings).unwrap();
    for (i, (name, shape)) in PARAMS.iter().enumerate() {
        b.add_host(name, shape, &random(i as u64, shape.iter().product()))
            .unwrap();
    }
    b.build().unwrap()
}

fn step(opt: &mut Optimizer, k: u64) {
    for (i, (name, shape)) in PARAMS.iter().enumerate() {
        opt.write_gradient(name, &random(100 * k + i as u64, shape.iter().product()))
            .unwrap();
    }
    opt.step().unwrap();
}

#[test]
fn resuming_from_a_save_is_bitwise_identical_to_not_stopping() {
    for a in adapters() {
        for preset in [Preset::Optax, Preset::Keras, Preset::Keller] {
            let mut straight = build(&a.ctx, preset);
            for k in 0..4 {
                step(&mut straight, k);
            }
            let mut first = build(&a.ctx, preset);
            step(&mut first, 0);
            step(&mut first, 1);
            let saved = pollster::block_on(first.save_state()).unwrap();
            drop(first);
            let mut resumed = build(&a.ctx, preset);
            resumed.load_state(&saved).unwrap();
            assert_eq!(resumed.step_count(), 2);
            step(&mut resumed, 2);
            step(&mut resumed, 3);
            let want = pollster::block_on(straight.read_all()).unwrap();
            let got = pollster::block_on(resumed.read_all()).unwrap();
            assert_eq!(got, want, "{} {preset}", a.ctx.describe());
        }
    }
}

#[test]
fn a_state_file_for_another_optimizer_is_rejected_and_changes_nothing() {
    let a = adapters().remove(0);
    let mut opt = build(&a.ctx, Preset::Torch);
    step(&mut opt, 0);
    let saved = pollster::block_on(opt.save_state()).unwrap();
    let mut file = muon_wgpu::io::tensors::parse(&saved, "s").unwrap();
    // Drop one tensor: loading must name it and leave the target untouched.
    file.tensors.retain(|t| t.0 != "state/w2/momentum");
    let broken = muon_wgpu::io::tensors::serialize(&file.tensors, file.metadata.clone()).unwrap();
    let mut fresh = build(&a.ctx, Preset::Torch);
    let before = pollster::block_on(fresh.read_all()).unwrap();
    let err = fresh.load_state(&broken).unwrap_err();
    assert!(
        matches!(&err, Error::StateMismatch { reason } if reason.contains("state/w2/momentum")),
        "{err}"
    );
    assert_eq!(pollster::block_on(fresh.read_all()).unwrap(), before);
    assert_eq!(fresh.step_count(), 0);

    let mut meta = file.metadata.clone();
    meta.remove("step");
    let no_step = muon_wgpu::io::tensors::serialize(&file.tensors, meta).unwrap();
    assert!(matches!(
        fresh.load_state(&no_step),
        Err(Error::StateMismatch { .. })
    ));
    let extra: Vec<_> = file
        .tensors
        .iter()
        .cloned()
        .chain([("state/ghost/momentum".to_string(), vec![1], vec![0.0])])
        .collect();
    let bytes = muon_wgpu::io::tensors::serialize(&extra, file.metadata.clone()).unwrap();
    assert!(matches!(
        fresh.load_state(&bytes),
        Err(Error::StateMismatch { .. })
    ));
}

#[test]
fn replay_command_writes_the_documented_output() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let out = std::env::temp_dir().join(format!(
        "muon-wgpu-replay-{}.safetensors",
        std::process::id()
    ));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_muon-wgpu"))
        .args([
            "replay",
            dir.join("optax_basic.case.safetensors").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--backend",
            "any",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got = muon_wgpu::io::tensors::read_file(&out).unwrap();
    let want =
        muon_wgpu::io::tensors::read_file(&dir.join("optax_basic.expected.safetensors")).unwrap();
    let names = |f: &muon_wgpu::io::tensors::TensorFile| {
        f.tensors.iter().map(|t| t.0.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&got), names(&want));
    assert_eq!(got.metadata["preset"], "optax");
    assert_eq!(got.metadata["steps"], "4");
    assert!(["vulkan", "gl", "metal", "dx12"].contains(&got.metadata["backend"].as_str()));
    assert!(got.metadata.contains_key("adapter"));
    std::fs::remove_file(&out).unwrap();
}
