//! Golden files from burn's own optimizer (`examples/burn_golden.rs`): the `burn` preset,
//! configured from the configs stored in each file, reproduces burn's parameters within 1e-5
//! relative through the whole integration (burn tensors in, burn tensors out).

mod common;

use std::collections::HashMap;

use burn::optim::{AdamWConfig, GradientsParams, MuonConfig};
use common::golden::{ADAMW_PATHS, GoldenModel, SHAPES, dir};
use common::{gpu, tensor, values, worst_relative};
use muon_wgpu::Group;
use muon_wgpu_burn::MuonWgpuConfig;
use safetensors::SafeTensors;

fn read(name: &str, file: &SafeTensors) -> Vec<f32> {
    let t = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    (t.data().chunks_exact(4))
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn burn_preset_reproduces_burns_muon_and_adamw_golden_files() {
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
    let device = gpu().device.clone().autodiff();
    for path in files {
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
        let mut ours = (MuonWgpuConfig::from_burn(&muon, &adamw).unwrap())
            .init(&model, gpu())
            .unwrap();
        for (p, group) in ours.routes() {
            let adamw = ADAMW_PATHS.contains(&p.as_str());
            assert_eq!(
                group,
                if adamw {
                    Group::AdamW(0)
                } else {
                    Group::Muon(0)
                },
                "{p}"
            );
        }
        for step in 0..steps {
            let mut g = GradientsParams::new();
            let ids = [
                ("wide", model.wide.id),
                ("tall", model.tall.id),
                ("bias", model.bias.id),
                ("token_embedding", model.token_embedding.id),
            ];
            for (name, id) in ids {
                let key = format!("grad/{step}/{name}");
                if file.tensor(&key).is_err() {
                    continue;
                }
                let shape = SHAPES.iter().find(|s| s.0 == name).unwrap().1;
                let inner = gpu().device.clone();
                match shape.len() {
                    1 => g.register(id, tensor(read(&key, &file), [shape[0]], &inner)),
                    _ => g.register(id, tensor(read(&key, &file), [shape[0], shape[1]], &inner)),
                }
            }
            model = ours.step(lr, model, g).unwrap();
        }
        let expected: Vec<(String, Vec<f32>)> = (values(&model).into_iter())
            .map(|(n, _)| (n.clone(), read(&format!("expected/{n}"), &file)))
            .collect();
        let (name, err) = worst_relative(&values(&model), &expected);
        eprintln!("{}: worst {name} {err:.2e}", path.display());
        assert!(
            err <= 1e-5,
            "{}: {name} differs by {err:.2e}",
            path.display()
        );
    }
}
