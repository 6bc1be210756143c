//! Golden files from burn's own optimizer (`examples/burn_golden.rs`): the `burn` preset,
//! configured from the configs stored in each file, reproduces burn's parameters within 1e-5
//! relative through the whole integration (burn tensors in, burn tensors out).

mod common;

use std::collections::HashMap;

use burn::optim::{AdamWConfig, MuonConfig};
use common::golden::{ADAMW_PATHS, GoldenModel, SHAPES, dir};
use common::{assert_routes, gpu, values, worst_relative};
use muon_wgpu_burn::MuonWgpuConfig;
use safetensors::SafeTensors;

fn read(name: &str, file: &SafeTensors) -> Vec<f32> {
    let t = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    (t.data().chunks_exact(4))
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn golden_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir())
        .expect("tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "golden files missing: run the burn_golden example"
    );
    files
}

/// Replays every golden file with the config `configure` makes from the stored burn configs;
/// the worst relative difference of each file.
fn replay(
    configure: impl Fn(&MuonConfig, &AdamWConfig) -> MuonWgpuConfig,
) -> Vec<(String, String, f64)> {
    let device = gpu().device.clone().autodiff();
    let mut out = Vec::new();
    for path in golden_files() {
        let bytes = std::fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap();
        let muon: MuonConfig = serde_json::from_str(&meta["muon"]).unwrap();
        let adamw: AdamWConfig = serde_json::from_str(&meta["adamw"]).unwrap();
        let (lr, steps): (f64, usize) =
            (meta["lr"].parse().unwrap(), meta["steps"].parse().unwrap());
        let init: HashMap<String, Vec<f32>> = (SHAPES.iter())
            .map(|(n, _)| (n.to_string(), read(&format!("init/{n}"), &file)))
            .collect();
        let mut model = GoldenModel::from_values(&init, &device);
        let mut ours = configure(&muon, &adamw).init(&model, gpu()).unwrap();
        assert_routes(&ours, |p| ADAMW_PATHS.contains(&p));
        for step in 0..steps {
            let grads: HashMap<String, Vec<f32>> = (SHAPES.iter())
                .filter(|(n, _)| file.tensor(&format!("grad/{step}/{n}")).is_ok())
                .map(|(n, _)| (n.to_string(), read(&format!("grad/{step}/{n}"), &file)))
                .collect();
            let g = model.gradients(&grads, &gpu().device);
            model = ours.step(lr, model, g).unwrap();
        }
        let expected: Vec<(String, Vec<f32>)> = (values(&model).into_iter())
            .map(|(n, _)| (n.clone(), read(&format!("expected/{n}"), &file)))
            .collect();
        let (name, err) = worst_relative(&values(&model), &expected);
        out.push((path.display().to_string(), name, err));
    }
    out
}

#[test]
fn burn_preset_reproduces_burns_muon_and_adamw_golden_files() {
    for (file, name, err) in replay(|m, a| MuonWgpuConfig::from_burn(m, a).unwrap()) {
        eprintln!("{file}: worst {name} {err:.2e}");
        assert!(err <= 1e-5, "{file}: {name} differs by {err:.2e}");
    }
}

#[test]
fn golden_files_see_the_shape_scale() {
    // Without burn's shape scale (`sqrt(max(1, A/B))` is 1.55 for the 12x5 matrix, and
    // `0.2·sqrt(max(A, B))` differs from 1 for both) the files are missed by far.
    for (file, name, err) in replay(|m, a| {
        MuonWgpuConfig::new().with_overrides(muon_wgpu::Overrides {
            adjust_lr: Some(muon_wgpu::AdjustLr::None),
            ..muon_wgpu_burn::preset::overrides_from_burn(m, a).unwrap()
        })
    }) {
        eprintln!("no shape scale on {file}: worst {name} {err:.2e}");
        assert!(err > 1e-3, "{file}: cannot tell the shape scale");
    }
}
